"""A handle on a plan being executed: what another thread, or a signal handler, needs to
stop it and to say what it is doing.

``execute`` records each action's start and outcome here. ``interrupt`` (the user's
Ctrl-C) lets no new action start; the running ones finish. ``abandon`` (a second Ctrl-C)
stops waiting for them: the report is made at once, with each running action
"abandoned" (its outcome unknown) and each action not started "skipped". The outcomes of
abandoned actions that arrive later are dropped, so the report never changes after it
is made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from reconciler.core.plan import Action, Outcome, Plan, Report

NOT_ATTEMPTED = "not attempted"
ABANDONED = "still running when the apply was abandoned; its outcome is unknown"


class Run:
    """One execution of ``plan``; safe to use from any thread and from a signal handler."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._index = {id(a): i for i, a in enumerate(plan.actions)}
        # Reentrant: a signal handler runs on the main thread, maybe while it holds the lock.
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._running: dict[int, Action] = {}
        self._results: dict[int, Outcome] = {}
        self._interrupted = False
        self._abandoned = False
        self._acting = True

    def interrupt(self) -> None:
        """The user asked to stop: no new action starts; those running finish."""
        with self._lock:
            self._interrupted = True
            self._stop.set()

    @property
    def interrupted(self) -> bool:
        """True once the user asked to stop."""
        return self._interrupted

    @property
    def acting(self) -> bool:
        """True until every action has finished, been skipped or been abandoned."""
        return self._acting

    def running(self) -> tuple[Action, ...]:
        """The actions started and not finished, in plan order."""
        with self._lock:
            return tuple(self._running[i] for i in sorted(self._running))

    def report(self) -> Report:
        """What happened to each action so far, in plan order."""
        with self._lock:
            outcomes = []
            for i, action in enumerate(self.plan.actions):
                if i in self._results:
                    outcomes.append(self._results[i])
                elif i in self._running:
                    outcomes.append(Outcome(action=action, status="abandoned", message=ABANDONED))
                else:
                    outcomes.append(Outcome(action=action, status="skipped", message=NOT_ATTEMPTED))
            return Report(outcomes=outcomes, interrupted=self._interrupted)

    # --- the executor's side -----------------------------------------------------------

    @property
    def failed(self) -> bool:
        """True when an action of this run failed."""
        with self._lock:
            return any(o.status == "failed" for o in self._results.values())

    @property
    def stopping(self) -> bool:
        """True when no new action may start (a failure, or the user)."""
        return self._stop.is_set()

    def stop(self) -> None:
        """An action failed: no new action starts."""
        self._stop.set()

    def start(self, action: Action) -> bool:
        """Mark ``action`` as running; False (and not marked) if no action may start."""
        with self._lock:
            if self._stop.is_set():
                return False
            self._running[self._index[id(action)]] = action
            return True

    def record(self, outcome: Outcome, progress: Callable[[Outcome], None] | None) -> None:
        """Keep ``outcome`` (and tell ``progress``, one call at a time), unless the run was
        abandoned: the report made then stands."""
        with self._lock:
            if self._abandoned:
                return
            i = self._index[id(outcome.action)]
            self._running.pop(i, None)
            self._results[i] = outcome
            if progress is not None:
                progress(outcome)

    def abandon(self) -> None:
        """Stop waiting for the running actions; they count as abandoned from now on."""
        with self._lock:
            self._interrupted = True
            self._abandoned = True
            self._stop.set()
            self._acting = False

    def finish(self) -> None:
        """Every action has an outcome (or never starts)."""
        self._acting = False
