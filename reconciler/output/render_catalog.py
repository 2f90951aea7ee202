"""The model catalog's actions (model settings, aliases, tiers) as text lines, diff lines
and JSON. ``render`` and ``markdown`` call these; they return plain text, which the
callers make visible, escape and scrub for where it lands.

Values are shown as the file writes them: text quoted and cut short (a system prompt may
be paragraphs), flags as true/false, numbers as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from reconciler.core.catalog import Alias, ModelSettingRule, StructuredOutput
from reconciler.core.plan import Action, FieldChange, ModelChange, count_models
from reconciler.secrets import scrub

__all__ = [
    "CATALOG_KINDS",
    "alias_data",
    "alias_lines",
    "catalog_diff_lines",
    "catalog_json",
    "catalog_lines",
    "delete_text",
    "model_pushes_line",
    "setting_value",
    "short_quoted",
]

CATALOG_KINDS = frozenset({"model_settings", "model_push", "aliases", "tier"})

_TEXT_SETTINGS = ("display_name", "description", "system_prompt")
# How many model ids a line names before it says how many more there are.
_NAMED_MODELS = 10


def short_quoted(value: str | bool | None) -> str:
    """Free text, short and on one line, quoted as JSON (so that spaces show): a system
    prompt may be paragraphs."""
    text = scrub(str(value or ""))  # before it is cut: a cut key would escape the scrub
    text = text if len(text) <= 60 else text[:57] + "..."
    return json.dumps(text, ensure_ascii=False)


def setting_value(field: str, value: str | bool | None) -> str:
    """A model setting's value as the file writes it, on one line."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if field in _TEXT_SETTINGS:
        return short_quoted(value)
    return value


def _model_list(models: list[str]) -> str:
    shown = ", ".join(models[:_NAMED_MODELS])
    more = len(models) - _NAMED_MODELS
    return f"{shown} and {more} more" if more > 0 else shown


def _fields_of(changes: Iterable[ModelChange]) -> list[str]:
    return list(dict.fromkeys(c.field for m in changes for c in m.changes))


def delete_text(action: Action) -> str:
    """``OpenAI and its 37 models, 2 aliases; tiers tier1, tier4 go with it``."""
    text = f"{action.provider} and its {count_models(action.model_count)}"
    if action.alias_count:
        text += f", {action.alias_count} alias{'es' if action.alias_count != 1 else ''}"
    if len(action.tiers) == 1:
        text += f"; tier {action.tiers[0]} goes with it"
    elif action.tiers:
        text += f"; tiers {', '.join(action.tiers)} go with it"
    return text


def _alias_target(alias: Alias) -> str:
    return f"{alias.name} → {alias.model}"


def _reason(alias: Alias, reasons: list[str]) -> str:
    """The diff's reason for ``alias`` (``fast: new`` → ``new``), taken from ``reasons``."""
    for i, reason in enumerate(reasons):
        if reason.startswith(f"{alias.name}: "):
            return reasons.pop(i).removeprefix(f"{alias.name}: ")
    return "changed"


def alias_lines(action: Action) -> list[tuple[str, str]]:
    """(what, text) for each alias of an ``aliases`` action: ``create``, ``delete``, or
    ``replace`` (a changed alias: the target has no update, so it is deleted and created)."""
    created = {a.key for a in action.alias_create}
    deleted = {a.key for a in action.alias_delete}
    reasons = [str(c.after) for c in action.changes]
    out: list[tuple[str, str]] = []
    for alias in action.alias_create:
        why = _reason(alias, reasons)
        if alias.key in deleted:
            out.append(("replace", f"{_alias_target(alias)} (delete + create; {why})"))
        else:
            out.append(("create", f"{_alias_target(alias)} ({why})"))
    for alias in action.alias_delete:
        if alias.key not in created:
            out.append(("delete", f"{_alias_target(alias)} ({_reason(alias, reasons)})"))
    return out


def _alias_counts(action: Action) -> str:
    lines = alias_lines(action)
    parts = [
        f"{n} to {what}"
        for what in ("create", "replace", "delete")
        if (n := sum(1 for w, _ in lines if w == what))
    ]
    return ", ".join(parts)


def _change_text(model: str, change: FieldChange) -> str:
    before = setting_value(change.field, change.before)
    return f"{model}: {change.field} {before} → {setting_value(change.field, change.after)}"


def catalog_lines(action: Action) -> tuple[str, list[str]]:
    """(marker, lines) describing one catalog action, as ``render.action_lines`` does."""
    a = action
    if a.kind == "model_settings":
        if a.after_fetch:
            return "~", [f"model settings of {a.provider}: worked out after the fetch"]
        return "~", [
            f"model settings of {a.provider}: {count_models(len(a.model_changes))}",
            *(_change_text(m.model, c) for m in a.model_changes for c in m.changes),
        ]
    if a.kind == "model_push":
        fields_ = ", ".join(_fields_of(a.model_changes))
        models = [m.model for m in a.model_changes]
        return " ", [
            f"model settings of {a.provider}: {fields_} of {count_models(len(models))} sent "
            "(this target cannot report them)",
            _model_list(models),
        ]
    if a.kind == "aliases":
        return "~", [
            f"aliases of {a.provider}: {_alias_counts(a)}",
            *(f"{what} {text}" for what, text in alias_lines(a)),
        ]
    change = a.changes[0] if a.changes else None
    before = change.before if change is not None and change.before is not None else "(empty)"
    after = change.after if change is not None else a.model_id
    # A tier re-set to the model it has (its display name changes) needs its reason, or
    # it reads as a no-op.
    why = f" ({a.reason})" if a.reason else ""
    return "~", [f"{a.tier}: {before} → {after}{why}"]


def catalog_diff_lines(action: Action) -> list[tuple[str, str]]:
    """(marker, text) diff lines of one catalog action: ``+`` adds, ``-`` removes, ``!``
    changes; details indented under the action's line."""
    a = action
    head = catalog_lines(a)[1][0]
    if a.kind == "model_settings" and not a.after_fetch:
        out = [("!", head)]
        for m in a.model_changes:
            for c in m.changes:
                out.append(("-", f"    {m.model}: {c.field}: {setting_value(c.field, c.before)}"))
                out.append(("+", f"    {m.model}: {c.field}: {setting_value(c.field, c.after)}"))
        return out
    if a.kind == "aliases":
        out = [("!", head)]
        for what, text in alias_lines(a):
            marker = {"create": "+", "delete": "-"}.get(what, "!")
            out.append((marker, f"    {what} {text}"))
        return out
    if a.kind == "tier" and a.changes:
        c = a.changes[0]
        return [
            ("!", f"tier {a.tier}" + (f" ({a.reason})" if a.reason else "")),
            ("-", f"    {a.tier}: {c.before if c.before is not None else '(empty)'}"),
            ("+", f"    {a.tier}: {c.after}"),
        ]
    return [("!", head)]


def model_pushes_line(actions: Iterable[Action]) -> str | None:
    """One line for the model settings sent because the target cannot report them."""
    pushes = [a for a in actions if a.kind == "model_push"]
    if not pushes:
        return None
    parts = [
        f"{', '.join(_fields_of(a.model_changes))} of {count_models(len(a.model_changes))} "
        f"of {a.provider} ({_model_list([m.model for m in a.model_changes])})"
        for a in pushes
    ]
    return (
        f"Apply also sends, as declared, model settings this target cannot report: "
        f"{'; '.join(parts)}."
    )


def alias_data(alias: Alias) -> dict[str, Any]:
    """An alias as JSON-ready data: its name, model and every field it sets."""
    out: dict[str, Any] = {"name": alias.name, "model": alias.model}
    for f in fields(alias):
        value = getattr(alias, f.name)
        if f.name in ("name", "model", "where") or value is None:
            continue
        if isinstance(value, StructuredOutput):
            shown = {g.name: getattr(value, g.name) for g in fields(StructuredOutput)}
            value = {k: v for k, v in shown.items() if v is not None}
            if not value:
                continue
        out[f.name] = value
    return out


def _model_change_data(change: ModelChange) -> dict[str, Any]:
    return {
        "model": change.model,
        "changes": [
            {"field": c.field, "before": c.before, "after": c.after} for c in change.changes
        ],
    }


def _rule_data(rule: ModelSettingRule) -> dict[str, Any]:
    return {"pattern": rule.pattern, "settings": dict(rule.settings.declared())}


def catalog_json(action: Action) -> dict[str, Any]:
    """The catalog fields of one action as JSON-ready data (merged into its JSON)."""
    a = action
    out: dict[str, Any] = {}
    if a.kind in ("model_settings", "model_push"):
        out["model_changes"] = [_model_change_data(m) for m in a.model_changes]
        out["after_fetch"] = a.after_fetch
        if a.after_fetch and a.spec is not None and a.spec.models is not None:
            # Worked out at apply time from these rules: a saved plan pins them.
            out["setting_rules"] = [_rule_data(r) for r in a.spec.models.settings]
    if a.kind == "aliases":
        out["aliases"] = {
            "delete": [alias.name for alias in a.alias_delete],
            "create": [alias_data(alias) for alias in a.alias_create],
        }
    if a.kind == "tier":
        out.update(tier=a.tier, model_id=a.model_id)
    if a.kind == "delete":
        out.update(alias_count=a.alias_count, tiers=list(a.tiers))
    return out
