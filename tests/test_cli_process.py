"""Smoke tests of the CLI as a process: ``python -m reconciler``, the ``reconcile`` console
script, and Ctrl-C. Everything else runs in-process (inprocess.py), which is faster."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

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
