"""The sandbox's admin routes: providers, their model fetch, and model visibility (the
model list and the rest of the catalog: ``catalog_routes``, ``alias_routes``).

Behaviour is the documented one, done right, where real ClaraVerse servers fall short:

- create accepts the six provider settings (``audio_only``, ``image_only``,
  ``image_edit_only``, ``default_model``, ``system_prompt``, ``favicon``); ``type``
  defaults to openai and ``enabled`` to true;
- update sets exactly the fields its body carries and keeps every other one (real servers
  reset some settings it leaves out); it renames in place (real servers ignore a new
  name); ``"api_key": ""`` (or null) clears the admin key;
- toggle changes ``enabled`` and nothing else (real servers reset some settings);
- ``base_url`` must be an http(s) URL; a duplicate name is a 409 (real servers: 500).

Answers have the shapes real servers send, so that a client that reads this server reads
a real one:

- the provider list carries exactly the fields real servers list: ``id``, ``name``,
  ``base_url``, ``enabled``, ``audio_only``, ``favicon``, ``model_count``,
  ``model_aliases`` (``{}``), ``filters`` and ``recommended_models`` (``null``). No
  ``type``, no key, none of the other four settings: a client must not come to rely on
  fields a real list never has. ``{"providers": null}`` when there are none;
- create, update and toggle answer with the whole stored provider, the six settings and
  the admin key **in clear** included (``api_key`` left out when there is none), as real
  servers echo it: a client must never print, log or save a raw answer.

Model ids are unique per provider only. Real servers key bulk visibility by model id
alone; here the body may also carry ``provider_id`` (real servers ignore unknown fields)
to limit the change to one provider; without it, every provider's model of that id changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from starlette.responses import JSONResponse, Response

from reconciler.core.model import DEFAULT_SETTINGS, KIND_SETTINGS, PROVIDER_TYPES, SETTING_NAMES
from reconciler.errors import FetchError, TargetError
from reconciler.sandbox.context import (
    NOT_FOUND,
    ApiError,
    RouteCall,
    RouteSpec,
    body_provider_id,
    bool_field,
    check_base_url,
    provider_or_404,
    string_field,
    type_field,
)
from reconciler.secrets import Secret, scrub
from reconciler.targets.sqlite import ProviderRow, Store, refresh_models

_REQUIRED_MESSAGE = "Name, base_url, and api_key are required"


# --- answers -----------------------------------------------------------------------------


def _listed(row: ProviderRow, model_count: int) -> dict[str, Any]:
    """A provider as real servers list it: exactly these fields."""
    return {
        "id": row.id,
        "name": row.name,
        "base_url": row.base_url,
        "enabled": row.enabled,
        "audio_only": row.settings.audio_only,
        "favicon": row.settings.favicon,
        "model_count": model_count,
        "model_aliases": {},
        "filters": None,
        "recommended_models": None,
    }


def _whole(row: ProviderRow, model_count: int) -> dict[str, Any]:
    """A provider as real servers answer a write: everything stored, the key in clear."""
    out: dict[str, Any] = {"id": row.id, "name": row.name, "base_url": row.base_url}
    if row.api_key:
        out["api_key"] = row.api_key.reveal()  # real servers echo it: reproduced on purpose
    out["enabled"] = row.enabled
    out.update({name: row.settings.value(name) for name in SETTING_NAMES})
    out.update({k: v for k, v in _listed(row, model_count).items() if k not in out})
    return out


def _answer(call: RouteCall, provider_id: int, *, status: int = 200) -> Response:
    row = call.store.provider(provider_id)
    if row is None:  # deleted by a concurrent request
        raise ApiError(404, NOT_FOUND)
    count = call.store.model_counts().get(provider_id, 0)  # counted by SQLite, no rows read
    return JSONResponse(_whole(row, count), status_code=status)


def _carried_settings(body: Mapping[str, Any]) -> dict[str, bool | str]:
    """The provider settings the body carries (null counts as not carried)."""
    carried: dict[str, bool | str] = {}
    for name in SETTING_NAMES:
        value = bool_field(body, name) if name in KIND_SETTINGS else string_field(body, name)
        if value is not None:
            carried[name] = value
    return carried


# --- providers ---------------------------------------------------------------------------


def _list_providers(call: RouteCall) -> Response:
    counts = call.store.model_counts()
    listed = [_listed(r, counts.get(r.id, 0)) for r in call.store.providers()]
    # Real servers answer null, not [], when there are none: a trap kept on purpose.
    return JSONResponse({"providers": listed or None})


def _create_provider(call: RouteCall) -> Response:
    body = call.body
    name, base_url, api_key = (string_field(body, f) for f in ("name", "base_url", "api_key"))
    provider_type = type_field(body) or "openai"
    enabled = bool_field(body, "enabled")
    settings = replace(DEFAULT_SETTINGS, **_carried_settings(body))  # type: ignore[arg-type]
    if not name or not base_url or not api_key:
        raise ApiError(400, _REQUIRED_MESSAGE)
    try:
        new_id = call.store.create_provider(
            name=name,
            type=provider_type,
            base_url=check_base_url(base_url),
            api_key=Secret(api_key),
            enabled=True if enabled is None else enabled,
            settings=settings,
        )
    except TargetError as exc:
        raise ApiError(409, str(exc)) from None
    return _answer(call, new_id, status=201)


def _update_provider(call: RouteCall) -> Response:
    row = provider_or_404(call)
    body = call.body
    fields: dict[str, Any] = {}
    for name in ("name", "base_url"):
        value = string_field(body, name)
        if value == "":
            raise ApiError(400, f"Invalid request body: {name} must not be empty")
        if value is not None:
            fields[name] = check_base_url(value) if name == "base_url" else value
    if "api_key" in body:
        # "" or null clears the admin key (then only users' own keys work).
        key = string_field(body, "api_key")
        fields["api_key"] = Secret(key) if key else None
    provider_type = type_field(body)
    if provider_type is not None:
        fields["type"] = provider_type
    enabled = bool_field(body, "enabled")
    if enabled is not None:
        fields["enabled"] = enabled
    fields.update(_carried_settings(body))
    _update(call.store, row.id, fields)
    return _answer(call, row.id)


def _toggle_provider(call: RouteCall) -> Response:
    row = provider_or_404(call)
    enabled = bool_field(call.body, "enabled")
    if enabled is None:
        raise ApiError(400, "Invalid request body: enabled (true or false) is required")
    _update(call.store, row.id, {"enabled": enabled})
    return _answer(call, row.id)


def _update(store: Store, provider_id: int, fields: Mapping[str, Any]) -> None:
    try:
        store.update_provider(provider_id, **fields)
    except TargetError as exc:
        if store.provider(provider_id) is None:
            raise ApiError(404, NOT_FOUND) from None
        raise ApiError(409, str(exc)) from None


def _delete_provider(call: RouteCall) -> Response:
    row = provider_or_404(call)
    try:
        call.store.delete_provider(row.id)
    except TargetError:
        raise ApiError(404, NOT_FOUND) from None
    return JSONResponse({"message": "Provider deleted successfully"})


def _fetch_models(call: RouteCall) -> Response:
    row = provider_or_404(call)
    if row.type not in PROVIDER_TYPES:
        raise ApiError(500, f"Failed to fetch models: unknown provider type {row.type!r}")
    settings, client = call.context.fetch_client.get()
    try:
        fetched = refresh_models(call.store, row, settings=settings, client=client).count
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


# --- models ------------------------------------------------------------------------------


def _bulk_visibility(call: RouteCall) -> Response:
    body = call.body
    model_ids = body.get("model_ids")
    if not isinstance(model_ids, list) or not all(isinstance(m, str) for m in model_ids):
        raise ApiError(400, "Invalid request body: model_ids must be a list of strings")
    visible = bool_field(body, "visible")
    if visible is None:
        raise ApiError(400, "Invalid request body: visible (true or false) is required")
    unique = list(dict.fromkeys(model_ids))
    if body.get("provider_id") is None:
        updated = call.store.set_visibility_by_model_id(unique, visible)
    else:
        provider_id = body_provider_id(call, body["provider_id"])
        updated = call.store.set_visibility(provider_id, unique, visible)
    return JSONResponse({"success": True, "updated": updated})


_PROVIDERS = "/api/admin/providers"
ROUTES = (
    RouteSpec(_PROVIDERS, "GET", _list_providers, "admin"),
    RouteSpec(_PROVIDERS, "POST", _create_provider, "admin", body=True),
    RouteSpec(_PROVIDERS + "/{id}", "PUT", _update_provider, "admin", body=True),
    RouteSpec(_PROVIDERS + "/{id}/toggle", "PUT", _toggle_provider, "admin", body=True),
    RouteSpec(_PROVIDERS + "/{id}", "DELETE", _delete_provider, "admin"),
    RouteSpec(_PROVIDERS + "/{id}/fetch", "POST", _fetch_models, "admin"),
    RouteSpec("/api/admin/models/bulk/visibility", "PUT", _bulk_visibility, "admin", body=True),
)
