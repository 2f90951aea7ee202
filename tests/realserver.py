"""A test double of a real ClaraVerse server's provider admin API: real HTTP, real quirks.

ClaraVerse's backend is Go (fiber v2, MySQL). What follows is what its provider admin
handlers, model service and middleware do, as read from their source and seen running;
this Starlette app answers the same way, traps included, so that a client tested against
it has met what users' servers send.
Everything is in memory, behind one lock; one server can serve a whole test module
(``state.reset()`` between tests).

    with running_real_server() as server:
        httpx.get(f"{server.url}/api/admin/providers", headers=server.admin_headers())

Routes (every one under ``/api`` goes through the rate limit, every one under
``/api/admin`` through the admin check first):

    POST   /api/auth/login                  {email, password}
    POST   /api/auth/refresh                {refresh_token}
    GET    /api/admin/providers
    POST   /api/admin/providers
    PUT    /api/admin/providers/:id
    DELETE /api/admin/providers/:id
    PUT    /api/admin/providers/:id/toggle  {enabled}
    POST   /api/admin/providers/:id/fetch
    GET    /api/admin/models
    PUT    /api/admin/models/bulk/visibility {model_ids, visible}
    ... and the model catalog's routes (single-model updates, agents, aliases, tiers):
        see tests/realserver_catalog.py (and realserver_tiers.py)

Authentication
- Login answers ``{access_token, expires_in, refresh_token, user: {email, id, role}}``;
  wrong email or password: 401 ``{"error": "Invalid email or password"}``. Refresh
  answers ``{access_token, expires_in}`` (no new refresh token); a bad one: 401
  ``{"error": "Invalid or expired refresh token"}`` (the ``user`` object's fields and the
  refresh wording are the double's own; the rest is the server's).
- Tokens are real HS256 JWTs signed with ``state.jwt_secret``; access tokens live
  ``access_token_ttl`` seconds (900, like the server's 15 minutes). A token is read from
  ``Authorization: Bearer <t>`` (scheme in any case) or from ``?token=<t>``.
- No token: 401 ``{"error": "Missing or invalid authorization token"}``. A bad, expired or
  refresh token: 401 ``{"error": "Invalid or expired token"}``. A valid token of a user
  whose role is not ``admin`` (and whose id is not in ``superadmin_user_ids``): 403
  ``{"error": "Superadmin access required"}``. Auth runs before routing, so an unknown
  admin path is 401 without a token and 404 with one.
- Two accounts exist after a reset: ``state.admin`` (admin@example.com /
  admin-password, role admin) and ``state.user`` (user@example.com / user-password, role
  user); ``state.add_user()`` adds more. ``state.admin_token`` and ``state.user_token``
  mint a fresh access token on every read; ``state.token_for(email)`` for any account.
  ``state.expire_tokens()`` moves the server's token clock past the life of every access
  token issued so far (refresh tokens stay valid; ``refresh=True`` expires them too).

Providers
- A provider row holds: id (an auto-increment integer, never reused), name (unique, case-
  and trailing-space-insensitively, as the MySQL collation compares), base_url, api_key,
  enabled, audio_only, image_only, image_edit_only, secure, default_model, system_prompt,
  favicon, created_at, updated_at. **There is no ``type``**: a ``type`` sent is dropped,
  and nothing reports it.
- The list answers ``{"providers": [...]}`` sorted by name (case-insensitively), each
  entry exactly ``{audio_only, base_url, enabled, favicon, filters, id, model_aliases,
  model_count, name, recommended_models}`` (keys sorted, as Go prints a map): no
  ``api_key``, ``type``, ``image_only``, ``image_edit_only``, ``default_model``,
  ``system_prompt`` or ``secure``. ``favicon`` is ``""`` when unset, ``model_aliases``
  ``{}``, ``filters`` and ``recommended_models`` ``null``; ``model_count`` counts the
  provider's models, hidden ones included. **No provider: ``{"providers": null}``.**
- Create, update and toggle answer the whole stored row as Go prints its struct, in this
  order: ``id, name, base_url, api_key, enabled, audio_only, image_only,
  image_edit_only, secure, default_model, system_prompt, favicon, created_at,
  updated_at``, where every field from ``api_key`` to ``favicon`` except ``enabled`` is
  left out when false or empty. **The key is in clear** whenever it is set.
- Create (201): ``enabled`` left out creates the provider **disabled**. An empty or
  missing name, base_url or api_key: 400 ``{"error": "Name, base_url, and api_key are
  required"}``. A name that exists: **500** ``{"error": "Failed to create provider:
  failed to create provider: Error 1062 (23000): Duplicate entry '<name>' for key
  'name'"}`` (the server wraps the driver's error twice). ``secure`` is accepted and
  never stored (no route can set it; ``state.add_provider(secure=True)`` can).
- Update (200) reads a partial body but rebuilds the row from only name, base_url,
  api_key, enabled, audio_only, system_prompt and favicon of the stored row: **image_only,
  image_edit_only and default_model fall back to false / "" unless the body carries
  them.** ``name`` is never written: **a rename is ignored** (200, old name in the
  answer). ``{"api_key": ""}`` is accepted and clears the key (the answer then has no
  ``api_key``).
- Toggle (200) takes ``{"enabled": bool}`` (left out means false, so ``{}`` disables) and
  goes through the same rebuild without those three fields: **every toggle resets
  image_only, image_edit_only and default_model.**
- Delete: 200 ``{"message": "Provider deleted successfully"}``; the provider's models go
  with it, and so do its aliases (of any model) and its tiers.
- Errors, checked in this order: an id that is not an integer: 400 ``{"error": "Invalid
  provider ID"}`` (every ``:id`` route); a body that is not a JSON object, or a field of
  the wrong type (``"enabled": "yes"``), or a Content-Type not ending in ``json``: 400
  ``{"error": "Invalid request body"}``; an unknown id: 404 ``{"error": "Provider not
  found"}`` (update, toggle, delete; fetch answers 500, below). Keys match fields
  case-insensitively and ``null`` counts as left out, as Go's ``encoding/json`` decodes.

Models and fetch
- A model id exists **once on the whole server** (it is the table's primary key,
  compared case- and trailing-space-insensitively). Fetch (``POST
  /api/admin/providers/:id/fetch``) calls ``GET {base_url}/models`` (plain string
  concatenation) with ``Authorization: Bearer {api_key}`` (**an empty key sends
  ``Bearer `` with the space**), ``Content-Type: application/json`` and Go's user agent,
  within ``fetch_timeout`` seconds, and reads ``{"data": [{"id"}]}``. Each listed id is
  upserted: a new id is stored **hidden** with ``name`` and ``display_name`` = the id;
  an id already there keeps its provider, visibility and other settings (name,
  display_name and fetched_at are overwritten), **yet ``models_fetched`` counts it**, as
  it counts every id of the listing (duplicates too). Nothing is ever deleted by a fetch.
  Ids longer than 512 characters fail to store and are not counted.
- Fetch success: 200 ``{"message": "Models fetched and stored successfully",
  "models_fetched": N, "success": true}``. A JSON answer without a ``data`` list (``{}``
  or ``null``) is a success with 0 models, as Go decodes it.
- Fetch failures are 500 ``{"error": "Failed to fetch models: <reason>"}`` where reason
  is, as Go words it: ``failed to get provider: provider not found`` (unknown id);
  ``API error (status <code>): <the upstream's body, verbatim>`` for **any status but
  200** (an upstream that echoes the request puts **the key** in this message);
  ``failed to fetch models: Get "<url>": dial tcp <host:port>: connect: connection
  refused`` or ``...: context deadline exceeded (Client.Timeout exceeded while awaiting
  headers)``; ``failed to parse models response: <Go's JSON error>`` for a body that is
  not JSON or has the wrong types (Go's wording approximated for the common cases).
  Every fetch the server sends is in ``state.fetches`` (``OutgoingFetch``: url and the
  headers as Go sends them). An upstream cannot see the trailing space of ``Bearer ``:
  receivers strip it as optional whitespace (and h11 will not send it, so the double
  sends ``Bearer``, which arrives the same).
- ``GET /api/admin/models`` is a bare JSON array, sorted by provider name then model
  name, of ``{id, provider_id, provider_name, provider_favicon, name, display_name,
  description, context_length, supports_tools, supports_streaming, supports_vision,
  smart_tool_router, agents_enabled, is_visible, system_prompt, fetched_at}`` where
  provider_name, provider_favicon, display_name, description, context_length and
  system_prompt are left out when empty or 0 (a fetched model has no context_length),
  and ``agents_enabled`` is always false. Models of ``audio_only`` providers are left
  out. **No model: ``null``.**
- ``PUT /api/admin/models/bulk/visibility`` reads only ``model_ids`` and ``visible``
  (left out = false, so it hides); **``provider_id`` is ignored: visibility is set per
  id, server-wide.** Empty or missing ``model_ids``: 400 ``{"error": "model_ids array is
  required"}``. 200 ``{"message": "Updated is_visible=<true|false> for <n> models"}``
  where n is **the number of ids sent**, unknown ids included.

Rate limit (fiber's limiter on ``/api``)
- A fixed window per client address: ``rate_limit`` requests (200) per ``rate_window``
  seconds (60), every answer counted; past it: 429 ``{"error": "Too many requests. Please
  slow down.", "retry_after": <rate_retry_after>}`` (60). ``rate_limit = None`` turns it
  off. Tests shrink it, e.g. 20 per 0.5 s with retry_after 1; ``clear_rate_limit()``
  ends the window at once.
- **By default no ``Retry-After`` header: only the body says when to come back.** The
  limiter real servers use (fiber's ``limiter`` middleware) does add ``Retry-After:
  <whole seconds left in the window>`` to the 429 and ``X-RateLimit-Limit``,
  ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` to every answer it lets through;
  ``limiter_headers = True`` sends those too. A client must cope with either.

Wire details
- Answers are Go's ``encoding/json``: compact, ``<``, ``>``, ``&``, U+2028 and U+2029
  escaped as ``\\u003c`` and so on, ``Content-Type: application/json``.
- Routing is fiber's: paths match case-insensitively and a trailing ``/`` is ignored; no
  route: 404 ``text/plain`` ``Cannot <METHOD> <path>``; a path with other methods: 405
  ``Method Not Allowed`` with ``Allow``. Routes of the real server that are not listed
  above (model tests, imports, syncs, ...) are not modelled: they answer 404.

Seeding and inspection (no HTTP): ``add_provider()``, ``add_models()``, ``set_model()``,
``add_alias()``, ``aliases()``, ``set_tier_row()``, ``tier_rows()``, ``add_user()``,
``register_local_engines()`` (the server creates "Ollama" and "LM Studio" by itself when
it finds local engines, enabled, their models visible; the default base URLs and the empty
key are the double's guess), ``providers()``,
``provider()``, ``models()``, ``model()``. ``requests`` holds every request received, as
``RecordedRequest`` (method, path, query, headers, parsed JSON body with keys kept as
sent, status answered), recorded before the answer leaves, so a test reading it after
its call sees it; ``requests_to()`` and ``writes()`` filter it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import html
import json
import math
import re
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.servers import running

__all__ = [
    "Account",
    "AliasRow",
    "ModelRow",
    "OutgoingFetch",
    "ProviderRow",
    "RealServer",
    "RealServerState",
    "RecordedRequest",
    "TierRow",
    "make_real_server",
    "running_real_server",
]

_MAX_MODEL_ID = 512  # models.id is a VARCHAR(512)
_GO_USER_AGENT = "Go-http-client/1.1"


# -- rows ---------------------------------------------------------------------------------


@dataclass
class ProviderRow:
    """One row of the providers table."""

    id: int
    name: str
    base_url: str
    api_key: str = ""
    enabled: bool = False
    audio_only: bool = False
    image_only: bool = False
    image_edit_only: bool = False
    secure: bool = False
    default_model: str = ""
    system_prompt: str = ""
    favicon: str = ""
    created_at: str = ""
    updated_at: str = ""


@dataclass
class ModelRow:
    """One row of the models table (ids are global: one row per id on the server)."""

    id: str
    provider_id: int
    name: str
    display_name: str = ""
    description: str = ""
    context_length: int = 0
    supports_tools: bool = False
    supports_streaming: bool = False
    supports_vision: bool = False
    smart_tool_router: bool = False
    agents_enabled: bool = False  # stored, never reported
    is_visible: bool = False
    system_prompt: str = ""
    fetched_at: str = ""


@dataclass
class AliasRow:
    """One row of model_aliases (unique on alias name and provider, case-insensitively).
    ``None`` is NULL: an optional field the create left out."""

    id: int
    alias_name: str
    model_id: str
    provider_id: int
    display_name: str = ""
    description: str | None = None
    supports_vision: bool | None = None
    agents_enabled: bool | None = None
    smart_tool_router: bool | None = None
    free_tier: bool | None = None
    structured_output_support: str | None = None
    structured_output_compliance: int | None = None
    structured_output_warning: str | None = None
    structured_output_speed_ms: int | None = None
    structured_output_badge: str | None = None
    memory_extractor: bool | None = None
    memory_selector: bool | None = None
    created_at: str = ""
    updated_at: str = ""


@dataclass
class TierRow:
    """One row of recommended_models: a slot holding a model's **name** (its display name
    when it was set), not its id."""

    tier: str
    provider_id: int
    model_alias: str


@dataclass(frozen=True)
class Account:
    """A user who can log in."""

    id: str
    email: str
    password: str
    role: str = "user"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it, and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON body (keys kept as sent), None when absent or not JSON
    status: int


@dataclass(frozen=True)
class OutgoingFetch:
    """One model-listing request the server sent upstream, headers exactly as sent."""

    url: str
    headers: dict[str, str]


# -- state --------------------------------------------------------------------------------


def _default_accounts() -> dict[str, Account]:
    return {
        "admin@example.com": Account(
            id="000000000000000000000001",
            email="admin@example.com",
            password="admin-password",
            role="admin",
        ),
        "user@example.com": Account(
            id="000000000000000000000002",
            email="user@example.com",
            password="user-password",
            role="user",
        ),
    }


@dataclass
class RealServerState:
    """What the server holds and how it behaves; tests change it freely (see module doc)."""

    jwt_secret: str = "claraverse-double-jwt-secret"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 7 * 24 * 3600
    superadmin_user_ids: set[str] = field(default_factory=set)
    rate_limit: int | None = 200
    rate_window: float = 60.0
    rate_retry_after: int = 60
    limiter_headers: bool = False
    fetch_timeout: float = 5.0
    # False: the database lacks ClaraVerse's migration 002_global_tiers.sql (production
    # compose): the tier column is still ENUM('top','medium','fastest','new').
    tier_migration: bool = True
    requests: list[RecordedRequest] = field(default_factory=list)
    fetches: list[OutgoingFetch] = field(default_factory=list)
    _accounts: dict[str, Account] = field(default_factory=_default_accounts, repr=False)
    _providers: dict[int, ProviderRow] = field(default_factory=dict, repr=False)
    _models: dict[str, ModelRow] = field(default_factory=dict, repr=False)
    _next_id: int = field(default=1, repr=False)
    _aliases: dict[int, AliasRow] = field(default_factory=dict, repr=False)
    _next_alias_id: int = field(default=1, repr=False)
    _tiers: dict[str, TierRow] = field(default_factory=dict, repr=False)
    _hits: dict[str, tuple[int, float]] = field(default_factory=dict, repr=False)
    _clock_offset: float = field(default=0.0, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    # -- lifecycle ------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the defaults, in place (the app holds on to this object)."""
        fresh = RealServerState()
        with self._lock:
            for name in self.__dataclass_fields__:
                if name != "_lock":
                    setattr(self, name, getattr(fresh, name))

    # -- accounts and tokens --------------------------------------------------------------

    @property
    def admin(self) -> Account:
        """The default admin account (admin@example.com / admin-password)."""
        return self._accounts["admin@example.com"]

    @property
    def user(self) -> Account:
        """The default non-admin account (user@example.com / user-password)."""
        return self._accounts["user@example.com"]

    def add_user(self, email: str, password: str, *, role: str = "user") -> Account:
        """Add (or replace) an account that can log in."""
        with self._lock:
            account_id = hashlib.sha256(email.lower().encode()).hexdigest()[:24]
            account = Account(id=account_id, email=email, password=password, role=role)
            self._accounts[email.lower()] = account
            return account

    @property
    def admin_token(self) -> str:
        """A fresh access token of the default admin."""
        return self.token_for(self.admin.email)

    @property
    def user_token(self) -> str:
        """A fresh access token of the default non-admin user."""
        return self.token_for(self.user.email)

    def token_for(self, email: str, *, kind: str = "access") -> str:
        """A fresh token ("access" or "refresh") of an account."""
        with self._lock:
            account = self._accounts[email.lower()]
            ttl = self.access_token_ttl if kind == "access" else self.refresh_token_ttl
            now = int(self._token_clock())
            claims = {
                "sub": account.id,
                "email": account.email,
                "role": account.role,
                "type": kind,
                "iat": now,
                "exp": now + ttl,
            }
            return _jwt_encode(claims, self.jwt_secret)

    def expire_tokens(self, *, refresh: bool = False) -> None:
        """Make every access token issued so far expired (and refresh tokens too if asked):
        the server's token clock jumps past their lifetime."""
        with self._lock:
            ttl = self.refresh_token_ttl if refresh else self.access_token_ttl
            self._clock_offset += ttl + 1

    def _token_clock(self) -> float:
        return time.time() + self._clock_offset

    def _account_for(self, token: str, kind: str) -> Account | None:
        claims = _jwt_decode(token, self.jwt_secret)
        if claims is None or claims.get("type") != kind:
            return None
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= self._token_clock():
            return None
        with self._lock:
            for account in self._accounts.values():
                if account.id == claims.get("sub"):
                    return account
        return None

    # -- seeding and inspection -----------------------------------------------------------

    def add_provider(
        self,
        name: str,
        base_url: str,
        api_key: str = "",
        *,
        enabled: bool = True,
        audio_only: bool = False,
        image_only: bool = False,
        image_edit_only: bool = False,
        secure: bool = False,
        default_model: str = "",
        system_prompt: str = "",
        favicon: str = "",
    ) -> ProviderRow:
        """Store a provider directly (no HTTP, no validation but the unique name)."""
        with self._lock:
            if self._provider_named(name) is not None:
                raise ValueError(f"a provider named {name!r} exists")
            now = _now()
            row = ProviderRow(
                id=self._next_id,
                name=name,
                base_url=base_url,
                api_key=api_key,
                enabled=enabled,
                audio_only=audio_only,
                image_only=image_only,
                image_edit_only=image_edit_only,
                secure=secure,
                default_model=default_model,
                system_prompt=system_prompt,
                favicon=favicon,
                created_at=now,
                updated_at=now,
            )
            self._providers[row.id] = row
            self._next_id += 1
            return replace(row)

    def add_models(self, provider_id: int, ids: Iterable[str], *, visible: bool = False) -> int:
        """Upsert models as a fetch does (an existing id keeps its provider), then set their
        visibility; the number of ids stored or updated."""
        listed = list(ids)
        with self._lock:
            count = self._upsert_models(provider_id, listed)
            for model_id in listed:
                row = self._models.get(_key(model_id))
                if row is not None:
                    row.is_visible = visible
            return count

    def set_model(self, model_id: str, **columns: Any) -> None:
        """Set columns of a stored model directly (``display_name="Kimi"``, ...)."""
        with self._lock:
            row = self._models[_key(model_id)]
            for name, value in columns.items():
                if not hasattr(row, name):
                    raise ValueError(f"models has no column {name!r}")
                setattr(row, name, value)

    def add_alias(self, alias_name: str, model_id: str, provider_id: int, **columns: Any) -> None:
        """Store an alias directly (no checks but the unique name per provider)."""
        with self._lock:
            if self._alias_named(alias_name, provider_id) is not None:
                raise ValueError(f"alias {alias_name!r} exists under provider {provider_id}")
            now = _now()
            row = AliasRow(
                id=self._next_alias_id,
                alias_name=alias_name,
                model_id=model_id,
                provider_id=provider_id,
                created_at=now,
                updated_at=now,
                **columns,
            )
            self._aliases[row.id] = row
            self._next_alias_id += 1

    def aliases(self) -> list[AliasRow]:
        """Copies of the stored alias rows, by id."""
        with self._lock:
            return [replace(a) for _, a in sorted(self._aliases.items())]

    def set_tier_row(self, tier: str, provider_id: int, model_alias: str) -> None:
        """Store a recommended_models row directly (any tier name: a database without the
        tier migration holds top/medium/fastest/new)."""
        with self._lock:
            self._tiers[tier] = TierRow(tier=tier, provider_id=provider_id, model_alias=model_alias)

    def tier_rows(self) -> dict[str, TierRow]:
        """Copies of the stored tier rows, occupied or dangling, by tier."""
        with self._lock:
            return {t: replace(r) for t, r in sorted(self._tiers.items())}

    def set_fetched_at(self, model_id: str, when: str) -> None:
        """Pretend a model was fetched at ``when`` (RFC 3339), e.g. yesterday."""
        with self._lock:
            self._models[_key(model_id)].fetched_at = when

    def register_local_engines(
        self,
        *,
        ollama_url: str = "http://localhost:11434/v1",
        lm_studio_url: str = "http://localhost:1234/v1",
        models: Mapping[str, Iterable[str]] | None = None,
    ) -> list[ProviderRow]:
        """Do what the server does when it finds local engines: create enabled, keyless
        providers "Ollama" and "LM Studio" (skipping one that exists), with their models
        (``models={"Ollama": [...]}``) visible."""
        created = []
        with self._lock:
            for name, url in (("Ollama", ollama_url), ("LM Studio", lm_studio_url)):
                row = self._provider_named(name)
                if row is None:
                    row = self.add_provider(name, url, enabled=True)
                    created.append(row)
                ids = list((models or {}).get(name, ()))
                if ids:
                    self.add_models(row.id, ids, visible=True)
        return created

    def providers(self) -> list[ProviderRow]:
        """Copies of the stored provider rows, by id."""
        with self._lock:
            return [replace(p) for _, p in sorted(self._providers.items())]

    def provider(self, name: str) -> ProviderRow | None:
        """A copy of the provider of that name (compared as the server does), or None."""
        with self._lock:
            row = self._provider_named(name)
            return replace(row) if row is not None else None

    def models(self) -> list[ModelRow]:
        """Copies of the stored model rows."""
        with self._lock:
            return [replace(m) for m in self._models.values()]

    def model(self, model_id: str) -> ModelRow | None:
        """A copy of the model row of that id (compared as the server does), or None."""
        with self._lock:
            row = self._models.get(_key(model_id))
            return replace(row) if row is not None else None

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Requests received with that method whose path matches ``path`` (a regex)."""
        with self._lock:
            return [r for r in self.requests if r.method == method and re.search(path, r.path)]

    def writes(self) -> list[RecordedRequest]:
        """Requests that could change something (not GET, not auth)."""
        with self._lock:
            return [
                r for r in self.requests if r.method != "GET" and not r.path.startswith("/api/auth")
            ]

    # -- internals (call with the lock held) ----------------------------------------------

    def _provider_named(self, name: str) -> ProviderRow | None:
        for row in self._providers.values():
            if _key(row.name) == _key(name):
                return row
        return None

    def _alias_named(self, alias_name: str, provider_id: int) -> AliasRow | None:
        for row in self._aliases.values():
            if row.provider_id == provider_id and _key(row.alias_name) == _key(alias_name):
                return row
        return None

    def _delete_model_rows(self, keys: Iterable[str]) -> None:
        """DELETE FROM models: its aliases go with it (under any provider); tiers stay (they
        hold a name, no foreign key), dangling."""
        gone = set(keys)
        for key in gone:
            self._models.pop(key, None)
        for alias_id in [i for i, a in self._aliases.items() if _key(a.model_id) in gone]:
            del self._aliases[alias_id]

    def _upsert_models(self, provider_id: int, ids: list[str]) -> int:
        """INSERT ... ON DUPLICATE KEY UPDATE name, display_name, fetched_at, one row per id;
        the number of statements that succeeded (each listed id, duplicates included)."""
        count = 0
        now = _now()
        for model_id in ids:
            if len(model_id) > _MAX_MODEL_ID or provider_id not in self._providers:
                continue  # "Data too long" / a foreign-key error: logged, not counted
            existing = self._models.get(_key(model_id))
            if existing is None:
                self._models[_key(model_id)] = ModelRow(
                    id=model_id,
                    provider_id=provider_id,
                    name=model_id,
                    display_name=model_id,
                    is_visible=False,
                    fetched_at=now,
                )
            else:
                existing.name = model_id
                existing.display_name = model_id
                existing.fetched_at = now
            count += 1
        return count

    def _rate_limited(self, client: str) -> tuple[bool, int, float]:
        """Count a request; (over the limit?, requests left, seconds left in the window)."""
        with self._lock:
            limit = self.rate_limit
            if limit is None:
                return False, 0, 0.0
            now = time.monotonic()
            hits, window_end = self._hits.get(client, (0, 0.0))
            if now >= window_end:
                hits, window_end = 0, now + self.rate_window
            hits += 1
            self._hits[client] = (hits, window_end)
            return hits > limit, limit - hits, window_end - now

    def clear_rate_limit(self) -> None:
        """Forget every client's count, as if the window had passed (no sleeping)."""
        with self._lock:
            self._hits.clear()

    def _record(self, recorded: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(recorded)


def _key(identifier: str) -> str:
    """How MySQL's utf8mb4_unicode_ci compares names and ids: case- and
    trailing-space-insensitively."""
    return identifier.rstrip(" ").casefold()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- JWT (HS256, standard library only) ---------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwt_encode(claims: dict[str, Any], secret: str) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def _jwt_decode(token: str, secret: str) -> dict[str, Any] | None:
    """The claims of a well-signed HS256 token, or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return None
    expected = hmac.new(
        secret.encode(), f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(signature, expected) or not isinstance(claims, dict):
        return None
    return claims


# -- Go's JSON, both ways -----------------------------------------------------------------


class GoJSONResponse(Response):
    """``c.JSON(...)``: Go's encoding/json output (compact, HTML characters escaped)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        for char, escape in (
            ("<", "\\u003c"),
            (">", "\\u003e"),
            ("&", "\\u0026"),
            ("\u2028", "\\u2028"),
            ("\u2029", "\\u2029"),
        ):
            text = text.replace(char, escape)
        return text.encode("utf-8")


def _go_map(**items: Any) -> dict[str, Any]:
    """A ``fiber.Map``: Go prints a map's keys sorted."""
    return dict(sorted(items.items()))


def _error(status: int, message: str) -> GoJSONResponse:
    return GoJSONResponse({"error": message}, status_code=status)


_INVALID_BODY = "Invalid request body"


class _BadBody(Exception):
    pass


class _GoConstant(ValueError):
    """NaN or Infinity: Python's json reads them, Go's refuses them."""

    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.char = constant.lstrip("-")[0]


def _strict_json(raw: bytes | str) -> Any:
    def reject(constant: str) -> Any:
        raise _GoConstant(constant)

    return json.loads(raw, parse_constant=reject)


def _decode_body(
    request_body: bytes, content_type: str, fields: Mapping[str, type]
) -> dict[str, Any]:
    """``c.BodyParser(&req)`` into a struct of ``fields`` (name -> bool, str, int or list);
    the fields the body sets. Raises _BadBody where fiber answers "Invalid request body"."""
    ctype = content_type.lower().split(";", 1)[0].strip()
    if not ctype.endswith("json"):
        raise _BadBody("not JSON")  # forms and XML are not modelled
    try:
        document = _strict_json(request_body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadBody(str(exc)) from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise _BadBody("not an object")
    decoded: dict[str, Any] = {}
    for key, value in document.items():
        name = next((f for f in fields if f.lower() == key.lower()), None)
        if name is None or value is None:
            continue
        kind = fields[name]
        if kind is bool and not isinstance(value, bool):
            raise _BadBody(key)
        if kind is str and not isinstance(value, str):
            raise _BadBody(key)
        if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
            raise _BadBody(key)  # Go refuses 1.5, "1" and true for an int
        if kind is list:
            if not isinstance(value, list) or not all(
                v is None or isinstance(v, str) for v in value
            ):
                raise _BadBody(key)
            value = ["" if v is None else v for v in value]
        decoded[name] = value
    return decoded


def _atoi(text: str) -> int | None:
    """Go's strconv.Atoi (what fiber's ParamsInt uses)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


# -- answers ------------------------------------------------------------------------------


def _provider_json(row: ProviderRow) -> dict[str, Any]:
    """``models.Provider`` as Go prints it (struct order, omitempty fields left out)."""
    out: dict[str, Any] = {"id": row.id, "name": row.name, "base_url": row.base_url}
    if row.api_key:
        out["api_key"] = row.api_key
    out["enabled"] = row.enabled
    for name in (
        "audio_only",
        "image_only",
        "image_edit_only",
        "secure",
        "default_model",
        "system_prompt",
        "favicon",
    ):
        value = getattr(row, name)
        if value:
            out[name] = value
    out["created_at"] = row.created_at
    out["updated_at"] = row.updated_at
    return out


def _list_entry(row: ProviderRow, model_count: int) -> dict[str, Any]:
    return _go_map(
        id=row.id,
        name=row.name,
        base_url=row.base_url,
        enabled=row.enabled,
        audio_only=row.audio_only,
        favicon=row.favicon,
        model_count=model_count,
        model_aliases={},
        filters=None,
        recommended_models=None,
    )


def _model_json(row: ModelRow, provider: ProviderRow) -> dict[str, Any]:
    """``models.Model`` as the admin model list prints it."""
    out: dict[str, Any] = {"id": row.id, "provider_id": row.provider_id}
    if provider.name:
        out["provider_name"] = provider.name
    if provider.favicon:
        out["provider_favicon"] = provider.favicon
    out["name"] = row.name
    if row.display_name:
        out["display_name"] = row.display_name
    if row.description:
        out["description"] = row.description
    if row.context_length:
        out["context_length"] = row.context_length
    out["supports_tools"] = row.supports_tools
    out["supports_streaming"] = row.supports_streaming
    out["supports_vision"] = row.supports_vision
    out["smart_tool_router"] = row.smart_tool_router
    out["agents_enabled"] = False  # never selected by the query
    out["is_visible"] = row.is_visible
    if row.system_prompt:
        out["system_prompt"] = row.system_prompt
    out["fetched_at"] = row.fetched_at or "0001-01-01T00:00:00Z"
    return out


# -- handlers -----------------------------------------------------------------------------

_PROVIDER_FIELDS: dict[str, type] = {
    "name": str,
    "base_url": str,
    "api_key": str,
    "enabled": bool,
    "audio_only": bool,
    "image_only": bool,
    "image_edit_only": bool,
    "secure": bool,
    "default_model": str,
    "system_prompt": str,
    "favicon": str,
}


def _state(request: Request) -> RealServerState:
    state: RealServerState = request.app.state.real_server
    return state


async def _parse(request: Request, fields: Mapping[str, type]) -> dict[str, Any]:
    return _decode_body(await request.body(), request.headers.get("content-type", ""), fields)


async def login(request: Request) -> Response:
    state = _state(request)
    try:
        body = await _parse(request, {"email": str, "password": str})
    except _BadBody:
        return _error(400, _INVALID_BODY)
    with state._lock:
        account = state._accounts.get(body.get("email", "").lower())
        if account is None or not hmac.compare_digest(
            account.password.encode(), body.get("password", "").encode()
        ):
            return _error(401, "Invalid email or password")
        return GoJSONResponse(
            _go_map(
                access_token=state.token_for(account.email),
                refresh_token=state.token_for(account.email, kind="refresh"),
                user=_go_map(id=account.id, email=account.email, role=account.role),
                expires_in=state.access_token_ttl,
            )
        )


async def refresh(request: Request) -> Response:
    state = _state(request)
    try:
        body = await _parse(request, {"refresh_token": str})
    except _BadBody:
        return _error(400, _INVALID_BODY)
    account = state._account_for(body.get("refresh_token", ""), "refresh")
    if account is None:
        return _error(401, "Invalid or expired refresh token")
    return GoJSONResponse(
        _go_map(access_token=state.token_for(account.email), expires_in=state.access_token_ttl)
    )


async def providers(request: Request) -> Response:
    state = _state(request)
    if request.method == "GET":
        with state._lock:
            rows = sorted(state._providers.values(), key=lambda p: (_key(p.name), p.id))
            views = [
                _list_entry(p, sum(1 for m in state._models.values() if m.provider_id == p.id))
                for p in rows
            ]
        return GoJSONResponse({"providers": views or None})

    try:
        body = await _parse(request, _PROVIDER_FIELDS)
    except _BadBody:
        return _error(400, _INVALID_BODY)
    name, base_url = body.get("name", ""), body.get("base_url", "")
    api_key = body.get("api_key", "")
    if not name or not base_url or not api_key:
        return _error(400, "Name, base_url, and api_key are required")
    with state._lock:
        if state._provider_named(name) is not None:
            return _error(
                500,
                "Failed to create provider: failed to create provider: "
                f"Error 1062 (23000): Duplicate entry '{name}' for key 'name'",
            )
        row = state.add_provider(
            name,
            base_url,
            api_key,
            enabled=body.get("enabled", False),
            audio_only=body.get("audio_only", False),
            image_only=body.get("image_only", False),
            image_edit_only=body.get("image_edit_only", False),
            secure=False,  # accepted, never written
            default_model=body.get("default_model", ""),
            system_prompt=body.get("system_prompt", ""),
            favicon=body.get("favicon", ""),
        )
    return GoJSONResponse(_provider_json(row), status_code=201)


def _rebuild(row: ProviderRow, overlay: Mapping[str, Any]) -> None:
    """``providerService.Update``: every column but name and secure from a config built
    from only some of the stored fields (image_only, image_edit_only and default_model
    are not among them), overlaid with ``overlay``."""
    config: dict[str, Any] = {
        "base_url": row.base_url,
        "api_key": row.api_key,
        "enabled": row.enabled,
        "audio_only": row.audio_only,
        "image_only": False,
        "image_edit_only": False,
        "default_model": "",
        "system_prompt": row.system_prompt,
        "favicon": row.favicon,
    }
    config.update({k: v for k, v in overlay.items() if k in config})
    for name, value in config.items():
        setattr(row, name, value)
    row.updated_at = _now()


async def provider(request: Request) -> Response:
    state = _state(request)
    provider_id = _atoi(request.path_params["id"])
    if provider_id is None:
        return _error(400, "Invalid provider ID")
    if request.method == "DELETE":
        with state._lock:
            if state._providers.pop(provider_id, None) is None:
                return _error(404, "Provider not found")
            # ON DELETE CASCADE: its models (and their aliases), its aliases of any model,
            # its tiers.
            state._delete_model_rows(
                k for k, m in state._models.items() if m.provider_id == provider_id
            )
            for alias_id in [i for i, a in state._aliases.items() if a.provider_id == provider_id]:
                del state._aliases[alias_id]
            for tier in [t for t, r in state._tiers.items() if r.provider_id == provider_id]:
                del state._tiers[tier]
        return GoJSONResponse({"message": "Provider deleted successfully"})

    try:
        body = await _parse(request, _PROVIDER_FIELDS)
    except _BadBody:
        return _error(400, _INVALID_BODY)
    with state._lock:
        row = state._providers.get(provider_id)
        if row is None:
            return _error(404, "Provider not found")
        _rebuild(row, body)  # body["name"] and body["secure"] are never written
        return GoJSONResponse(_provider_json(row))


async def toggle(request: Request) -> Response:
    state = _state(request)
    provider_id = _atoi(request.path_params["id"])
    if provider_id is None:
        return _error(400, "Invalid provider ID")
    try:
        body = await _parse(request, {"enabled": bool})
    except _BadBody:
        return _error(400, _INVALID_BODY)
    with state._lock:
        row = state._providers.get(provider_id)
        if row is None:
            return _error(404, "Provider not found")
        _rebuild(row, {"enabled": body.get("enabled", False)})
        return GoJSONResponse(_provider_json(row))


class _FetchError(Exception):
    pass


async def fetch(request: Request) -> Response:
    state = _state(request)
    provider_id = _atoi(request.path_params["id"])
    if provider_id is None:
        return _error(400, "Invalid provider ID")
    with state._lock:
        row = state._providers.get(provider_id)
        target = replace(row) if row is not None else None
    try:
        if target is None:
            raise _FetchError("failed to get provider: provider not found")
        ids = await _list_upstream(state, target)
    except _FetchError as exc:
        return _error(500, f"Failed to fetch models: {exc}")
    with state._lock:
        count = state._upsert_models(provider_id, ids)
    return GoJSONResponse(
        _go_map(
            success=True, models_fetched=count, message="Models fetched and stored successfully"
        )
    )


async def _list_upstream(state: RealServerState, row: ProviderRow) -> list[str]:
    url = row.base_url + "/models"
    headers = {
        "Authorization": "Bearer " + row.api_key,
        "Content-Type": "application/json",
        "User-Agent": _GO_USER_AGENT,
    }
    with state._lock:
        state.fetches.append(OutgoingFetch(url=url, headers=dict(headers)))
    try:
        async with httpx.AsyncClient(
            timeout=state.fetch_timeout, follow_redirects=True, verify=_tls_context()
        ) as client:
            # h11 refuses a trailing space in a header value; receivers strip it anyway
            # (it is optional whitespace), so "Bearer " arrives as "Bearer" either way.
            sent = {name: value.rstrip(" ") for name, value in headers.items()}
            response = await client.get(url, headers=sent)
    except httpx.TimeoutException as exc:
        raise _FetchError(
            f'failed to fetch models: Get "{url}": context deadline exceeded '
            "(Client.Timeout exceeded while awaiting headers)"
        ) from exc
    except httpx.ConnectError as exc:
        raise _FetchError(f'failed to fetch models: Get "{url}": {_dial_error(url)}') from exc
    except httpx.UnsupportedProtocol as exc:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        raise _FetchError(
            f'failed to fetch models: Get "{url}": unsupported protocol scheme "{scheme}"'
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise _FetchError(f'failed to fetch models: Get "{url}": {exc}') from exc
    if response.status_code != 200:
        text = response.content.decode("utf-8", errors="replace")
        raise _FetchError(f"API error (status {response.status_code}): {text}")
    return _listed_ids(response.content)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context, with the system's roots as Go uses, for every fetch
    (building one per client costs more than a whole loopback fetch)."""
    return ssl.create_default_context()


def _dial_error(url: str) -> str:
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"dial tcp {parsed.host}:{port}: connect: connection refused"


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _listed_ids(body: bytes) -> list[str]:
    """``json.Unmarshal`` into ``OpenAIModelsResponse{Data []OpenAIModel{ID string}}``."""
    prefix = "failed to parse models response: "
    text = body.decode("utf-8", errors="replace")
    try:
        document = _strict_json(text)
    except json.JSONDecodeError as exc:
        if not text.strip() or exc.pos >= len(text):
            raise _FetchError(prefix + "unexpected end of JSON input") from exc
        char = text[exc.pos]
        raise _FetchError(
            prefix + f"invalid character {char!r} looking for beginning of value"
        ) from exc
    except _GoConstant as exc:
        raise _FetchError(
            prefix + f"invalid character '{exc.char}' looking for beginning of value"
        ) from exc
    if document is None:
        return []
    if not isinstance(document, dict):
        raise _FetchError(
            prefix + f"json: cannot unmarshal {_go_kind(document)} into Go value of type "
            "models.OpenAIModelsResponse"
        )
    data = next((v for k, v in reversed(document.items()) if k.lower() == "data"), None)
    if data is None:
        return []
    if not isinstance(data, list):
        raise _FetchError(
            prefix + f"json: cannot unmarshal {_go_kind(data)} into Go struct field "
            "OpenAIModelsResponse.data of type []models.OpenAIModel"
        )
    ids = []
    for entry in data:
        if entry is None:
            ids.append("")  # a zero OpenAIModel: id ""
            continue
        if not isinstance(entry, dict):
            raise _FetchError(
                prefix + f"json: cannot unmarshal {_go_kind(entry)} into Go struct field "
                "OpenAIModelsResponse.data of type models.OpenAIModel"
            )
        model_id = next((v for k, v in reversed(entry.items()) if k.lower() == "id"), None)
        if model_id is not None and not isinstance(model_id, str):
            raise _FetchError(
                prefix + f"json: cannot unmarshal {_go_kind(model_id)} into Go struct field "
                "OpenAIModel.data.id of type string"
            )
        ids.append(model_id or "")
    return ids


async def models(request: Request) -> Response:
    state = _state(request)
    with state._lock:
        pairs = [
            (m, state._providers[m.provider_id])
            for m in state._models.values()
            if m.provider_id in state._providers and not state._providers[m.provider_id].audio_only
        ]
        pairs.sort(key=lambda pair: (_key(pair[1].name), _key(pair[0].name)))
        answer = [_model_json(m, p) for m, p in pairs]
    return GoJSONResponse(answer or None)


async def bulk_visibility(request: Request) -> Response:
    return await bulk_flag(request, "visible", "is_visible")


async def bulk_flag(request: Request, field: str, column: str) -> Response:
    """The bulk routes (visibility, agents): one flag of many model ids, by id, server-wide;
    a missing flag is false (Go's zero value), unknown ids are ignored."""
    state = _state(request)
    try:
        body = await _parse(request, {"model_ids": list, field: bool})
    except _BadBody:
        return _error(400, _INVALID_BODY)
    ids: list[str] = body.get("model_ids", [])
    value: bool = body.get(field, False)
    if not ids:
        return _error(400, "model_ids array is required")
    with state._lock:
        for model_id in ids:
            row = state._models.get(_key(model_id))
            if row is not None:
                setattr(row, column, value)
    flag = "true" if value else "false"
    return GoJSONResponse({"message": f"Updated {column}={flag} for {len(ids)} models"})


# -- the front: recording, rate limit, admin check, fiber's routing -----------------------


class _Front:
    """What runs before the routes, in the real server's order: the request is recorded,
    counted by the rate limiter (``/api``), checked by the admin middleware
    (``/api/admin``), then routed case-insensitively without a trailing slash."""

    def __init__(self, app: ASGIApp, state: RealServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        original_path: str = scope["path"]
        match_path = original_path.lower().rstrip("/") or "/"
        request = Request(scope)
        recorded = False
        extra_headers: list[tuple[bytes, bytes]] = []

        async def recording_send(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                self.state._record(_recorded(request, original_path, body, message["status"]))
                if extra_headers:
                    message = {**message, "headers": [*message["headers"], *extra_headers]}
            await send(message)

        body_sent = False

        async def replay() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        refusal = self._refusal(scope, request, match_path, extra_headers)
        try:
            if refusal is not None:
                await refusal(scope, replay, recording_send)
                return
            routed = {**scope, "path": match_path, "claraverse.path": original_path}
            await self.app(routed, replay, recording_send)
        finally:
            if not recorded:
                self.state._record(_recorded(request, original_path, body, 500))

    def _refusal(
        self,
        scope: Scope,
        request: Request,
        path: str,
        extra_headers: list[tuple[bytes, bytes]],
    ) -> Response | None:
        if _under(path, "/api"):
            client = scope["client"][0] if scope.get("client") else "unknown"
            limited, remaining, seconds_left = self.state._rate_limited(client)
            reset = str(max(1, math.ceil(seconds_left)))
            if limited:
                response = GoJSONResponse(
                    _go_map(
                        error="Too many requests. Please slow down.",
                        retry_after=self.state.rate_retry_after,
                    ),
                    status_code=429,
                )
                if self.state.limiter_headers:
                    response.headers["Retry-After"] = reset
                return response
            if self.state.limiter_headers and self.state.rate_limit is not None:
                extra_headers.extend(
                    [
                        (b"x-ratelimit-limit", str(self.state.rate_limit).encode()),
                        (b"x-ratelimit-remaining", str(remaining).encode()),
                        (b"x-ratelimit-reset", reset.encode()),
                    ]
                )
        if _under(path, "/api/admin"):
            token = _bearer(request)
            if not token:
                return _error(401, "Missing or invalid authorization token")
            account = self.state._account_for(token, "access")
            if account is None:
                return _error(401, "Invalid or expired token")
            if account.role != "admin" and account.id not in self.state.superadmin_user_ids:
                return _error(403, "Superadmin access required")
        return None


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query_params.get("token", "")


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _recorded(request: Request, path: str, body: bytes, status: int) -> RecordedRequest:
    parsed: Any = None
    if body:
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            parsed = None
    return RecordedRequest(
        method=request.method,
        path=path,
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=parsed,
        status=status,
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    path = request.scope.get("claraverse.path", request.url.path)
    return PlainTextResponse(f"Cannot {request.method} {html.escape(path)}", status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    headers = exc.headers if isinstance(exc, HTTPException) else None
    return PlainTextResponse("Method Not Allowed", status_code=405, headers=headers)


# -- the app and its server ---------------------------------------------------------------


def make_real_server(state: RealServerState | None = None) -> Starlette:
    """The Starlette app; its state is ``app.state.real_server`` (a new one when not given)."""
    # The catalog's handlers live in their own modules, which build on this one's helpers.
    from tests.realserver_catalog import catalog_routes
    from tests.realserver_tiers import tier_routes

    real = state if state is not None else RealServerState()
    app = Starlette(
        routes=[
            Route("/api/auth/login", login, methods=["POST"]),
            Route("/api/auth/refresh", refresh, methods=["POST"]),
            Route("/api/admin/providers", providers, methods=["GET", "POST"]),
            Route("/api/admin/providers/{id}", provider, methods=["PUT", "DELETE"]),
            Route("/api/admin/providers/{id}/toggle", toggle, methods=["PUT"]),
            Route("/api/admin/providers/{id}/fetch", fetch, methods=["POST"]),
            Route("/api/admin/models", models, methods=["GET"]),
            Route("/api/admin/models/bulk/visibility", bulk_visibility, methods=["PUT"]),
            *catalog_routes(),
            *tier_routes(),
        ],
        middleware=[Middleware(_Front, state=real)],
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
    app.router.redirect_slashes = False
    app.state.real_server = real
    return app


@dataclass(frozen=True)
class RealServer:
    """A running double: its URL and its state."""

    url: str
    state: RealServerState

    def admin_headers(self) -> dict[str, str]:
        """An Authorization header with a fresh admin token."""
        return {"Authorization": f"Bearer {self.state.admin_token}"}

    def user_headers(self) -> dict[str, str]:
        """An Authorization header with a fresh token of a non-admin user."""
        return {"Authorization": f"Bearer {self.state.user_token}"}


@contextmanager
def running_real_server(state: RealServerState | None = None) -> Iterator[RealServer]:
    """Serve the double on a free loopback port for the ``with`` block."""
    state = state if state is not None else RealServerState()
    with running(make_real_server(state)) as url:
        yield RealServer(url=url, state=state)
