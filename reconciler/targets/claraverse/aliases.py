"""A ClaraVerse server's model aliases: read per model, created, deleted by name.

What real servers do, and what this module does about it (docs/claraverse-servers.md):

- There is no list of all aliases: ``GET .../aliases?model_id=`` lists one model's (under
  any provider), so observing reads only the models it is asked for.
- Aliases cannot be updated (the PUT is a stub answering 200): a change is delete + create.
- A create that meets an alias of that name under the provider (on a model whose aliases
  were not read) fails: 500 "Error 1062" on real servers, 409 on the sandbox. That alias is
  deleted by name and the create sent again, and the run says so in a warning.
- The delete takes the name in the URL path: an alias whose name holds ``/``, or is ``.``
  or ``..`` (a URL resolves those away: ``DELETE .../aliases/..`` would reach the route
  that deletes the model), cannot be deleted at all; every path that embeds a name is
  checked to reach the server as built.
MySQL errors are matched on their number, never on their wording.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from typing import Any

from reconciler.core.catalog import Alias, StructuredOutput, deletable_by_name
from reconciler.errors import AuthError, TargetError
from reconciler.targets.claraverse.catalog import (
    MISSING_ROUTE,
    encode_model_id,
    json_id,
    mysql_error,
    segment_path,
)
from reconciler.targets.claraverse.session import Session

__all__ = ["Aliases"]

_ALIASES = "/api/admin/models/by-id/aliases"
# The sandbox's words for a duplicate name (its 409); real servers send MySQL's 1062.
_DUPLICATE = ("Duplicate entry", "already has an alias")


def _alias_body(provider_id: str, alias: Alias) -> dict[str, Any]:
    """CreateAliasRequest (snake_case tags): unset strings empty, unset flags left out
    (the server stores NULL for both)."""
    so = alias.structured_output
    body: dict[str, Any] = {
        "alias_name": alias.name,
        "provider_id": json_id(provider_id),
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


class Aliases:
    """The alias requests to one server."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def read(self, model_ids: Iterable[str]) -> dict[str, list[Alias]]:
        """The aliases of these models, by the provider id they belong to; one request per
        model (the server lists aliases per model only)."""
        by_provider: dict[str, list[Alias]] = {}
        seen: set[int | tuple[str, str]] = set()
        for model_id in model_ids:
            path = f"{_ALIASES}?model_id={encode_model_id(model_id, 3)}"
            response = self._session.call("GET", path, ok=(200, *MISSING_ROUTE))
            if response.status_code in MISSING_ROUTE:
                continue  # a server without the alias API has no aliases
            items = self._session.json(response, f"GET {_ALIASES}") or []
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

    def create(self, provider_id: str, alias: Alias) -> bool:
        """POST the alias; one that exists by that name under the provider (on a model whose
        aliases were not read) is deleted and the alias created again: True then."""
        try:
            self._post(provider_id, alias)
            return False
        except AuthError:
            raise
        except TargetError as exc:
            if not _duplicate(exc):
                raise _alias_error(alias, exc) from None
        if self._already_there(provider_id, alias):
            return False  # a create whose answer was lost, sent again: it met itself
        self._delete_existing(provider_id, alias)
        try:
            self._post(provider_id, alias)
        except TargetError as again:
            raise _alias_error(alias, again) from None
        return True

    def _already_there(self, provider_id: str, alias: Alias) -> bool:
        """True when the provider's alias of that name is on the declared model, as declared."""
        found = self.read([alias.model]).get(provider_id, [])
        return any(a.key == alias.key and not a.differences(alias) for a in found)

    def _post(self, provider_id: str, alias: Alias) -> None:
        path = f"{_ALIASES}?model_id={encode_model_id(alias.model, 3)}"
        self._session.call(
            "POST", path, json_body=_alias_body(provider_id, alias), resend_unknown=True
        )

    def _delete_existing(self, provider_id: str, alias: Alias) -> None:
        """Delete the provider's alias of that name, whatever its model: real servers match
        the name and provider only (``model_id`` is required and unused); a server that
        matches the model too (the sandbox) takes the delete without one."""
        try:
            self._delete(provider_id, alias.name, alias.model)
        except TargetError as exc:
            if not _not_found(exc):
                raise _alias_error(alias, exc) from None
            try:
                self._delete(provider_id, alias.name, None)
            except TargetError as again:
                if not _not_found(again):  # gone meanwhile: the create goes ahead
                    raise _alias_error(alias, again) from None

    def delete(self, provider_id: str, alias: Alias) -> None:
        """DELETE by name and provider; an alias already gone counts as deleted. A name the
        API cannot address ('/', '.', '..') is refused before any request."""
        if not deletable_by_name(alias.name):
            raise TargetError(
                f"alias '{alias.name}': ClaraVerse cannot delete it by name (its admin API "
                "takes the name in the URL path, where '/', '.' and '..' cannot be "
                "addressed): it goes only with its model or its provider. Keep it in the "
                "file, or delete it in the server's database"
            )
        try:
            self._delete(provider_id, alias.name, alias.model)
        except TargetError as exc:
            if not _not_found(exc):
                raise

    def _delete(self, provider_id: str, name: str, model_id: str | None) -> None:
        query = f"provider_id={urllib.parse.quote(provider_id, safe='')}"
        if model_id is not None:
            query = f"model_id={encode_model_id(model_id, 2)}&{query}"
        path = segment_path(self._session.base, _ALIASES, name, query=query)
        self._session.call("DELETE", path, resend_unknown=True)


def _duplicate(exc: TargetError) -> bool:
    """A create refused because the provider has an alias of that name."""
    if isinstance(exc, AuthError):
        return False
    if mysql_error(exc.detail) == 1062:
        return True
    return exc.status == 409 and any(word in exc.detail for word in _DUPLICATE)


def _not_found(exc: TargetError) -> bool:
    # Real servers: 500 "alias not found: x"; the sandbox: 404 "Alias not found: x".
    return not isinstance(exc, AuthError) and "alias not found" in exc.detail.casefold()


def _alias_error(alias: Alias, exc: TargetError) -> TargetError:
    where = f"alias '{alias.name}' (of model '{alias.model}')"
    number = mysql_error(exc.detail)
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
