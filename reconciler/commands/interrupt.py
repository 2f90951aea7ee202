"""Ctrl-C during an apply: the first stops new actions and says at once what is still
running; the second abandons those and ends the wait for them.

Without this, Ctrl-C raises KeyboardInterrupt wherever the main thread is, and an apply
would either lose its report or wait in silence for actions already sent. Only the main
thread can install a signal handler; anywhere else (a script running apply in a thread),
Ctrl-C keeps Python's behaviour, which ``execute`` treats as the second press.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from reconciler.commands.common import Console
from reconciler.core.plan import Action
from reconciler.core.run import Run


@contextmanager
def ctrl_c_stops(run: Run, console: Console) -> Iterator[None]:
    """While the block runs, SIGINT stops ``run`` (first press) or abandons it (second
    press, or once no action is left to wait for: the check that follows is a read)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if run.interrupted or not run.acting:
            raise KeyboardInterrupt
        run.interrupt()
        console.err(stopping_message(run.running(), terminal=console.err_terminal))

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stopping_message(running: tuple[Action, ...], *, terminal: bool) -> str:
    """What the first Ctrl-C says: that nothing new starts, and what it waits for."""
    # On a terminal the progress bar's line is cleared first, not written after.
    start = "\r\033[K" if terminal else ""
    if not running:
        return f"{start}Interrupted: no new action starts."
    names = ", ".join(f"{a.kind} {a.provider}" for a in running)
    count = len(running)
    return (
        f"{start}Interrupted: no new action starts; waiting for {count} running "
        f"action{'s' if count != 1 else ''} ({names}). Press Ctrl-C again to abandon "
        f"{'it' if count == 1 else 'them'}."
    )
