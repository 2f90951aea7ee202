"""One store, several processes: a process that opens the store again (the sandbox's
startup message, an apply's lock, a second Store) keeps SQLite's locks, so that another
process closing the store never takes it for unused and deletes its -wal and -shm files
under a server still writing to them."""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from reconciler.errors import TargetError
from reconciler.targets.sqlite import SqliteTarget, Store, storefile
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


# Whether another process could take the whole file for itself: what SQLite's last
# connection to close does before it deletes the -wal and -shm files.
_LOCKABLE = (
    "import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\n"
    "try:\n    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('free')\n"
    "except OSError:\n    print('locked')"
)


def lock_seen_by_another_process(path: Path) -> str:
    child = [sys.executable, "-c", _LOCKABLE, str(path)]
    return subprocess.run(child, capture_output=True, text=True, check=True).stdout.strip()


def test_a_leftover_linked_to_another_store_held_open_is_removed_without_its_locks(
    tmp_path: Path,
) -> None:
    held = Store(tmp_path / "held.db")
    try:
        held.providers()
        assert lock_seen_by_another_process(tmp_path / "held.db") == "locked"
        # A creation of state.db killed after linking its temp file, which is (now) the
        # file of a store this process has open under another name.
        os.link(tmp_path / "held.db", tmp_path / ".state.db.abcdefgh.new")
        Store(tmp_path / "state.db").close()  # cleans the leftover up
        assert not (tmp_path / ".state.db.abcdefgh.new").exists()
        assert lock_seen_by_another_process(tmp_path / "held.db") == "locked"
    finally:
        held.close()
    assert lock_seen_by_another_process(tmp_path / "held.db") == "free"


def file_id(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def test_a_store_dropped_without_close_is_forgotten(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    assert file_id(tmp_path / "state.db") in storefile.registered()
    del store
    gc.collect()
    assert file_id(tmp_path / "state.db") not in storefile.registered()
    assert lock_seen_by_another_process(tmp_path / "state.db") == "free"  # closed too


def _notes(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("how", ["written over in place", "deleted, then made anew"])
def test_another_programs_database_where_a_dropped_store_was_is_refused_untouched(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "state.db"
    store = Store(path)
    del store  # never closed
    gc.collect()
    if how == "written over in place":
        # The file keeps its inode: what a new file is when it gets a deleted store's
        # inode, which the other way shows only on a filesystem that reuses one at once.
        _notes(tmp_path / "foreign.db")
        path.write_bytes((tmp_path / "foreign.db").read_bytes())
        (tmp_path / "foreign.db").unlink()
    else:
        path.unlink()
        _notes(path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(TargetError, match="not a reconciler store; left untouched"):
        Store(path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_store_opened_by_another_thread_while_it_is_being_made_keeps_its_locks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once the new store is linked into place, the maker's temp descriptor is one of the
    # store's: closing it must not drop the locks of a thread that connected meanwhile.
    path = tmp_path / "state.db"
    real_link = os.link
    others: list[Store] = []
    threads: list[threading.Thread] = []

    def link(src: str, dst: str | Path) -> None:
        real_link(src, dst)
        if os.fspath(dst) == str(path) and not threads:
            opener = threading.Thread(target=lambda: others.append(Store(path)))
            opener.start()
            threads.append(opener)
            opener.join(0.5)  # it waits for the maker to let go of the file, or gets in

    monkeypatch.setattr(os, "link", link)
    maker = Store(path)
    monkeypatch.setattr(os, "link", real_link)
    threads[0].join(30)
    try:
        assert lock_seen_by_another_process(path) == "locked"
        maker.close()
        assert lock_seen_by_another_process(path) == "locked"  # the other thread's
    finally:
        for store in others:
            store.close()
    assert lock_seen_by_another_process(path) == "free"
