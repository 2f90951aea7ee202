"""The tiers' part of the diff: ClaraVerse's five global recommendation slots. Pure.

A declared tier is set when the target does not show it on the declared model (an empty
slot and a dangling one look the same). A target that keeps a tier by its model's display
name (ClaraVerse) detaches it when that name changes: such a tier is set again after the
new name, whether or not the file declares it, so that an admin's tier is not lost to a
rename. Tiers the file does not declare are otherwise left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.core.catalog import Alias, TierSpec, TierState, settings_for
from reconciler.core.model import Desired, Observed, ProviderSpec, ProviderState
from reconciler.core.plan import Action, FieldChange

__all__ = ["alias_target", "tier_actions"]


def alias_target(tier: TierSpec, aliases: tuple[Alias, ...] | None) -> str:
    """The model id a tier puts in its slot: an alias's model, or the id it names."""
    for alias in aliases or ():
        if alias.key == tier.model.rstrip(" ").casefold():
            return alias.model
    return tier.model


@dataclass(frozen=True)
class _Names:
    """A provider's models' display names now and after this plan, by casefolded id."""

    now: dict[str, str]
    after: dict[str, str]

    @classmethod
    def of(
        cls, spec: ProviderSpec | None, state: ProviderState | None, *, fetching: bool = False
    ) -> _Names:
        """``fetching``: a fetch runs first, and resets every name to the model's id."""
        now: dict[str, str] = {}
        after: dict[str, str] = {}
        rules = spec.models.settings if spec and spec.models else ()
        for m in state.models if state is not None else ():
            shown = m.settings.display_name or m.id  # an empty name shows as the id
            now[m.id.casefold()] = shown
            kept = m.id if fetching else shown
            after[m.id.casefold()] = settings_for(rules, m.id).display_name or kept
        return cls(now, after)

    def renamed(self, model_id: str) -> bool:
        # The server matches the stored name case-insensitively.
        key = model_id.casefold()
        return key in self.now and self.now[key].casefold() != self.after[key].casefold()

    def answers_to(self, reported: str, model_id: str) -> bool:
        """True when the server, looking a tier up by ``model_id``'s name (its display name
        or id equals the stored name, the last match winning), may report ``reported``."""
        stored = self.after.get(model_id.casefold())
        shown = self.now.get(reported.casefold())
        if stored is None or shown is None:
            return False
        return stored.casefold() in (shown.casefold(), reported.casefold())


@dataclass
class _Tiers:
    """What the tier diff collects."""

    actions: list[Action]
    warnings: list[str]
    errors: list[str]


def tier_actions(
    desired: Desired, observed: Observed, planned: Iterable[Action]
) -> tuple[list[Action], list[str], list[str]]:
    """(actions, warnings, errors) for the tiers, given the provider actions ``planned``."""
    specs = {s.name: s for s in desired.providers}
    on_target = observed.by_name()
    fetching = {a.provider for a in planned if a.kind == "fetch"}
    occupied = {t.tier: t for t in observed.tiers}
    found = _Tiers([], [], [])
    for tier in desired.tiers:
        spec, state = specs.get(tier.provider), on_target.get(tier.provider)
        names = _Names.of(spec, state, fetching=tier.provider in fetching)
        aliases = spec.models.aliases if spec is not None and spec.models is not None else None
        model_id = alias_target(tier, aliases)
        if (
            state is not None
            and tier.provider not in fetching
            and model_id.casefold() not in names.now
        ):
            where = f"{tier.where}: " if tier.where else ""
            found.errors.append(
                f"{where}{tier.tier} names model '{tier.model}' of provider '{tier.provider}', "
                f"which is not one of its {len(names.now)} models nor one of its aliases"
            )
            continue
        _declared_tier(tier, model_id, state, names, occupied.get(tier.tier), observed, found)
    if observed.capabilities.tiers_by_display_name:
        declared = {t.tier for t in desired.tiers}
        kept = [t for t in observed.tiers if t.tier not in declared]
        _keep_attached(kept, specs, observed, fetching, found)
    return found.actions, found.warnings, found.errors


def _declared_tier(
    tier: TierSpec,
    model_id: str,
    state: ProviderState | None,
    names: _Names,
    now: TierState | None,
    observed: Observed,
    found: _Tiers,
) -> None:
    by_name = observed.capabilities.tiers_by_display_name
    here = state is not None and now is not None and now.provider_id == state.id
    same_id = here and now is not None and now.model_id.casefold() == model_id.casefold()
    # A server that keeps tiers by display name reports one of the models of that name.
    twin = (
        by_name
        and here
        and not same_id
        and now is not None
        and names.answers_to(now.model_id, model_id)
    )
    if twin and now is not None:
        found.warnings.append(
            f"{tier.tier}: the display name of '{model_id}' of '{tier.provider}' is also the "
            f"display name or id of '{now.model_id}', and this server keeps the tier by that "
            f"name, so it cannot tell which holds it; give '{model_id}' a name of its own"
        )
    moved = by_name and names.renamed(model_id)
    if (same_id or twin) and not moved:
        return
    if by_name:
        _badge_warning(tier, model_id, names, found)
    by_id = {p.id: p.name for p in observed.providers}
    before = f"{by_id.get(now.provider_id, now.provider_id)}/{now.model_id}" if now else None
    after = f"{tier.provider}/{tier.model}"
    if model_id != tier.model:
        after += f" (alias of {model_id})"
    reason = _RESET.format(model=model_id) if same_id or twin else None
    found.actions.append(
        Action(
            kind="tier",
            provider=tier.provider,
            provider_id=state.id if state is not None else None,
            tier=tier.tier,
            model_id=model_id,
            reason=reason,
            changes=(FieldChange(field=tier.tier, before=before, after=after),),
        )
    )


_RESET = "re-set: the display name of {model} changes, and this server keeps tiers by display name"


def _badge_warning(tier: TierSpec, model_id: str, names: _Names, found: _Tiers) -> None:
    """ClaraVerse badges a model whose stored tier name equals the name users pick it by
    (its alias's, or its id): a tier under another display name is set, but shows no badge."""
    shown = names.after.get(model_id.casefold())
    picked = tier.model if tier.model.casefold() != model_id.casefold() else model_id
    if shown is not None and shown.casefold() != picked.casefold():
        found.warnings.append(
            f"{tier.tier}: this server keeps the tier under the display name of {model_id} "
            f"('{shown}') and shows its badge only where that equals the name users pick "
            f"('{picked}'): the tier is set, but no badge shows"
        )


def _keep_attached(
    kept: list[TierState],
    specs: dict[str, ProviderSpec],
    observed: Observed,
    fetched: set[str],
    found: _Tiers,
) -> None:
    """Set again the undeclared tiers whose model's display name this plan changes."""
    by_id = {p.id: p for p in observed.providers}
    for now in kept:
        state = by_id.get(now.provider_id)
        if state is None:
            continue
        names = _Names.of(specs.get(state.name), state, fetching=state.name in fetched)
        if not names.renamed(now.model_id):
            continue
        found.actions.append(
            Action(
                kind="tier",
                provider=state.name,
                provider_id=state.id,
                tier=now.tier,
                model_id=now.model_id,
                reason=_RESET.format(model=now.model_id) + " (a tier the file does not declare)",
                changes=(
                    FieldChange(
                        field=now.tier,
                        before=f"{state.name}/{now.model_id}",
                        after=f"{state.name}/{now.model_id}",
                    ),
                ),
            )
        )
