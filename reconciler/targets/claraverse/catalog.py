"""The model catalog on a ClaraVerse server: model settings, the agents flag, tiers, and
the encodings every catalog route needs (the aliases are in ``aliases.py``).

What real servers do, and what this module does about it (docs/claraverse-servers.md):

- ``PUT /models/by-id`` binds keys by Go field name: ``displayName``, ``contextLength`` and
  ``systemPrompt`` work, their snake_case spellings are silently ignored; the booleans work
  in snake_case. ``free_tier`` fails the whole update, so it is never sent for a model.
- ``agents_enabled`` is written by ``PUT /models/bulk/agents-enabled`` and never reported
  (the model list always says false): it is sent, grouped by value, never compared.
- Both writes name the provider too (a query parameter, a body field), which real servers
  ignore (a model id is one row there) and the sandbox needs (its ids are per provider).
- ``model_id`` is decoded twice (three times by the alias GET and POST): an id holding
  ``%`` or ``+`` is percent-encoded once per decode, any other id once.
- A name or id in a URL path is percent-encoded and checked to reach the server as built
  (a URL resolves "." and ".." segments away, reaching another route).
- Tiers are five global slots stored by the model's display name; a slot whose model no
  longer matches is left out of ``GET /tiers``. Without ClaraVerse's tier migration every
  tier write fails with "Data truncated for column 'tier'": one clear error.
MySQL errors are matched on their number (1265 for tiers), never on their wording.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import httpx

from reconciler.core.catalog import (
    MODEL_SETTING_NAMES,
    TIER_NAMES,
    ModelSettingName,
    ModelSettings,
    TierState,
)
from reconciler.errors import AuthError, TargetError
from reconciler.targets.claraverse.session import Session

__all__ = [
    "REPORTED_SETTINGS",
    "Catalog",
    "encode_model_id",
    "mysql_error",
    "reported_settings",
    "segment_path",
]

# What GET /api/admin/models reports of a model; ``agents`` is always false there.
REPORTED_SETTINGS: frozenset[ModelSettingName] = frozenset(MODEL_SETTING_NAMES) - {"agents"}

# The keys PUT /models/by-id binds, by setting (snake_case for the three strings is ignored).
_UPDATE_KEYS: dict[ModelSettingName, str] = {
    "display_name": "displayName",
    "description": "description",
    "context_length": "contextLength",
    "system_prompt": "systemPrompt",
    "supports_tools": "supports_tools",
    "supports_vision": "supports_vision",
    "supports_streaming": "supports_streaming",
    "smart_tool_router": "smart_tool_router",
}
_NO_TIER_MIGRATION = "Data truncated for column 'tier'"
MISSING_ROUTE = (404, 405)


def mysql_error(detail: str) -> int | None:
    """The MySQL error number in a server message ("... Error 1062 (23000): ..."), if any."""
    found = re.search(r"\bError (\d{4})\b", detail)
    return int(found.group(1)) if found else None


def segment_path(base: str, prefix: str, segment: str, *, suffix: str = "", query: str = "") -> str:
    """``prefix/segment[suffix][?query]`` with the segment percent-encoded, checked to reach
    the server as built: a URL normalises "." and ".." segments away, which would send the
    request to another route (DELETE .../aliases/.. is the route that deletes a model)."""
    path = f"{prefix}/{urllib.parse.quote(segment, safe='')}{suffix}"
    if query:
        path += f"?{query}"
    sent = httpx.URL(base + path).raw_path
    if sent != httpx.URL(base).raw_path.rstrip(b"/") + path.encode("ascii"):
        raise TargetError(
            f"'{segment}' cannot be sent in a URL path: it would reach another route of "
            "the server; nothing was sent"
        )
    return path


def json_id(provider_id: str) -> int | str:
    """A provider id as the server's JSON wants it: its integer (ids come back as text)."""
    return int(provider_id) if provider_id.isdigit() else provider_id


def encode_model_id(model_id: str, decodes: int) -> str:
    """``model_id`` for a query the server decodes ``decodes`` times: once is enough for an
    id without ``%`` or ``+`` (the others decode to the same), else once per decode."""
    rounds = decodes if ("%" in model_id or "+" in model_id) else 1
    out = model_id
    for _ in range(rounds):
        out = urllib.parse.quote(out, safe="")
    return out


def reported_settings(item: dict[str, Any]) -> ModelSettings:
    """A model's settings as the list reports them; a left-out field is its zero value
    (Go leaves out "" and 0), which is what a declared "" or 0 compares with."""

    def text(key: str) -> str:
        value = item.get(key)
        return value if isinstance(value, str) else ""

    context = item.get("context_length")
    return ModelSettings(
        display_name=text("display_name"),
        description=text("description"),
        context_length=context if isinstance(context, int) and not isinstance(context, bool) else 0,
        system_prompt=text("system_prompt"),
        supports_tools=item.get("supports_tools") is True,
        supports_vision=item.get("supports_vision") is True,
        supports_streaming=item.get("supports_streaming") is True,
        smart_tool_router=item.get("smart_tool_router") is True,
    )


def _update_body(settings: ModelSettings) -> dict[str, Any]:
    return {
        _UPDATE_KEYS[name]: value
        for name, value in settings.declared().items()
        if name in _UPDATE_KEYS
    }


class Catalog:
    """The catalog's requests to one server."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # --- reads ------------------------------------------------------------------------

    def tiers(self) -> tuple[tuple[TierState, ...], tuple[str, ...]]:
        """(the occupied tiers, notes) in one request. A server without the tier API shows
        none; one that cannot read them, or still holds the old recommendation slots,
        shows none and says why."""
        try:
            response = self._session.call("GET", "/api/admin/tiers", ok=(200, *MISSING_ROUTE))
        except AuthError:
            raise
        except TargetError as exc:
            if exc.status is None:  # not an answer of the server: no tiers to speak of
                raise
            return (), (
                f"the server could not read its tiers ({exc.detail or exc}); they are planned "
                "as if every slot were empty. A server whose database lacks ClaraVerse's tier "
                "migration 002_global_tiers.sql cannot store tiers at all",
            )
        if response.status_code in MISSING_ROUTE:
            return (), ()
        body = self._session.json(response, "GET /api/admin/tiers")
        slots = body.get("tiers") if isinstance(body, dict) else None
        if not isinstance(slots, dict):
            raise TargetError('GET /api/admin/tiers did not answer {"tiers": {...}}')
        out = []
        legacy = sorted(k for k in slots if k not in TIER_NAMES)
        for tier in TIER_NAMES:
            entry = slots.get(tier)
            if isinstance(entry, dict) and entry.get("model_id") is not None:
                out.append(
                    TierState(
                        tier=tier,
                        provider_id=str(entry.get("provider_id")),
                        model_id=str(entry["model_id"]),
                    )
                )
        notes: tuple[str, ...] = ()
        if legacy:
            notes = (
                f"the server still holds ClaraVerse's old recommendation slots "
                f"({', '.join(legacy)}): its database lacks the tier migration "
                "002_global_tiers.sql, and tiers cannot be set until it is applied",
            )
        return tuple(out), notes

    # --- writes -----------------------------------------------------------------------

    def update_models(
        self, provider_id: str, changes: tuple[tuple[str, ModelSettings], ...]
    ) -> None:
        """One PUT per model with the keys the server binds, then the agents flag in at most
        two bulk requests (one per value). Each names ``provider_id`` too: real servers
        ignore it (a model id is one row there), the sandbox changes that provider's model
        only (its model ids are unique per provider)."""
        agents: dict[bool, list[str]] = {}
        for model_id, settings in changes:
            body = _update_body(settings)
            if body:
                self._put_model(provider_id, model_id, body)
            if settings.agents is not None:
                agents.setdefault(settings.agents, []).append(model_id)
        pid = json_id(provider_id)
        for enabled, ids in sorted(agents.items()):
            self._session.call(
                "PUT",
                "/api/admin/models/bulk/agents-enabled",
                # An unknown field: real servers' JSON decoding leaves it out.
                json_body={"model_ids": ids, "enabled": enabled, "provider_id": pid},
                resend_unknown=True,
            )

    def _put_model(self, provider_id: str, model_id: str, body: dict[str, Any]) -> None:
        # provider_id: an unknown query parameter, which real servers ignore.
        path = (
            f"/api/admin/models/by-id?model_id={encode_model_id(model_id, 2)}"
            f"&provider_id={urllib.parse.quote(provider_id, safe='')}"
        )
        try:
            self._session.call("PUT", path, json_body=body, resend_unknown=True)
        except AuthError:
            raise
        except TargetError as exc:
            if "model not found" in exc.detail:
                raise TargetError(
                    f"model '{model_id}': the server has no such model (it is not among "
                    "the provider's fetched models)"
                ) from None
            raise

    def set_tier(self, tier: str, provider_id: str, model_id: str) -> None:
        """POST the tier; the slot's occupant is replaced."""
        path = f"/api/admin/models/by-id/tier?model_id={encode_model_id(model_id, 2)}"
        pid = json_id(provider_id)
        try:
            self._session.call(
                "POST", path, json_body={"provider_id": pid, "tier": tier}, resend_unknown=True
            )
        except AuthError:
            raise
        except TargetError as exc:
            raise _tier_error(tier, model_id, exc) from None


def _tier_error(tier: str, model_id: str, exc: TargetError) -> TargetError:
    if _NO_TIER_MIGRATION in exc.detail:
        return TargetError(
            f"{tier}: this server's database lacks ClaraVerse's tier migration "
            "002_global_tiers.sql: tiers cannot be set. Apply that migration to the "
            "server's database (ClaraVerse's production setup does not run it), or take "
            "'tiers:' out of the file",
            status=exc.status,
            detail=exc.detail,
        )
    if "model not found" in exc.detail:
        return TargetError(
            f"{tier}: the server has no model '{model_id}' under this provider (a model id "
            "exists once on a ClaraVerse server, under the provider that fetched it first)",
            status=exc.status,
            detail=exc.detail,
        )
    return TargetError(f"{tier} -> '{model_id}': {exc}", status=exc.status, detail=exc.detail)
