"""``reconcile apply``: make the target match the files, or apply a plan saved by
``reconcile plan -o``.

Under the target's lock, for the whole run: observe, diff, check that a saved plan still
holds, show the plan, ask (through the console's ``confirm``, the CLI's callback),
execute, observe again. Ctrl-C while it executes stops it cleanly (``interrupt``). The
exit code says whether the target now matches the files.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from reconciler.commands.common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Console,
    load,
    open_target,
)
from reconciler.commands.interrupt import ctrl_c_stops
from reconciler.core.catalog_diff import alias_scope
from reconciler.core.diff import make_plan
from reconciler.core.execute import Progress, Run, converge
from reconciler.core.model import Desired
from reconciler.core.plan import DEFAULT_OPTIONS, Options, Outcome, Report, only_fetches_remain
from reconciler.core.target import Target
from reconciler.errors import UsageError
from reconciler.output import planfile, render
from reconciler.output.apply_report import action_name, report_json, report_text
from reconciler.secrets import scrub
from reconciler.targets.base import TargetOptions
from reconciler.upstream.pacing import WaitNotice

ApplyFormat = Literal["text", "json"]

# Progress is shown for applies of more actions than this; a few lines need no counter.
_PROGRESS_FROM = 4


@dataclass(frozen=True, kw_only=True)
class _Inputs:
    """What to apply: the files and options given, or those of a saved plan."""

    files: tuple[str, ...]
    options: Options
    target_url: str | None
    environment: str | None = None
    saved: dict[str, Any] | None = None  # the saved plan, checked against the target


@dataclass(frozen=True, kw_only=True)
class _Applied:
    """What the run under the lock did, and what its JSON report names besides."""

    report: Report
    target: str
    warnings: tuple[str, ...]


def apply(
    files: Sequence[str],
    *,
    saved_plan: str | None,
    environment: str | None = None,
    target_url: str | None,
    target_options: TargetOptions,
    options: Options,
    strict: bool,
    lock_timeout: float,
    format: ApplyFormat,
    console: Console,
) -> int:
    """Apply the files (or ``saved_plan``) to the target; the exit code of the run."""
    inputs = _inputs(files, saved_plan, target_url, options, environment)
    desired = load(inputs.files, environment=inputs.environment)
    # lazy: an apply that is refused or cancelled leaves no store behind.
    opening = replace(target_options, lazy=True, on_wait=_waiting(console))
    # An environment's own target is the default; --target (RECONCILE_TARGET) wins.
    target = open_target(inputs.target_url or desired.target, opening)
    try:
        with target.lock(lock_timeout):
            outcome = _locked(
                desired,
                target,
                inputs,
                parallelism=target_options.parallelism,
                format=format,
                console=console,
            )
    finally:
        target.close()
    if isinstance(outcome, int):
        return outcome
    if format == "json":
        console.out(report_json(outcome.report, target=outcome.target, warnings=outcome.warnings))
    else:
        console.out(report_text(outcome.report))
    return exit_code(outcome.report, strict=strict)


def _inputs(
    files: Sequence[str],
    saved_plan: str | None,
    target_url: str | None,
    options: Options,
    environment: str | None,
) -> _Inputs:
    """The files and options to apply; a saved plan brings its own, and refuses others."""
    if saved_plan is None:
        return _Inputs(
            files=tuple(files), options=options, target_url=target_url, environment=environment
        )
    if saved_plan.endswith((".yaml", ".yml")):
        raise UsageError(
            f"{saved_plan} looks like a providers file; apply it with -f {saved_plan} "
            "(the argument is a plan saved by 'reconcile plan -o')"
        )
    if files:
        raise UsageError("give either a saved plan or -f files, not both")
    # What the plan fixes would be ignored: refused, by name. What only affects running
    # (--yes, --parallelism, --strict, timeouts...) is the apply's own to choose.
    fixed = [
        f"--{f.name.replace('_', '-')}"
        for f in fields(options)
        if getattr(options, f.name) != getattr(DEFAULT_OPTIONS, f.name)
    ]
    if fixed:
        verb = "is" if len(fixed) == 1 else "are"
        raise UsageError(
            f"a saved plan is applied with the options it was made with; {' and '.join(fixed)} "
            f"{verb} for 'reconcile plan', which makes the plan"
        )
    saved = planfile.read(saved_plan)
    # --env (RECONCILE_ENV) is not needed, but one for another environment is refused.
    if environment is not None:
        planfile.refuse_other_environment(saved, environment)
    planfile.refuse_if_moved(saved)
    return _Inputs(
        files=tuple(planfile.files_of(saved)),
        options=planfile.options_of(saved),
        target_url=saved["target"] if target_url is None else target_url,
        environment=planfile.environment_of(saved),
        saved=saved,
    )


def _locked(
    desired: Desired,
    target: Target,
    inputs: _Inputs,
    *,
    parallelism: int,
    format: ApplyFormat,
    console: Console,
) -> _Applied | int:
    """The run under the lock: what it did, or an exit code when there was nothing to do
    or the user said no."""
    observed = target.observe(alias_scope(desired))
    the_plan = make_plan(desired, observed, inputs.options)
    if inputs.saved is not None:
        planfile.refuse_if_stale(
            inputs.saved,
            desired=desired,
            observed=observed,
            plan=the_plan,
            target=target.description,
        )
    # With --format json, stdout is the report and the plan goes to stderr.
    colour = console.out_colour if format == "text" else console.err_colour
    # This run's report gives the reason of each fetch it retries: not the last one's too.
    shown = render.plan_text(
        the_plan,
        target=target.description,
        colour=colour,
        retry_reasons=False,
        environment=desired.environment,
    )
    (console.out if format == "text" else console.write_err)(shown)
    if not the_plan.actions:
        if format == "json":
            nothing = Report(converged=True, remaining=the_plan)
            console.out(report_json(nothing, target=target.description, warnings=the_plan.warnings))
        return EXIT_OK
    # Resending what the target cannot report, or retrying a failed fetch, changes nothing
    # anyone could review: no question for those alone.
    ask = console.confirm is not None and not the_plan.is_empty
    if ask and not console.confirm("Apply these changes?"):  # type: ignore[misc]
        console.err("Apply cancelled; nothing was changed.")
        return EXIT_ERROR
    recheck = inputs.options.for_recheck()
    run = Run(the_plan)
    progress = _progress(len(the_plan.actions), console)
    with ctrl_c_stops(run, console):
        report = converge(
            the_plan,
            target,
            lambda: make_plan(desired, target.observe(alias_scope(desired)), recheck),
            parallelism=parallelism,
            progress=progress,
            run=run,
        )
    if progress and console.err_terminal and report.by_status("abandoned"):
        console.write_err("\n")  # the bar's line never reached its end
    return _Applied(report=report, target=target.description, warnings=the_plan.warnings)


def exit_code(report: Report, *, strict: bool) -> int:
    """EXIT_INTERRUPTED when the user stopped it; EXIT_ERROR when an action failed, when
    the target did not converge (only fetches, retried next time, may remain), or with
    ``strict`` when a fetch failed; else EXIT_OK."""
    if report.interrupted:
        return EXIT_INTERRUPTED
    if report.failed:
        return EXIT_ERROR
    if not report.converged and not only_fetches_remain(report):
        return EXIT_ERROR
    if strict and report.by_status("warning"):
        return EXIT_ERROR
    return EXIT_OK


def _waiting(console: Console) -> WaitNotice:
    """Say on stderr when a server's rate limit makes the apply wait."""

    def notice(seconds: float, why: str) -> None:
        console.err(f"Waiting: {why}.")

    return notice


def _progress(total: int, console: Console) -> Progress | None:
    """Progress on stderr for applies of more than a few actions: a bar on a terminal,
    a line per finished action otherwise (CI logs)."""
    if total < _PROGRESS_FROM:
        return None
    done = 0
    lock = threading.Lock()

    def report(outcome: Outcome) -> None:
        nonlocal done
        with lock:
            done += 1
            what = f"{action_name(outcome.action)}: {outcome.status}"
            if console.err_terminal:
                filled = int(30 * done / total)
                line = f"[{'#' * filled}{' ' * (30 - filled)}] {done}/{total} {what}"
                end = "\n" if done == total else ""
                console.write_err(f"\r\033[K{scrub(line)[:120]}{end}")
            else:
                console.err(f"[{done}/{total}] {what}")

    return report
