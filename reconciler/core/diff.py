"""Desired × Observed → Plan. Pure: no I/O, no clock, no randomness.

Only the fields the target declares it can observe are compared, so a target that never
reports a field (ClaraVerse reports no ``type`` and no key) does not yield a plan that is
never empty. Unsafe deletes are refused here, all at once, with the advice to follow.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from reconciler.core.model import (
    Desired,
    ModelRules,
    ModelState,
    Observed,
    ProviderSpec,
    ProviderState,
)
from reconciler.core.plan import DEFAULT_OPTIONS, Action, FieldChange, Options, Plan, sort_actions
from reconciler.errors import PlanRefused

KEYS_NOT_COMPARABLE = (
    "this target does not report anything about API keys, so key changes cannot be seen: "
    "run apply with --push-keys to send every declared key"
)


def make_plan(desired: Desired, observed: Observed, options: Options = DEFAULT_OPTIONS) -> Plan:
    """The plan that makes ``observed`` match ``desired``."""
    caps = observed.capabilities
    on_target = observed.by_name()
    actions: list[Action] = []
    warnings: list[str] = []
    refusals: list[str] = []
    declared = {s.name for s in desired.providers}
    renamed_away: set[str] = set()

    for spec in desired.providers:
        if spec.ensure == "absent":
            state = on_target.get(spec.name)
            if state is not None:
                _delete(state, options, actions, refusals, why="ensure: absent")
            continue
        state = on_target.get(spec.name)
        if state is None:
            former = [on_target[o] for o in spec.renamed_from if o in on_target]
            old = former[0] if former else None
            if old is not None:
                renamed_away.add(old.name)
                # Treated as the next run will (the new name then exists): left alone,
                # neither listed as unmanaged nor pruned.
                for other in former[1:]:
                    warnings.append(
                        f"provider '{spec.name}' is renamed from '{old.name}'; its other "
                        f"former name '{other.name}' also exists and is left alone (remove "
                        "it with 'ensure: absent' if it is obsolete)"
                    )
                    renamed_away.add(other.name)
                actions.append(
                    Action(
                        kind="rename",
                        provider=spec.name,
                        provider_id=old.id,
                        old_name=old.name,
                        spec=spec,
                    )
                )
                state = old
        else:
            leftovers = [o for o in spec.renamed_from if o in on_target]
            for o in leftovers:
                warnings.append(
                    f"provider '{spec.name}' exists, and so does its former name '{o}'; "
                    f"'{o}' is left alone (remove it with 'ensure: absent' if it is obsolete)"
                )
            renamed_away.update(leftovers)
        if state is None:
            actions.extend(_create(spec))
        else:
            actions.extend(_converge(spec, state, observed, options, warnings))

    unmanaged = sorted(
        p.name for p in observed.providers if p.name not in declared and p.name not in renamed_away
    )
    if options.prune:
        if not any(s.ensure == "present" for s in desired.providers) and not options.allow_empty:
            raise PlanRefused(
                "--prune with no providers declared would delete every provider on the "
                "target; pass --allow-empty if that is really what you want"
            )
        for name in unmanaged:
            _delete(on_target[name], options, actions, refusals, why="--prune")
        unmanaged = []
    if refusals:
        raise PlanRefused(
            "refusing to delete providers that are still enabled on the target:\n"
            + "\n".join(f"  - {r}" for r in refusals)
            + "\nDeleting a provider removes all its models and breaks the agents and "
            "workflows that use them. Disable it first (enabled: false), migrate what "
            "depends on its models, apply, and delete it in a later run; or pass "
            "--allow-delete-enabled."
        )
    notes = list(observed.notes)
    if not caps.key_fingerprints and any(
        s.ensure == "present" and s.api_key is not None for s in desired.providers
    ):
        notes.append(
            KEYS_NOT_COMPARABLE
            if not options.push_keys
            else "keys cannot be compared on this target; --push-keys sends every declared key"
        )
    return Plan(
        actions=sort_actions(actions),
        unmanaged=tuple(unmanaged),
        # The file's own warnings travel with the plan, so that they reach a pull request.
        warnings=(*desired.warnings, *warnings),
        notes=tuple(notes),
    )


def _create(spec: ProviderSpec) -> list[Action]:
    out = [Action(kind="create", provider=spec.name, spec=spec)]
    if _fetchable(spec):
        out.append(Action(kind="fetch", provider=spec.name, spec=spec, reason="new provider"))
        if spec.models is not None:
            out.append(Action(kind="models", provider=spec.name, spec=spec, after_fetch=True))
    return out


def _delete(
    state: ProviderState, options: Options, actions: list[Action], refusals: list[str], why: str
) -> None:
    if state.enabled and not options.allow_delete_enabled:
        refusals.append(f"'{state.name}' ({why}) and its {_models(state.model_count)}")
        return
    actions.append(
        Action(
            kind="delete",
            provider=state.name,
            provider_id=state.id,
            model_count=state.model_count,
            reason=why,
            require_disabled=not options.allow_delete_enabled,
        )
    )


def _models(count: int) -> str:
    return f"{count} model" if count == 1 else f"{count} models"


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


def _converge(
    spec: ProviderSpec,
    state: ProviderState,
    observed: Observed,
    options: Options,
    warnings: list[str],
) -> list[Action]:
    caps = observed.capabilities
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
    elif options.push_keys and spec.api_key is not None:
        changes.append(FieldChange(field="api_key", before=None, after="pushed"))

    out: list[Action] = []
    if changes:
        out.append(
            Action(
                kind="update",
                provider=spec.name,
                provider_id=state.id,
                spec=spec,
                changes=tuple(changes),
            )
        )
    if "enabled" in caps.observes and spec.enabled != state.enabled:
        out.append(
            Action(
                kind="enable" if spec.enabled else "disable",
                provider=spec.name,
                provider_id=state.id,
                spec=spec,
            )
        )

    reason = _fetch_reason(spec, state, changes, options)
    if reason is not None:
        out.append(
            Action(kind="fetch", provider=spec.name, provider_id=state.id, spec=spec, reason=reason)
        )
    if spec.models is not None and spec.enabled and caps.lists_models:
        if reason is not None:
            out.append(
                Action(
                    kind="models",
                    provider=spec.name,
                    provider_id=state.id,
                    spec=spec,
                    after_fetch=True,
                )
            )
        else:
            show, hide = visibility_changes(spec.models, state.models)
            if show or hide:
                out.append(
                    Action(
                        kind="models",
                        provider=spec.name,
                        provider_id=state.id,
                        spec=spec,
                        show=show,
                        hide=hide,
                    )
                )
            warnings.extend(unmatched_patterns(spec.name, spec.models, state.models))
    return out


def _fetchable(spec: ProviderSpec) -> bool:
    # Without an admin key the upstream would refuse the listing: don't plan a fetch
    # that is bound to fail (validate already warns about the missing key).
    return spec.enabled and spec.fetch_models and not spec.unusable_without_user_key


def _fetch_reason(
    spec: ProviderSpec, state: ProviderState, changes: list[FieldChange], options: Options
) -> str | None:
    if not _fetchable(spec):
        return None
    changed = [c.field for c in changes if c.field in ("type", "base_url")]
    if any(c.field == "api_key" and c.after != "pushed" for c in changes):
        changed.append("api_key")
    if changed:
        return f"{', '.join(changed)} changed"
    if state.last_fetch_error:
        return f"last attempt failed: {state.last_fetch_error}"
    if state.fetched is False or (state.fetched is None and state.model_count == 0):
        return "no models yet"
    if options.refetch:
        return "--refetch"
    return None


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


def unmatched_patterns(name: str, rules: ModelRules, models: Iterable[ModelState]) -> list[str]:
    """A warning for each pattern that matches none of the provider's models."""
    ids = [m.id for m in models]
    out = []
    for kind, patterns in (("visible", rules.visible), ("hidden", rules.hidden)):
        for p in patterns:
            if not any(fnmatch.fnmatchcase(i, p) for i in ids):
                out.append(
                    f"provider '{name}': models.{kind} pattern '{p}' matches none of its "
                    f"{len(ids)} models (a typo, or a model the upstream no longer lists?)"
                )
    return out
