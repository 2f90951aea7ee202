"""What every target is opened with: ``TargetOptions``, one typed value.

A user option left at its default is ``None``, and the target picks its own default
(the ``DEFAULT_*`` values, which the CLI's help shows). An option the user gave that the
chosen target has no use for is an error, not a silent no-op: ``--fetch-timeout`` does
nothing on a ClaraVerse server, which fetches models itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.errors import ReconcilerError
from reconciler.upstream.pacing import WaitNotice

DEFAULT_TIMEOUT = 30.0
DEFAULT_FETCH_TIMEOUT = 30.0
DEFAULT_FETCH_RETRIES = 3
DEFAULT_PARALLELISM = 8

# The user options, by field, as the user writes them.
FLAGS = {
    "ca_cert": "--ca-cert",
    "timeout": "--timeout",
    "fetch_timeout": "--fetch-timeout",
    "fetch_retries": "--fetch-retries",
    "max_rate": "--max-rate",
}

"""Told (seconds, why) before a pause a person would notice: a server's rate limit."""


@dataclass(frozen=True, kw_only=True)
class TargetOptions:
    """How to open a target: the user's options (None: not given) and the command's needs."""

    ca_cert: str | None = None  # a CA bundle for a ClaraVerse server behind a private CA
    timeout: float | None = None  # seconds for a ClaraVerse server's answer
    fetch_timeout: float | None = None  # seconds for an upstream's model listing (embedded)
    fetch_retries: int | None = None  # retries of a model listing (embedded)
    max_rate: float | None = None  # requests per minute to a ClaraVerse server, from the start
    parallelism: int = DEFAULT_PARALLELISM  # actions at once: sizes a server's connections
    on_wait: WaitNotice | None = None  # told when a server's rate limit makes us wait
    lazy: bool = False  # embedded: create the store on the first write, not on opening
    must_exist: bool = False  # embedded: a store that is not there is an error

    def given(self) -> tuple[str, ...]:
        """The user options given, as flags (``--timeout``), in the order of FLAGS."""
        return tuple(flag for name, flag in FLAGS.items() if getattr(self, name) is not None)

    def refuse(self, flags: tuple[str, ...], reason: str) -> None:
        """Raise if any of ``flags`` was given: this target cannot honour it, for ``reason``."""
        unused = [flag for flag in self.given() if flag in flags]
        if unused:
            verb = "applies" if len(unused) == 1 else "apply"
            raise ReconcilerError(f"{' and '.join(unused)} {verb} {reason}")
