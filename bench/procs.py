"""Running commands: ``reconcile`` as users run it, in a clean environment, with its wall
time and its own peak memory and CPU time.

Every ``reconcile`` command of the benchmark runs as a subprocess, as CI runs it: start-up
and imports are part of what a user waits for.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND_TIMEOUT = 600.0
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "ftp_proxy"}


class BenchError(Exception):
    """Something the benchmark needs went wrong (not a missed goal)."""


def reconcile_command() -> list[str]:
    """The ``reconcile`` console script of this interpreter, as users run it."""
    script = Path(sys.executable).parent / "reconcile"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "reconciler"]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without reconciler settings or proxies: loopback stays loopback."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RECONCILE_", "CLARAVERSE_"))
        and k.lower() not in _PROXY_VARS
        # Bytecode caching on, as after any install: start-up is measured, not compiling.
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", NO_COLOR="1")
    return {**env, **extra}


@dataclass(frozen=True)
class Run:
    """A finished command."""

    args: list[str]
    code: int
    out: str
    err: str
    seconds: float
    max_rss_mb: float
    cpu_seconds: float

    def check(self, *codes: int) -> Run:
        """Self, if the exit code is one of ``codes`` (0 by default); else BenchError."""
        if self.code not in (codes or (0,)):
            tail = "\n".join((self.out + self.err).splitlines()[-15:])
            raise BenchError(f"`{shlex.join(self.args)}` exited {self.code}:\n{tail}")
        return self


def run(
    args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = COMMAND_TIMEOUT
) -> Run:
    """Run a command to its end; its wall time and its own peak memory (``os.wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            timer.cancel()
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        err.seek(0)
        return Run(
            args=args,
            code=proc.returncode,
            out=out.read().decode(errors="replace"),
            err=err.read().decode(errors="replace"),
            seconds=seconds,
            max_rss_mb=usage.ru_maxrss / 1024.0,  # kilobytes on Linux
            cpu_seconds=usage.ru_utime + usage.ru_stime,
        )
