"""The model catalog's part of the diff: model settings, aliases and tiers. Pure.

Only declared settings are compared; a setting the target does not report (``agents`` on
ClaraVerse) is sent with a ``model_push`` instead, listed and never counted as a change.
Aliases are compared whole, as the target cannot update one: a changed alias is deleted
and created again. A tier is set when the target does not show it on the declared model
(an empty slot and a dangling one look the same), or when the model's display name is
about to change on a target that stores tiers by display name.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from reconciler.core.catalog import (
    MODEL_SETTING_NAMES,
    Alias,
    ModelSettingName,
    ModelSettings,
    deletable_by_name,
    settings_for,
)
from reconciler.core.model import (
    Desired,
    ModelRules,
    ModelState,
    Observed,
    ProviderSpec,
    ProviderState,
)
from reconciler.core.plan import Action, ActionKind, FieldChange, ModelChange
from reconciler.core.target import AliasScope
from reconciler.core.visibility import shared_ids

__all__ = [
    "alias_changes",
    "alias_scope",
    "catalog_actions",
    "catalog_notes",
    "missing_alias_models",
    "model_setting_changes",
    "unmatched_setting_rules",
    "writes_by_model",
]


def model_setting_changes(
    rules: ModelRules, models: Iterable[ModelState], reported: frozenset[ModelSettingName]
) -> tuple[tuple[ModelChange, ...], tuple[ModelChange, ...]]:
    """(changes, pushes): for each model, the declared settings that differ from the
    reported ones, and the declared settings the target does not report."""
    changes: list[ModelChange] = []
    pushes: list[ModelChange] = []
    for model in sorted(models, key=lambda m: m.id):
        declared = settings_for(rules.settings, model.id)
        if declared == ModelSettings():
            continue
        differing: list[FieldChange] = []
        blind: list[FieldChange] = []
        for name, want in declared.declared().items():
            have = model.settings.value(name)
            if name not in reported:
                blind.append(FieldChange(field=name, before=None, after=_shown(want)))
            elif have != want:
                differing.append(FieldChange(field=name, before=_shown(have), after=_shown(want)))
        if differing:
            names = [c.field for c in differing]
            changes.append(_change(model.id, declared, names, differing))
        if blind:
            pushes.append(_change(model.id, declared, [c.field for c in blind], blind))
    return tuple(changes), tuple(pushes)


def writes_by_model(changes: Iterable[ModelChange]) -> tuple[tuple[str, ModelSettings], ...]:
    """(model id, settings to write), one per model: a model's compared changes and the
    values sent blind go out in one write."""
    merged: dict[str, ModelSettings] = {}
    for change in changes:
        merged[change.model] = change.settings.over(merged.get(change.model, ModelSettings()))
    return tuple(merged.items())


def _change(
    model_id: str, declared: ModelSettings, names: list[str], changes: list[FieldChange]
) -> ModelChange:
    wanted = [n for n in MODEL_SETTING_NAMES if n in names]
    return ModelChange(model=model_id, settings=declared.only(wanted), changes=tuple(changes))


def _shown(value: str | int | bool | None) -> str | bool | None:
    # FieldChange holds text and flags; a context length is shown as its number.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def unmatched_setting_rules(
    name: str, rules: ModelRules, models: Iterable[ModelState]
) -> list[str]:
    """A warning for each ``models.settings`` key that matches none of the provider's models."""
    ids = [m.id for m in models]
    folded = {i.casefold() for i in ids}
    out = []
    for rule in rules.settings:
        if rule.is_glob:
            matched = any(fnmatch.fnmatchcase(i, rule.pattern) for i in ids)
        else:
            matched = rule.pattern.casefold() in folded
        if not matched:
            where = f"{rule.where}: " if rule.where else ""
            out.append(
                f"{where}provider '{name}': models.settings key '{rule.pattern}' matches "
                f"none of its {len(ids)} models"
            )
    return out


def alias_changes(
    declared: tuple[Alias, ...], state: ProviderState, read_for: frozenset[str] | None
) -> tuple[tuple[Alias, ...], tuple[Alias, ...], tuple[str, ...]]:
    """(to delete, to create, why) for the provider's aliases. An alias the target has but
    the file does not declare is deleted only where the target read the aliases of its
    model (``read_for``; None: all)."""
    have = {a.key: a for a in state.aliases}
    want = {a.key: a for a in declared}
    delete: list[Alias] = []
    create: list[Alias] = []
    why: list[str] = []
    for key, alias in want.items():
        old = have.get(key)
        if old is None:
            create.append(alias)
            why.append(f"{alias.name}: new")
        elif diff := old.differences(alias):
            delete.append(old)
            create.append(alias)
            why.append(f"{alias.name}: {', '.join(diff)} changed")
    for key, old in have.items():
        if key not in want and (read_for is None or old.model.casefold() in read_for):
            if not deletable_by_name(old.name):
                continue  # said by undeletable_aliases; a delete would fail every apply
            delete.append(old)
            why.append(f"{old.name}: not in the file")
    return tuple(delete), tuple(create), tuple(why)


def undeletable_aliases(
    provider: str, declared: tuple[Alias, ...], state: ProviderState
) -> list[str]:
    """A warning for each alias the file leaves out but no apply can delete."""
    want = {a.key for a in declared}
    return [
        f"provider '{provider}': alias '{a.name}' is not in the file, but its name cannot be "
        "used to delete it (ClaraVerse cannot delete such an alias by name); it goes only "
        "with its model or its provider"
        for a in state.aliases
        if a.key not in want and not deletable_by_name(a.name)
    ]


def missing_alias_models(
    name: str, declared: tuple[Alias, ...], models: Iterable[ModelState]
) -> list[str]:
    """An error for each alias whose model is not one of the provider's models."""
    ids = {m.id.casefold() for m in models}
    return [
        f"{f'{a.where}: ' if a.where else ''}provider '{name}': alias '{a.name}' names model "
        f"'{a.model}', which is not one of its {len(ids)} models; aliases must name a model "
        "of their own provider"
        for a in declared
        if a.model.casefold() not in ids
    ]


def alias_scope(desired: Desired) -> AliasScope:
    """Whose aliases a target that lists them per model must read: the models the file's
    aliases name, and the visible models of every provider whose entry declares
    ``aliases`` (``{}`` too), so that an alias the file dropped is found and deleted."""
    declared = [
        (spec, spec.models.aliases)
        for spec in desired.providers
        if spec.ensure == "present" and spec.models is not None and spec.models.aliases is not None
    ]
    return AliasScope(
        models=frozenset(a.model.casefold() for _, aliases in declared for a in aliases),
        providers=frozenset(n for spec, _ in declared for n in (spec.name, *spec.renamed_from)),
    )


def catalog_actions(
    spec: ProviderSpec,
    state: ProviderState | None,
    observed: Observed,
    *,
    after_fetch: bool,
    retry: bool = False,
) -> tuple[list[Action], list[str], list[str]]:
    """(actions, warnings, errors) for the provider's catalog. ``state`` None: the provider
    is created by this plan. ``after_fetch``: a fetch runs first, so the settings are worked
    out on the models it leaves (it may reset display names and add models)."""
    rules = spec.models
    if rules is None or (not rules.settings and rules.aliases is None):
        return [], [], []
    caps = observed.capabilities
    pid = state.id if state is not None else None

    def action(kind: ActionKind, **values: Any) -> Action:
        return Action(kind=kind, provider=spec.name, provider_id=pid, spec=spec, **values)

    out: list[Action] = []
    warnings: list[str] = []
    errors: list[str] = []
    models = state.models if state is not None else ()
    if rules.settings and (after_fetch or state is None):
        out.append(action("model_settings", after_fetch=True, retry=retry))
    elif rules.settings:
        changes, pushes = model_setting_changes(rules, models, caps.model_settings)
        if changes:
            out.append(action("model_settings", model_changes=changes))
        if caps.visibility_by_id and state is not None and changes:
            # Only what changes: the values sent with every apply (agents) would repeat
            # the warning on plans that change nothing.
            ids = tuple(c.model for c in changes)
            warnings.extend(shared_ids(spec.name, ids, state, observed, "keeps model settings"))
        if pushes:
            out.append(action("model_push", model_changes=pushes))
        warnings.extend(unmatched_setting_rules(spec.name, rules, models))
    if rules.aliases is not None:
        if state is not None and not after_fetch:
            errors.extend(missing_alias_models(spec.name, rules.aliases, models))
        empty = ProviderState(id="", name=spec.name)
        delete, create, why = alias_changes(
            rules.aliases, state or empty, observed.aliases_read_for
        )
        warnings.extend(undeletable_aliases(spec.name, rules.aliases, state or empty))
        if delete or create:
            described = tuple(FieldChange(field="alias", before=None, after=w) for w in why)
            out.append(
                action("aliases", alias_delete=delete, alias_create=create, changes=described)
            )
    return out, warnings, errors


def catalog_notes(desired: Desired, observed: Observed) -> list[str]:
    """What of the file's catalog this target cannot compare, said once per plan: model
    settings it does not report, and aliases it lists per model."""
    present = [s for s in desired.providers if s.ensure == "present" and s.models is not None]
    declared = {
        name
        for spec in present
        if spec.models is not None
        for rule in spec.models.settings
        for name in rule.settings.declared()
    }
    blind = [n for n in MODEL_SETTING_NAMES if n in declared]
    blind = [n for n in blind if n not in observed.capabilities.model_settings]
    out = []
    if blind:
        out.append(
            f"this target does not report model {', '.join(blind)}: they cannot be compared, "
            "so apply sends the declared values with every apply (listed as 'send'; not "
            "counted as a change)"
        )
    read_for = observed.aliases_read_for
    if read_for is not None and any(s.models and s.models.aliases is not None for s in present):
        count, ids = len(read_for), sorted(read_for)
        shown = ", ".join(ids[:5]) + (", ..." if count > 5 else "")
        out.append(
            f"this target lists aliases per model: the aliases of {count} "
            f"model{'s' if count != 1 else ''} were read{f' ({shown})' if ids else ''}: those "
            "the file's aliases name and the visible models of the providers that declare "
            "aliases; an alias on another model (a hidden one the file does not name) is "
            "left alone"
        )
    return out
