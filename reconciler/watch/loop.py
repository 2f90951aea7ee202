"""The drift loop: every interval, read the files again, observe the target, make the plan;
report its changes as drift, and with self-heal apply it as ``reconcile apply`` would.

One run never raises: a file that stops validating leaves the last good configuration in
charge (and is reported); a target that fails is reported and tried again after an
exponential backoff with jitter; a plan the safety rules refuse is reported, never
applied; anything unforeseen is an error run, and the next run starts afresh.

A server's session is kept open between runs (its login, and the rate it accepted: a run
costs the requests of a no-op plan); the embedded store is opened for each run, as plan
opens it, so that a store made or replaced meanwhile is seen.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from reconciler import config
from reconciler.core.catalog_diff import alias_scope
from reconciler.core.diff import make_plan
from reconciler.core.model import Desired, redact_url
from reconciler.core.plan import DEFAULT_OPTIONS, Options
from reconciler.core.target import Target
from reconciler.errors import PlanRefused, ReconcilerError
from reconciler.secrets import current_registry
from reconciler.targets import DEFAULT_TARGET, TargetOptions, open_target
from reconciler.watch.guard import GuardedTarget
from reconciler.watch.heal import Outcome, heal, refused
from reconciler.watch.logs import Log
from reconciler.watch.state import Change, Snapshot, changes_of, providers_of, warnings_of

# Between attempts on a failing target: at most this many intervals.
MAX_BACKOFF_INTERVALS = 10

Listener = Callable[[Snapshot, bool], None]
"""Told each run's snapshot, and whether that run observed the target."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What to watch, how often, and whether to heal."""

    files: tuple[str, ...]
    interval: float
    target_url: str | None = None
    target_options: TargetOptions = field(default_factory=TargetOptions)
    options: Options = DEFAULT_OPTIONS
    self_heal: bool = False
    # The environment the files are read for (--env); its target is fixed at start.
    environment: str | None = None


def backoff_delay(failures: int, interval: float, draw: float) -> float:
    """Seconds before the next attempt after ``failures`` failures in a row: half to all
    of ``interval × 2^(failures-1)`` (``draw`` in [0, 1) picks where), capped at ten
    intervals; the jitter keeps several watches off a recovering server's doorstep at once."""
    if failures <= 0:
        return interval
    grown: float = min(interval * MAX_BACKOFF_INTERVALS, interval * 2.0 ** (failures - 1))
    return grown * (0.5 + draw / 2)


class Watcher:
    """The loop over one target; ``run`` until ``stop`` is set, or ``run_once`` at a time."""

    def __init__(
        self,
        settings: Settings,
        desired: Desired,
        *,
        log: Log,
        listeners: Sequence[Listener] = (),
        stop: threading.Event | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._desired = desired  # the last configuration that validated
        self._log = log
        self._listeners = tuple(listeners)
        self.stop = stop or threading.Event()
        self._draw = draw
        self._scrub = current_registry().scrub
        self._target: Target | None = None
        self._guard: GuardedTarget | None = None
        url = settings.target_url or DEFAULT_TARGET
        self._keep_open = url.startswith(("http:", "https:"))
        self._config_error: str | None = None
        self._drift: tuple[Change, ...] = ()  # as the last observation found it
        self._failures = 0
        self._lock = threading.Lock()
        # As the target will describe itself once opened (a server's URL without credentials).
        self._description = redact_url(url) if self._keep_open else url
        self._snapshot = Snapshot(
            target=self._description,
            interval=settings.interval,
            self_heal=settings.self_heal,
        )

    @property
    def snapshot(self) -> Snapshot:
        """The state after the latest run (run 0 before the first)."""
        with self._lock:
            return self._snapshot

    @property
    def writing(self) -> bool:
        """True while a heal has a write in flight on the target."""
        guard = self._guard
        return guard is not None and guard.writing

    def run(self) -> None:
        """Run every interval (or after a backoff) until ``stop`` is set; then close."""
        try:
            while not self.stop.is_set():
                snapshot = self.run_once()
                if self.stop.wait(snapshot.next_run_in):
                    break
        finally:
            self.close()

    def run_once(self) -> Snapshot:
        """One run: read, observe, plan, report (and heal); never raises."""
        started, clock = time.time(), time.monotonic()
        desired = self._reload()
        try:
            outcome = self._examine(desired)
        except Exception as exc:  # a bug: reported as an error run, and the loop goes on
            self._drop_target()
            outcome = Outcome(
                result="error",
                observed=False,
                error=self._scrub(
                    f"internal error (a bug in reconciler): {type(exc).__name__}: {exc}"
                ),
            )
        if not self._keep_open:
            self._drop_target()
        previous = self.snapshot
        snapshot = self._next_snapshot(previous, desired, outcome, started, clock)
        self._report(previous, snapshot, outcome)
        with self._lock:
            self._snapshot = snapshot
        for listener in self._listeners:
            listener(snapshot, outcome.observed)
        return snapshot

    def close(self) -> None:
        """Release the target's connections."""
        self._drop_target()

    # --- one run ------------------------------------------------------------------------

    def _reload(self) -> Desired:
        """The files as they are now, or the last good configuration if they fail."""
        try:
            desired = config.load(self.settings.files, environment=self.settings.environment)
        except ReconcilerError as exc:
            message = self._scrub(str(exc))
            if message != self._config_error:
                self._log.error(
                    "config_error",
                    f"the files do not validate; the last good configuration stays in charge: "
                    f"{message}",
                )
            self._config_error = message
            return self._desired
        if self._config_error is not None:
            self._log.info("config_valid", "the files validate again")
        self._config_error = None
        self._desired = desired
        return desired

    def _examine(self, desired: Desired) -> Outcome:
        """Observe and plan; report the drift, or heal it."""
        try:
            target = self._open()
            observed = target.observe(alias_scope(desired))
        except ReconcilerError as exc:
            self._drop_target()
            self._failures += 1
            return Outcome(result="error", observed=False, error=self._scrub(str(exc)))
        self._failures = 0
        try:
            plan = make_plan(desired, observed, self.settings.options)
        except PlanRefused as exc:
            outcome = refused(desired, observed, self.settings.options, exc, self._scrub)
            self._log_drift(outcome.changes)
            return outcome
        changes = changes_of(plan, self._scrub)
        self._log_drift(changes)
        outcome = Outcome(
            result="drift" if changes else "in_sync",
            observed=True,
            plan=plan,
            changes=changes,
            remaining=changes,
        )
        if changes and self.settings.self_heal:
            if self._config_error is not None:
                outcome.notes.append("not healed: the files do not validate")
            else:
                self._guard = GuardedTarget(target, self.stop)
                heal(
                    desired,
                    self._guard,
                    outcome,
                    options=self.settings.options,
                    parallelism=self.settings.target_options.parallelism,
                    log=self._log,
                    scrub=self._scrub,
                )
                if outcome.target_failed:
                    self._drop_target()
        if self._config_error is not None and outcome.result != "error":
            outcome.result, outcome.error = "error", self._config_error
        return outcome

    def _log_drift(self, changes: tuple[Change, ...]) -> None:
        """A line per change, when the drift is not the one the last observation found
        (a drift that persists is not repeated every interval)."""
        if changes != self._drift:
            for change in changes:
                self._log.warning(
                    "drift", f"drift: {change.line}", provider=change.provider, kind=change.kind
                )
        self._drift = changes

    # --- the target -----------------------------------------------------------------------

    def _open(self) -> Target:
        if self._target is None:
            options = replace(self.settings.target_options, lazy=True)
            self._target = open_target(self.settings.target_url, options)
            self._description = self._scrub(self._target.description)
        return self._target

    def _drop_target(self) -> None:
        target, self._target, self._guard = self._target, None, None
        if target is not None:
            try:
                target.close()
            except Exception as exc:  # closing a broken connection must not end the watch
                self._log.warning("close_failed", f"closing the target failed: {exc}")

    # --- after a run ------------------------------------------------------------------------

    def _next_snapshot(
        self, previous: Snapshot, desired: Desired, outcome: Outcome, started: float, clock: float
    ) -> Snapshot:
        """The snapshot after this run; what it did not observe stays as last seen."""
        now = time.monotonic()
        duration = now - clock
        base = replace(
            previous,
            run=previous.run + 1,
            result=outcome.result,
            started_at=started,
            duration=duration,
            error=outcome.error,
            config_error=self._config_error,
            notes=tuple(outcome.notes),
            failures=self._failures,
            next_run_in=backoff_delay(self._failures, self.settings.interval, self._draw()),
        )
        if outcome.error is not None:
            base = replace(base, last_error=outcome.error, last_error_at=started)
        if not outcome.observed:
            # What the target holds is unknown this run: the page keeps the last view.
            return replace(base, changes=())
        return replace(
            base,
            changes=outcome.changes,
            remaining=outcome.remaining,
            providers=providers_of(desired, outcome.plan, outcome.remaining, self._scrub),
            warnings=warnings_of(desired, outcome.plan, self._scrub),
            last_success_at=started + duration,
            last_success_monotonic=now,
            target=self._description,
        )

    def _report(self, previous: Snapshot, snapshot: Snapshot, outcome: Outcome) -> None:
        """Log what is new in this run (notes, an error), and one line for the run."""
        for note in snapshot.notes:
            if note not in previous.notes:
                self._log.warning("note", note)
        if snapshot.error is not None and not outcome.observed and snapshot.failures:
            self._log.warning(
                "target_error",
                f"{snapshot.error} (attempt {snapshot.failures}; next in "
                f"{snapshot.next_run_in:.1f} s)",
            )
        elif snapshot.error not in (None, previous.error, snapshot.config_error):
            # (A configuration error was logged when the files were read.)
            self._log.error("run_error", str(snapshot.error))
        self._log.info(
            "run",
            f"run {snapshot.run}: {_summary(snapshot)} ({snapshot.duration:.2f} s)",
            run=snapshot.run,
            result=snapshot.result,
            changes=len(snapshot.changes),
            duration=round(snapshot.duration, 3),
        )


def _summary(snapshot: Snapshot) -> str:
    count = len(snapshot.changes)
    changes = f"{count} change{'s' if count != 1 else ''}"
    return {
        "in_sync": "in sync",
        "drift": f"drift, {changes}",
        "healed": f"healed {changes}",
        "error": f"error{f' ({changes} of drift)' if count else ''}",
        None: "no result",
    }[snapshot.result]
