"""The model catalog on a ClaraVerse server: model settings, the agents flag, aliases, tiers.

What real servers do, and what this module does about it (docs/claraverse-servers.md):

- ``PUT /models/by-id`` binds keys by Go field name: ``displayName``, ``contextLength`` and
  ``systemPrompt`` work, their snake_case spellings are silently ignored; the booleans work
  in snake_case. ``free_tier`` fails the whole update, so it is never sent for a model.
- ``agents_enabled`` is written by ``PUT /models/bulk/agents-enabled`` and never reported
  (the model list always says false): it is sent, grouped by value, never compared.
- ``model_id`` is decoded twice (three times by the alias GET and POST): an id holding
  ``%`` or ``+`` is percent-encoded once per decode, any other id once.
- Aliases cannot be updated (the PUT is a stub answering 200): a change is delete + create.
  A create that meets an alias of that name (on a model whose aliases were not read) is a
  500 "Error 1062": the old one is deleted and the create sent again. An alias whose name
  holds ``/`` cannot be deleted at all.
- Tiers are five global slots stored by the model's display name; a slot whose model no
  longer matches is left out of ``GET /tiers``. Without ClaraVerse's tier migration every
  tier write fails with "Data truncated for column 'tier'": one clear error.
MySQL errors are matched on their number (1062, 1452, 1265), never on their wording.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

from reconciler.core.catalog import (
    TIER_NAMES,
    Alias,
    ModelSettingName,
    ModelSettings,
    StructuredOutput,
    TierState,
)
from reconciler.errors import AuthError, TargetError
from reconciler.targets.claraverse.session import Session

__all__ = ["REPORTED_SETTINGS", "Catalog", "encode_model_id", "reported_settings"]

# What GET /api/admin/models reports of a model; ``agents`` is always false there.
REPORTED_SETTINGS: frozenset[ModelSettingName] = frozenset(
    {
        "display_name",
        "description",
        "context_length",
        "system_prompt",
        "supports_tools",
        "supports_vision",
        "supports_streaming",
        "smart_tool_router",
    }
)

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
_MISSING_ROUTE = (404, 405)


def _mysql_error(detail: str) -> int | None:
    """The MySQL error number in a server message ("... Error 1062 (23000): ..."), if any."""
    found = re.search(r"\bError (\d{4})\b", detail)
    return int(found.group(1)) if found else None


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


def _alias_body(provider_id: str, alias: Alias) -> dict[str, Any]:
    """CreateAliasRequest (snake_case tags): unset strings empty, unset flags left out
    (the server stores NULL for both)."""
    so = alias.structured_output
    body: dict[str, Any] = {
        "alias_name": alias.name,
        "provider_id": int(provider_id) if provider_id.isdigit() else provider_id,
        "display_name": alias.display_name,
        "description": alias.description or "",
        "structured_output_support": so.support or "",
        "structured_output_warning": so.warning or "",
        "structured_output_badge": so.badge or "",
    }
    optional = {
        "supports_vision": alias.supports_vision,
        "agents_enabled": alias.agents,
        "smart_tool_router": alias.smart_tool_router,
        "free_tier": alias.free_tier,
        "structured_output_compliance": so.compliance,
        "structured_output_speed_ms": so.speed_ms,
        "memory_extractor": alias.memory_extractor,
        "memory_selector": alias.memory_selector,
    }
    body.update((k, v) for k, v in optional.items() if v is not None)
    return body


def _parse_alias(item: Any) -> tuple[str, int | None, Alias] | None:
    """(provider id, the server's alias id, the alias) of a GET .../aliases entry."""
    if not isinstance(item, dict) or not isinstance(item.get("alias_name"), str):
        return None

    def text(key: str) -> str | None:
        value = item.get(key)
        return value if isinstance(value, str) and value else None

    def flag(key: str) -> bool | None:
        value = item.get(key)
        return value if isinstance(value, bool) else None

    def number(key: str) -> int | None:
        value = item.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    alias = Alias(
        name=item["alias_name"],
        model=str(item.get("model_id", "")),
        display_name=text("display_name") or "",
        description=text("description"),
        agents=flag("agents_enabled"),
        supports_vision=flag("supports_vision"),
        smart_tool_router=flag("smart_tool_router"),
        free_tier=flag("free_tier"),
        structured_output=StructuredOutput(
            support=text("structured_output_support"),
            compliance=number("structured_output_compliance"),
            speed_ms=number("structured_output_speed_ms"),
            badge=text("structured_output_badge"),
            warning=text("structured_output_warning"),
        ),
        memory_extractor=flag("memory_extractor"),
        memory_selector=flag("memory_selector"),
    )
    return str(item.get("provider_id")), number("id"), alias


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
            response = self._session.call("GET", "/api/admin/tiers", ok=(200, *_MISSING_ROUTE))
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
        if response.status_code in _MISSING_ROUTE:
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

    def aliases(self, model_ids: Iterable[str]) -> dict[str, list[Alias]]:
        """The aliases of these models, by the provider id they belong to; one request per
        model (the server lists aliases per model only)."""
        by_provider: dict[str, list[Alias]] = {}
        seen: set[int | tuple[str, str]] = set()
        for model_id in model_ids:
            path = f"/api/admin/models/by-id/aliases?model_id={encode_model_id(model_id, 3)}"
            response = self._session.call("GET", path, ok=(200, *_MISSING_ROUTE))
            if response.status_code in _MISSING_ROUTE:
                continue  # a server without the alias API has no aliases
            items = self._session.json(response, "GET /api/admin/models/by-id/aliases") or []
            for item in items if isinstance(items, list) else ():
                parsed = _parse_alias(item)
                if parsed is None:
                    continue
                provider_id, alias_id, alias = parsed
                ident = alias_id if alias_id is not None else (provider_id, alias.key)
                if ident not in seen:
                    seen.add(ident)
                    by_provider.setdefault(provider_id, []).append(alias)
        return by_provider

    # --- writes -----------------------------------------------------------------------

    def update_models(self, changes: tuple[tuple[str, ModelSettings], ...]) -> None:
        """One PUT per model with the keys the server binds, then the agents flag in at most
        two bulk requests (one per value)."""
        agents: dict[bool, list[str]] = {}
        for model_id, settings in changes:
            body = _update_body(settings)
            if body:
                self._put_model(model_id, body)
            if settings.agents is not None:
                agents.setdefault(settings.agents, []).append(model_id)
        for enabled, ids in sorted(agents.items()):
            self._session.call(
                "PUT",
                "/api/admin/models/bulk/agents-enabled",
                json_body={"model_ids": ids, "enabled": enabled},
                resend_unknown=True,
            )

    def _put_model(self, model_id: str, body: dict[str, Any]) -> None:
        path = f"/api/admin/models/by-id?model_id={encode_model_id(model_id, 2)}"
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

    def create_alias(self, provider_id: str, alias: Alias) -> None:
        """POST the alias; one that exists by that name under the provider (its model's
        aliases were not read) is deleted and created again."""
        try:
            self._post_alias(provider_id, alias)
        except AuthError:
            raise
        except TargetError as exc:
            if _mysql_error(exc.detail) != 1062:
                raise _alias_error(alias, exc) from None
            self.delete_alias(provider_id, alias)
            try:
                self._post_alias(provider_id, alias)
            except TargetError as again:
                raise _alias_error(alias, again) from None

    def _post_alias(self, provider_id: str, alias: Alias) -> None:
        path = f"/api/admin/models/by-id/aliases?model_id={encode_model_id(alias.model, 3)}"
        self._session.call(
            "POST", path, json_body=_alias_body(provider_id, alias), resend_unknown=True
        )

    def delete_alias(self, provider_id: str, alias: Alias) -> None:
        """DELETE by name and provider; an alias already gone counts as deleted."""
        if "/" in alias.name:
            raise TargetError(
                f"alias '{alias.name}': ClaraVerse cannot delete an alias whose name holds "
                "'/' (its API cannot address it); it goes only with its model or its "
                "provider. Keep it in the file, or delete it in the server's database"
            )
        name = urllib.parse.quote(alias.name, safe="")
        query = f"model_id={encode_model_id(alias.model, 2)}&provider_id={provider_id}"
        try:
            self._session.call(
                "DELETE",
                f"/api/admin/models/by-id/aliases/{name}?{query}",
                resend_unknown=True,
            )
        except AuthError:
            raise
        except TargetError as exc:
            if "alias not found" not in exc.detail:
                raise

    def set_tier(self, tier: str, provider_id: str, model_id: str) -> None:
        """POST the tier; the slot's occupant is replaced."""
        path = f"/api/admin/models/by-id/tier?model_id={encode_model_id(model_id, 2)}"
        pid: Any = int(provider_id) if provider_id.isdigit() else provider_id
        try:
            self._session.call(
                "POST", path, json_body={"provider_id": pid, "tier": tier}, resend_unknown=True
            )
        except AuthError:
            raise
        except TargetError as exc:
            raise _tier_error(tier, model_id, exc) from None


def _alias_error(alias: Alias, exc: TargetError) -> TargetError:
    where = f"alias '{alias.name}' (of model '{alias.model}')"
    number = _mysql_error(exc.detail)
    if number == 1452:
        missing = "provider" if "`provider_id`" in exc.detail else f"model '{alias.model}'"
        return TargetError(
            f"{where}: the server has no {missing} to attach it to; fetch the provider's "
            "models first, or name one of its models",
            status=exc.status,
            detail=exc.detail,
        )
    if number in (1265, 1406):
        return TargetError(
            f"{where}: the server refused a structured_output value ({exc.detail})",
            status=exc.status,
            detail=exc.detail,
        )
    if number == 1062:
        return TargetError(
            f"{where}: an alias of that name exists under the provider and could not be replaced",
            status=exc.status,
            detail=exc.detail,
        )
    return TargetError(f"{where}: {exc}", status=exc.status, detail=exc.detail)


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
