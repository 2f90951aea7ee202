"""What one watch run found, as a frozen value the status page, the metrics and the webhook
read: the result, the drift in words, each provider's status, the last error.

Pure: built from a plan and the desired state, no I/O. Every string in a ``Snapshot`` is
made from rendered words (``render.action_lines``), names and our own messages, already
scrubbed, so that readers in other threads need not know the run's secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from reconciler.core.model import Desired
from reconciler.core.plan import KIND_ORDER, PUSH_KINDS, Action, ActionKind, Plan
from reconciler.output.render import action_lines

Result = Literal["in_sync", "drift", "healed", "error"]
RESULTS: tuple[Result, ...] = ("in_sync", "drift", "healed", "error")

# The kinds an action of a plan's ``changes`` can have: a push is never drift. Derived
# from the plan's own kinds, so that a new kind gets its gauge (reset to 0 when in sync).
DRIFT_KINDS: tuple[ActionKind, ...] = tuple(k for k in KIND_ORDER if k not in PUSH_KINDS)

ProviderState = Literal["in_sync", "drifted", "unmanaged"]

Scrub = Callable[[str], str]


@dataclass(frozen=True, kw_only=True)
class Change:
    """One action that would make the target match the files, in the plan's words."""

    kind: ActionKind
    provider: str
    words: tuple[str, ...]

    @property
    def line(self) -> str:
        """The change on one line: ``update X: base_url: a → b``."""
        head, *rest = self.words
        return f"{head}: {'; '.join(rest)}" if rest else head


@dataclass(frozen=True, kw_only=True)
class ProviderStatus:
    """One provider as the status page lists it."""

    name: str
    state: ProviderState
    changes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """The watch after its latest run; ``run`` 0 is the state before the first one."""

    target: str
    interval: float
    self_heal: bool
    run: int = 0
    result: Result | None = None
    started_at: float | None = None  # wall clock, seconds since the epoch
    duration: float = 0.0
    changes: tuple[Change, ...] = ()  # the drift this run found
    remaining: tuple[Change, ...] = ()  # the drift it left: all of it, unless it healed
    providers: tuple[ProviderStatus, ...] = ()
    error: str | None = None  # why this run is an error
    last_error: str | None = None
    last_error_at: float | None = None
    config_error: str | None = None  # the files fail to validate: the last good ones serve
    warnings: tuple[str, ...] = ()  # the files' warnings and the plan's notes
    notes: tuple[str, ...] = ()  # what this run did besides (not healed: lock held, ...)
    last_success_at: float | None = None  # wall clock of the last observation that worked
    last_success_monotonic: float | None = None  # the same, on the monotonic clock
    next_run_in: float = 0.0
    failures: int = 0  # target failures in a row

    def counts(self) -> dict[ActionKind, int]:
        """How many changes of each drift kind the target still differs by after this run
        (every kind, zeros too)."""
        out = dict.fromkeys(DRIFT_KINDS, 0)
        for change in self.remaining:
            out[change.kind] = out.get(change.kind, 0) + 1
        return out


def changes_of(plan: Plan, scrub: Scrub) -> tuple[Change, ...]:
    """The plan's changes (not its pushes or retries) in the plan's own words."""
    return tuple(_change(action, scrub) for action in plan.changes)


def _change(action: Action, scrub: Scrub) -> Change:
    _marker, lines = action_lines(action)
    return Change(
        kind=action.kind, provider=scrub(action.provider), words=tuple(scrub(x) for x in lines)
    )


def providers_of(
    desired: Desired, plan: Plan | None, changes: Sequence[Change], scrub: Scrub
) -> tuple[ProviderStatus, ...]:
    """Each declared provider (in file order), then the unmanaged ones and any other
    provider a change names, with its state and its changes in words."""
    by_provider: dict[str, list[str]] = {}
    for change in changes:
        by_provider.setdefault(change.provider, []).append(change.line)
    present = [scrub(s.name) for s in desired.providers if s.ensure == "present"]
    unmanaged = [scrub(n) for n in plan.unmanaged] if plan is not None else []
    out: dict[str, ProviderStatus] = {}
    # An absent provider is listed only while a change (its delete) names it.
    for name in [*present, *unmanaged, *by_provider]:
        if name in out:
            continue
        if name in by_provider:
            out[name] = ProviderStatus(name=name, state="drifted", changes=tuple(by_provider[name]))
        elif name in unmanaged:
            out[name] = ProviderStatus(name=name, state="unmanaged")
        else:
            out[name] = ProviderStatus(name=name, state="in_sync")
    return tuple(out.values())


def warnings_of(desired: Desired, plan: Plan | None, scrub: Scrub) -> tuple[str, ...]:
    """The files' warnings and the plan's notes, once each."""
    found = [*desired.warnings]
    if plan is not None:
        found += [*plan.warnings, *plan.notes]
    return tuple(scrub(w) for w in dict.fromkeys(found))


def is_ready(snapshot: Snapshot, now_monotonic: float) -> bool:
    """True when the last observation that worked is at most two intervals old."""
    last = snapshot.last_success_monotonic
    return last is not None and now_monotonic - last <= 2 * snapshot.interval
