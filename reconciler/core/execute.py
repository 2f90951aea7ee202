"""The executor: run a plan against a target, concurrently per provider, deletes last.

Chains of actions on one provider run in order; chains on different providers run on a
bounded thread pool. The first failure stops new actions from starting; what was done,
what failed and what was not attempted are all reported. A failed model fetch is a
warning, not a failure: the provider change stands and the next plan fetches again.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from reconciler.core.model import ProviderSpec
from reconciler.core.plan import Action, Outcome, Plan, Report, group
from reconciler.core.target import Target
from reconciler.core.visibility import visibility_changes
from reconciler.errors import FetchError, ReconcilerError
from reconciler.secrets import scrub

Progress = Callable[[Outcome], None]
T = TypeVar("T")


def execute(
    plan: Plan,
    target: Target,
    *,
    parallelism: int = 8,
    progress: Progress | None = None,
) -> Report:
    """Run the plan's actions on the target; never raises for a failed action."""
    chains, deletes = group(plan.actions)
    stop = threading.Event()
    results: dict[int, Outcome] = {}
    index = {id(a): i for i, a in enumerate(plan.actions)}
    lock = threading.Lock()

    def record(outcome: Outcome) -> None:
        # Under the lock: the callback runs on worker threads, one call at a time, so a
        # caller's counter ("[3/7]") needs no lock of its own.
        with lock:
            results[index[id(outcome.action)]] = outcome
            if progress is not None:
                progress(outcome)

    def run_chain(chain: list[Action]) -> None:
        provider_id: str | None = None
        for action in chain:
            if stop.is_set():
                record(Outcome(action=action, status="skipped", message="not attempted"))
                continue
            try:
                provider_id, warnings = _run(action, target, provider_id or action.provider_id)
            except FetchError as exc:
                record(Outcome(action=action, status="warning", message=scrub(str(exc))))
                continue
            except ReconcilerError as exc:
                stop.set()
                record(Outcome(action=action, status="failed", message=scrub(str(exc))))
                continue
            except Exception as exc:  # a bug or an unforeseen failure: still report it
                stop.set()
                record(
                    Outcome(
                        action=action,
                        status="failed",
                        message=scrub(f"unexpected {type(exc).__name__}: {exc}"),
                    )
                )
                continue
            record(Outcome(action=action, status="done", message=scrub("; ".join(warnings))))

    workers = max(1, parallelism)
    if chains:
        _run_all(run_chain, chains, workers)
    # Deletes run last, and not at all once something failed: the safest state to leave.
    if deletes and not stop.is_set():
        deletes = _still_deletable(deletes, target, record)
    if deletes:
        _run_all(run_chain, [[a] for a in deletes], workers)
    return Report(outcomes=[results[i] for i in sorted(results)])


def _run_all(function: Callable[[T], None], items: Sequence[T], workers: int) -> None:
    """``function`` on each item, on at most ``workers`` threads. Each call runs in a copy
    of this thread's context, so that what the run set there (the registry ``scrub``
    reads, which a Secret made in a worker joins) holds in the workers too."""
    contexts = [contextvars.copy_context() for _ in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        list(pool.map(lambda ctx, item: ctx.run(function, item), contexts, items))


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


def converge(
    plan: Plan,
    target: Target,
    replan: Callable[[], Plan],
    *,
    parallelism: int = 8,
    progress: Progress | None = None,
) -> Report:
    """Execute the plan, observe again, and record whether the target now matches.

    If observing again fails, the report still says what was done; ``converged`` stays
    None and ``recheck_error`` says why.
    """
    report = execute(plan, target, parallelism=parallelism, progress=progress)
    try:
        remaining = replan()
    except ReconcilerError as exc:
        report.recheck_error = scrub(str(exc))
        return report
    report.remaining = remaining
    report.converged = remaining.is_empty
    return report
