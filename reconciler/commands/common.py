"""What several commands use: exit codes, the console they write to, loading the files,
opening and observing a target, writing an output file.

Nothing here prints by itself: a command writes through the ``Console`` the CLI gives it,
so that the same command runs under the CLI, in a test, or from a script.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.errors import ReconcilerError
from reconciler.secrets import scrub

if TYPE_CHECKING:  # the command modules import these at their top; --help never does
    from reconciler.core.model import Desired, Observed
    from reconciler.core.target import AliasScope, Target
    from reconciler.targets.base import TargetOptions

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2  # plan --detailed-exitcode: the target differs from the files
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


def _ignore(text: str) -> None:
    """A writer that drops what it is given."""


@dataclass(frozen=True, kw_only=True)
class Console:
    """Where a command's words go, and how to ask its user; the CLI makes one over the
    terminal (click), a test or a script over anything that takes text."""

    write_out: Callable[[str], None] = _ignore  # stdout: what was asked for (plan, report)
    write_err: Callable[[str], None] = _ignore  # stderr: messages, warnings, progress
    out_colour: bool = False  # stdout takes colour (a terminal, NO_COLOR unset)
    err_colour: bool = False
    err_terminal: bool = False  # stderr is a terminal: progress as a bar, not lines
    # Asks a yes/no question; None: never ask (--yes, or no terminal to answer on).
    confirm: Callable[[str], bool] | None = None

    def out(self, text: str) -> None:
        """Write ``text`` to stdout as it is (renderers end their text with a newline)."""
        self.write_out(text)

    def err(self, message: str) -> None:
        """Write one message to stderr, scrubbed of the run's secrets."""
        self.write_err(scrub(message) + "\n")

    def warn(self, warning: str) -> None:
        """Write a warning to stderr."""
        self.err(f"Warning: {warning}")


def load(
    files: Sequence[str], *, require_env: bool = True, environment: str | None = None
) -> Desired:
    """The desired state the files declare (providers.yaml when none is named), as
    ``environment`` has it (``--env``)."""
    from reconciler import config

    return config.load(files, require_env=require_env, environment=environment)


def open_target(url: str | None, options: TargetOptions) -> Target:
    """The target ``url`` names (the embedded store by default), opened with ``options``."""
    from reconciler.targets import open_target as open_by_url

    return open_by_url(url, options)


def observe(
    url: str | None, options: TargetOptions, aliases: AliasScope | None
) -> tuple[Observed, str]:
    """Everything the target holds, and its description; the target is closed again.
    ``aliases``: see Target.observe."""
    target = open_target(url, options)
    try:
        return target.observe(aliases), target.description
    finally:
        target.close()


def write_file(path: str, text: str, *, exists: str | None = None) -> None:
    """Write an output file the user named; a failure is the user's to fix, not a bug.
    With ``exists`` (the message), only if there is no such file: checked by the open
    itself, so that a file made meanwhile is not overwritten either."""
    try:
        with open(path, "w" if exists is None else "x", encoding="utf-8") as fh:
            fh.write(scrub(text))
    except FileExistsError:
        raise ReconcilerError(exists or f"{path} exists") from None
    except OSError as exc:
        raise ReconcilerError(f"cannot write {path}: {exc.strerror}") from None
