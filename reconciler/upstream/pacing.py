"""Pacing: stay under a server's rate limit once it has named one, shared by all threads.

Real ClaraVerse servers limit ``/api`` to a number of requests per minute per client
address (200 by default) and answer 429 with ``retry_after`` (60) in the JSON body, not in
a header. An apply of many providers must finish at the server's pace rather than fail
or hammer it. So:

- before a 429 nothing is slowed down (unless the user gave ``--max-rate``);
- a 429 pauses every thread until the time the server asked for, then spaces requests at
  90% of the rate the server accepted in the window before it said no;
- another 429 after that slows the pace by a further fifth.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["Pacer", "WaitNotice"]

WaitNotice = Callable[[float, str], None]
"""Called with (seconds, why) before a pause a person would notice."""

_HEADROOM = 0.9
_SLOWDOWN = 0.8
# Pauses shorter than this are pacing, not news: say nothing.
_NOTICE_AFTER = 2.0


class Pacer:
    """Spaces the requests of one client; thread-safe."""

    def __init__(
        self,
        *,
        max_per_minute: float | None = None,
        on_wait: WaitNotice | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.on_wait = on_wait
        self._interval = 60.0 / max_per_minute if max_per_minute else 0.0
        self._next_slot = 0.0
        self._resume_at = 0.0
        self._sent: deque[float] = deque()

    @property
    def per_minute(self) -> float | None:
        """The pace in requests per minute, or None while unpaced."""
        return 60.0 / self._interval if self._interval else None

    def before_request(self) -> None:
        """Wait for this request's turn."""
        with self._lock:
            now = self._clock()
            start = max(now, self._resume_at, self._next_slot)
            if self._interval:
                self._next_slot = start + self._interval
            self._sent.append(start)
            # Enough history to count one window of the longest wait a server asks for.
            while self._sent and self._sent[0] < now - 300.0:
                self._sent.popleft()
        if start > now:
            self._sleep(start - now)

    def rate_limited(self, retry_after: float) -> None:
        """The server answered 429 and asked for ``retry_after`` seconds of patience."""
        with self._lock:
            now = self._clock()
            window = max(retry_after, 1.0)
            accepted = sum(1 for t in self._sent if t >= now - window)
            if self._interval:
                self._interval /= _SLOWDOWN
            else:
                per_second = max(accepted - 1, 1) / window
                self._interval = 1.0 / (per_second * _HEADROOM)
            first_notice = self._resume_at <= now
            self._resume_at = max(self._resume_at, now + retry_after)
            self._next_slot = max(self._next_slot, self._resume_at)
            pace = 60.0 / self._interval
        if first_notice and retry_after >= _NOTICE_AFTER and self.on_wait is not None:
            self.on_wait(
                retry_after,
                f"the server is rate-limiting this client; waiting {retry_after:.0f} s, then "
                f"continuing at about {pace:.0f} requests per minute",
            )
