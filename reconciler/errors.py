"""The errors a user can cause, as one small hierarchy.

    ReconcilerError            base: the CLI prints its message and exits 1
    ├── ConfigError            providers.yaml is invalid (carries every problem found)
    ├── TargetError            the target refused or failed a request
    │   └── AuthError          the target rejected our credentials or our role
    ├── LockError              another apply holds the store's lock
    ├── PlanRefused            the plan would do something unsafe (delete while enabled, ...)
    ├── FetchError             an upstream model listing failed
    └── UsageError             arguments that do not go together (shown with the usage line)

Messages never contain a secret value: they are built from names, statuses and our own
words, never from a raw server answer.
"""

from __future__ import annotations

import http
from collections.abc import Sequence
from dataclasses import dataclass


def status_text(status: int) -> str:
    """``404 Not Found``: our own reason phrase, never the one a server chose (which could
    carry anything)."""
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


class ReconcilerError(Exception):
    """Base of every error a user can cause or fix."""


def format_location(file: str, line: int | None, column: int | None) -> str:
    """``file:line:column``, as far as it is known (editors and terminals link this form)."""
    out = file
    if line is not None:
        out += f":{line}"
        if column is not None:
            out += f":{column}"
    return out


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can: a problem with
    the file as a whole (unreadable, empty) has no line, column or path."""

    file: str
    line: int | None = None
    column: int | None = None
    path: str = ""
    message: str

    def __str__(self) -> str:
        at = f" {self.path}:" if self.path else ""
        return f"{format_location(self.file, self.line, self.column)}:{at} {self.message}"


class ConfigError(ReconcilerError):
    """One or more problems in the configuration files; all of them, at once."""

    # A generated file can repeat one mistake thousands of times; the first ones say it.
    SHOWN = 100

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"{count} error{'s' if count != 1 else ''} in the configuration:"
        lines = [head, *(f"  {p}" for p in self.problems[: self.SHOWN])]
        if count > self.SHOWN:
            lines.append(
                f"  ... and {count - self.SHOWN} more "
                "(reconcile validate --format json lists them all)"
            )
        super().__init__("\n".join(lines))


class TargetError(ReconcilerError):
    """The target refused or failed a request; ``status`` is its HTTP status, if any, and
    ``detail`` the server's own message (scrubbed), to tell its errors apart."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class AuthError(TargetError):
    """The target rejected our credentials, or the account is not an admin."""


class LockError(ReconcilerError):
    """Another apply holds the lock on the store."""


class PlanRefused(ReconcilerError):
    """The plan would do something the safety rules forbid without an explicit flag."""


class FetchError(ReconcilerError):
    """An upstream model listing failed; the message names provider and status only."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def short_reason(self) -> str:
        """What the next plan shows after "last attempt failed:": the upstream's status
        and its phrase, else the reason without the provider's name."""
        if self.status is not None:
            return status_text(self.status)
        text = str(self)
        return text.split(": ", 1)[1] if text.startswith("provider '") and ": " in text else text


class UsageError(ReconcilerError):
    """Command-line arguments that do not go together; the CLI shows the command's usage."""
