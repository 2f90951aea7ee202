"""One store, several processes: a process that opens the store again (the sandbox's
startup message, an apply's lock, a second Store) keeps SQLite's locks, so that another
process closing the store never takes it for unused and deletes its -wal and -shm files
under a server still writing to them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from reconciler.targets.sqlite import SqliteTarget, Store
from tests.inprocess import run

ROOT = Path(__file__).resolve().parents[1]
CHILD_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("CLARAVERSE", "RECONCILE"))},
    "PYTHONPATH": str(ROOT),
}
# Another process opening the store, writing to it and closing it: the last connection
# to close, were this process's locks gone.
_OTHER = (
    "import sys; from pathlib import Path; from reconciler.targets.sqlite import Store; "
    "s = Store(Path(sys.argv[1])); s.create_provider(name=sys.argv[2], type='openai', "
    "base_url='https://example.test/v1', api_key=None, enabled=True); s.close()"
)


@contextmanager
def reconcile_serve(state: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``reconcile serve --state STATE --port 0`` in a process of its own; its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "serve", "--state", str(state), "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # "Sandbox ClaraVerse server on URL (state: ...)"
        assert " on http://" in first, first
        yield first.split(" on ", 1)[1].split(" ", 1)[0], proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def token(state: Path) -> str:
    result = run("token", "--state", str(state), env=CHILD_ENV)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def add_provider(url: str, token: str, name: str) -> int:
    body = {"name": name, "base_url": "https://api.example.test/v1", "api_key": "sk-x-0123"}
    answer = httpx.post(
        f"{url}/api/admin/providers",
        json=body,
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    return answer.status_code


def names(state: Path) -> list[str]:
    store = Store(state)
    try:
        return sorted(p.name for p in store.providers())
    finally:
        store.close()


def test_token_while_serve_runs_keeps_the_servers_wal_and_what_it_wrote(tmp_path: Path) -> None:
    state = tmp_path / "sb.db"
    with reconcile_serve(state) as (url, proc):
        first = token(state)
        assert add_provider(url, first, "Before") == 201
        second = token(state)
        assert (tmp_path / "sb.db-wal").exists()
        assert add_provider(url, second, "After") == 201  # the new token is accepted
        proc.kill()  # no clean close: what it wrote must be in the WAL on disk
        proc.wait(timeout=10)
    assert names(state) == ["After", "Before"]


def test_a_store_opened_again_in_a_process_keeps_that_process_locks(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    held = Store(state)
    try:
        # Every way this process opens the file again: a second Store, an apply's lock
        # (which probes the file), and the cleaning of a creation killed after its link.
        Store(state).close()
        with SqliteTarget(state, lazy=True).lock(timeout=5):
            pass
        os.link(state, tmp_path / ".state.db.abcdefgh.new")
        Store(state).close()
        assert not (tmp_path / ".state.db.abcdefgh.new").exists()
        subprocess.run(
            [sys.executable, "-c", _OTHER, str(state), "Other"], env=CHILD_ENV, check=True
        )
        assert (tmp_path / "state.db-wal").exists()
        held.create_provider(
            name="Held", type="openai", base_url="https://e.test/v1", api_key=None, enabled=True
        )
    finally:
        held.close()
    assert names(state) == ["Held", "Other"]
