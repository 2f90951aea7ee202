"""The sandbox's routes for everyone: login, token refresh, and the user side.

Login attempts are rate-limited per account and per client address (``logins``): an
attempt over budget is refused with 429 and ``Retry-After`` before its password is hashed;
successful logins do not count. Login and refresh bodies are small (``AUTH_BODY_LIMIT``).

Users see enabled providers only (to them a disabled provider does not exist, nor do its
models), with their visible models and which key their requests would use: their own, the
administrator's, or none (then requests fail). They set and remove their own key per
provider. No answer here ever contains a key.
"""

from __future__ import annotations

import math

from starlette.responses import JSONResponse, Response

from reconciler.sandbox.accounts import normal_email
from reconciler.sandbox.context import (
    AUTH_BODY_LIMIT,
    NOT_FOUND,
    ApiError,
    RouteCall,
    RouteSpec,
    provider_or_404,
    string_field,
)
from reconciler.targets.sqlite import ProviderRow

_KEY_STATUS = {
    "user": "Requests use your own API key.",
    "admin": "Requests use the administrator's API key.",
    "none": (
        "No API key is configured: requests to this provider will fail until you add your own key."
    ),
}


# --- authentication ----------------------------------------------------------------------


def _login(call: RouteCall) -> Response:
    email = string_field(call.body, "email") or ""
    password = string_field(call.body, "password") or ""
    account = normal_email(email)
    context = call.context
    wait = context.logins.take(account, call.client)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ApiError(429, f"Too many login attempts: retry in {seconds} s", retry_after=seconds)
    user = call.accounts.login(email, password)
    if user is None:
        raise ApiError(401, "Invalid email or password")
    context.logins.give_back(account, call.client)
    return JSONResponse(
        {
            "access_token": call.accounts.issue_token(user.id, "access", context.access_ttl),
            "refresh_token": call.accounts.issue_token(user.id, "refresh", context.refresh_ttl),
            "user": {"id": user.id, "email": user.email, "role": user.role},
            "expires_in": int(context.access_ttl),
        }
    )


def _refresh(call: RouteCall) -> Response:
    token = string_field(call.body, "refresh_token") or ""
    user = call.accounts.user_by_token(token, "refresh") if token else None
    if user is None:
        raise ApiError(401, "Invalid or expired refresh token")
    ttl = call.context.access_ttl
    return JSONResponse(
        {"access_token": call.accounts.issue_token(user.id, "access", ttl), "expires_in": int(ttl)}
    )


# --- the user side -----------------------------------------------------------------------


def _user_providers(call: RouteCall) -> Response:
    enabled = [p for p in call.store.providers() if p.enabled]
    ids = {p.id for p in enabled}
    models: dict[int, list[dict[str, str]]] = {}
    for m in call.store.models():
        if m["visible"] and m["provider_id"] in ids:
            models.setdefault(int(m["provider_id"]), []).append(
                {
                    "id": m["model_id"],
                    "name": m["model_id"],
                    "display_name": m["display_name"] or m["model_id"],
                }
            )
    own = call.accounts.providers_with_own_key(call.current_user().id)
    listed = []
    for p in enabled:
        source = _key_source(p.id in own, bool(p.api_key))
        listed.append(
            {
                "id": p.id,
                "name": p.name,
                "models": models.get(p.id, []),
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


def _enabled_provider_or_404(call: RouteCall) -> ProviderRow:
    # To users, a disabled provider does not exist.
    row = provider_or_404(call)
    if not row.enabled:
        raise ApiError(404, NOT_FOUND)
    return row


def _set_user_key(call: RouteCall) -> Response:
    row = _enabled_provider_or_404(call)
    api_key = string_field(call.body, "api_key")
    if not api_key:
        raise ApiError(400, "api_key is required")
    # Stored as given: a Secret would join the scrub registry of the whole `serve` process,
    # which any user could then grow without end, key after key (the server prints no key).
    call.accounts.set_own_key(call.current_user().id, row.id, api_key)
    return _key_answer("API key saved", "user")


def _delete_user_key(call: RouteCall) -> Response:
    row = _enabled_provider_or_404(call)
    call.accounts.delete_own_key(call.current_user().id, row.id)
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


ROUTES = (
    RouteSpec(
        "/api/auth/login",
        "POST",
        _login,
        "public",
        body=True,
        max_body=AUTH_BODY_LIMIT,
        pool="passwords",
    ),
    RouteSpec("/api/auth/refresh", "POST", _refresh, "public", body=True, max_body=AUTH_BODY_LIMIT),
    RouteSpec("/api/providers", "GET", _user_providers, "user"),
    RouteSpec("/api/user/providers/{id}/key", "PUT", _set_user_key, "user", body=True),
    RouteSpec("/api/user/providers/{id}/key", "DELETE", _delete_user_key, "user"),
)
