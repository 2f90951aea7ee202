"""The executor: run a plan against a target, concurrently per provider, deletes last.

Chains of actions on one provider run in order; chains on different providers run on a
bounded pool of threads. The first failure stops new actions from starting; what was
done, what failed and what was not attempted are all reported. A failed model fetch is a
warning, not a failure: the provider change stands and the next plan fetches again.

A ``Run`` (core.run) lets the caller stop an execution and see what is running: the
user's Ctrl-C stops new actions, a second one (a KeyboardInterrupt in the thread that
waits here) abandons the running ones and reports at once. The workers are daemon
threads, so that a process that abandons them can exit without waiting for them.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from reconciler.core.catalog_diff import (
    model_setting_changes,
    unmatched_setting_rules,
    writes_by_model,
)
from reconciler.core.model import ProviderSpec
from reconciler.core.plan import Action, Outcome, Plan, Report, group
from reconciler.core.run import NOT_ATTEMPTED, Run
from reconciler.core.target import Target
from reconciler.core.visibility import visibility_changes
from reconciler.errors import FetchError, ReconcilerError
from reconciler.secrets import scrub

__all__ = ["Progress", "Run", "converge", "execute"]

Progress = Callable[[Outcome], None]
T = TypeVar("T")

# How often the waiting thread wakes to run a pending Ctrl-C handler.
_WAKE_SECONDS = 0.2


def execute(
    plan: Plan,
    target: Target,
    *,
    parallelism: int = 8,
    progress: Progress | None = None,
    run: Run | None = None,
) -> Report:
    """Run the plan's actions on the target; never raises for a failed action. A
    KeyboardInterrupt while it waits abandons the running actions: the report says so."""
    run = run or Run(plan)

    def record(outcome: Outcome) -> None:
        run.record(outcome, progress)

    def run_chain(chain: list[Action]) -> None:
        provider_id: str | None = None
        for action in chain:
            if not run.start(action):
                record(Outcome(action=action, status="skipped", message=NOT_ATTEMPTED))
                continue
            try:
                provider_id, warnings = _run(action, target, provider_id or action.provider_id)
            except FetchError as exc:
                record(Outcome(action=action, status="warning", message=scrub(str(exc))))
                continue
            except ReconcilerError as exc:
                # Nothing depends on a tier (the last step of its chain), and a server
                # without the tier migration fails every one: the other providers go on.
                if action.kind != "tier":
                    run.stop()
                record(Outcome(action=action, status="failed", message=scrub(str(exc))))
                continue
            except Exception as exc:  # a bug or an unforeseen failure: still report it
                run.stop()
                why = f"unexpected {type(exc).__name__}: {exc}"
                record(Outcome(action=action, status="failed", message=scrub(why)))
                continue
            record(Outcome(action=action, status="done", message=scrub("; ".join(warnings))))

    chains, deletes = group(plan.actions)
    workers = max(1, parallelism)
    try:
        if chains:
            _run_all(run_chain, chains, workers)
        # Deletes run last, and not at all once something failed: the safest state to leave.
        if deletes and run.failed:
            run.stop()  # a failed tier did not stop the others; it stops the deletes
        if deletes and not run.stopping:
            deletes = _still_deletable(deletes, target, record)
        if deletes:
            _run_all(run_chain, [[a] for a in deletes], workers)
    except KeyboardInterrupt:
        run.abandon()
    finally:
        run.finish()
    return run.report()


def _run_all(function: Callable[[T], None], items: Sequence[T], workers: int) -> None:
    """``function`` on each item, on at most ``workers`` threads; returns when all are done.
    Each call runs in a copy of this thread's context, so that what the run set there (the
    registry ``scrub`` reads, which a Secret made in a worker joins) holds in the workers
    too. Daemon threads: a second Ctrl-C stops waiting for them, and the process exits
    without them."""
    pending: queue.SimpleQueue[tuple[contextvars.Context, T]] = queue.SimpleQueue()
    for item in items:
        pending.put((contextvars.copy_context(), item))

    def work() -> None:
        while True:
            try:
                ctx, item = pending.get_nowait()
            except queue.Empty:
                return
            ctx.run(function, item)

    threads = [
        threading.Thread(target=work, name=f"reconcile-apply-{i}", daemon=True)
        for i in range(min(workers, len(items)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # In short waits: Python runs a signal handler (Ctrl-C) only in this thread, and
        # only once it wakes, which a signal the system gave to a worker would not do.
        # A KeyboardInterrupt raised by the handler stops the wait.
        while thread.is_alive():
            thread.join(_WAKE_SECONDS)


def _still_deletable(
    deletes: list[Action], target: Target, record: Callable[[Outcome], None]
) -> list[Action]:
    """The deletes whose provider is still disabled now, observed again just before (the
    plan's view may be minutes old); the others are refused and reported."""
    if not any(a.require_disabled for a in deletes):
        return deletes
    try:
        enabled = {p.id: p.enabled for p in target.observe().providers}
    except ReconcilerError as exc:
        for action in deletes:
            record(
                Outcome(
                    action=action,
                    status="failed",
                    message=scrub(f"not deleted: could not check it first: {exc}"),
                )
            )
        return []
    keep = []
    for action in deletes:
        if action.require_disabled and enabled.get(action.provider_id or "") is True:
            record(
                Outcome(
                    action=action,
                    status="failed",
                    message="not deleted: it was enabled again on the target during this "
                    "apply; disable it first, or pass --allow-delete-enabled",
                )
            )
        else:
            keep.append(action)
    return keep


def _run(action: Action, target: Target, provider_id: str | None) -> tuple[str, tuple[str, ...]]:
    """Perform one action; the provider's id for the actions after it, and any warnings."""
    spec = action.spec
    if action.kind == "create":
        assert spec is not None
        return target.create(spec), ()
    if provider_id is None:  # pragma: no cover - the diff always sets an id
        raise ReconcilerError(f"provider '{action.provider}' has no id on the target")
    warnings: tuple[str, ...] = ()
    if action.kind == "delete":
        target.delete(provider_id)
    elif action.kind == "fetch":
        warnings = target.fetch_models(provider_id).warnings
    elif action.kind == "models":
        _settle_visibility(action, target, provider_id)
    elif action.kind in ("model_settings", "model_push", "aliases", "tier"):
        warnings = _write_catalog(action, target, provider_id)
    else:
        assert spec is not None
        _write(action, spec, target, provider_id)
    return provider_id, warnings


def _write(action: Action, spec: ProviderSpec, target: Target, provider_id: str) -> None:
    if action.kind == "rename":
        target.rename(provider_id, spec)
    elif action.kind == "update":
        target.update(provider_id, spec, tuple(c.field for c in action.changes))
    elif action.kind in ("enable", "disable"):
        target.set_enabled(provider_id, spec)
    elif action.kind == "push":
        target.push(provider_id, spec)


def _settle_visibility(action: Action, target: Target, provider_id: str) -> None:
    show, hide = action.show, action.hide
    if action.after_fetch:
        assert action.spec is not None and action.spec.models is not None
        show, hide = visibility_changes(action.spec.models, target.list_models(provider_id))
    if show:
        target.set_visibility(provider_id, show, True)
    if hide:
        target.set_visibility(provider_id, hide, False)


def _write_catalog(action: Action, target: Target, provider_id: str) -> tuple[str, ...]:
    """Write the action's catalog part; warnings about it."""
    changes = action.model_changes
    warnings: tuple[str, ...] = ()
    if action.after_fetch:
        # The fetch just run may have reset display names and added models: work the
        # settings out on what it left, changes and values the target cannot report alike.
        assert action.spec is not None and action.spec.models is not None
        rules, models = action.spec.models, target.list_models(provider_id)
        found, pushes = model_setting_changes(rules, models, target.capabilities.model_settings)
        changes = found + pushes
        warnings = tuple(unmatched_setting_rules(action.provider, rules, models))
    if changes:
        target.update_models(provider_id, writes_by_model(changes))
    for alias in action.alias_delete:
        target.delete_alias(provider_id, alias)
    for alias in action.alias_create:
        target.create_alias(provider_id, alias)
    if action.kind == "tier":
        assert action.tier is not None and action.model_id is not None
        target.set_tier(action.tier, provider_id, action.model_id)
    return warnings


def converge(
    plan: Plan,
    target: Target,
    replan: Callable[[], Plan],
    *,
    parallelism: int = 8,
    progress: Progress | None = None,
    run: Run | None = None,
) -> Report:
    """Execute the plan, observe again, and record whether the target now matches.

    If observing again fails, the report still says what was done; ``converged`` stays
    None and ``recheck_error`` says why. An interrupted run (``run.interrupt()``, or a
    KeyboardInterrupt) is not observed again: the user asked to stop, not to wait.
    """
    run = run or Run(plan)
    try:
        report = execute(plan, target, parallelism=parallelism, progress=progress, run=run)
    except KeyboardInterrupt:  # between the last action and the report: nothing is lost
        run.abandon()
        return run.report()
    if report.interrupted:
        return report
    try:
        report.warnings.extend(scrub(w) for w in target.run_warnings())
        remaining = replan()
    except ReconcilerError as exc:
        report.recheck_error = scrub(str(exc))
        return report
    except KeyboardInterrupt:
        report.interrupted = True
        return report
    report.remaining = remaining
    report.converged = remaining.is_empty
    return report
