"""The sandbox's alias routes: a model's aliases listed, created, updated and deleted.

They take the requests real ClaraVerse servers take (snake_case bodies, ``model_id`` in
the query) and do what those are documented to do, where real servers fall short (see
docs/claraverse-servers.md):

- ``GET /api/admin/models/by-id/aliases?model_id=`` lists the aliases of that model (at
  every provider that has it, or at ``provider_id``), in real servers' shape: fields
  without a value left out, ``null`` when there are none;
- ``POST`` the same path creates one: ``alias_name`` and ``provider_id`` required, the
  model must be one of that provider's (404 otherwise), a name the provider already has
  (whatever its case and trailing spaces) is a 409 whose error says "Duplicate entry", as
  real servers' 500 does;
- ``PUT .../aliases/{alias}?model_id=`` really updates (real servers answer 200 and change
  nothing): the fields the body carries, null clearing one; ``provider_id`` (query or
  body) says whose alias when several providers have one of that name for the model;
- ``DELETE .../aliases/{alias}?provider_id=`` deletes it by name and provider (``model_id``
  is decoded, then ignored, as on real servers), a name holding ``/`` too.

``model_id`` is decoded as real servers decode it: three times on GET and POST, twice on
PUT and DELETE (``catalog_routes.query_model_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from starlette.responses import JSONResponse, Response

from reconciler.core.catalog import STRUCTURED_SUPPORT, Alias
from reconciler.errors import TargetError
from reconciler.sandbox.catalog_routes import found_models, query_model_id, query_provider_id
from reconciler.sandbox.context import (
    ApiError,
    RouteCall,
    RouteSpec,
    body_provider_id,
    bool_field,
    int_field,
    string_field,
)
from reconciler.targets.sqlite.catalog import StoredAlias

# Alias fields by their key in a body: (Alias field, StructuredOutput field or None, kind).
_FIELDS: dict[str, tuple[str, str | None, str]] = {
    "display_name": ("display_name", None, "text"),
    "description": ("description", None, "text"),
    "supports_vision": ("supports_vision", None, "flag"),
    "agents_enabled": ("agents", None, "flag"),
    "smart_tool_router": ("smart_tool_router", None, "flag"),
    "free_tier": ("free_tier", None, "flag"),
    "memory_extractor": ("memory_extractor", None, "flag"),
    "memory_selector": ("memory_selector", None, "flag"),
    "structured_output_support": ("structured_output", "support", "text"),
    "structured_output_compliance": ("structured_output", "compliance", "number"),
    "structured_output_speed_ms": ("structured_output", "speed_ms", "number"),
    "structured_output_badge": ("structured_output", "badge", "text"),
    "structured_output_warning": ("structured_output", "warning", "text"),
}


def alias_json(stored: StoredAlias) -> dict[str, Any]:
    """An alias as real servers list it: optional fields only when they have a value."""
    alias = stored.alias
    out: dict[str, Any] = {
        "id": stored.id,
        "alias_name": alias.name,
        "model_id": alias.model,
        "provider_id": stored.provider_id,
        "display_name": alias.display_name,
    }
    for key, (name, part, _) in _FIELDS.items():
        value = getattr(alias, name)
        if part is not None:
            value = getattr(value, part)
        if value is not None and key != "display_name":
            out[key] = value
    out["created_at"] = stored.created_at
    out["updated_at"] = stored.updated_at
    return out


def _with_fields(alias: Alias, body: Mapping[str, Any], *, nulls_clear: bool) -> Alias:
    """``alias`` with the fields ``body`` carries; 400 for a bad value. A null clears a
    field when ``nulls_clear`` (an update), else counts as not given."""
    changes: dict[str, Any] = {}
    structured: dict[str, Any] = {}
    for key, (name, part, kind) in _FIELDS.items():
        if key not in body or (body[key] is None and not nulls_clear):
            continue
        if kind == "text":
            value: Any = string_field(body, key)
        elif kind == "flag":
            value = bool_field(body, key)
        else:
            value = int_field(body, key)
        if kind == "text" and key != "display_name":
            value = value or None  # empty optional text is stored as none
        if key == "structured_output_support" and value not in (None, *STRUCTURED_SUPPORT):
            raise ApiError(
                400,
                f"Invalid request body: {key} must be one of {', '.join(STRUCTURED_SUPPORT)}",
            )
        if part is None:
            changes[name] = "" if value is None and key == "display_name" else value
        else:
            structured[part] = value
    if structured:
        changes["structured_output"] = replace(alias.structured_output, **structured)
    return replace(alias, **changes)


def _list_aliases(call: RouteCall) -> Response:
    model_id = query_model_id(call, decodes=3)
    found = call.store.catalog.find_models(model_id, query_provider_id(call))
    # An unknown model has no aliases, as on real servers: not an error.
    stored = call.store.catalog.aliases(model_ids=found) if found else []
    return JSONResponse([alias_json(a) for a in stored] or None)


def _create_alias(call: RouteCall) -> Response:
    model_id = query_model_id(call, decodes=3)
    body = call.body
    name = string_field(body, "alias_name")
    if not name or not name.strip():
        raise ApiError(400, "Invalid request body: alias_name is required")
    if body.get("provider_id") is None:
        raise ApiError(400, "Invalid request body: provider_id is required")
    provider_id = body_provider_id(call, body["provider_id"])
    [(_, stored)] = found_models(call, model_id, provider_id)
    alias = _with_fields(Alias(name=name, model=stored), body, nulls_clear=False)
    try:
        call.store.catalog.create_alias(provider_id, alias)
    except TargetError as exc:
        taken = any(a.alias.key == alias.key for a in call.store.catalog.aliases(provider_id))
        if not taken:  # its model deleted meanwhile
            raise ApiError(404, str(exc)) from None
        # Real servers answer a duplicate with MySQL's "Duplicate entry" (a 500): the same
        # words here let a client recognise both by their text.
        raise ApiError(409, f"Duplicate entry: {exc}") from None
    return JSONResponse({"message": "Alias created successfully", "success": True}, 201)


def _alias_of(call: RouteCall, *, provider_required: bool, of_model: bool) -> StoredAlias:
    """The alias the path names: of the query's model (if given and ``of_model``), at the
    query's or the body's provider (if given); 404 for none, 400 when several have it."""
    name = call.params["alias"]
    if not name:
        raise ApiError(400, "alias name is required")
    provider_id = query_provider_id(call)
    if provider_id is None and call.body.get("provider_id") is not None:
        provider_id = body_provider_id(call, call.body["provider_id"])
    if provider_id is None and provider_required:
        raise ApiError(400, "provider_id query parameter is required")
    model_id = query_model_id(call) if call.query.get("model_id") else None
    if not of_model:
        model_id = None
    matches = [
        a
        for a in call.store.catalog.aliases(provider_id, name=name)
        if model_id is None or a.alias.model.casefold() == model_id.casefold()
    ]
    if not matches:
        raise ApiError(404, f"Alias not found: {name}")
    if len(matches) > 1:
        raise ApiError(400, f"Several providers have an alias '{name}': give provider_id")
    return matches[0]


def _update_alias(call: RouteCall) -> Response:
    query_model_id(call)  # required, as on real servers
    stored = _alias_of(call, provider_required=False, of_model=True)
    alias = _with_fields(stored.alias, call.body, nulls_clear=True)
    if not call.store.catalog.update_alias(stored.provider_id, alias):
        raise ApiError(404, f"Alias not found: {alias.name}")  # deleted meanwhile
    [updated] = [a for a in call.store.catalog.aliases(stored.provider_id) if a.id == stored.id]
    return JSONResponse(
        {"message": "Alias updated successfully", "success": True, "alias": alias_json(updated)}
    )


def _delete_alias(call: RouteCall) -> Response:
    # By name and provider, whatever model_id says, as real servers delete: a client that
    # met a duplicate on a model it did not read deletes it with the model it meant.
    stored = _alias_of(call, provider_required=True, of_model=False)
    if not call.store.catalog.delete_alias(stored.provider_id, stored.alias.name):
        raise ApiError(404, f"Alias not found: {stored.alias.name}")  # deleted meanwhile
    return JSONResponse({"message": "Alias deleted successfully", "success": True})


_ALIASES = "/api/admin/models/by-id/aliases"
ROUTES = (
    RouteSpec(_ALIASES, "GET", _list_aliases, "admin"),
    RouteSpec(_ALIASES, "POST", _create_alias, "admin", body=True),
    # :path, so that an alias whose name holds "/" (sent as %2F) can be reached too.
    RouteSpec(_ALIASES + "/{alias:path}", "PUT", _update_alias, "admin", body=True),
    RouteSpec(_ALIASES + "/{alias:path}", "DELETE", _delete_alias, "admin"),
)
