"""The sandbox server's ASGI app: routes, authentication, JSON bodies, errors.

Each request is read here (the body on the event loop), then authenticated, parsed and
handed to its handler (``admin_routes``, ``user_routes``) in a worker thread, since the
store and the upstream fetches block. Every answer is JSON, errors included; a failure is
a 500 ``{"error": "internal error"}`` whose log line names only the exception's type (its
text may quote a value, and a value may be a key).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sandbox import admin_routes, user_routes
from reconciler.sandbox.accounts import ACCESS_TTL, REFRESH_TTL, Accounts, User
from reconciler.sandbox.context import (
    ApiError,
    AuthLevel,
    FetchClient,
    RouteCall,
    RouteSpec,
    ServerContext,
)
from reconciler.targets.sqlite import Store
from reconciler.upstream import discovery

logger = logging.getLogger(__name__)


def create_app(
    store: Store,
    *,
    access_ttl: float = ACCESS_TTL,
    refresh_ttl: float = REFRESH_TTL,
    fetch_settings: discovery.FetchSettings | None = None,
) -> Starlette:
    """The sandbox server's ASGI app over ``store`` (its account tables made if missing)."""
    fetch = fetch_settings or discovery.FetchSettings()
    context = ServerContext(
        store=store,
        accounts=Accounts(store),
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
        fetch_settings=fetch,
        fetch_client=FetchClient(fetch),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            context.fetch_client.close()

    routes = [
        Route(spec.path, _endpoint(context, spec), methods=[spec.method])
        for spec in (*user_routes.ROUTES, *admin_routes.ROUTES)
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )


def _endpoint(context: ServerContext, spec: RouteSpec) -> Callable[[Request], Awaitable[Response]]:
    """An async endpoint: read the body here, do the rest (SQLite, upstream) in a thread."""

    async def endpoint(request: Request) -> Response:
        raw = await request.body() if spec.body else None
        return await run_in_threadpool(_handle, context, spec, request, raw)

    return endpoint


def _handle(
    context: ServerContext, spec: RouteSpec, request: Request, raw: bytes | None
) -> Response:
    """Authenticate, then parse the body (``raw``, None for routes without one), then run
    the handler; errors become JSON."""
    try:
        user = None if spec.auth == "public" else _authenticate(context, request, spec.auth)
        call = RouteCall(
            context=context,
            user=user,
            params={k: str(v) for k, v in request.path_params.items()},
            body={} if raw is None else _parse_body(raw),
        )
        return spec.handler(call)
    except ApiError as exc:
        return _error(exc.status, exc.message)
    except Exception as exc:
        # The type only: an exception's text may quote a value, and a value may be a key.
        logger.error(
            "internal error in %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return _error(500, "internal error")


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


def _parse_body(raw: bytes) -> Mapping[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Invalid request body: not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid request body: expected a JSON object")
    return body


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown routes and methods: JSON like every other answer, not Starlette's plain text.
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, exc.detail)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # A backstop for failures outside the handlers; Starlette still logs them.
    return _error(500, "internal error")
