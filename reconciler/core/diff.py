"""Desired × Observed → Plan. Pure: no I/O, no clock, no randomness.

Only the fields the target declares it can observe are compared, so a target that never
reports a field (ClaraVerse reports no ``type``, no key and four of the six settings) does
not yield a plan that is never empty. What a target cannot report is sent instead: every
write to a provider carries all its declared values, and a provider with no other write
gets a ``push`` that is listed once and never counted as a change. Unsafe deletes are
refused here, all at once, with the advice to follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from reconciler.core.catalog_diff import catalog_actions, catalog_notes
from reconciler.core.model import (
    SETTING_NAMES,
    Capabilities,
    Desired,
    Field,
    Observed,
    ProviderSpec,
    ProviderState,
)
from reconciler.core.ownership import kept_from_prune
from reconciler.core.plan import (
    DEFAULT_OPTIONS,
    Action,
    FieldChange,
    Kept,
    Options,
    Plan,
    count_models,
    sort_actions,
)
from reconciler.core.tiers import tier_actions
from reconciler.core.visibility import shared_ids, unmatched_patterns, visibility_changes
from reconciler.errors import PlanRefused

__all__ = ["key_change", "make_plan", "unobservable_fields"]

_RETRY = "last attempt failed: "

_DELETE_ADVICE = (
    "Deleting a provider removes all its models and breaks the agents and workflows that use "
    "them. Disable it first (enabled: false, with the 'ensure: absent' line taken out for "
    "that run), migrate what depends on its models, apply, and delete it in a later run; or "
    "pass --allow-delete-enabled."
)


@dataclass(kw_only=True)
class _Draft:
    """What the diff collects while it walks the declared providers."""

    actions: list[Action] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    # Problems only the target's state shows (an alias naming another provider's model).
    errors: list[str] = field(default_factory=list)
    renamed_away: set[str] = field(default_factory=set)
    kept: tuple[Kept, ...] = ()


def make_plan(desired: Desired, observed: Observed, options: Options = DEFAULT_OPTIONS) -> Plan:
    """The plan that makes ``observed`` match ``desired``."""
    on_target = observed.by_name()
    draft = _Draft()
    for spec in desired.providers:
        state = on_target.get(spec.name)
        if spec.ensure == "absent":
            if state is not None:
                _delete(state, observed, options, draft, why="ensure: absent")
            continue
        renamed = state is None and (state := _rename_source(spec, on_target, draft)) is not None
        if not renamed:
            _note_leftover_names(spec, on_target, draft)
        if state is None:
            draft.actions.extend(_create(spec, observed, draft))
        else:
            actions = _converge(spec, state, observed, options, draft)
            # A rename writes the whole provider already: no separate push.
            draft.actions.extend(a for a in actions if not (renamed and a.kind == "push"))
    tiers, tier_warnings, tier_errors = tier_actions(desired, observed, draft.actions)
    draft.actions.extend(tiers)
    draft.warnings.extend(tier_warnings)
    draft.errors.extend(tier_errors)
    unmanaged = _prune(desired, observed, options, draft)
    if draft.errors:
        raise PlanRefused(
            "the file does not fit the target's models:\n"
            + "\n".join(f"  - {e}" for e in draft.errors)
        )
    if draft.refusals:
        raise PlanRefused(
            "refusing to delete providers that are still enabled on the target:\n"
            + "\n".join(f"  - {r}" for r in draft.refusals)
            + "\n"
            + _DELETE_ADVICE
        )
    return Plan(
        actions=sort_actions(draft.actions),
        unmanaged=tuple(unmanaged),
        kept=draft.kept,
        # The file's own warnings travel with the plan, so that they reach a pull request.
        warnings=(*desired.warnings, *draft.warnings),
        notes=(
            *observed.notes,
            *_blind_spot_notes(desired, observed.capabilities),
            *catalog_notes(desired, observed),
        ),
    )


def _rename_source(
    spec: ProviderSpec, on_target: dict[str, ProviderState], draft: _Draft
) -> ProviderState | None:
    """The provider to rename into ``spec``, if one of its former names exists."""
    former = [on_target[o] for o in spec.renamed_from if o in on_target]
    if not former:
        return None
    old = former[0]
    # Treated as the next run will (the new name then exists): left alone, neither listed
    # as unmanaged nor pruned.
    draft.renamed_away.update(p.name for p in former)
    for other in former[1:]:
        draft.warnings.append(
            f"provider '{spec.name}' is renamed from '{old.name}'; its other former name "
            f"'{other.name}' also exists and is left alone (remove it with 'ensure: absent' "
            "if it is obsolete)"
        )
    draft.actions.append(
        Action(kind="rename", provider=spec.name, provider_id=old.id, old_name=old.name, spec=spec)
    )
    return old


def _note_leftover_names(
    spec: ProviderSpec, on_target: dict[str, ProviderState], draft: _Draft
) -> None:
    for old in (o for o in spec.renamed_from if o in on_target):
        draft.warnings.append(
            f"provider '{spec.name}' exists, and so does its former name '{old}'; "
            f"'{old}' is left alone (remove it with 'ensure: absent' if it is obsolete)"
        )
        draft.renamed_away.add(old)


def _prune(desired: Desired, observed: Observed, options: Options, draft: _Draft) -> list[str]:
    """Unmanaged provider names; with --prune they are deleted instead (and none remain),
    but for those ``draft.kept`` lists."""
    declared = {s.name for s in desired.providers}
    unmanaged = sorted(
        p.name
        for p in observed.providers
        if p.name not in declared and p.name not in draft.renamed_away
    )
    # Not this repository's to delete: listed with the reason, never pruned.
    draft.kept = kept_from_prune(unmanaged, desired.prune_ignore, observed.capabilities)
    kept = {k.name for k in draft.kept}
    unmanaged = [name for name in unmanaged if name not in kept]
    if not options.prune:
        return unmanaged
    if not any(s.ensure == "present" for s in desired.providers) and not options.allow_empty:
        raise PlanRefused(
            "--prune with no providers declared would delete every provider on the "
            "target; pass --allow-empty if that is really what you want"
        )
    on_target = observed.by_name()
    for name in unmanaged:
        _delete(on_target[name], observed, options, draft, why="--prune")
    return []


def _create(spec: ProviderSpec, observed: Observed, draft: _Draft) -> list[Action]:
    out = [Action(kind="create", provider=spec.name, spec=spec)]
    fetch = _fetchable(spec)
    if fetch:
        out.append(Action(kind="fetch", provider=spec.name, spec=spec, reason="new provider"))
        if spec.models is not None and spec.models.decide_visibility:
            out.append(Action(kind="models", provider=spec.name, spec=spec, after_fetch=True))
    catalog, _, _ = catalog_actions(spec, None, observed, after_fetch=fetch)
    out.extend(catalog)
    return out


def _delete(
    state: ProviderState, observed: Observed, options: Options, draft: _Draft, why: str
) -> None:
    if state.enabled and not options.allow_delete_enabled:
        draft.refusals.append(f"'{state.name}' ({why}) and its {count_models(state.model_count)}")
        return
    tiers = tuple(sorted(t.tier for t in observed.tiers if t.provider_id == state.id))
    draft.actions.append(
        Action(
            kind="delete",
            provider=state.name,
            provider_id=state.id,
            model_count=state.model_count,
            reason=why,
            require_disabled=not options.allow_delete_enabled,
            alias_count=len(state.aliases),
            tiers=tiers,
        )
    )


def key_change(spec: ProviderSpec, state: ProviderState) -> str | None:
    """How the declared key differs from the stored one, by fingerprint; None if equal."""
    key = state.key
    if key is None:
        return None
    if spec.api_key is None:
        return "removed" if key.present else None
    if not key.present:
        return "set"
    if key.salt is None or key.fingerprint is None:
        return None
    return None if spec.api_key.fingerprint(key.salt) == key.fingerprint else "changed"


def unobservable_fields(caps: Capabilities) -> tuple[Field, ...]:
    """The declared values this target cannot report: sent on every write, never compared."""
    key: tuple[Field, ...] = () if caps.key_fingerprints else ("api_key",)
    return key + tuple(s for s in SETTING_NAMES if s not in caps.observes)


def _field_changes(
    spec: ProviderSpec, state: ProviderState, caps: Capabilities
) -> list[FieldChange]:
    changes: list[FieldChange] = []
    # Cheap equality first; most providers on a large target do not differ at all.
    if "type" in caps.observes and state.type is not None and spec.type != state.type:
        changes.append(FieldChange(field="type", before=state.type, after=spec.type))
    if "base_url" in caps.observes and spec.base_url != state.base_url:
        changes.append(FieldChange(field="base_url", before=state.base_url, after=spec.base_url))
    if caps.key_fingerprints and "api_key" in caps.observes:
        how = key_change(spec, state)
        if how is not None:
            changes.append(FieldChange(field="api_key", before=None, after=how))
    if spec.settings != state.settings:
        for name in SETTING_NAMES:
            want, have = spec.settings.value(name), state.settings.value(name)
            if name in caps.observes and want != have:
                changes.append(FieldChange(field=name, before=have, after=want))
    return changes


def _converge(
    spec: ProviderSpec,
    state: ProviderState,
    observed: Observed,
    options: Options,
    draft: _Draft,
) -> list[Action]:
    caps = observed.capabilities
    warnings = draft.warnings

    def action(kind: str, **values: object) -> Action:
        return Action(kind=kind, provider=spec.name, provider_id=state.id, spec=spec, **values)  # type: ignore[arg-type]

    changes = _field_changes(spec, state, caps)
    out: list[Action] = []
    if changes:
        out.append(action("update", changes=tuple(changes)))
    if "enabled" in caps.observes and spec.enabled != state.enabled:
        out.append(action("enable" if spec.enabled else "disable"))
    if not out and unobservable_fields(caps):
        # Nothing else writes to this provider, yet the target may hold other values for
        # what it cannot report (a key rotated in CI's secrets, a setting reset by a toggle).
        out.append(action("push", changes=_pushed(spec, caps)))
    reason = _fetch_reason(spec, state, changes, options)
    # Nothing in the file can fix an upstream that is down: retrying is not a change.
    retry = reason is not None and reason.startswith(_RETRY)
    if reason is not None:
        out.append(action("fetch", reason=reason, retry=retry))
    if spec.models is None or not caps.lists_models:
        return out
    if spec.enabled and spec.models.decide_visibility:
        out.extend(_visibility(spec, state, observed, reason is not None, retry, warnings))
    catalog, more_warnings, errors = catalog_actions(
        spec, state, observed, after_fetch=reason is not None, retry=retry
    )
    out.extend(catalog)
    warnings.extend(more_warnings)
    draft.errors.extend(errors)
    return out


def _visibility(
    spec: ProviderSpec,
    state: ProviderState,
    observed: Observed,
    after_fetch: bool,
    retry: bool,
    warnings: list[str],
) -> list[Action]:
    assert spec.models is not None
    base = Action(kind="models", provider=spec.name, provider_id=state.id, spec=spec)
    if after_fetch:
        return [replace(base, after_fetch=True, retry=retry)]
    show, hide = visibility_changes(spec.models, state.models)
    warnings.extend(unmatched_patterns(spec.name, spec.models, state.models, observed))
    if not (show or hide):
        return []
    if observed.capabilities.visibility_by_id:
        warnings.extend(shared_ids(spec.name, (*show, *hide), state, observed))
    return [replace(base, show=show, hide=hide)]


def _pushed(spec: ProviderSpec, caps: Capabilities) -> tuple[FieldChange, ...]:
    """What a push sends, as descriptions: variable names and declared values."""
    out = []
    blind = unobservable_fields(caps)
    if "api_key" in blind and spec.api_key is not None:
        out.append(FieldChange(field="api_key", before=None, after="sent"))
    elif "api_key" in blind:
        # The file declares no admin key: the write says so, and a key the target holds
        # (which it cannot report) goes. Said, so that nobody learns it from the users.
        out.append(
            FieldChange(field="api_key", before=None, after="none (a stored key is removed)")
        )
    for name in SETTING_NAMES:
        if name in blind:
            out.append(FieldChange(field=name, before=None, after=spec.settings.value(name)))
    return tuple(out)


def _fetchable(spec: ProviderSpec) -> bool:
    # Without an admin key the upstream would refuse the listing: don't plan a fetch
    # that is bound to fail (validate already warns about the missing key).
    return spec.enabled and spec.fetch_models and not spec.unusable_without_user_key


def _fetch_reason(
    spec: ProviderSpec, state: ProviderState, changes: list[FieldChange], options: Options
) -> str | None:
    if not _fetchable(spec):
        return None
    changed = [c.field for c in changes if c.field in ("type", "base_url", "api_key")]
    if changed:
        return f"{', '.join(changed)} changed"
    if state.last_fetch_error:
        return f"{_RETRY}{state.last_fetch_error}"
    if state.fetched is False or (state.fetched is None and state.model_count == 0):
        return "no models yet"
    if options.refetch:
        return "--refetch"
    return None


def _blind_spot_notes(desired: Desired, caps: Capabilities) -> list[str]:
    """One note naming what this target cannot report and how apply deals with it."""
    blind = unobservable_fields(caps)
    present = [s for s in desired.providers if s.ensure == "present"]
    if not blind or not present:
        return []
    if not any(s.api_key is not None for s in present):
        blind = tuple(f for f in blind if f != "api_key")
    if not blind:
        return []
    return [
        f"this target does not report {', '.join(blind)}: they cannot be compared, so apply "
        "sends the declared values with every write to a provider, and once to each "
        "provider that has no other change (listed as 'send'; not counted as a change)"
    ]
