"""The CLI run in this process, as a subprocess would run it: ``main(argv)`` with its own
environment, working directory, a stdin that is not a terminal (unless a test types on
one), and stdout and stderr captured apart.

Everything it changes (os.environ, the working directory, the standard streams) is put
back when the run ends, so that runs and tests cannot leak into each other. A process
costs ~0.4 s of start-up; a run here costs what the command does.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import main


class Terminal(io.StringIO):
    """A stdin that says it is a terminal, with what the user types on it."""

    def isatty(self) -> bool:
        return True


@dataclass(frozen=True)
class Result:
    """A finished run: named as ``subprocess.CompletedProcess`` names them."""

    returncode: int
    stdout: str
    stderr: str


def run(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    typed: str | None = None,
) -> Result:
    """``reconcile *args`` in this process; ``env`` is its whole environment (default: this
    process's), ``cwd`` its working directory (default: this one). With ``typed``, stdin is
    a terminal on which the user types that text."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        if env is not None:
            for name in set(os.environ) - set(env):
                mp.delenv(name)
            for name, value in env.items():
                mp.setenv(name, value)
        if cwd is not None:
            mp.chdir(cwd)
        # Not a terminal unless the test types: apply never asks.
        mp.setattr(sys, "stdin", io.StringIO() if typed is None else Terminal(typed))
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    return Result(code, out.getvalue(), err.getvalue())
