"""What an apply did, as text and as JSON (``schemas/apply.schema.json``). Returns strings;
never prints.

Each failure's reason is said once: in its ``Error:`` or ``Warning:`` line. The lists
after the counts (what was not attempted, what remains) name the actions only, and add a
reason only for what this run did not attempt (the plan's reason then).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from reconciler.core.plan import Action, Report, only_fetches_remain
from reconciler.output.render import FORMAT_VERSION, action_json, action_lines, shown_lines
from reconciler.secrets import scrub

# How each kind of action is named, as the plan names it (the JSON keeps the kinds).
_NAMES = {
    "push": "send {}",
    "fetch": "fetch models of {}",
    "models": "models of {}",
    "model_settings": "model settings of {}",
    "model_push": "send model settings of {}",
    "aliases": "aliases of {}",
}


def action_name(action: Action) -> str:
    """An action as the plan names it, in a few words: ``send OpenAI``, ``aliases of
    OpenAI``; a tier names its slot and model (``tier1 → OpenAI/gpt-4o``), as a provider
    may fill several."""
    if action.kind == "tier":
        change = action.changes[0] if action.changes else None
        after = change.after if change is not None else f"{action.provider}/{action.model_id}"
        return f"{action.tier} → {after}"
    if action.kind == "rename":
        return f"rename {action.old_name} → {action.provider}"
    return _NAMES.get(action.kind, action.kind + " {}").format(action.provider)


def report_text(report: Report) -> str:
    """What an apply did: failures and warnings in full, then the counts."""
    out: list[str] = []
    for o in report.outcomes:
        if o.status == "failed":
            out.append(f"Error: {action_name(o.action)} failed: {o.message}")
        elif o.status == "warning" or (o.status == "done" and o.message):
            out.append(f"Warning: {action_name(o.action)}: {o.message}")
    out.extend(f"Warning: {w}" for w in report.warnings)
    abandoned = report.by_status("abandoned")
    if abandoned:
        out.append("Abandoned while running (their outcome is unknown; plan shows it):")
        out.extend(f"  {action_name(o.action)}" for o in abandoned)
    skipped = report.by_status("skipped")
    if skipped:
        after = "the interruption" if report.interrupted else "the failure"
        out.append(f"Not attempted after {after}:")
        out.extend(f"  {action_name(o.action)}" for o in skipped)
    done = len(report.by_status("done"))
    failed = len(report.by_status("failed"))
    warned = len(report.by_status("warning"))
    gone = f"{len(abandoned)} abandoned, " if abandoned else ""
    out.append(
        f"Apply: {done} done, {failed} failed, {warned} with warnings, {gone}"
        f"{len(skipped)} not attempted."
    )
    if report.interrupted:
        out.append(
            "Interrupted: the target was not observed again; 'reconcile plan' shows what "
            "remains, and the next apply does it."
        )
    if report.recheck_error is not None:
        # A refusal spans several lines (one per problem): each is a line of its own.
        first, *rest = report.recheck_error.splitlines() or [""]
        out.append("Could not check that the target now matches the configuration: " + first)
        out.extend(rest)
    out.extend(_convergence_lines(report))
    return shown_lines(out)


def _convergence_lines(report: Report) -> list[str]:
    remaining = report.remaining
    if remaining is None:
        return []
    fetches = [a for a in (*remaining.retries, *remaining.changes) if a.kind == "fetch"]
    if report.converged is True:
        if not remaining.retries:
            return ["The target now matches the configuration."]
        return _fetches_retried("The providers now match the configuration", fetches, report)
    if only_fetches_remain(report):
        return _fetches_retried("The providers match the configuration", fetches, report)
    # After a failure the errors above say what to do; "run apply again" would be wrong
    # advice for an action this target can never perform.
    lines = [f"  {action_lines(a)[1][0]}" for a in remaining.changes]
    advice = "the errors above say why" if report.failed else "run apply again"
    count = len(lines)
    return [
        f"The target does not match the configuration yet ({count} "
        f"action{'s remain' if count != 1 else ' remains'}); {advice}:",
        *lines,
    ]


def _fetches_retried(matched: str, fetches: Sequence[Action], report: Report) -> list[str]:
    """The fetches the next apply retries: by name where a warning above gave this run's
    reason; with the plan's reason for those this run did not attempt. (A target that
    keeps no fetch error would have only "no models yet" to say instead.)"""
    warned = {o.action.provider for o in report.by_status("warning") if o.action.kind == "fetch"}
    named = [a.provider for a in fetches if a.provider in warned]
    others = [a for a in fetches if a.provider not in warned]
    count = len(fetches)
    head = (
        f"{matched}; {count} model fetch{'es' if count != 1 else ''} failed and will be "
        "retried by the next apply"
    )
    why = f"{', '.join(named)} (the warnings above say why)"
    if not others:
        return [f"{head}: {why}."]
    return [
        f"{head}:",
        *([f"  {why}"] if named else []),
        *(f"  {action_lines(a)[1][0]}" for a in others),
    ]


def report_data(report: Report, *, target: str, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The apply report as JSON-ready data, as schemas/apply.schema.json documents it:
    the target and the plan's warnings (which text output shows with the plan), then
    what happened to each action and whether the target now matches."""
    return {
        "format_version": FORMAT_VERSION,
        "target": target,
        "warnings": [*warnings, *report.warnings],
        "outcomes": [
            {**action_json(o.action), "status": o.status, "message": o.message}
            for o in report.outcomes
        ],
        "converged": report.converged,
        "recheck_error": report.recheck_error,
        "interrupted": report.interrupted,
        "remaining": [action_json(a) for a in report.remaining.changes] if report.remaining else [],
    }


def report_json(report: Report, *, target: str, warnings: Sequence[str] = ()) -> str:
    """The apply report as JSON text."""
    data = report_data(report, target=target, warnings=warnings)
    return scrub(json.dumps(data, indent=2)) + "\n"
