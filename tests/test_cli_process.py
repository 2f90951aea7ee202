"""Smoke tests of the CLI as a process: ``python -m reconciler``, the ``reconcile`` console
script, and Ctrl-C. Everything else runs in-process (inprocess.py), which is faster."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parent.parent
# This tree's code, whichever reconciler is installed.
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_python_dash_m_prints_help_and_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "--help"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: python -m reconciler [OPTIONS] COMMAND [ARGS]...")
    for command in ("apply", "export", "plan", "serve", "token", "validate"):
        assert f"  {command} " in result.stdout


def test_the_console_script_runs_and_exits_with_the_command_s_code() -> None:
    script = Path(sys.executable).parent / "reconcile"
    if not script.is_file():
        pytest.skip("the reconcile console script is not installed next to this Python")
    result = subprocess.run(
        [str(script), "validate", "-f", "missing.yaml"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: 1 error in the configuration:")


def test_ctrl_c_exits_130_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "providers.yaml").write_text("version: 1\nproviders: []\n")
    # A server that accepts the connection and never answers: plan waits for it.
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "plan", "--target", url, "--timeout", "60"],
            cwd=tmp_path,
            env={**ENV, "CLARAVERSE_TOKEN": "a-token"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            connection, _ = server.accept()
            with connection:
                proc.send_signal(signal.SIGINT)
                _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, err
    assert err.strip() == "Interrupted."


# --- Ctrl-C during an apply -----------------------------------------------------------


class _Lines:
    """The lines a process writes to a pipe, read on a thread as they come."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, start: str, timeout: float = 30) -> str:
        """The first line that starts with ``start``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            self.seen.append(line)
            if line.startswith(start):
                return line.rstrip("\n")

    def rest(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)


SLOW = ("--fetch-timeout", "60", "--fetch-retries", "0")  # wait for the answer, once


@contextmanager
def _hanging_apply(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], socket.socket]]:
    """An apply of two providers, one at a time, whose model listings never get an answer:
    it creates p0, then waits on p0's fetch (the server socket accepts, never answers)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
        (tmp_path / "providers.yaml").write_text(
            "version: 1\nproviders:\n"
            + "".join(f"  - name: p{i}\n    type: openai\n    base_url: {url}\n" for i in (0, 1))
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "--yes", "--parallelism", "1", *SLOW],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield proc, server
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


STOPPING = (
    "Interrupted: no new action starts; waiting for 1 running action (fetch p0). Press Ctrl-C "
    "again to abandon it."
)


def test_a_first_ctrl_c_stops_new_actions_says_so_at_once_and_waits(tmp_path: Path) -> None:
    with _hanging_apply(tmp_path) as (proc, server):
        assert proc.stderr is not None and proc.stdout is not None
        err = _Lines(proc.stderr)
        connection, _ = server.accept()  # p0's fetch is waiting for an answer
        with connection:
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            assert err.wait_for("Interrupted:") == STOPPING
            assert time.monotonic() - sent < 10
            assert proc.poll() is None  # still waiting for the fetch
        # The connection closes: the fetch fails (a warning), and the apply ends.
        out = proc.stdout.read()
        assert proc.wait(timeout=30) == 130, err.rest()
    assert "Warning: fetch models of p0:" in out
    assert (
        "Not attempted after the interruption:\n  create p1\n  fetch models of p1\n"
        "Apply: 1 done, 0 failed, 1 with warnings, 2 not attempted.\n"
        "Interrupted: the target was not observed again; 'reconcile plan' shows what remains, "
        "and the next apply does it.\n"
    ) in out
    assert "Traceback" not in err.rest()


def test_a_second_ctrl_c_abandons_what_runs_and_exits_at_once(tmp_path: Path) -> None:
    with _hanging_apply(tmp_path) as (proc, server):
        assert proc.stderr is not None and proc.stdout is not None
        err = _Lines(proc.stderr)
        connection, _ = server.accept()
        with connection:
            proc.send_signal(signal.SIGINT)
            assert err.wait_for("Interrupted:") == STOPPING
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=30)  # the fetch would wait 60 s for its answer
            assert time.monotonic() - sent < 10
            out = proc.stdout.read()
    assert code == 130, err.rest()
    assert (
        "Abandoned while running (their outcome is unknown; plan shows it):\n  fetch models of p0\n"
        "Not attempted after the interruption:\n  create p1\n  fetch models of p1\n"
        "Apply: 1 done, 0 failed, 0 with warnings, 1 abandoned, 2 not attempted.\n"
    ) in out
    assert "Traceback" not in err.rest()
