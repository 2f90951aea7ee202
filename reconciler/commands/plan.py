"""``reconcile plan``: show what apply would change. Contacts the target, never an upstream,
and writes nothing to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from reconciler.commands.common import (
    EXIT_CHANGES,
    EXIT_OK,
    Console,
    load,
    observe,
    write_file,
)
from reconciler.core.catalog_diff import alias_models
from reconciler.core.diff import make_plan
from reconciler.core.plan import Options, Plan
from reconciler.errors import ReconcilerError
from reconciler.output import planfile, render
from reconciler.targets.base import TargetOptions

PlanFormat = Literal["text", "json", "markdown"]


def plan(
    files: Sequence[str],
    *,
    target_url: str | None,
    target_options: TargetOptions,
    options: Options,
    format: PlanFormat,
    out_file: str | None,
    detailed_exitcode: bool,
    console: Console,
) -> int:
    """Print the plan (and save it to ``out_file``); EXIT_CHANGES if it has changes and
    ``detailed_exitcode`` asks for that, else EXIT_OK."""
    try:
        the_plan = _plan(
            files,
            target_url,
            target_options,
            options,
            format=format,
            out_file=out_file,
            console=console,
        )
    except ReconcilerError as exc:
        if format == "markdown":
            # The pull-request comment should say why there is no plan, not be empty.
            console.out(render.error_markdown(str(exc)) + "\n")
        raise
    if detailed_exitcode and not the_plan.is_empty:
        return EXIT_CHANGES
    return EXIT_OK


def _plan(
    files: Sequence[str],
    target_url: str | None,
    target_options: TargetOptions,
    options: Options,
    *,
    format: PlanFormat,
    out_file: str | None,
    console: Console,
) -> Plan:
    desired = load(files)
    # lazy: a plan leaves no store behind where there was none.
    observed, description = observe(
        target_url, replace(target_options, lazy=True), alias_models(desired)
    )
    the_plan = make_plan(desired, observed, options)
    if format == "json":
        console.out(render.plan_json(the_plan, target=description))
    elif format == "markdown":
        console.out(render.plan_markdown(the_plan, target=description) + "\n")
    else:
        console.out(render.plan_text(the_plan, target=description, colour=console.out_colour))
    if out_file:
        data = planfile.build(
            the_plan, desired=desired, observed=observed, options=options, target=description
        )
        write_file(out_file, planfile.dumps(data))
        console.err(
            f"Saved the plan to {out_file}; apply exactly this plan with: "
            f"reconcile apply {out_file}"
        )
    return the_plan
