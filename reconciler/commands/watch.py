"""``reconcile watch``: report drift between the files and the target every interval, and
with ``--self-heal`` apply the plan as ``reconcile apply`` would.

The files must validate when the watch starts (a typo is better found at once than in
a log); later, a file that stops validating leaves the last good configuration in
charge. SIGTERM and SIGINT stop it: the write in flight finishes, nothing new is
written, and the exit code is 0.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from urllib.parse import urlsplit

from reconciler.commands.common import EXIT_OK, Console, load
from reconciler.core.plan import Options
from reconciler.errors import UsageError
from reconciler.targets.base import TargetOptions
from reconciler.watch.logs import Log, LogFormat
from reconciler.watch.loop import Settings
from reconciler.watch.server import parse_listen
from reconciler.watch.service import Service

__all__ = ["LogFormat", "watch"]

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def watch(
    files: Sequence[str],
    *,
    environment: str | None = None,
    target_url: str | None,
    target_options: TargetOptions,
    options: Options,
    interval: float,
    self_heal: bool,
    listen: str | None,
    webhook: str | None,
    log_format: LogFormat,
    console: Console,
    stop: threading.Event | None = None,
) -> int:
    """Watch until SIGTERM or SIGINT (or until ``stop`` is set); EXIT_OK."""
    address = parse_listen(listen) if listen is not None else None
    if webhook is not None and urlsplit(webhook).scheme not in ("http", "https"):
        raise UsageError("--webhook: expected an http:// or https:// URL")
    desired = load(files, environment=environment)
    settings = Settings(
        files=tuple(files),
        interval=interval,
        # An environment's own target is the default; --target (RECONCILE_TARGET) wins.
        target_url=target_url or desired.target,
        target_options=target_options,
        options=options,
        self_heal=self_heal,
        environment=environment,
    )
    log = Log(console.write_err, format=log_format)
    service = Service(settings, desired, log=log, listen=address, webhook=webhook)
    stopping = stop or threading.Event()
    with _stop_on_signals(stopping):
        mode = "healing drift" if self_heal else "reporting drift (detect only)"
        log.info(
            "started",
            f"watching {service.watcher.snapshot.target} every {interval:g} s, {mode}",
        )
        service.start()
        try:
            # A timeout on the wait: a signal handler runs between waits on every platform.
            while not stopping.wait(0.5):
                pass
            log.info("stopping", "stopping: a write in flight finishes, nothing new is written")
        finally:
            service.stop()
    log.info("stopped", "stopped")
    return EXIT_OK


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` while this holds, and a second one interrupts
    (main thread only: Python lets no other thread install handlers); then the previous
    handlers are back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            # A second signal: stop waiting for the write in flight (exit 130).
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
