"""What a run found (``Outcome``), and healing: the plan applied as ``reconcile apply``
applies it, judged as apply's exit code judges it.

Healing takes the target's lock (the embedded store's file lock; a no-op on a server),
observes and plans again under it (the drift may have moved since the run looked), runs
the core ``converge`` and reads its report. It never raises for the target: what went
wrong is recorded on the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from reconciler.core.catalog_diff import alias_scope
from reconciler.core.diff import make_plan
from reconciler.core.execute import converge
from reconciler.core.model import Desired, Observed
from reconciler.core.plan import PUSH_KINDS, Options, Plan, Report, only_fetches_remain
from reconciler.errors import LockError, PlanRefused, ReconcilerError
from reconciler.watch.guard import GuardedTarget
from reconciler.watch.logs import Log
from reconciler.watch.state import Change, Result, changes_of

Scrub = Callable[[str], str]


@dataclass
class Outcome:
    """What one run found, before it becomes a Snapshot."""

    result: Result
    observed: bool
    plan: Plan | None = None
    changes: tuple[Change, ...] = ()
    remaining: tuple[Change, ...] = ()
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    target_failed: bool = False  # the target's connection is to be dropped


def refused(
    desired: Desired, observed: Observed, options: Options, exc: PlanRefused, scrub: Scrub
) -> Outcome:
    """A plan the safety rules refuse: an error, never applied. Its drift is still
    shown, from the plan that allows what was refused (made for the report only)."""
    try:
        lenient = replace(options, allow_delete_enabled=True, allow_empty=True)
        plan: Plan | None = make_plan(desired, observed, lenient)
    except ReconcilerError:
        plan = None
    changes = changes_of(plan, scrub) if plan is not None else ()
    return Outcome(
        result="error",
        observed=True,
        plan=plan,
        changes=changes,
        remaining=changes,
        error=scrub(f"the plan is refused, so it is not applied: {exc}"),
    )


def heal(
    desired: Desired,
    target: GuardedTarget,
    outcome: Outcome,
    *,
    options: Options,
    parallelism: int,
    log: Log,
    scrub: Scrub,
) -> None:
    """Apply the plan as apply would: under the target's lock, observed and planned
    again there, then observed once more; the result goes to ``outcome``."""
    try:
        with target.lock(0.0):
            observed = target.observe(alias_scope(desired))
            try:
                plan = make_plan(desired, observed, options)
            except PlanRefused as exc:
                refusal = refused(desired, observed, options, exc, scrub)
                outcome.result, outcome.error = refusal.result, refusal.error
                return
            if plan.is_empty:
                outcome.result, outcome.remaining = "in_sync", ()
                outcome.notes.append("the drift was gone by the time healing started")
                return
            recheck = options.for_recheck()
            report = converge(
                plan,
                target,
                lambda: make_plan(desired, target.observe(alias_scope(desired)), recheck),
                parallelism=parallelism,
            )
    except LockError as exc:
        # Another apply is running: it changes the target anyway; look again next run.
        # (Its advice, --lock-timeout, is apply's: a watch simply tries again.)
        why = str(exc).split(";", 1)[0]
        outcome.notes.append(scrub(f"not healed this run: {why}; the next run tries again"))
        return
    except ReconcilerError as exc:
        outcome.target_failed = True
        outcome.result, outcome.error = "error", scrub(f"healing failed: {exc}")
        return
    _log_report(report, log)
    _judge(report, outcome, scrub)


def _log_report(report: Report, log: Log) -> None:
    """A line per change healed, per failure and per warning."""
    for o in report.outcomes:
        fields = {"provider": o.action.provider, "kind": o.action.kind}
        if o.status == "failed":
            log.error("heal_failed", f"{o.action.kind} {o.action.provider}: {o.message}", **fields)
        elif o.status == "warning":
            log.warning(
                "heal_warning", f"{o.action.kind} {o.action.provider}: {o.message}", **fields
            )
        elif o.status == "done" and o.action.kind not in PUSH_KINDS and not o.action.retry:
            # Pushes and retried fetches are not drift: their success needs no line.
            log.info("healed", f"healed: {o.action.kind} {o.action.provider}", **fields)


def _judge(report: Report, outcome: Outcome, scrub: Scrub) -> None:
    """healed, or an error saying why not; what remains is the drift left."""
    if report.remaining is not None:
        outcome.remaining = changes_of(report.remaining, scrub)
    failed = [o for o in report.outcomes if o.status == "failed"]
    if failed:
        outcome.result = "error"
        outcome.error = scrub(
            "healing failed: "
            + "; ".join(f"{o.action.kind} {o.action.provider}: {o.message}" for o in failed)
        )
    elif report.converged or only_fetches_remain(report):
        outcome.result = "healed"
    else:
        why = report.recheck_error or "the target still differs after the apply"
        outcome.result, outcome.error = "error", scrub(f"not healed: {why}")
