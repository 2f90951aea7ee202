"""The sandbox server's ASGI app: routes, authentication, JSON bodies, errors.

Each request is authenticated first, then its body read (``bodies``: within the route's
limit, on the event loop), then parsed and handed to its handler (``admin_routes``,
``catalog_routes``, ``alias_routes``, ``user_routes``) in a worker thread, since the store
and the upstream fetches block. So a
caller without a valid token is answered 401 before a byte of its body is read. Logins
run on a few threads of their own (``RouteSpec.pool``), so that hashing passwords never
takes the threads other requests need. Every answer is JSON, errors included; a failure
is a 500 ``{"error": "internal error"}`` whose log line names only the exception's type
(its text may quote a value, and a value may be a key).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sandbox import admin_routes, alias_routes, catalog_routes, user_routes
from reconciler.sandbox.accounts import ACCESS_TTL, REFRESH_TTL, Accounts, User
from reconciler.sandbox.bodies import BodyReader, announces_body, parse_object
from reconciler.sandbox.context import (
    ApiError,
    AuthLevel,
    RouteCall,
    RouteSpec,
    ServerContext,
)
from reconciler.sandbox.logins import LoginLimiter, LoginLimits
from reconciler.targets.sqlite import FetchClient, Store
from reconciler.upstream import discovery

logger = logging.getLogger(__name__)

PASSWORD_THREADS = 2
"""Logins hashed at once: scrypt takes 16 MiB and a tenth of a second of a core each."""


def create_app(
    store: Store,
    *,
    access_ttl: float = ACCESS_TTL,
    refresh_ttl: float = REFRESH_TTL,
    fetch_settings: discovery.FetchSettings | None = None,
    login_limits: LoginLimits | None = None,
) -> Starlette:
    """The sandbox server's ASGI app over ``store`` (its account tables made if missing);
    ``login_limits`` sets how many failed logins an account and an address may make."""
    fetch = fetch_settings or discovery.FetchSettings()
    context = ServerContext(
        store=store,
        accounts=Accounts(store),
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
        fetch_client=FetchClient(lambda: fetch, connections=64),
        logins=LoginLimiter(login_limits),
        password_threads=anyio.CapacityLimiter(PASSWORD_THREADS),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            context.fetch_client.close()

    routes = [
        Route(spec.path, _endpoint(context, spec), methods=[spec.method])
        for spec in (
            *user_routes.ROUTES,
            *admin_routes.ROUTES,
            *catalog_routes.ROUTES,
            *alias_routes.ROUTES,
        )
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    # Every answer is JSON: a trailing slash is a 404 like any unknown path, not a redirect.
    app.router.redirect_slashes = False
    return app


def _endpoint(context: ServerContext, spec: RouteSpec) -> Callable[[Request], Awaitable[Response]]:
    """An async endpoint: authenticate, read the body, then handle it in a thread."""

    async def endpoint(request: Request) -> Response:
        reader = BodyReader(request, spec.max_body)
        response = await _respond(context, spec, request, reader)
        if reader.unread:
            # Left open, the server would read the rest of the body only to drop it.
            response.headers["connection"] = "close"
        return response

    return endpoint


async def _respond(
    context: ServerContext, spec: RouteSpec, request: Request, reader: BodyReader
) -> Response:
    """The answer: authentication first, so that no body is read for a caller without a
    valid token; then the body, within its limit; then the handler, on its threads."""
    user: User | None = None
    if spec.auth != "public":
        found = await run_in_threadpool(
            _guarded, request, _authenticate, context, request, spec.auth
        )
        if isinstance(found, Response):
            return found
        user = found
    try:
        # Read on every route, the ones without a body too: what a client sends is
        # bounded everywhere, and a keep-alive connection stays usable.
        raw = await reader.read()
    except ApiError as exc:
        return _error(exc)
    limiter = context.password_threads if spec.pool == "passwords" else None
    body = raw if spec.body else None
    answer = await anyio.to_thread.run_sync(
        _guarded, request, _handle, context, spec, request, user, body, limiter=limiter
    )
    assert isinstance(answer, Response)
    return answer


def _handle(
    context: ServerContext, spec: RouteSpec, request: Request, user: User | None, raw: bytes | None
) -> Response:
    """Parse the body (``raw``, None for routes without one), then run the handler."""
    call = RouteCall(
        context=context,
        user=user,
        client=request.client.host if request.client else "",
        params={k: str(v) for k, v in request.path_params.items()},
        body={} if raw is None else parse_object(raw),
        query=_first_values(request),
    )
    return spec.handler(call)


def _first_values(request: Request) -> dict[str, str]:
    # A repeated parameter counts once, by its first value, as real servers read it.
    out: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key, value)
    return out


def _guarded(request: Request, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)``, an ``ApiError`` as its answer, any other failure as a bare 500."""
    try:
        return func(*args)
    except ApiError as exc:
        return _error(exc)
    except Exception as exc:
        # The type only: an exception's text may quote a value, and a value may be a key.
        logger.error(
            "internal error in %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return _error(ApiError(500, "internal error"))


def _authenticate(context: ServerContext, request: Request, auth: AuthLevel) -> User:
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(401, "Authorization header required")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Invalid authorization header format")
    user = context.accounts.user_by_token(token.strip(), "access")
    if user is None:
        raise ApiError(401, "Invalid or expired token")
    if auth == "admin" and user.role != "admin":
        raise ApiError(403, "Superadmin access required")
    return user


def _error(exc: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"error": exc.message}
    headers = {}
    if exc.retry_after is not None:
        # Both: the header for HTTP clients, the field as real servers send it.
        body["retry_after"] = exc.retry_after
        headers["retry-after"] = str(exc.retry_after)
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown routes and methods: JSON like every other answer, not Starlette's plain text.
    assert isinstance(exc, HTTPException)
    response = _error(ApiError(exc.status_code, exc.detail))
    if announces_body(request):  # never read here: close rather than drain it
        response.headers["connection"] = "close"
    return response


async def _internal_error(request: Request, exc: Exception) -> Response:
    # A backstop for failures outside the handlers; Starlette still logs them.
    return _error(ApiError(500, "internal error"))
