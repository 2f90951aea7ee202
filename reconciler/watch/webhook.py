"""Webhook notifications: one JSON POST per change of state, shaped for Slack.

The states are in sync, drift and error. A run that heals posts "healed" (the target
drifted and was put back), a run that moves to drift or error posts that, and a run back
in sync after drift or an error posts "in_sync"; a run that stays where it was posts
nothing. The first run posts only if it is not in sync.

The body is ``{"text": ..., "reconcile": {...}}``: Slack's incoming webhooks show
``text`` and ignore the rest; anything else reads the structured part. It is built in the
loop's thread from the snapshot's words (names, plan lines, our messages, all scrubbed)
and sent from a thread of its own, so that a slow receiver never delays a run. A failed
POST is retried a few times with backoff; the URL itself (a Slack webhook URL is a
secret) is never logged.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from reconciler.secrets import current_registry, remember
from reconciler.watch.logs import Log
from reconciler.watch.state import Change, Snapshot

EventKind = Literal["drift", "healed", "error", "in_sync"]
State = Literal["in_sync", "drift", "error"]

ATTEMPTS = 4  # one POST and three retries
_TIMEOUT = 10.0
_SHOWN = 20  # changes listed in the text; the structured part has them all
# Statuses worth retrying: the receiver or a proxy in front of it is overloaded or restarting.
_RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}

Post = Callable[[bytes], int]
"""Sends a body; returns the HTTP status; raises on a transport failure."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """One notification: what happened and the body to send."""

    kind: EventKind
    body: dict[str, Any]

    def encoded(self, scrub: Callable[[str], str]) -> bytes:
        """The body as JSON, scrubbed of the run's secrets as a whole."""
        return scrub(json.dumps(self.body, ensure_ascii=False)).encode()


def state_of(snapshot: Snapshot) -> State:
    """in sync, drift or error, after this run (a healed run is in sync again)."""
    if snapshot.result in ("in_sync", "healed"):
        return "in_sync"
    return "drift" if snapshot.result == "drift" else "error"


def event_for(previous: State | None, snapshot: Snapshot) -> Event | None:
    """The notification this run calls for, given the state before it (None: first run)."""
    state = state_of(snapshot)
    if snapshot.result == "healed":
        kind: EventKind = "healed"
    elif state == previous or (previous is None and state == "in_sync"):
        return None
    else:
        kind = state
    return Event(kind=kind, body=_body(kind, snapshot))


def _body(kind: EventKind, snapshot: Snapshot) -> dict[str, Any]:
    changes = snapshot.changes if kind in ("drift", "healed") else snapshot.remaining
    when = snapshot.started_at or time.time()
    return {
        "text": _text(kind, snapshot, changes),
        "reconcile": {
            "event": kind,
            "result": snapshot.result,
            "target": snapshot.target,
            "run": snapshot.run,
            "time": datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds"),
            "changes": [
                {"kind": c.kind, "provider": c.provider, "words": list(c.words)} for c in changes
            ],
            "error": snapshot.error,
            "config_error": snapshot.config_error,
        },
    }


def _text(kind: EventKind, snapshot: Snapshot, changes: tuple[Change, ...]) -> str:
    """The message in Slack's markup: ``&``, ``<`` and ``>`` escaped, as Slack requires."""
    target = f"`{snapshot.target}`"
    count = len(changes)
    plural = f"{count} change{'s' if count != 1 else ''}"
    if kind == "drift":
        head = f":warning: Drift on {target}: {plural} from the configuration (not applied)"
    elif kind == "healed":
        head = f":white_check_mark: Healed drift on {target}: applied {plural}"
    elif kind == "error":
        head = f":x: reconcile watch on {target}: {snapshot.error or 'error'}"
    else:
        head = f":white_check_mark: {target} matches the configuration again"
    lines = [head, *(f"• {c.line}" for c in changes[:_SHOWN])]
    if count > _SHOWN:
        lines.append(f"… and {count - _SHOWN} more")
    return _slack_escape("\n".join(lines))


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Notifier:
    """Follows the runs' states and sends an event for each change, from its own thread."""

    def __init__(
        self,
        url: str,
        *,
        log: Log,
        on_failure: Callable[[], None] = lambda: None,
        post: Post | None = None,
        backoff: float = 0.5,
    ) -> None:
        # The URL is a credential for whoever holds it: scrubbed like a key from now on.
        remember(url)
        self._scrub = current_registry().scrub
        self._where = _where(url)
        self._client: _HttpPost | None = None
        if post is None:
            self._client = _HttpPost(url)
            post = self._client.send
        self._post = post
        self._log = log
        self._on_failure = on_failure
        self._backoff = backoff
        self._state: State | None = None
        self._queue: queue.Queue[tuple[EventKind, bytes] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def update(self, snapshot: Snapshot, observed: bool) -> None:
        """Queue the event this run calls for, if any (a Listener of the loop)."""
        event = event_for(self._state, snapshot)
        self._state = state_of(snapshot)
        if event is not None:
            self._queue.put((event.kind, event.encoded(self._scrub)))

    def start(self) -> None:
        """Start the sending thread."""
        self._thread = threading.Thread(target=self._send_all, name="watch-webhook", daemon=True)
        self._thread.start()

    def close(self, timeout: float) -> None:
        """Send what is queued, waiting at most ``timeout`` seconds, then stop."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
        if self._client is not None and (self._thread is None or not self._thread.is_alive()):
            self._client.close()

    def _send_all(self) -> None:
        while (item := self._queue.get()) is not None:
            self._send(*item)

    def _send(self, kind: EventKind, data: bytes) -> None:
        """POST one event, retried with backoff and jitter; logged, never raised."""
        why = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                status = self._post(data)
            except Exception as exc:  # any transport failure: retried, then reported
                why = type(exc).__name__
            else:
                if 200 <= status < 300:
                    self._log.info("webhook", f"webhook: sent {kind} to {self._where}")
                    return
                why = f"HTTP {status}"
                if status not in _RETRY_STATUSES:
                    break
            if attempt < ATTEMPTS:
                time.sleep(self._backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2))
        self._on_failure()
        self._log.error("webhook_failed", f"webhook: {kind} to {self._where} not delivered ({why})")


def _where(url: str) -> str:
    """What a log line may say of the webhook URL: its scheme and host, never its path
    (which holds Slack's token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


class _HttpPost:
    """POSTs over one httpx client (imported here: only a watch with --webhook needs it)."""

    def __init__(self, url: str) -> None:
        import httpx

        self._url = url
        self._client = httpx.Client(
            timeout=_TIMEOUT,
            headers={"User-Agent": "reconciler"},
            # No TLS to verify on http://: skip loading the CA bundle (~70 ms of CPU).
            verify=not url.startswith("http://"),
        )

    def send(self, data: bytes) -> int:
        """POST ``data`` as JSON; the status."""
        headers = {"Content-Type": "application/json"}
        return self._client.post(self._url, content=data, headers=headers).status_code

    def close(self) -> None:
        """Close the connections."""
        self._client.close()
