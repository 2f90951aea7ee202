"""The sandbox's model catalog routes: the model list, a model's settings, agents, tiers.

They take the requests real ClaraVerse servers take and do what those are documented to
do (see docs/claraverse-servers.md for where real servers fall short):

- ``GET /api/admin/models`` lists every model with its settings; ``agents_enabled`` is the
  stored value (real servers always say false) and ``system_prompt`` is null when empty;
- ``PUT /api/admin/models/by-id?model_id=`` sets the settings its body carries, in
  camelCase (``displayName``, ``contextLength``, ``systemPrompt``, what real servers need)
  or snake_case (which they ignore for those three), and nothing else; ``free_tier`` is a
  400 (an alias setting; real servers fail the whole update with a 500);
- ``PUT /api/admin/models/bulk/agents-enabled`` {model_ids, enabled, provider_id?};
- ``GET /api/admin/tiers``, ``POST /api/admin/models/by-id/tier?model_id=`` {provider_id,
  tier} and ``DELETE /api/admin/models/by-id/tier`` {tier}: a tier holds the model itself,
  not its display name, so renaming a model keeps its tier.

``model_id`` is decoded as real servers decode it (``query_model_id``): twice on these
routes, three times by the alias GET and POST. Model ids are unique per provider
only: a ``provider_id`` (a query parameter of PUT by-id, a body field of the bulk agents
route, both of which real servers ignore) limits a change to one provider; without it,
every provider's model of that id changes (real servers hold one model per id). The
ClaraVerse target always sends it. An id is matched
exactly, or else whatever its case. Errors are ``{"error": ...}`` with the status that
says what went wrong: 400 for bad input, 404 for what does not exist.
"""

from __future__ import annotations

import re
import sqlite3
import urllib.parse
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse, Response

from reconciler.core.catalog import TIER_NAMES, ModelSettings
from reconciler.errors import TargetError
from reconciler.sandbox.context import (
    ApiError,
    RouteCall,
    RouteSpec,
    body_provider_id,
    bool_field,
    int_field,
    parse_provider_id,
    string_field,
)
from reconciler.targets.sqlite.catalog import model_settings

# PUT by-id's keys, by their name lower-cased without underscores (so that displayName,
# DisplayName and display_name are one key), and what they set.
_TEXT = {
    "displayname": "display_name",
    "description": "description",
    "systemprompt": "system_prompt",
}
_FLAGS = {
    "supportstools": "supports_tools",
    "supportsvision": "supports_vision",
    "supportsstreaming": "supports_streaming",
    "smarttoolrouter": "smart_tool_router",
    "agentsenabled": "agents",
    "isvisible": "visible",
}
_NUMBERS = {"contextlength": "context_length"}


def model_json(row: sqlite3.Row, provider_name: str) -> dict[str, Any]:
    """A model as the list shows it: real servers' fields, every one always present."""
    settings = model_settings(row)
    return {
        "id": row["model_id"],
        "provider_id": row["provider_id"],
        "provider_name": provider_name,
        "name": row["model_id"],
        "display_name": row["display_name"] or row["model_id"],
        "description": settings.description,
        "context_length": settings.context_length,
        "supports_tools": settings.supports_tools,
        "supports_streaming": settings.supports_streaming,
        "supports_vision": settings.supports_vision,
        "smart_tool_router": settings.smart_tool_router,
        "agents_enabled": settings.agents,
        "is_visible": bool(row["visible"]),
        # Real servers leave it out when empty; null here says the same.
        "system_prompt": settings.system_prompt or None,
        "fetched_at": row["fetched_at"],
    }


# A "%" that does not start an escape: Go's url.QueryUnescape refuses the whole value.
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def query_model_id(call: RouteCall, decodes: int = 2) -> str:
    """The ``model_id`` query parameter, decoded ``decodes`` times in all, as real servers
    decode it on that route (2; 3 for the alias GET and POST), so that a client sends an
    id holding ``%`` or ``+`` the same way to both: 400 unless given or decodable."""
    model_id = call.query.get("model_id", "")
    if not model_id:
        raise ApiError(400, "model_id query parameter is required")
    return _decode_model_id(model_id, decodes - 1)


def _decode_model_id(text: str, times: int) -> str:
    """``text`` (a query value, decoded once already) decoded ``times`` more times as Go's
    ``url.QueryUnescape`` does (``%XX`` and ``+`` a space); 400 for a malformed ``%`` or
    (where Go would keep raw bytes) a result that is not UTF-8."""
    for _ in range(times):
        if _BAD_ESCAPE.search(text):
            raise ApiError(400, "Invalid model ID encoding")
        try:
            text = urllib.parse.unquote_plus(text, errors="strict")
        except UnicodeDecodeError:
            raise ApiError(400, "Invalid model ID encoding") from None
    return text


def query_provider_id(call: RouteCall) -> int | None:
    """The ``provider_id`` query parameter, if given: 400 unless a number, 404 unless it
    exists."""
    text = call.query.get("provider_id")
    if text is None:
        return None
    provider_id = parse_provider_id(text)
    if call.store.provider(provider_id) is None:
        raise ApiError(404, "Provider not found")
    return provider_id


def found_models(call: RouteCall, model_id: str, provider_id: int | None) -> list[tuple[int, str]]:
    """(provider id, stored id) of the models ``model_id`` names; 404 for none."""
    found = call.store.catalog.find_models(model_id, provider_id)
    if not found:
        where = "" if provider_id is None else f" at provider {provider_id}"
        raise ApiError(404, f"Model not found: {model_id}{where}")
    return found


# --- models ------------------------------------------------------------------------------


def _list_models(call: RouteCall) -> Response:
    names = call.store.provider_names()
    # A provider made between the two reads has no name here: its models wait for the
    # next listing, as they would had they been fetched a moment later.
    rows = [r for r in call.store.models() if r["provider_id"] in names]
    rows.sort(key=lambda r: (names[r["provider_id"]], r["model_id"]))
    listed = [model_json(r, names[r["provider_id"]]) for r in rows]
    # Real servers answer null, not [], when there are none.
    return JSONResponse(listed or None)


def _model_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The settings PUT by-id's body carries, by setting name; 400 for a bad value, a
    setting given twice with two values, or ``free_tier``."""
    out: dict[str, Any] = {}
    for key in body:
        short = key.lower().replace("_", "")
        value: str | bool | int | None
        if short == "freetier":
            raise ApiError(
                400, "Invalid request body: free_tier is a setting of aliases, not of models"
            )
        if short in _TEXT:
            name, value = _TEXT[short], string_field(body, key)
        elif short in _FLAGS:
            name, value = _FLAGS[short], bool_field(body, key)
        elif short in _NUMBERS:
            name, value = _NUMBERS[short], int_field(body, key)
        else:
            continue  # real servers ignore fields they do not know
        if value is None:
            continue
        if name in out and out[name] != value:
            raise ApiError(400, f"Invalid request body: {key} is given twice, with two values")
        out[name] = value
    return out


def _update_model(call: RouteCall) -> Response:
    model_id = query_model_id(call)
    provider_id = query_provider_id(call)
    fields = _model_fields(call.body)
    visible = fields.pop("visible", None)
    try:
        # Every model the id names (at every provider, without provider_id), at once; the
        # write finds them, and says which it wrote.
        written = call.store.catalog.update_models(
            provider_id, [(model_id, ModelSettings(**fields))], visible=visible
        )
    except TargetError:
        where = "" if provider_id is None else f" at provider {provider_id}"
        raise ApiError(404, f"Model not found: {model_id}{where}") from None
    pid, stored = written[0]
    row = call.store.provider(pid)
    [model] = call.store.models(pid, stored)
    return JSONResponse(model_json(model, row.name if row else ""))


def _model_ids(body: Mapping[str, Any]) -> list[str]:
    model_ids = body.get("model_ids")
    if not isinstance(model_ids, list) or not all(isinstance(m, str) for m in model_ids):
        raise ApiError(400, "Invalid request body: model_ids must be a list of strings")
    if not model_ids:
        raise ApiError(400, "Invalid request body: model_ids must not be empty")
    return list(dict.fromkeys(model_ids))


def _bulk_agents(call: RouteCall) -> Response:
    body = call.body
    model_ids = _model_ids(body)
    enabled = bool_field(body, "enabled")
    if enabled is None:
        raise ApiError(400, "Invalid request body: enabled (true or false) is required")
    provider_id = None
    if body.get("provider_id") is not None:
        provider_id = body_provider_id(call, body["provider_id"])
    updated = call.store.catalog.set_agents(model_ids, enabled, provider_id)
    message = f"Updated agents_enabled={str(enabled).lower()} for {updated} models"
    return JSONResponse({"success": True, "updated": updated, "message": message})


# --- tiers -------------------------------------------------------------------------------


def _tier(body: Mapping[str, Any]) -> str:
    tier = string_field(body, "tier")
    if not tier:
        raise ApiError(400, "Invalid request body: tier is required")
    if tier not in TIER_NAMES:
        raise ApiError(400, f"Invalid tier: {tier} (must be {', '.join(TIER_NAMES)})")
    return tier


def _list_tiers(call: RouteCall) -> Response:
    tiers = {
        t.state.tier: {
            "model_id": t.state.model_id,
            "provider_id": int(t.state.provider_id),
            "display_name": t.display_name or t.state.model_id,
            "tier": t.state.tier,
        }
        for t in call.store.catalog.tiers()
    }
    return JSONResponse({"tiers": tiers})


def _set_tier(call: RouteCall) -> Response:
    model_id = query_model_id(call)
    body = call.body
    if body.get("provider_id") is None:
        raise ApiError(400, "Invalid request body: provider_id is required")
    provider_id = body_provider_id(call, body["provider_id"])
    tier = _tier(body)
    [(_, stored)] = found_models(call, model_id, provider_id)
    try:
        call.store.catalog.set_tier(tier, provider_id, stored)
    except TargetError:  # deleted meanwhile
        raise ApiError(404, f"Model not found: {model_id}") from None
    return JSONResponse({"message": f"Model assigned to {tier}", "success": True})


def _clear_tier(call: RouteCall) -> Response:
    tier = _tier(call.body)
    if not call.store.catalog.clear_tier(tier):
        raise ApiError(404, f"Tier {tier} is already empty")
    return JSONResponse({"message": f"Tier {tier} cleared", "success": True})


_MODELS = "/api/admin/models"
ROUTES = (
    RouteSpec(_MODELS, "GET", _list_models, "admin"),
    RouteSpec(_MODELS + "/by-id", "PUT", _update_model, "admin", body=True),
    RouteSpec(_MODELS + "/bulk/agents-enabled", "PUT", _bulk_agents, "admin", body=True),
    RouteSpec("/api/admin/tiers", "GET", _list_tiers, "admin"),
    RouteSpec(_MODELS + "/by-id/tier", "POST", _set_tier, "admin", body=True),
    RouteSpec(_MODELS + "/by-id/tier", "DELETE", _clear_tier, "admin", body=True),
)
