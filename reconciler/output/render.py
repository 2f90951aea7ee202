"""Plans as text, JSON and Markdown, and validate's JSON. Returns strings; never prints.
(What an apply did is rendered by ``apply_report``.)

What is shown of a key is only its ``${VAR}`` reference or a word ("changed", "set"):
the renderers never see a secret value, and ``scrub`` is applied to the final text as a
second line of defence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from reconciler.core.model import DEFAULT_SETTINGS, SETTING_NAMES, ProviderSpec, redact_url
from reconciler.core.plan import Action, FieldChange, Plan, count_models
from reconciler.output.escape import visible
from reconciler.output.render_catalog import (
    CATALOG_KINDS,
    catalog_json,
    catalog_lines,
    delete_text,
    model_pushes_line,
    short_quoted,
)
from reconciler.secrets import scrub

FORMAT_VERSION = 1
NO_CHANGES = "No changes. The target matches the configuration."

_COLOURS = {"+": "32", "~": "33", "-": "31", "!": "33"}


def _paint(text: str, marker: str, colour: bool) -> str:
    text = visible(scrub(text))  # before the colour: its escape codes are ours alone
    if not colour or marker not in _COLOURS:
        return text
    return f"\033[{_COLOURS[marker]}m{text}\033[0m"


def shown_lines(lines: list[str]) -> str:
    """Lines of text output, each value in them made visible (no control character of a
    name can start a line of its own or repaint the terminal), keys scrubbed."""
    return scrub("\n".join(visible(scrub(line)) for line in lines)) + "\n"


def key_desc(action: Action) -> str:
    """What a created provider's key is shown as: its reference, never a value."""
    spec = action.spec
    if spec is None or spec.api_key is None:
        return "(none)"
    return spec.api_key_ref or "(literal value from the file)"


def _shown(field: str, value: str | bool | None) -> str | bool | None:
    """A field's value fit to print: a URL observed on a target may hold credentials or
    a ``?key=`` query (the file's own URLs cannot: validation refuses them)."""
    return redact_url(value) if field == "base_url" and isinstance(value, str) else value


def _change_text(change: FieldChange) -> str:
    if change.field == "api_key":
        return f"api_key: {change.after}"
    if change.field in ("system_prompt", "default_model", "favicon"):
        return f"{change.field}: {short_quoted(change.before)} → {short_quoted(change.after)}"
    return f"{change.field}: {_shown(change.field, change.before)} → {change.after}"


def declared_settings(spec: ProviderSpec) -> list[tuple[str, str | bool]]:
    """The settings a spec sets to something other than the default."""
    return [
        (name, spec.settings.value(name))
        for name in SETTING_NAMES
        if spec.settings.value(name) != DEFAULT_SETTINGS.value(name)
    ]


def summary_line(plan: Plan) -> str:
    """``Plan: ...`` with the counts, or that nothing changes (and what is retried)."""
    if not plan.is_empty:
        return plan.summary().line()
    if plan.retries:
        count = len(plan.retries)
        return (
            "No changes. The providers match the configuration; apply retries "
            f"{count} model fetch{'es' if count != 1 else ''} that failed."
        )
    return NO_CHANGES


def retries_line(plan: Plan, *, reasons: bool = True) -> str | None:
    """One line for the fetches apply retries (None if none); without the last attempt's
    ``reasons`` where the apply that follows reports its own attempt's reason."""
    if not plan.retries:
        return None
    if reasons:
        listed = "; ".join(f"{a.provider} ({a.reason})" for a in plan.retries)
    else:
        listed = ", ".join(a.provider for a in plan.retries)
    return f"Apply also retries model fetches that failed: {listed}."


def pushes_line(plan: Plan) -> str | None:
    """One line for the values sent to providers that no write above sends them to (None
    if none). Such a provider may still have changes above (models, aliases, tiers): none
    of those writes the provider's own fields."""
    pushes = [a for a in plan.pushes if a.kind == "push"]
    if not pushes:
        return None
    fields = list(dict.fromkeys(c.field for a in pushes for c in a.changes))
    names = ", ".join(a.provider for a in pushes)
    count = len(pushes)
    return (
        f"Apply also sends {', '.join(fields)} as declared to {count} "
        f"provider{'s' if count != 1 else ''} whose own fields no action above writes ({names}): "
        "this target cannot report them." + _keyless_note(pushes)
    )


def _keyless_note(pushes: list[Action]) -> str:
    """What sending no key means, for the providers declared without an admin key."""
    keyless = [
        a.provider
        for a in pushes
        if any(c.field == "api_key" and c.after != "sent" for c in a.changes)
    ]
    if not keyless:
        return ""
    return (
        f" No admin key is declared for {', '.join(keyless)}: a key the target holds for "
        f"{'it' if len(keyless) == 1 else 'them'} is removed."
    )


def push_lines(plan: Plan) -> list[str]:
    """The lines for what apply sends though the target cannot report it: to providers
    with no other write of their own fields, and the model settings (none, one or two)."""
    lines = (pushes_line(plan), model_pushes_line(plan.pushes))
    return [line for line in lines if line]


def action_lines(action: Action) -> tuple[str, list[str]]:
    """(marker, lines) describing one action."""
    a = action
    if a.kind in CATALOG_KINDS:
        return catalog_lines(a)
    if a.kind == "create":
        assert a.spec is not None
        s = a.spec
        state = "enabled" if s.enabled else "disabled"
        return "+", [
            f"create {a.provider} ({s.type}, {s.base_url}, {state})",
            f"api_key: {key_desc(a)}",
            *(
                _change_text(FieldChange(field=n, before=None, after=v))
                for n, v in declared_settings(s)
            ),
        ]
    if a.kind == "rename":
        return "~", [f"rename {a.old_name} → {a.provider} (keeps its id and models)"]
    if a.kind == "update":
        return "~", [f"update {a.provider}", *(_change_text(c) for c in a.changes)]
    if a.kind == "push":
        return " ", [f"send {a.provider} its declared {', '.join(c.field for c in a.changes)}"]
    if a.kind == "enable":
        return "~", [f"enable {a.provider}"]
    if a.kind == "disable":
        return "~", [f"disable {a.provider} (users stop seeing it and its models)"]
    if a.kind == "fetch":
        return "~", [f"fetch models of {a.provider} ({a.reason})"]
    if a.kind == "models":
        if a.after_fetch:
            return "~", [f"models of {a.provider}: visibility settled after the fetch"]
        parts = []
        if a.show:
            parts.append(f"show {count_models(len(a.show))} ({', '.join(a.show)})")
        if a.hide:
            parts.append(f"hide {count_models(len(a.hide))} ({', '.join(a.hide)})")
        return "~", [f"models of {a.provider}: {'; '.join(parts)}"]
    return "-", [f"delete {delete_text(a)} ({a.reason})"]


def target_line(target: str, environment: str | None) -> str:
    """``Target: URL``, and the environment the files were read for, if any."""
    return f"Target: {target}" + (f" (environment {environment})" if environment else "")


def kept_lines(plan: Plan) -> list[str]:
    """The providers --prune leaves alone, with why (nothing when there are none)."""
    if not plan.kept:
        return []
    return [
        "Unmanaged (ignored by prune; --prune never deletes them):",
        *(f"  {k.name}: {k.reason}" for k in plan.kept),
    ]


def plan_text(
    plan: Plan,
    *,
    target: str,
    colour: bool = False,
    retry_reasons: bool = True,
    environment: str | None = None,
) -> str:
    """The plan for people: sorted, with + ~ - markers and the summary line. apply shows
    it without ``retry_reasons``: its report gives this attempt's reason for each fetch."""
    out: list[str] = []

    def add(*lines: str) -> None:
        out.extend(visible(scrub(line)) for line in lines)

    add(target_line(target, environment), "")
    for note in plan.notes:
        add(f"Note: {note}")
    if plan.notes:
        add("")
    for action in plan.changes:
        marker, lines = action_lines(action)
        out.append(_paint(f"  {marker} {lines[0]}", marker, colour))
        add(*(f"      {line}" for line in lines[1:]))
    if plan.changes:
        add("")
    for line in (retries_line(plan, reasons=retry_reasons), *push_lines(plan)):
        if line:
            add(line, "")
    if plan.unmanaged:
        add(
            "Unmanaged (on the target, in no file; left alone, --prune deletes them): "
            f"{', '.join(plan.unmanaged)}",
            "",
        )
    if plan.kept:
        add(*kept_lines(plan), "")
    for warning in plan.warnings:
        out.append(_paint(f"Warning: {warning}", "!", colour))
    if plan.warnings:
        add("")
    add(summary_line(plan))
    return scrub("\n".join(out)) + "\n"


def action_json(action: Action) -> dict[str, Any]:
    """One action as JSON-ready data (no secret values)."""
    a = action
    out: dict[str, Any] = {"kind": a.kind, "provider": a.provider}
    if a.provider_id is not None:
        out["provider_id"] = a.provider_id
    if a.kind == "create" and a.spec is not None:
        out["after"] = {
            "type": a.spec.type,
            "base_url": a.spec.base_url,
            "enabled": a.spec.enabled,
            "api_key": None if a.spec.api_key is None else key_desc(a),
            **{name: a.spec.settings.value(name) for name in SETTING_NAMES},
        }
    if a.changes:
        out["changes"] = [
            {"field": c.field, "before": _shown(c.field, c.before), "after": c.after}
            for c in a.changes
        ]
    if a.old_name is not None:
        out["old_name"] = a.old_name
    if a.reason is not None:
        out["reason"] = a.reason
    if a.kind == "delete":
        out["model_count"] = a.model_count
    out.update(catalog_json(a))
    if a.kind == "models":
        out.update(show=list(a.show), hide=list(a.hide), after_fetch=a.after_fetch)
        if a.after_fetch and a.spec is not None and a.spec.models is not None:
            # Settled at apply time from these rules: a saved plan pins them.
            rules = a.spec.models
            out["rules"] = {
                "visible": list(rules.visible),
                "hidden": list(rules.hidden),
                "only_listed": rules.only_listed,
            }
    if a.retry:
        out["retry"] = True
    if a.spec is not None and a.spec.overrides:
        # Where the environment's values came from: field names and places, never values.
        out["overrides"] = [{"field": o.field, "from": o.source} for o in a.spec.overrides]
    return out


def plan_data(plan: Plan, *, target: str, environment: str | None = None) -> dict[str, Any]:
    """The plan as JSON-ready data, as schemas/plan.schema.json documents it."""
    s = plan.summary()
    return {
        "format_version": FORMAT_VERSION,
        "target": target,
        "environment": environment,
        "summary": {
            "add": s.add,
            "change": s.change,
            "disable": s.disable,
            "delete": s.delete,
            "fetch": s.fetch,
            "text": summary_line(plan),
        },
        "actions": [action_json(a) for a in plan.actions],
        "unmanaged": list(plan.unmanaged),
        "kept": [{"name": k.name, "reason": k.reason} for k in plan.kept],
        "warnings": list(plan.warnings),
        "notes": list(plan.notes),
    }


def plan_json(plan: Plan, *, target: str, environment: str | None = None) -> str:
    """The plan as JSON text."""
    data = plan_data(plan, target=target, environment=environment)
    return scrub(json.dumps(data, indent=2)) + "\n"


def plan_markdown(plan: Plan, *, target: str, environment: str | None = None) -> str:
    """The plan for a pull-request comment (see ``reconciler.output.markdown``)."""
    from reconciler.output import markdown

    return markdown.plan_markdown(plan, target=target, environment=environment)


def error_markdown(message: str) -> str:
    """A pull-request comment for a plan that could not be made."""
    from reconciler.output import markdown

    return markdown.error_markdown(message)


def problems_json(problems: Sequence[Any], warnings: Sequence[str]) -> str:
    """validate's JSON output as text."""
    return scrub(json.dumps(problems_data(problems, warnings), indent=2)) + "\n"


def problems_data(problems: Sequence[Any], warnings: Sequence[str]) -> dict[str, Any]:
    """validate's JSON output."""
    return {
        "format_version": FORMAT_VERSION,
        "valid": not problems,
        "errors": [
            {
                "file": p.file,
                "line": p.line,
                "column": p.column,
                "path": p.path,
                "message": p.message,
            }
            for p in problems
        ],
        "warnings": list(warnings),
    }
