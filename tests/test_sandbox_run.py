"""Running the sandbox: the startup message, ``serve`` on the port it reports, and its
memory staying flat under bodies far larger than it accepts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from reconciler.sandbox.run import startup_message
from reconciler.targets.sqlite import Store
from tests.sandbox import admin_token


def test_startup_message_says_how_to_get_an_admin_token(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    message = startup_message(state, "http://127.0.0.1:8080")
    assert "http://127.0.0.1:8080" in message
    assert f"reconcile token --state {state}" in message
    assert "No admin account yet" in message


@contextmanager
def serving(state: Path, log_level: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``serve`` in a process of its own, as ``reconcile serve`` runs it; its URL."""
    script = (
        "import sys; from pathlib import Path; from reconciler.sandbox.run import serve; "
        f"serve(Path(sys.argv[1]), port=0, log_level={log_level!r}, "
        "on_ready=lambda url: print(url, flush=True))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip(), proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=10)


def _admin_token(state: Path) -> str:
    store = Store(state)
    try:
        return admin_token(store)
    finally:
        store.close()


def test_serve_answers_on_the_port_it_reports(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    token = _admin_token(state)
    with serving(state, "warning") as (url, _):
        assert url.startswith("http://127.0.0.1:")
        response = httpx.get(
            f"{url}/api/admin/providers", headers={"authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.json() == {"providers": None}


def test_serve_logs_no_key_that_its_answers_echo(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    auth = {"authorization": f"Bearer {_admin_token(state)}"}
    key, rotated = "sk-echoed-admin-key-0123", "sk-echoed-rotated-key-4567"
    with serving(state, "debug") as (url, proc), httpx.Client(base_url=url, headers=auth) as http:
        body = {"name": "OpenAI", "base_url": "https://api.openai.com/v1", "api_key": key}
        created = http.post("/api/admin/providers", json=body).json()
        path = f"/api/admin/providers/{created['id']}"
        answers = [
            created,
            http.put(path, json={"api_key": rotated}).json(),
            http.put(path + "/toggle", json={"enabled": False}).json(),
        ]
        assert http.post("/api/admin/providers", json=body).status_code == 409
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert [a["api_key"] for a in answers] == [key, rotated, rotated]
    assert "PUT /api/admin/providers" in out + err  # the access log was on
    for secret in (key, rotated):
        assert secret not in out + err


_MIB = 1024 * 1024


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def _stream(total: int) -> Iterator[bytes]:
    """``total`` bytes in 64 KiB chunks, made as they are sent: the client holds none."""
    chunk = b"x" * (64 * 1024)
    for _ in range(total // len(chunk)):
        yield chunk


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_serve_memory_stays_flat_under_huge_bodies(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    admin = {"authorization": f"Bearer {_admin_token(state)}"}
    with serving(state, "warning") as (url, proc), httpx.Client(base_url=url, timeout=60) as http:
        # Warm up first (imports, threads, SQLite pages): only the bodies are measured.
        assert http.get("/api/admin/providers", headers=admin).status_code == 200
        assert http.post("/api/admin/providers", json={}, headers=admin).status_code == 400
        before = _peak_rss(proc.pid)
        sized = {**admin, "content-length": str(150 * _MIB)}
        answers = [
            # Unauthenticated, chunked: refused before the body is read.
            http.post("/api/admin/providers", content=_stream(150 * _MIB)),
            # Authenticated, chunked (no Content-Length): refused once past the limit.
            http.post("/api/admin/providers", content=_stream(150 * _MIB), headers=admin),
            # Authenticated, with a Content-Length: refused before the body is read.
            http.put(
                "/api/admin/models/bulk/visibility", content=_stream(150 * _MIB), headers=sized
            ),
            http.post("/api/auth/login", content=_stream(150 * _MIB)),
        ]
        growth = _peak_rss(proc.pid) - before
    assert growth < 20 * _MIB, f"the server's peak memory grew by {growth / _MIB:.0f} MiB"
    assert [a.status_code for a in answers] == [401, 413, 413, 413]
