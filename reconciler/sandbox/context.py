"""What a sandbox route handler gets, and the helpers that read it.

A handler is a plain function ``RouteCall -> Response``, run in a worker thread: the
``RouteCall`` carries the ``ServerContext`` (store, accounts, token lifetimes, the fetch
client), the authenticated caller, the path parameters and the parsed JSON body. Anything
else than success is raised as ``ApiError`` and answered ``{"error": message}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
from starlette.responses import Response

from reconciler.core.model import PROVIDER_TYPES, ProviderType
from reconciler.sandbox.accounts import Accounts, User
from reconciler.sandbox.logins import LoginLimiter
from reconciler.targets.sqlite import FetchClient, ProviderRow, Store

AuthLevel = Literal["public", "user", "admin"]
Pool = Literal["shared", "passwords"]

NOT_FOUND = "Provider not found"
_TYPES: dict[str, ProviderType] = {t: t for t in PROVIDER_TYPES}
_MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id cannot exist
_MAX_ID_DIGITS = len(str(_MAX_ID))

BODY_LIMIT = 4 * 1024 * 1024
"""Bytes a request body may have: a visibility change for a catalog of 100,000 models fits."""
AUTH_BODY_LIMIT = 4 * 1024
"""Bytes a login or refresh body may have: an email and a password, or a token."""


class ApiError(Exception):
    """An answer other than success: ``{"error": message}`` with ``status``; with
    ``retry_after`` (seconds), also ``"retry_after"`` and a ``Retry-After`` header."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, kw_only=True)
class ServerContext:
    """What every handler shares: the store, the accounts, token lifetimes, model fetching,
    the login budgets and the threads that hash passwords."""

    store: Store
    accounts: Accounts
    access_ttl: float
    refresh_ttl: float
    fetch_client: FetchClient
    logins: LoginLimiter
    password_threads: anyio.CapacityLimiter


@dataclass(frozen=True, kw_only=True)
class RouteCall:
    """One request as a handler sees it: the server context, the caller, the client's
    address, the path parameters, the JSON body (``{}`` for routes without one) and the
    query parameters (decoded once; the first of a repeated one)."""

    context: ServerContext
    user: User | None
    client: str
    params: Mapping[str, str]
    body: Mapping[str, Any]
    query: Mapping[str, str] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        """The store behind the server."""
        return self.context.store

    @property
    def accounts(self) -> Accounts:
        """The server's accounts."""
        return self.context.accounts

    def current_user(self) -> User:
        """The authenticated caller (routes that require a token only)."""
        assert self.user is not None
        return self.user


Handler = Callable[[RouteCall], Response]


@dataclass(frozen=True)
class RouteSpec:
    """A route: path, method, handler, who may call it, whether it reads a body, the most
    bytes a body may have, and the threads its handler runs on."""

    path: str
    method: str
    handler: Handler
    auth: AuthLevel
    body: bool = False
    max_body: int = BODY_LIMIT
    # "passwords": a few threads of its own, so that hashing never takes the threads (nor
    # the memory: scrypt takes 16 MiB a hash) that every other request needs.
    pool: Pool = "shared"


# --- reading a call ------------------------------------------------------------------


def provider_or_404(call: RouteCall) -> ProviderRow:
    """The provider the path's ``{id}`` names: 400 for an id that is not an integer SQLite
    can hold, 404 for none."""
    row = call.store.provider(parse_provider_id(call.params["id"]))
    if row is None:
        raise ApiError(404, NOT_FOUND)
    return row


def parse_provider_id(text: str) -> int:
    """A provider id written in a path or a query: 400 unless an integer SQLite can hold."""
    digits = text.lstrip("0") or "0"
    # The length first: int() refuses more than 4,300 digits with a ValueError.
    if not text.isascii() or not text.isdigit() or len(digits) > _MAX_ID_DIGITS:
        raise ApiError(400, "Invalid provider ID")
    number = int(digits)
    if number > _MAX_ID:
        raise ApiError(400, "Invalid provider ID")
    return number


def body_provider_id(call: RouteCall, value: Any) -> int:
    """A ``provider_id`` given in a body: 400 unless an integer, 404 unless it exists."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, "Invalid request body: provider_id must be an integer")
    if not 0 <= value <= _MAX_ID or call.store.provider(value) is None:
        raise ApiError(404, NOT_FOUND)
    return value


def string_field(body: Mapping[str, Any], name: str) -> str | None:
    """``body[name]`` if a string; None if absent or null; 400 otherwise."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid request body: {name} must be a string")
    return value


def bool_field(body: Mapping[str, Any], name: str) -> bool | None:
    """``body[name]`` if true or false; None if absent or null; 400 otherwise."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ApiError(400, f"Invalid request body: {name} must be true or false")
    return value


def int_field(body: Mapping[str, Any], name: str) -> int | None:
    """``body[name]`` if a whole number from 0 to SQLite's largest; None if absent or
    null; 400 otherwise."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_ID:
        raise ApiError(400, f"Invalid request body: {name} must be a whole number, 0 or more")
    return value


def type_field(body: Mapping[str, Any]) -> ProviderType | None:
    """The body's provider ``type``, one of the known ones; None if absent."""
    value = string_field(body, "type")
    if value is None:
        return None
    if value not in _TYPES:
        raise ApiError(400, f"Invalid request body: type must be one of {', '.join(_TYPES)}")
    return _TYPES[value]


def check_base_url(value: str) -> str:
    """``value`` if it is an http(s) URL with a host (models are fetched from it)."""
    try:
        parts = urlsplit(value)
        scheme, host, _ = parts.scheme, parts.hostname, parts.port
    except ValueError:  # a malformed IPv6 host, a port out of range
        scheme, host = "", None
    if scheme not in ("http", "https") or not host:
        raise ApiError(400, "Invalid request body: base_url must be an http(s) URL")
    return value
