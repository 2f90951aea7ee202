"""Which of a provider's models users see: the ``models:`` rules applied to model ids."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Literal

from reconciler.core.model import ModelRules, ModelState, Observed, ProviderState

__all__ = ["shared_ids", "unmatched_patterns", "visibility_changes", "wanted_visibility"]


def wanted_visibility(rules: ModelRules, model_id: str) -> bool | None:
    """True/False when the rules decide the model's visibility, None to leave it."""
    if any(fnmatch.fnmatchcase(model_id, p) for p in rules.hidden):
        return False
    if any(fnmatch.fnmatchcase(model_id, p) for p in rules.visible):
        return True
    return False if rules.only_listed else None


def visibility_changes(
    rules: ModelRules, models: Iterable[ModelState]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(model ids to show, model ids to hide), sorted."""
    show: list[str] = []
    hide: list[str] = []
    for m in models:
        want = wanted_visibility(rules, m.id)
        if want is True and not m.visible:
            show.append(m.id)
        elif want is False and m.visible:
            hide.append(m.id)
    return tuple(sorted(show)), tuple(sorted(hide))


def unmatched_patterns(
    name: str, rules: ModelRules, models: Iterable[ModelState], observed: Observed | None = None
) -> list[str]:
    """A warning for each pattern that matches none of the provider's models, at the
    pattern's file:line; on a target where a model id exists once, it names the provider
    that holds a matching id."""
    ids = [m.id for m in models]
    out = []
    kinds: tuple[tuple[Literal["visible", "hidden"], tuple[str, ...]], ...] = (
        ("visible", rules.visible),
        ("hidden", rules.hidden),
    )
    for kind, patterns in kinds:
        for index, p in enumerate(patterns):
            if any(fnmatch.fnmatchcase(i, p) for i in ids):
                continue
            where = rules.location(kind, index)
            message = (
                f"{f'{where}: ' if where else ''}provider '{name}': models.{kind} pattern "
                f"'{p}' matches none of its {len(ids)} models"
            )
            holders = _holders(p, name, observed)
            if holders:
                message += (
                    f"; on this target a model id exists once, and {', '.join(holders)} "
                    "already holds the matching ids (a fetch cannot move them)"
                )
            else:
                message += " (a typo, or a model the upstream no longer lists?)"
            out.append(message)
    return out


def _holders(pattern: str, name: str, observed: Observed | None) -> list[str]:
    if observed is None or not observed.capabilities.visibility_by_id:
        return []
    return [
        f"'{p.name}'"
        for p in observed.providers
        if p.name != name and any(fnmatch.fnmatchcase(m.id, pattern) for m in p.models)
    ]


def shared_ids(
    name: str,
    changed: tuple[str, ...],
    state: ProviderState,
    observed: Observed,
    what: str = "shows and hides models",
) -> list[str]:
    """On a target where a model id is one row server-wide (ClaraVerse), a change to an id
    that other providers also list changes their model too: one warning naming them."""
    wanted = {i.casefold(): i for i in changed}
    shared: set[str] = set()
    holders: list[str] = []
    for other in observed.providers:
        if other.id == state.id:
            continue
        mine = {wanted[m.id.casefold()] for m in other.models if m.id.casefold() in wanted}
        if mine:
            shared |= mine
            holders.append(f"'{other.name}'")
    if not holders:
        return []
    ids = sorted(shared)
    shown = ", ".join(ids[:_SHOWN]) + (
        f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    )
    who = ", ".join(holders[:_SHOWN]) + (
        f" and {len(holders) - _SHOWN} more providers" if len(holders) > _SHOWN else ""
    )
    return [
        f"provider '{name}': this target {what} by id across all providers, so changing "
        f"{shown} also changes the model(s) of the same id under {who}"
    ]


# How many ids and providers a warning names before it counts the rest.
_SHOWN = 5
