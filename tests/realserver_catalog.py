"""The model-catalog routes of the real-server double (tests/realserver.py): single-model
updates, the agents flag, aliases and the five global tiers, traps included.

    PUT    /api/admin/models/by-id?model_id=            untagged Go struct + the bool workaround
    DELETE /api/admin/models/by-id?model_id=            aliases go with it, tiers dangle
    PUT    /api/admin/models/bulk/agents-enabled        {model_ids, enabled}
    GET    /api/admin/models/by-id/aliases?model_id=    null when none
    POST   /api/admin/models/by-id/aliases?model_id=    snake_case body
    PUT    /api/admin/models/by-id/aliases/:alias       a stub: 200, nothing changes
    DELETE /api/admin/models/by-id/aliases/:alias?model_id=&provider_id=
    GET    /api/admin/tiers                             {"tiers": {...}}, dangling ones left out
    POST   /api/admin/models/by-id/tier?model_id=       {provider_id, tier}
    DELETE /api/admin/models/by-id/tier                 {tier} (a DELETE with a body)

What each does, as ClaraVerse's backend does it:

- ``model_id`` is read from the query (first occurrence, percent-decoded, ``+`` = space)
  and then decoded again with Go's ``url.QueryUnescape`` (a malformed ``%``: 400
  ``Invalid model ID encoding``): once more for by-id, tier and alias PUT/DELETE, **twice
  more for alias GET/POST**. So ``a+b`` must be sent ``a%252Bb`` (``a%25252Bb`` to the
  alias GET/POST) and ``50%off`` ``50%2525off``. Ids compare case-insensitively.
- Update binds ``DisplayName, Description, ContextLength, SupportsTools,
  SupportsStreaming, SupportsVision, IsVisible, SmartToolRouter, FreeTier, SystemPrompt``
  by Go field name, case-insensitively (``displayName`` binds, **``display_name``,
  ``context_length`` and ``system_prompt`` are silently ignored**; ``description`` binds),
  then the "bool workaround" sets ``is_visible, smart_tool_router, supports_tools,
  supports_vision, supports_streaming, free_tier`` from snake keys whose value is a JSON
  boolean. **Any ``free_tier`` fails the whole update: 500 ``Unknown column 'free_tier'``,
  nothing changes.** Unknown id: 500 ``Failed to update model: model not found: <id>``.
- Agents: ``UPDATE models SET agents_enabled`` by id; the answer counts the ids sent. The
  flag is stored and **never reported** (``GET /api/admin/models`` says false).
- Aliases: a create inserts (no update path); omitted booleans and ints stay NULL (left out
  of the GET), empty description / structured_output strings are NULL. 500 with MySQL's
  error: 1062 duplicate (alias name and provider, case-insensitively), 1452 unknown model
  (``model_aliases_ibfk_1``) or provider (``model_aliases_ibfk_2``), 1265 a
  structured_output_support outside excellent|good|fair|poor|unknown, 1406 a badge over 50
  characters. The alias' provider is not checked against the model's. The GET lists the
  aliases of the model under **any** provider, newest first. Delete matches the name
  (decoded once from the path: ``+`` and ``%20`` are spaces, ``%2B`` a plus) and
  ``provider_id``; ``model_id`` is required and unused; an alias holding ``/`` is
  unreachable (404 as ``%2F``, "alias not found" as ``%252F``).
- Tiers: five global slots, one model each, stored by the model's **display name** (its id
  when the display name is empty). ``GET /tiers`` joins each slot to a model of its
  provider whose display name or id equals the stored name (case-insensitively) and
  **leaves out a slot that matches none** (a deleted model, a display name changed since).
  Every tier error is 400 ``Failed to set tier: ...`` / ``Failed to clear tier: ...``.
  With ``state.tier_migration = False`` every set fails: 400 ``Failed to set tier: failed to
  set tier: Error 1265 (01000): Data truncated for column 'tier' at row 1``.

MySQL errors carry their SQLSTATE, as production's driver prints them.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.realserver import (
    _INVALID_BODY,
    AliasRow,
    GoJSONResponse,
    RealServerState,
    _atoi,
    _BadBody,
    _error,
    _key,
    _model_json,
    _parse,
    _state,
    bulk_flag,
)

__all__ = ["catalog_routes", "model_id_param", "sql_error"]

_SUPPORT = ("excellent", "good", "fair", "poor", "unknown")
_BAD_ENCODING = "Invalid model ID encoding"
_MODEL_ID_REQUIRED = "model_id query parameter is required"

# UpdateModelRequest has no json tags: keys bind to these Go field names, in any case.
_UPDATE_FIELDS: dict[str, type] = {
    "DisplayName": str,
    "Description": str,
    "ContextLength": int,
    "SupportsTools": bool,
    "SupportsStreaming": bool,
    "SupportsVision": bool,
    "IsVisible": bool,
    "SmartToolRouter": bool,
    "FreeTier": bool,
    "SystemPrompt": str,
}
# The handler's workaround: these exact keys, when their value is a JSON boolean.
_WORKAROUND = {
    "is_visible": "IsVisible",
    "smart_tool_router": "SmartToolRouter",
    "supports_tools": "SupportsTools",
    "supports_vision": "SupportsVision",
    "supports_streaming": "SupportsStreaming",
    "free_tier": "FreeTier",
}
_COLUMNS = {
    "DisplayName": "display_name",
    "Description": "description",
    "ContextLength": "context_length",
    "SupportsTools": "supports_tools",
    "SupportsStreaming": "supports_streaming",
    "SupportsVision": "supports_vision",
    "IsVisible": "is_visible",
    "SmartToolRouter": "smart_tool_router",
    "SystemPrompt": "system_prompt",
}
_ALIAS_FIELDS: dict[str, type] = {
    "alias_name": str,
    "model_id": str,
    "provider_id": int,
    "display_name": str,
    "description": str,
    "supports_vision": bool,
    "agents_enabled": bool,
    "smart_tool_router": bool,
    "free_tier": bool,
    "structured_output_support": str,
    "structured_output_compliance": int,
    "structured_output_warning": str,
    "structured_output_speed_ms": int,
    "structured_output_badge": str,
    "memory_extractor": bool,
    "memory_selector": bool,
}
# The order ModelAliasView prints its optional (omitempty pointer) fields in.
_ALIAS_OPTIONAL = (
    "description",
    "supports_vision",
    "agents_enabled",
    "smart_tool_router",
    "free_tier",
    "structured_output_support",
    "structured_output_compliance",
    "structured_output_warning",
    "structured_output_speed_ms",
    "structured_output_badge",
    "memory_extractor",
    "memory_selector",
)


# -- decoding ---------------------------------------------------------------------------


def _query_unescape(text: str) -> str | None:
    """Go's ``url.QueryUnescape``: ``%XX`` and ``+``; None for a malformed ``%``."""
    out = bytearray()
    raw = text.encode("utf-8")
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == ord("%"):
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or not all(chr(b) in "0123456789abcdefABCDEF" for b in pair):
                return None
            out.append(int(pair, 16))
            i += 3
            continue
        out.append(ord(" ") if byte == ord("+") else byte)
        i += 1
    return out.decode("utf-8", errors="replace")


def _first(request: Request, name: str) -> str:
    """``c.Query(name)``: the first occurrence, decoded once, "" when absent."""
    values = request.query_params.getlist(name)
    return values[0] if values else ""


def model_id_param(request: Request, extra_decodes: int) -> tuple[str | None, Response | None]:
    """The ``model_id`` query parameter decoded ``extra_decodes`` more times: (the id, or
    the 400 the handler answers instead)."""
    value = _first(request, "model_id")
    if not value:
        return None, _error(400, _MODEL_ID_REQUIRED)
    for _ in range(extra_decodes):
        decoded = _query_unescape(value)
        if decoded is None:
            return None, _error(400, _BAD_ENCODING)
        value = decoded
    return value, None


def _path_alias(request: Request) -> str:
    """The ``:alias`` parameter as fiber decodes the raw path (``+`` is a space), keeping
    its case (the front lower-cases the path it routes on)."""
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    segment = raw.rstrip(b"/").rsplit(b"/", 1)[-1].decode("latin-1")
    return urllib.parse.unquote_plus(segment)


def sql_error(code: int, state: str, text: str) -> str:
    """A MySQL error as production's driver prints it."""
    return f"Error {code} ({state}): {text}"


# -- models -----------------------------------------------------------------------------


async def model_by_id(request: Request) -> Response:
    state = _state(request)
    model_id, refusal = model_id_param(request, 1)
    if refusal is not None or model_id is None:
        return refusal or _error(400, _MODEL_ID_REQUIRED)
    if request.method == "DELETE":
        with state._lock:
            if state._models.get(_key(model_id)) is None:
                return _error(500, f"Failed to delete model: model not found: {model_id}")
            state._delete_model_rows([_key(model_id)])
        return GoJSONResponse({"message": "Model deleted successfully", "success": True})
    try:
        fields = await _update_fields(request)
    except _BadBody:
        return _error(400, _INVALID_BODY)
    with state._lock:
        if "FreeTier" in fields:  # the column does not exist: the whole update fails
            return _error(
                500,
                "Failed to update model: failed to update model: "
                + sql_error(1054, "42S22", "Unknown column 'free_tier' in 'SET'"),
            )
        row = state._models.get(_key(model_id))
        if row is None:
            return _error(500, f"Failed to update model: model not found: {model_id}")
        for name, value in fields.items():
            setattr(row, _COLUMNS[name], value)
        provider = state._providers[row.provider_id]
        return GoJSONResponse(_model_json(row, provider))


async def _update_fields(request: Request) -> dict[str, Any]:
    """The struct parse, then the handler's second parse into a map for snake booleans."""
    fields = await _parse(request, _UPDATE_FIELDS)
    document = await request.json()
    if isinstance(document, dict):
        for key, name in _WORKAROUND.items():
            if isinstance(document.get(key), bool):
                fields[name] = document[key]
    return fields


async def bulk_agents(request: Request) -> Response:
    return await bulk_flag(request, "enabled", "agents_enabled")


# -- aliases ----------------------------------------------------------------------------


def _alias_json(row: AliasRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "alias_name": row.alias_name,
        "model_id": row.model_id,
        "provider_id": row.provider_id,
        "display_name": row.display_name,
    }
    for name in _ALIAS_OPTIONAL:
        value = getattr(row, name)
        if value is not None:
            out[name] = value
    out["created_at"] = row.created_at
    out["updated_at"] = row.updated_at
    return out


async def aliases(request: Request) -> Response:
    state = _state(request)
    model_id, refusal = model_id_param(request, 2)
    if refusal is not None or model_id is None:
        return refusal or _error(400, _MODEL_ID_REQUIRED)
    if request.method == "GET":
        with state._lock:
            rows = [a for a in state._aliases.values() if _key(a.model_id) == _key(model_id)]
            rows.sort(key=lambda a: (a.created_at, a.id), reverse=True)
            return GoJSONResponse([_alias_json(a) for a in rows] or None)
    try:
        body = await _parse(request, _ALIAS_FIELDS)
    except _BadBody:
        return _error(400, _INVALID_BODY)
    if not body.get("alias_name") or not body.get("provider_id"):
        return _error(400, "alias_name and provider_id are required")
    with state._lock:
        failure = _insert_alias(state, model_id, body)
    if failure is not None:
        return _error(500, f"Failed to create alias: failed to insert alias: {failure}")
    return GoJSONResponse(
        {"message": "Alias created successfully", "success": True}, status_code=201
    )


def _insert_alias(state: RealServerState, model_id: str, body: dict[str, Any]) -> str | None:
    """INSERT INTO model_aliases; the MySQL error, or None (call with the lock held)."""
    name, provider_id = body["alias_name"], body["provider_id"]
    support = body.get("structured_output_support") or None
    if support is not None and support not in _SUPPORT:
        return sql_error(
            1265, "01000", "Data truncated for column 'structured_output_support' at row 1"
        )
    if len(body.get("structured_output_badge") or "") > 50:
        return sql_error(1406, "22001", "Data too long for column 'structured_output_badge'")
    for column, missing in (
        ("model_id", _key(model_id) not in state._models),
        ("provider_id", provider_id not in state._providers),
    ):
        if missing:
            ref, number = ("models", 1) if column == "model_id" else ("providers", 2)
            return sql_error(
                1452,
                "23000",
                "Cannot add or update a child row: a foreign key constraint fails "
                f"(`claraverse`.`model_aliases`, CONSTRAINT `model_aliases_ibfk_{number}` "
                f"FOREIGN KEY (`{column}`) REFERENCES `{ref}` (`id`) ON DELETE CASCADE)",
            )
    if state._alias_named(name, provider_id) is not None:
        return sql_error(
            1062, "23000", f"Duplicate entry '{name}-{provider_id}' for key 'unique_alias_provider'"
        )
    optional = {k: body.get(k) for k in _ALIAS_OPTIONAL}
    for text in ("description", "structured_output_warning", "structured_output_badge"):
        optional[text] = optional[text] or None  # "" is stored NULL
    optional["structured_output_support"] = support
    state.add_alias(
        name, model_id, provider_id, display_name=body.get("display_name", ""), **optional
    )
    return None


async def alias(request: Request) -> Response:
    state = _state(request)
    name = _path_alias(request)
    if not _first(request, "model_id"):
        return _error(400, "model_id query parameter and alias name are required")
    _, refusal = model_id_param(request, 1)
    if refusal is not None:
        return refusal
    if request.method == "PUT":  # "TODO: Implement alias update": the body is not even read
        return GoJSONResponse({"message": "Alias update not yet implemented"})
    provider = _first(request, "provider_id")
    if not provider:
        return _error(400, "provider_id query parameter is required")
    provider_id = _atoi(provider)
    if provider_id is None:
        return _error(400, "Invalid provider ID")
    with state._lock:
        row = state._alias_named(name, provider_id)
        if row is None:
            return _error(500, f"Failed to delete alias: alias not found: {name}")
        del state._aliases[row.id]
    return GoJSONResponse({"message": "Alias deleted successfully", "success": True})


def catalog_routes() -> list[Route]:
    """The catalog's routes but the tiers', for make_real_server."""
    return [
        Route("/api/admin/models/by-id", model_by_id, methods=["PUT", "DELETE"]),
        Route("/api/admin/models/bulk/agents-enabled", bulk_agents, methods=["PUT"]),
        Route("/api/admin/models/by-id/aliases", aliases, methods=["GET", "POST"]),
        Route("/api/admin/models/by-id/aliases/{alias}", alias, methods=["PUT", "DELETE"]),
    ]
