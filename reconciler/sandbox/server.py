"""The sandbox server: ClaraVerse's provider API over the embedded store.

``reconcile serve`` runs this Starlette app so that a team can try the whole GitOps flow
locally, and so that the ClaraVerse target is tested against a real HTTP server. It serves
the documented routes (``reference/provider-management.md``) in the shapes real ClaraVerse
servers send (``reference/claraverse-admin-api.md``), and it reproduces their traps **on
purpose**: a client that survives this server survives a real one.

- ``GET /api/admin/providers`` carries no ``api_key`` and no ``type``, and ``providers`` is
  ``null``, not ``[]``, when there are none.
- The create and toggle answers echo the stored ``api_key`` in clear text (the update
  answer does not). A client must never print, log or save a raw answer.
- Create refuses an empty ``api_key`` with the real server's message, although the
  documentation shows a keyless Ollama provider.
- Fetched models arrive hidden.

Where real servers are merely sloppy, this one is clearer: a duplicate name is a 409 (not a
500), a malformed body or a field of the wrong type a 400 that says what is wrong. Create
defaults ``type`` to openai and ``enabled`` to true. Update keeps the fields left out; in it,
``"api_key": ""`` (or null) clears the admin key, so that the same providers.yaml gives the
same result here as on the embedded target.

Routes (admin: an admin's access token; user: any access token)::

    POST   /api/auth/login                          {email, password}
    POST   /api/auth/refresh                        {refresh_token}
    GET    /api/admin/providers                     admin
    POST   /api/admin/providers                     admin   201, echoes api_key
    PUT    /api/admin/providers/{id}                admin   any subset of the fields
    PUT    /api/admin/providers/{id}/toggle         admin   {enabled}; echoes api_key
    DELETE /api/admin/providers/{id}                admin   its models go with it
    POST   /api/admin/providers/{id}/fetch          admin   upstream listing via discovery
    GET    /api/admin/models                        admin
    PUT    /api/admin/models/bulk/visibility        admin   {model_ids, visible, provider_id?}
    GET    /api/providers                           user    enabled providers, visible models
    PUT    /api/user/providers/{id}/key             user    {api_key}: this user's own key
    DELETE /api/user/providers/{id}/key             user

Model ids are unique per provider only. Real servers key bulk visibility by model id
alone; here the body may also carry ``provider_id`` (real servers ignore unknown fields) to
limit the change to one provider; without it, every provider's model of that id changes.

Keys: tokens are random strings stored only as SHA-256 hashes; passwords are scrypt
hashes. No answer other than create and toggle ever contains a key, no log line does, and a
failure is a 500 ``{"error": "internal error"}`` that carries neither traceback nor text
from the exception.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.core.model import PROVIDER_TYPES, ProviderType
from reconciler.errors import FetchError, ReconcilerError, TargetError
from reconciler.secrets import Secret, scrub
from reconciler.targets.sqlite import ProviderRow, Store, refresh_models
from reconciler.upstream import discovery

__all__ = [
    "ACCESS_TTL",
    "LONG_TTL",
    "REFRESH_TTL",
    "User",
    "account_token",
    "admin_token",
    "create_app",
    "create_user",
    "issue_token",
    "serve",
    "startup_message",
]

logger = logging.getLogger(__name__)

ACCESS_TTL = 900.0
"""Seconds an access token from login or refresh lives."""
REFRESH_TTL = 30 * 24 * 3600.0
"""Seconds a refresh token lives."""
LONG_TTL = 365 * 24 * 3600.0
"""Seconds a token made by ``reconcile token`` (``account_token``) lives."""

Role = Literal["admin", "user"]
TokenKind = Literal["access", "refresh"]
AuthLevel = Literal["public", "user", "admin"]

_ROLES: dict[str, Role] = {"admin": "admin", "user": "user"}
_TYPES: dict[str, ProviderType] = {t: t for t in PROVIDER_TYPES}
_MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id cannot exist

# scrypt at n=2**14, r=8: 16 MiB and some tens of milliseconds per hash.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1

_REQUIRED_MESSAGE = "Name, base_url, and api_key are required"
_NOT_FOUND = "Provider not found"
_KEY_STATUS = {
    "user": "Requests use your own API key.",
    "admin": "Requests use the administrator's API key.",
    "none": (
        "No API key is configured: requests to this provider will fail until you add your own key."
    ),
}


# --- users and tokens ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class User:
    """An account of the sandbox server."""

    id: int
    email: str
    role: Role


def create_user(store: Store, email: str, role: Role, password: str | None) -> int:
    """Add an account; its password (if any) is stored as a salted scrypt hash."""
    if role not in _ROLES:
        raise ReconcilerError(f"role must be 'admin' or 'user', not {role!r}")
    email = _normal_email(email)
    if not email:
        raise ReconcilerError("an account needs an email")
    hashed = _hash_password(password) if password else None
    with store.transaction() as c:
        if c.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
            raise ReconcilerError(f"an account for {email} already exists")
        cur = c.execute(
            "INSERT INTO users (email, password_hash, role) VALUES (?, ?, ?)",
            (email, hashed, role),
        )
        return int(cur.lastrowid or 0)


def issue_token(
    store: Store, user_id: int, kind: TokenKind = "access", ttl: float | None = ACCESS_TTL
) -> str:
    """A new random token for ``user_id``, stored only as its SHA-256; ``ttl`` None never
    expires."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    expires_at = None if ttl is None else now + ttl
    with store.transaction() as c:
        c.execute("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
        c.execute(
            "INSERT INTO tokens (token_hash, user_id, kind, expires_at) VALUES (?, ?, ?, ?)",
            (_token_hash(token), user_id, kind, expires_at),
        )
    return token


def account_token(
    store: Store,
    *,
    email: str,
    role: Role = "user",
    password: str | None = None,
    ttl: float | None = LONG_TTL,
) -> str:
    """An access token for ``email``, creating the account with ``role`` if missing.

    An existing account keeps its role (a different ``role`` is an error); a ``password``
    given replaces its password. This is what ``reconcile token`` does.
    """
    found = _user_by_email(store, email)
    if found is None:
        user_id = create_user(store, email, role, password)
    else:
        if found.role != role:
            raise ReconcilerError(
                f"the account {found.email} exists with role '{found.role}', not '{role}'"
            )
        user_id = found.id
        if password:
            with store.transaction() as c:
                c.execute(
                    "UPDATE users SET password_hash = ? WHERE id = ?",
                    (_hash_password(password), user_id),
                )
    return issue_token(store, user_id, "access", ttl)


def admin_token(store: Store, email: str = "admin@localhost") -> str:
    """A long-lived access token for the admin ``email``, created if missing."""
    return account_token(store, email=email, role="admin")


def _normal_email(email: str) -> str:
    return email.strip().lower()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def _check_password(password: str, stored: str | None) -> bool:
    if stored is None:
        # Hash anyway, so that the answer takes as long as for a real account.
        _hash_password(password)
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:  # a malformed hash matches no password
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def _user_by_email(store: Store, email: str) -> User | None:
    rows = store.query("SELECT id, email, role FROM users WHERE email = ?", (_normal_email(email),))
    return _user(rows[0]) if rows else None


def _user_by_token(store: Store, token: str, kind: TokenKind) -> User | None:
    rows = store.query(
        "SELECT u.id, u.email, u.role FROM tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = ? AND t.kind = ? AND (t.expires_at IS NULL OR t.expires_at > ?)",
        (_token_hash(token), kind, time.time()),
    )
    return _user(rows[0]) if rows else None


def _user(row: sqlite3.Row) -> User:
    return User(id=int(row["id"]), email=str(row["email"]), role=_ROLES[row["role"]])


# --- the app -----------------------------------------------------------------------------


class ApiError(Exception):
    """An answer other than success: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _FetchClient:
    """One httpx client for every model fetch the server makes, made on first use (a new
    client per fetch costs tens of milliseconds of CPU) and closed at shutdown."""

    def __init__(self, settings: discovery.FetchSettings) -> None:
        self._settings = settings
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = discovery.new_client(self._settings, connections=64)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


@dataclass(frozen=True, kw_only=True)
class _Settings:
    store: Store
    access_ttl: float
    refresh_ttl: float
    fetch_settings: discovery.FetchSettings
    fetch_client: _FetchClient


@dataclass(frozen=True, kw_only=True)
class Call:
    """What a route handler gets: the settings, the caller, the path and the body."""

    settings: _Settings
    user: User | None
    params: Mapping[str, str]
    body: Mapping[str, Any]

    @property
    def store(self) -> Store:
        """The store behind the server."""
        return self.settings.store

    def current_user(self) -> User:
        """The authenticated caller (routes that require a token only)."""
        assert self.user is not None
        return self.user


Handler = Callable[[Call], Response]


def create_app(
    store: Store,
    *,
    access_ttl: float = ACCESS_TTL,
    refresh_ttl: float = REFRESH_TTL,
    fetch_settings: discovery.FetchSettings | None = None,
) -> Starlette:
    """The sandbox server's ASGI app over ``store``."""
    fetch = fetch_settings or discovery.FetchSettings()
    settings = _Settings(
        store=store,
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
        fetch_settings=fetch,
        fetch_client=_FetchClient(fetch),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            settings.fetch_client.close()

    def route(
        path: str, method: str, handler: Handler, auth: AuthLevel, *, body: bool = False
    ) -> Route:
        return Route(path, _endpoint(settings, handler, auth, body), methods=[method])

    providers = "/api/admin/providers"
    routes = [
        route("/api/auth/login", "POST", _login, "public", body=True),
        route("/api/auth/refresh", "POST", _refresh, "public", body=True),
        route(providers, "GET", _list_providers, "admin"),
        route(providers, "POST", _create_provider, "admin", body=True),
        route(providers + "/{id}", "PUT", _update_provider, "admin", body=True),
        route(providers + "/{id}/toggle", "PUT", _toggle_provider, "admin", body=True),
        route(providers + "/{id}", "DELETE", _delete_provider, "admin"),
        route(providers + "/{id}/fetch", "POST", _fetch_models, "admin"),
        route("/api/admin/models", "GET", _list_models, "admin"),
        route("/api/admin/models/bulk/visibility", "PUT", _bulk_visibility, "admin", body=True),
        route("/api/providers", "GET", _user_providers, "user"),
        route("/api/user/providers/{id}/key", "PUT", _set_user_key, "user", body=True),
        route("/api/user/providers/{id}/key", "DELETE", _delete_user_key, "user"),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )


def _endpoint(
    settings: _Settings, handler: Handler, auth: AuthLevel, body: bool
) -> Callable[[Request], Awaitable[Response]]:
    """An async endpoint: read the body here, do the rest (SQLite, upstream) in a thread."""

    async def endpoint(request: Request) -> Response:
        raw = await request.body() if body else None
        return await run_in_threadpool(_handle, settings, handler, auth, request, raw)

    return endpoint


def _handle(
    settings: _Settings,
    handler: Handler,
    auth: AuthLevel,
    request: Request,
    raw: bytes | None,
) -> Response:
    """Authenticate, then parse the body (``raw``, None for routes without one), then run
    the handler; errors become JSON."""
    try:
        user = None if auth == "public" else _authenticate(settings.store, request, auth)
        call = Call(
            settings=settings,
            user=user,
            params={k: str(v) for k, v in request.path_params.items()},
            body={} if raw is None else _parse_body(raw),
        )
        return handler(call)
    except ApiError as exc:
        return _error(exc.status, exc.message)
    except Exception as exc:
        # The type only: an exception's text may quote a value, and a value may be a key.
        logger.error(
            "internal error in %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return _error(500, "internal error")


def _authenticate(store: Store, request: Request, auth: AuthLevel) -> User:
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(401, "Authorization header required")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Invalid authorization header format")
    user = _user_by_token(store, token.strip(), "access")
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


# --- request helpers ---------------------------------------------------------------------


def _provider_id(call: Call) -> int:
    text = call.params["id"]
    if not text.isascii() or not text.isdigit():
        raise ApiError(400, "Invalid provider ID")
    return int(text)


def _provider_or_404(call: Call) -> ProviderRow:
    number = _provider_id(call)
    row = call.store.provider(number) if number <= _MAX_ID else None
    if row is None:
        raise ApiError(404, _NOT_FOUND)
    return row


def _string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid request body: {name} must be a string")
    return value


def _bool(body: Mapping[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ApiError(400, f"Invalid request body: {name} must be true or false")
    return value


def _provider_type(body: Mapping[str, Any]) -> ProviderType | None:
    value = _string(body, "type")
    if value is None:
        return None
    if value not in _TYPES:
        raise ApiError(400, f"Invalid request body: type must be one of {', '.join(_TYPES)}")
    return _TYPES[value]


def _model_counts(store: Store) -> dict[int, int]:
    rows = store.query("SELECT provider_id, COUNT(*) AS n FROM models GROUP BY provider_id")
    return {int(r["provider_id"]): int(r["n"]) for r in rows}


def _provider_json(row: ProviderRow, model_count: int, *, echo_key: bool = False) -> dict[str, Any]:
    """A provider as real servers list it: no ``type``; the key only where they echo it."""
    out: dict[str, Any] = {"id": row.id, "name": row.name, "base_url": row.base_url}
    if echo_key:
        out["api_key"] = row.api_key.reveal()  # the real servers' trap, reproduced on purpose
    out.update(
        enabled=row.enabled,
        audio_only=False,
        favicon="",
        model_count=model_count,
        model_aliases={},
        filters=[],
        recommended_models=[],
    )
    return out


def _provider_answer(
    call: Call, provider_id: int, *, echo_key: bool, status: int = 200
) -> Response:
    row = call.store.provider(provider_id)
    if row is None:  # deleted by a concurrent request
        raise ApiError(404, _NOT_FOUND)
    count = len(call.store.models(provider_id))
    return JSONResponse(_provider_json(row, count, echo_key=echo_key), status_code=status)


# --- auth routes -------------------------------------------------------------------------


def _login(call: Call) -> Response:
    email = _string(call.body, "email") or ""
    password = _string(call.body, "password") or ""
    rows = call.store.query(
        "SELECT id, email, role, password_hash FROM users WHERE email = ?",
        (_normal_email(email),),
    )
    stored = rows[0]["password_hash"] if rows else None
    if not _check_password(password, stored) or not rows:
        raise ApiError(401, "Invalid email or password")
    user = _user(rows[0])
    settings = call.settings
    return JSONResponse(
        {
            "access_token": issue_token(call.store, user.id, "access", settings.access_ttl),
            "refresh_token": issue_token(call.store, user.id, "refresh", settings.refresh_ttl),
            "user": {"id": user.id, "email": user.email, "role": user.role},
            "expires_in": int(settings.access_ttl),
        }
    )


def _refresh(call: Call) -> Response:
    token = _string(call.body, "refresh_token") or ""
    user = _user_by_token(call.store, token, "refresh") if token else None
    if user is None:
        raise ApiError(401, "Invalid or expired refresh token")
    ttl = call.settings.access_ttl
    return JSONResponse(
        {"access_token": issue_token(call.store, user.id, "access", ttl), "expires_in": int(ttl)}
    )


# --- admin: providers --------------------------------------------------------------------


def _list_providers(call: Call) -> Response:
    counts = _model_counts(call.store)
    listed = [_provider_json(r, counts.get(r.id, 0)) for r in call.store.providers()]
    # Real servers answer null, not [], when there are none: a trap kept on purpose.
    return JSONResponse({"providers": listed or None})


def _create_provider(call: Call) -> Response:
    body = call.body
    name, base_url, api_key = (_string(body, f) for f in ("name", "base_url", "api_key"))
    provider_type = _provider_type(body) or "openai"
    enabled = _bool(body, "enabled")
    if not name or not base_url or not api_key:
        raise ApiError(400, _REQUIRED_MESSAGE)
    try:
        new_id = call.store.create_provider(
            name=name,
            type=provider_type,
            base_url=base_url,
            api_key=Secret(api_key),
            enabled=True if enabled is None else enabled,
        )
    except TargetError as exc:
        raise ApiError(409, str(exc)) from None
    return _provider_answer(call, new_id, echo_key=True, status=201)


def _update_provider(call: Call) -> Response:
    row = _provider_or_404(call)
    body = call.body
    fields: dict[str, Any] = {}
    for name in ("name", "base_url"):
        value = _string(body, name)
        if value == "":
            raise ApiError(400, f"Invalid request body: {name} must not be empty")
        if value is not None:
            fields[name] = value
    if "api_key" in body:
        # "" or null clears the admin key (then only users' own keys work).
        key = _string(body, "api_key")
        fields["api_key"] = Secret(key) if key else None
    provider_type = _provider_type(body)
    if provider_type is not None:
        fields["type"] = provider_type
    enabled = _bool(body, "enabled")
    if enabled is not None:
        fields["enabled"] = enabled
    _update(call.store, row.id, fields)
    return _provider_answer(call, row.id, echo_key=False)


def _toggle_provider(call: Call) -> Response:
    row = _provider_or_404(call)
    enabled = _bool(call.body, "enabled")
    if enabled is None:
        raise ApiError(400, "Invalid request body: enabled (true or false) is required")
    _update(call.store, row.id, {"enabled": enabled})
    return _provider_answer(call, row.id, echo_key=True)  # real servers echo the key here


def _update(store: Store, provider_id: int, fields: Mapping[str, Any]) -> None:
    try:
        store.update_provider(provider_id, **fields)
    except TargetError as exc:
        if store.provider(provider_id) is None:
            raise ApiError(404, _NOT_FOUND) from None
        raise ApiError(409, str(exc)) from None


def _delete_provider(call: Call) -> Response:
    row = _provider_or_404(call)
    try:
        call.store.delete_provider(row.id)
    except TargetError:
        raise ApiError(404, _NOT_FOUND) from None
    return JSONResponse({"message": "Provider deleted successfully"})


def _fetch_models(call: Call) -> Response:
    row = _provider_or_404(call)
    if row.type not in _TYPES:
        raise ApiError(500, f"Failed to fetch models: unknown provider type {row.type!r}")
    try:
        fetched = refresh_models(
            call.store,
            row,
            settings=call.settings.fetch_settings,
            client=call.settings.fetch_client.get(),
        )
    except FetchError as exc:
        # discovery's messages are our own words, never an upstream's body; scrub anyway.
        raise ApiError(500, scrub(f"Failed to fetch models: {exc}")) from None
    return JSONResponse(
        {
            "success": True,
            "models_fetched": fetched,
            "message": f"Fetched {fetched} models from {row.name}",
        }
    )


# --- admin: models -----------------------------------------------------------------------


def _list_models(call: Call) -> Response:
    rows = call.store.query(
        "SELECT m.provider_id, m.model_id, m.display_name, m.visible, m.fetched_at,"
        " p.name AS provider_name FROM models m JOIN providers p ON p.id = m.provider_id"
        " ORDER BY p.name, m.model_id"
    )
    return JSONResponse(
        [
            {
                "id": r["model_id"],
                "provider_id": r["provider_id"],
                "provider_name": r["provider_name"],
                "name": r["model_id"],
                "display_name": r["display_name"] or r["model_id"],
                "is_visible": bool(r["visible"]),
                "agents_enabled": False,
                "supports_tools": False,
                "supports_streaming": True,
                "supports_vision": False,
                "context_length": 0,
                "fetched_at": r["fetched_at"],
            }
            for r in rows
        ]
    )


def _bulk_visibility(call: Call) -> Response:
    body = call.body
    model_ids = body.get("model_ids")
    if not isinstance(model_ids, list) or not all(isinstance(m, str) for m in model_ids):
        raise ApiError(400, "Invalid request body: model_ids must be a list of strings")
    visible = _bool(body, "visible")
    if visible is None:
        raise ApiError(400, "Invalid request body: visible (true or false) is required")
    provider_id = body.get("provider_id")
    unique = list(dict.fromkeys(model_ids))
    if provider_id is None:
        updated = _set_visibility_everywhere(call.store, unique, visible)
    elif isinstance(provider_id, int) and not isinstance(provider_id, bool):
        if not 0 <= provider_id <= _MAX_ID or call.store.provider(provider_id) is None:
            raise ApiError(404, _NOT_FOUND)
        updated = call.store.set_visibility(provider_id, unique, visible)
    else:
        raise ApiError(400, "Invalid request body: provider_id must be an integer")
    return JSONResponse({"success": True, "updated": updated})


def _set_visibility_everywhere(store: Store, model_ids: Sequence[str], visible: bool) -> int:
    """Show or hide the models of these ids at every provider, as real servers key them."""
    with store.transaction() as c:
        cur = c.executemany(
            "UPDATE models SET visible = ? WHERE model_id = ?",
            [(int(visible), m) for m in model_ids],
        )
        return cur.rowcount


# --- the user side -----------------------------------------------------------------------


def _user_providers(call: Call) -> Response:
    store, user = call.store, call.current_user()
    providers = store.query(
        "SELECT id, name, api_key != '' AS has_key FROM providers WHERE enabled = 1 ORDER BY name"
    )
    models: dict[int, list[dict[str, str]]] = {}
    for m in store.query(
        "SELECT m.provider_id, m.model_id, m.display_name FROM models m"
        " JOIN providers p ON p.id = m.provider_id"
        " WHERE p.enabled = 1 AND m.visible = 1 ORDER BY m.provider_id, m.model_id"
    ):
        models.setdefault(int(m["provider_id"]), []).append(
            {
                "id": m["model_id"],
                "name": m["model_id"],
                "display_name": m["display_name"] or m["model_id"],
            }
        )
    own = {
        int(r["provider_id"])
        for r in store.query("SELECT provider_id FROM user_keys WHERE user_id = ?", (user.id,))
    }
    listed = []
    for p in providers:
        source = _key_source(int(p["id"]) in own, bool(p["has_key"]))
        listed.append(
            {
                "id": p["id"],
                "name": p["name"],
                "models": models.get(int(p["id"]), []),
                "key_source": source,
                "key_status": _KEY_STATUS[source],
            }
        )
    return JSONResponse({"providers": listed})


def _key_source(user_key: bool, admin_key: bool) -> str:
    """Which key this user's requests would use: theirs, the admin's, or none (fail)."""
    if user_key:
        return "user"
    return "admin" if admin_key else "none"


def _enabled_provider_or_404(call: Call) -> ProviderRow:
    # To users, a disabled provider does not exist.
    row = _provider_or_404(call)
    if not row.enabled:
        raise ApiError(404, _NOT_FOUND)
    return row


def _set_user_key(call: Call) -> Response:
    row = _enabled_provider_or_404(call)
    api_key = _string(call.body, "api_key")
    if not api_key:
        raise ApiError(400, "api_key is required")
    with call.store.transaction() as c:
        c.execute(
            "INSERT INTO user_keys (user_id, provider_id, api_key) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, provider_id) DO UPDATE SET api_key = excluded.api_key",
            (call.current_user().id, row.id, api_key),
        )
    return _key_answer("API key saved", "user")


def _delete_user_key(call: Call) -> Response:
    row = _enabled_provider_or_404(call)
    with call.store.transaction() as c:
        c.execute(
            "DELETE FROM user_keys WHERE user_id = ? AND provider_id = ?",
            (call.current_user().id, row.id),
        )
    return _key_answer("API key removed", _key_source(False, bool(row.api_key)))


def _key_answer(message: str, source: str) -> Response:
    return JSONResponse(
        {
            "success": True,
            "message": message,
            "key_source": source,
            "key_status": _KEY_STATUS[source],
        }
    )


# --- running it --------------------------------------------------------------------------


def startup_message(state: Path, url: str) -> str:
    """What ``reconcile serve`` prints once it listens: where, and how to get a token."""
    store = Store(state)
    try:
        has_admin = bool(store.query("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1"))
    finally:
        store.close()
    lines = [f"Sandbox ClaraVerse server on {url} (state: {state})"]
    if has_admin:
        lines.append(f"A new admin token: reconcile token --state {state}")
    else:
        lines.append(
            f"No admin account yet. Create one and get its token with:\n"
            f"  reconcile token --state {state}\n"
            f"then: export CLARAVERSE_TOKEN=<that token>\n"
            f"      reconcile plan --target {url} -f providers.yaml"
        )
    return "\n".join(lines)


def serve(
    state: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "info",
) -> None:
    """Serve the sandbox over ``state`` until interrupted.

    ``port`` 0 picks a free port; ``on_ready`` receives the base URL (with the real port)
    once the socket listens, before requests are answered; connections queue meanwhile.
    """
    import uvicorn

    store = Store(state)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and with Nagle on, each keep-alive answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ReconcilerError(
                f"cannot listen on {host}:{port}: {exc.strerror}; pick another port with "
                "--port (0 picks a free one)"
            ) from None
        sock.listen(2048)
        bound = sock.getsockname()[1]
        url = f"http://[{host}]:{bound}" if family == socket.AF_INET6 else f"http://{host}:{bound}"
        if on_ready is not None:
            on_ready(url)
        config = uvicorn.Config(
            create_app(store), host=host, port=bound, log_level=log_level, ws="none"
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        store.close()
