"""A watch as a service: the loop in a thread of its own, its status server and its
webhook, started together and stopped together.

Stopping sets the loop's stop event: no new write starts (see ``guard``), the write in
flight is waited for, and a read in flight (an observation of a server that does not
answer) is waited for only ``grace`` seconds: it writes nothing, and the process may
leave it behind.
"""

from __future__ import annotations

import contextvars
import threading
import time

from reconciler.core.model import Desired
from reconciler.secrets import current_registry
from reconciler.watch.logs import Log
from reconciler.watch.loop import Listener, Settings, Watcher
from reconciler.watch.metrics import Metrics
from reconciler.watch.server import StatusServer
from reconciler.watch.webhook import Notifier

DEFAULT_GRACE = 3.0


class Service:
    """The loop, the optional status server (``listen``) and webhook, as one."""

    def __init__(
        self,
        settings: Settings,
        desired: Desired,
        *,
        log: Log,
        listen: tuple[str, int] | None = None,
        webhook: str | None = None,
    ) -> None:
        self.metrics = Metrics()
        self._log = log
        self.notifier: Notifier | None = None
        listeners: list[Listener] = [self.metrics.record]
        if webhook is not None:
            self.notifier = Notifier(webhook, log=log, on_failure=self.metrics.webhook_failures.inc)
            listeners.append(self.notifier.update)
        self.watcher = Watcher(settings, desired, log=log, listeners=listeners)
        self.server: StatusServer | None = None
        if listen is not None:
            self.server = StatusServer(
                listen,
                view=lambda: self.watcher.snapshot,
                metrics=self.metrics,
                log=log,
                scrub=current_registry().scrub,
            )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str | None:
        """The status server's base URL (None without ``listen``)."""
        return self.server.url if self.server is not None else None

    @property
    def running(self) -> bool:
        """True while the loop's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Serve, then start the loop; it runs in a copy of this thread's context, so that
        the keys it reads join the run's secrets, which everything here scrubs."""
        if self.server is not None:
            self.server.start()
        if self.notifier is not None:
            self.notifier.start()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self.watcher.run,), name="watch-loop", daemon=True
        )
        self._thread.start()

    def stop(self, grace: float = DEFAULT_GRACE) -> bool:
        """Stop everything; True if the loop ended (rather than being left in a read)."""
        self.watcher.stop.set()
        deadline = time.monotonic() + grace
        thread = self._thread
        while thread is not None and thread.is_alive():
            thread.join(0.05)
            # A write in flight is always waited for; a read only until the deadline.
            if time.monotonic() > deadline and not self.watcher.writing:
                break
        if self.notifier is not None:
            self.notifier.close(max(0.5, deadline - time.monotonic()))
        if self.server is not None:
            self.server.close()
        ended = thread is None or not thread.is_alive()
        if not ended:
            self._log.warning("abandoned", "stopped while a read of the target was in flight")
        return ended
