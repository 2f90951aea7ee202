"""The watch's log: one line per event, as text for people or as one JSON object per line
for a log pipeline (``--log-format json``).

Every line is scrubbed of the run's secrets as a whole, after formatting, so that a key
that reached a message or a field by any path (an upstream's error, say) is masked in
every encoding JSON may give it. The scrubber is the run's, captured when the log is made:
lines are written from several threads (the loop, the webhook sender, the status server),
and only the thread that started the run sees its registry through the context.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from reconciler.secrets import current_registry

LogFormat = Literal["text", "json"]
Level = Literal["info", "warning", "error"]
Field = str | int | float | bool | None | list[str]


class Log:
    """Writes log lines through ``write`` (which adds nothing: each line ends with "\\n")."""

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        format: LogFormat = "text",
        clock: Callable[[], float] = time.time,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        self._write = write
        self._format = format
        self._clock = clock
        self._scrub = scrub or current_registry().scrub
        self._lock = threading.Lock()  # lines from several threads never interleave

    def info(self, event: str, message: str, **fields: Field) -> None:
        """Log an ordinary event."""
        self.line("info", event, message, fields)

    def warning(self, event: str, message: str, **fields: Field) -> None:
        """Log something that needs attention but does not stop the watch."""
        self.line("warning", event, message, fields)

    def error(self, event: str, message: str, **fields: Field) -> None:
        """Log a failure: a run that could not observe, plan or heal."""
        self.line("error", event, message, fields)

    def line(self, level: Level, event: str, message: str, fields: dict[str, Field]) -> None:
        """One line: ``time LEVEL message`` as text; ``{"time", "level", "event",
        "message", ...fields}`` as JSON."""
        stamp = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="milliseconds")
        stamp = stamp.replace("+00:00", "Z")
        if self._format == "json":
            record: dict[str, Field] = {
                "time": stamp,
                "level": level,
                "event": event,
                "message": message,
            }
            record.update(fields)
            text = json.dumps(record, ensure_ascii=False, default=str)
        else:
            # One line per event, whatever the message holds (a config error has several).
            flat = " | ".join(part for part in message.splitlines() if part.strip())
            text = f"{stamp} {level.upper():<7} {flat}"
        with self._lock:
            self._write(self._scrub(text) + "\n")
