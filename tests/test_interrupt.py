"""Ctrl-C during an apply, in this process: a real SIGINT to the apply command that is
running, with a target whose create of one provider waits for the test. (The console
script's own Ctrl-C is tested as a process in test_cli_process.py.)"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.commands import apply as command
from reconciler.commands.common import EXIT_INTERRUPTED, Console
from reconciler.commands.interrupt import ctrl_c_stops, stopping_message
from reconciler.core.plan import Action, Options, Plan
from reconciler.core.run import Run
from reconciler.targets.base import TargetOptions
from tests.factories import HoldingTarget
from tests.sandbox import write

KEY = "sk-interrupted-SECRET-31415926"

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers live in the main thread",
)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HoldingTarget]:
    """Three providers; the apply, one provider at a time, hangs on creating B."""
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n"
        + "".join(
            f"  - name: {n}\n    type: openai\n    base_url: http://127.0.0.1:9/v1\n"
            "    fetch_models: false\n"
            for n in "ABC"
        )
        + "  - name: D\n    type: openai\n    base_url: http://127.0.0.1:9/v1\n"
        "    api_key: ${INTERRUPT_KEY}\n",
    )
    monkeypatch.setenv("INTERRUPT_KEY", KEY)
    target = HoldingTarget(Path("state.db"), held="B", lazy=True)
    monkeypatch.setattr(command, "open_target", lambda url, options: target)
    yield target
    target.release.set()


def _apply(out: list[str], err: list[str]) -> int:
    return command.apply(
        [],
        saved_plan=None,
        target_url=None,
        target_options=TargetOptions(parallelism=1),
        options=Options(),
        strict=False,
        lock_timeout=0.0,
        format="text",
        console=Console(write_out=out.append, write_err=err.append),
    )


def _eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def _ctrl_c(target: HoldingTarget, err: list[str], *, twice: bool = False) -> threading.Thread:
    """A thread that presses Ctrl-C while B is being created, and once the apply said it
    was interrupted, lets B's create finish, or presses Ctrl-C again (B still running)."""

    def press() -> None:
        assert target.started.wait(30)
        os.kill(os.getpid(), signal.SIGINT)
        assert _eventually(lambda: any(e.startswith("Interrupted") for e in err))
        if twice:
            os.kill(os.getpid(), signal.SIGINT)
        else:
            target.release.set()

    thread = threading.Thread(target=press)
    thread.start()
    return thread


def test_the_first_ctrl_c_says_what_runs_waits_for_it_and_starts_nothing_more(
    held: HoldingTarget,
) -> None:
    out: list[str] = []
    err: list[str] = []
    presser = _ctrl_c(held, err)
    code = _apply(out, err)
    presser.join()
    assert code == EXIT_INTERRUPTED
    # Said at once, before B is done.
    assert err[:3] == [
        "[1/5] create A: done\n",
        "Interrupted: no new action starts; waiting for 1 running action (create B). Press "
        "Ctrl-C again to abandon it.\n",
        "[2/5] create B: done\n",
    ]
    assert (
        "Not attempted after the interruption:\n  create C\n  create D\n  fetch models of D\n"
        "Apply: 2 done, 0 failed, 0 with warnings, 3 not attempted.\n"
        "Interrupted: the target was not observed again; 'reconcile plan' shows what remains, "
        "and the next apply does it.\n"
    ) in out[-1]
    assert held.writes == ["create A", "create B"]
    assert KEY not in "".join(out + err)
    # The handler was there for the apply only.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_abandons_what_runs_and_reports_at_once(held: HoldingTarget) -> None:
    out: list[str] = []
    err: list[str] = []
    presser = _ctrl_c(held, err, twice=True)
    code = _apply(out, err)  # returns without B: the fixture lets its create end after
    presser.join()
    assert code == EXIT_INTERRUPTED
    assert (
        "Abandoned while running (their outcome is unknown; plan shows it):\n  create B\n"
        "Not attempted after the interruption:\n  create C\n  create D\n  fetch models of D\n"
        "Apply: 1 done, 0 failed, 0 with warnings, 1 abandoned, 3 not attempted.\n"
    ) in out[-1]
    assert KEY not in "".join(out + err)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_message_clears_a_progress_bar_and_says_when_nothing_runs() -> None:
    running = (Action(kind="fetch", provider="A"), Action(kind="create", provider="B"))
    assert stopping_message(running, terminal=False) == (
        "Interrupted: no new action starts; waiting for 2 running actions (fetch A, create B). "
        "Press Ctrl-C again to abandon them."
    )
    assert stopping_message((), terminal=True) == "\r\033[KInterrupted: no new action starts."


def test_outside_the_main_thread_ctrl_c_is_left_as_it_is() -> None:
    seen: list[object] = []

    def in_a_thread() -> None:
        with ctrl_c_stops(Run(Plan(actions=())), Console()):
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]
