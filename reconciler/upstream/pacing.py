"""Pacing: stay under a server's rate limit once it has named one, shared by all threads.

Real ClaraVerse servers limit ``/api`` to a number of requests per minute per client
address (200 by default) and answer 429 with ``retry_after`` (60) in the JSON body, not in
a header. An apply of many providers must finish at the server's pace rather than fail
or hammer it. So:

- before a 429 nothing is slowed down (unless the user gave ``--max-rate``);
- a 429 pauses every thread until the time the server asked for, then spaces requests at
  90% of the rate the server accepted in the window before it said no;
- a 429 for a request sent after that (at the new pace) slows the pace by a further fifth;
  the 429s of requests that were already in flight when the first came back say nothing
  new, and change nothing.
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
        # When the pace was last set: a 429 for a request sent before it is old news.
        self._paced_at = float("-inf")
        self._window = 1.0
        self._sent: deque[float] = deque()

    def _set_pace(self, now: float, retry_after: float) -> None:
        window = max(retry_after, 1.0)
        if self._interval:
            self._interval /= _SLOWDOWN
        else:
            self._interval = self._estimate(now, window)
        self._paced_at, self._window = now, window

    def _estimate(self, now: float, window: float) -> float:
        """Seconds between requests for 90% of the rate the server accepted lately."""
        accepted = sum(1 for t in self._sent if now - window <= t <= now)
        return 1.0 / (max(accepted, 1) / window * _HEADROOM)

    @property
    def per_minute(self) -> float | None:
        """The pace in requests per minute, or None while unpaced."""
        return 60.0 / self._interval if self._interval else None

    def before_request(self) -> float:
        """Wait for this request's turn; the time it was sent (for ``rate_limited``)."""
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
        return start

    def rate_limited(self, retry_after: float, *, sent_at: float | None = None) -> None:
        """The server answered 429 to the request sent at ``sent_at`` and asked for
        ``retry_after`` seconds of patience."""
        with self._lock:
            now = self._clock()
            if sent_at is not None and sent_at in self._sent:
                self._sent.remove(sent_at)  # refused: the rate estimate counts accepted ones
            old_news = sent_at is not None and sent_at <= self._paced_at
            if not old_news:
                self._set_pace(now, retry_after)
            else:
                # One more refusal of the same burst: the server accepted fewer than counted.
                estimate = self._estimate(self._paced_at, self._window)
                self._interval = max(self._interval, estimate)
            first_notice = self._resume_at <= now and not old_news
            self._resume_at = max(self._resume_at, now + retry_after)
            self._next_slot = max(self._next_slot, self._resume_at)
            pace = 60.0 / self._interval
        if first_notice and retry_after >= _NOTICE_AFTER and self.on_wait is not None:
            self.on_wait(
                retry_after,
                f"the server is rate-limiting this client; waiting {retry_after:.0f} s, then "
                f"continuing at about {pace:.0f} requests per minute",
            )
