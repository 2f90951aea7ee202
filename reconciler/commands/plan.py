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
from reconciler.core.catalog_diff import alias_scope
from reconciler.core.diff import make_plan
from reconciler.core.plan import Options, Plan
from reconciler.errors import ReconcilerError
from reconciler.output import planfile, render
from reconciler.targets.base import TargetOptions

PlanFormat = Literal["text", "json", "markdown"]


def plan(
    files: Sequence[str],
    *,
    environment: str | None = None,
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
            environment,
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
    environment: str | None,
    target_url: str | None,
    target_options: TargetOptions,
    options: Options,
    *,
    format: PlanFormat,
    out_file: str | None,
    console: Console,
) -> Plan:
    desired = load(files, environment=environment)
    # lazy: a plan leaves no store behind where there was none. An environment's own
    # target is the default; --target (RECONCILE_TARGET) wins.
    opening = replace(target_options, lazy=True)
    observed, description = observe(target_url or desired.target, opening, alias_scope(desired))
    the_plan = make_plan(desired, observed, options)
    env = desired.environment
    if format == "json":
        console.out(render.plan_json(the_plan, target=description, environment=env))
    elif format == "markdown":
        console.out(render.plan_markdown(the_plan, target=description, environment=env) + "\n")
    else:
        colour = console.out_colour
        console.out(render.plan_text(the_plan, target=description, colour=colour, environment=env))
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
