"""The embedded store: its file, its schema, its models and its lock, on real files."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.errors import LockError, ReconcilerError, TargetError
from reconciler.secrets import Secret
from reconciler.targets.sqlite import MIGRATIONS, FileLock, SqliteTarget, Store
from tests.factories import spec, write_yaml


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state" / "state.db")
    yield s
    s.close()


def add(store: Store, name: str = "P", *, key: str | None = None, enabled: bool = True) -> int:
    return store.create_provider(
        name=name,
        type="openai",
        base_url="https://api.example/v1",
        api_key=None if key is None else Secret(key),
        enabled=enabled,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the file -------------------------------------------------------------------------


def test_store_file_is_created_private_in_a_private_folder(tmp_path: Path) -> None:
    path = tmp_path / ".reconcile" / "state.db"
    store = Store(path)
    add(store, key="sk-abcdef")  # a write, so that WAL files exist too
    try:
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        for extra in path.parent.glob("state.db-*"):
            assert mode(extra) == 0o600, extra.name
        assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".state-")) == []
    finally:
        store.close()


def test_store_file_stays_private_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = Store(tmp_path / "s" / "state.db")
        store.close()
    finally:
        os.umask(old)
    assert mode(tmp_path / "s" / "state.db") == 0o600
    assert mode(tmp_path / "s") == 0o700


def test_readonly_target_does_not_create_a_store(tmp_path: Path) -> None:
    target = SqliteTarget(tmp_path / ".reconcile" / "state.db", lazy=True)
    assert target.observe().providers == ()
    target.close()
    assert not (tmp_path / ".reconcile").exists()


def test_a_folder_as_store_is_a_clear_target_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"cannot open the store .*; check --target"):
        Store(tmp_path)


def test_a_file_that_is_not_a_store_is_a_clear_target_error(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text("version: 1\nproviders: []\n")
    with pytest.raises(TargetError, match=r"\(file is not a database\); check --target"):
        SqliteTarget(path, lazy=True)


def test_a_store_under_a_file_is_a_clear_target_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(TargetError, match=r"cannot create the store .*afile/state.db"):
        Store(tmp_path / "afile" / "state.db")


# --- migrations -----------------------------------------------------------------------


def test_migrations_are_recorded_in_schema_migrations(store: Store) -> None:
    versions = [r["version"] for r in store.query("SELECT version FROM schema_migrations")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))


def test_reopening_a_store_applies_no_migration_twice(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = Store(path)
    add(first, "Kept")
    applied = first.query("SELECT version, applied_at FROM schema_migrations")
    first.close()
    again = Store(path)
    try:
        assert [tuple(r) for r in again.query("SELECT * FROM schema_migrations")] == [
            tuple(r) for r in applied
        ]
        assert [p.name for p in again.providers()] == ["Kept"]
    finally:
        again.close()


def old_store(path: Path) -> Path:
    """A store as the first release left it: migration 1 only, one provider."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'then')")
    conn.execute(
        "INSERT INTO providers (name, type, base_url, created_at, updated_at)"
        " VALUES ('Kept', 'openai', 'https://api.example/v1', 'then', 'then')"
    )
    conn.close()
    path.chmod(0o600)
    return path


def test_an_old_store_is_upgraded_in_place(tmp_path: Path) -> None:
    store = Store(old_store(tmp_path / "state.db"))
    try:
        versions = [r["version"] for r in store.query("SELECT version FROM schema_migrations")]
        assert versions == list(range(1, len(MIGRATIONS) + 1))
        assert [p.name for p in store.providers()] == ["Kept"]
        assert store.query("SELECT count(*) AS n FROM users")[0]["n"] == 0
    finally:
        store.close()


def test_a_migration_that_fails_changes_nothing(tmp_path: Path) -> None:
    path = old_store(tmp_path / "state.db")
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE tokens (x)")  # in the way of migration 2's second table
    conn.commit()
    conn.close()
    with pytest.raises(TargetError, match="table tokens already exists"):
        Store(path)
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "users" not in tables  # migration 2's first table was rolled back with it
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == [1]
    finally:
        conn.close()


def test_concurrent_openers_upgrade_an_old_store_once(tmp_path: Path) -> None:
    path = old_store(tmp_path / "state.db")
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            Store(path).close()
        except BaseException as exc:  # pragma: no cover - what the test looks for
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    store = Store(path)
    try:
        versions = [r["version"] for r in store.query("SELECT version FROM schema_migrations")]
        assert versions == list(range(1, len(MIGRATIONS) + 1))
    finally:
        store.close()


def test_store_written_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'later')", (len(MIGRATIONS) + 1,))
    conn.close()
    with pytest.raises(ReconcilerError, match="newer reconciler"):
        Store(path)


# --- providers and models -------------------------------------------------------------


def test_create_provider_with_a_taken_name_is_a_target_error(store: Store) -> None:
    add(store, "P")
    with pytest.raises(TargetError, match="a provider named 'P' already exists"):
        add(store, "P")


def test_stored_key_has_a_fingerprint_but_the_row_never_prints_it(store: Store) -> None:
    pid = add(store, key="sk-stored-secret")
    row = store.provider(pid)
    assert row is not None
    assert row.api_key.reveal() == "sk-stored-secret"
    assert row.key_fingerprint == Secret("sk-stored-secret").fingerprint(row.key_salt or "")
    assert "sk-stored-secret" not in repr(row)


def test_models_are_deleted_with_their_provider(store: Store) -> None:
    keep = add(store, "Keep")
    gone = add(store, "Gone")
    store.replace_models(keep, [("a", None)])
    store.replace_models(gone, [("b", None), ("c", "C")])
    store.delete_provider(gone)
    assert [(m["provider_id"], m["model_id"]) for m in store.models()] == [(keep, "a")]


def test_replace_models_keeps_known_visibility_hides_new_and_removes_unlisted(
    store: Store,
) -> None:
    pid = add(store)
    store.replace_models(pid, [("shown", None), ("hidden", None), ("dropped", None)])
    store.set_visibility(pid, ["shown"], True)
    store.replace_models(pid, [("shown", "Shown"), ("hidden", None), ("new", None)])
    assert {m["model_id"]: bool(m["visible"]) for m in store.models(pid)} == {
        "hidden": False,
        "new": False,
        "shown": True,
    }


def test_replace_models_clears_the_last_fetch_error(store: Store) -> None:
    pid = add(store)
    store.record_fetch_error(pid, "401 Unauthorized")
    assert (row := store.provider(pid)) is not None and row.last_fetch_error == "401 Unauthorized"
    store.replace_models(pid, [("m", None)])
    row = store.provider(pid)
    assert row is not None and row.last_fetch_error is None and row.fetched_at is not None


def test_target_observes_what_it_created(tmp_path: Path) -> None:
    target = SqliteTarget(tmp_path / "state.db")
    try:
        pid = target.create(spec("P", api_key="sk-observed", enabled=False))
        [p] = target.observe().providers
        assert (p.id, p.name, p.type, p.enabled) == (pid, "P", "openai", False)
        assert p.key is not None and p.key.present
        assert p.fetched is False and p.model_count == 0
    finally:
        target.close()


def test_rename_keeps_the_id_and_the_models(tmp_path: Path) -> None:
    target = SqliteTarget(tmp_path / "state.db")
    try:
        pid = target.create(spec("Old"))
        target.store.replace_models(int(pid), [("m1", None)])
        target.rename(pid, spec("New"))
        [p] = target.observe().providers
        assert (p.id, p.name, [m.id for m in p.models]) == (pid, "New", ["m1"])
    finally:
        target.close()


def test_observe_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    # plan reads while an apply (or the sandbox server) is in the middle of a write: it
    # sees the last committed state at once, instead of queueing behind the writer.
    writer = Store(tmp_path / "state.db")
    add(writer, "Committed")
    reader = SqliteTarget(tmp_path / "state.db", lazy=True)
    try:
        with writer.transaction() as c:
            c.execute(
                "UPDATE providers SET name = 'Uncommitted' WHERE name = 'Committed'",
            )
            assert [p.name for p in reader.observe().providers] == ["Committed"]
    finally:
        reader.close()
        writer.close()


# --- the lock -------------------------------------------------------------------------


def test_second_lock_holder_fails_at_once_naming_the_store(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first, second = SqliteTarget(path), SqliteTarget(path)
    try:
        with first.lock(0), pytest.raises(LockError) as caught, second.lock(0):
            pytest.fail("both applies hold the lock")  # pragma: no cover
        assert str(caught.value).startswith(f"another apply holds the lock on {path};")
        with second.lock(0):  # released by the first: free again
            pass
    finally:
        first.close()
        second.close()


def test_lock_waiter_gets_the_lock_once_it_is_released(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "state.db.lock")
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with lock.hold(0):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        with pytest.raises(LockError), FileLock(lock.path).hold(0):
            pass  # pragma: no cover
        release.set()
        with FileLock(lock.path).hold(60):
            pass
    finally:
        release.set()
        thread.join(30)


def _reconcile(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _opened_by(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.fixture
def one_provider_file(tmp_path: Path) -> Path:
    return write_yaml(
        tmp_path / "providers.yaml",
        [{"name": "P", "type": "openai", "base_url": "https://api.example/v1"}],
    )


def test_concurrent_apply_fails_at_once_with_a_clear_message(
    tmp_path: Path, one_provider_file: Path
) -> None:
    path = tmp_path / ".reconcile" / "state.db"
    holder = SqliteTarget(path)
    try:
        with holder.lock(0):
            proc = _reconcile(tmp_path, "apply", "-f", str(one_provider_file), "--yes")
            _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1
        assert err.strip().splitlines()[-1] == (
            "Error: another apply holds the lock on .reconcile/state.db; wait for it to "
            "finish, or pass --lock-timeout SECONDS to wait"
        )
        assert "Traceback" not in err
        assert holder.observe().providers == ()
    finally:
        holder.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the waiter")
def test_concurrent_apply_with_lock_timeout_waits_then_applies(
    tmp_path: Path, one_provider_file: Path
) -> None:
    path = tmp_path / ".reconcile" / "state.db"
    holder = SqliteTarget(path)
    try:
        with holder.lock(0):
            proc = _reconcile(
                tmp_path, "apply", "-f", str(one_provider_file), "--yes", "--lock-timeout", "60"
            )
            # The waiter has opened the lock file: it is polling for the lock we hold.
            lock_file = path.with_name("state.db.lock")
            while proc.poll() is None and not _opened_by(proc.pid, lock_file):
                time.sleep(0.01)
            assert proc.poll() is None, proc.communicate()
            assert holder.observe().providers == ()  # nothing interleaved
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert [p.name for p in holder.observe().providers] == ["P"]
    finally:
        holder.close()


def test_two_concurrent_applies_leave_the_store_consistent(
    tmp_path: Path, one_provider_file: Path
) -> None:
    procs = [_reconcile(tmp_path, "apply", "-f", str(one_provider_file), "--yes") for _ in range(2)]
    results = [(p.wait(timeout=60), p.communicate()) for p in procs]
    codes = sorted(code for code, _ in results)
    # Either they ran one after the other (both 0: the second found nothing to do), or
    # they overlapped and one was turned away by the lock; never an interleaving.
    assert codes in ([0, 0], [0, 1])
    for code, (_, err) in results:
        if code == 1:
            assert "another apply holds the lock on .reconcile/state.db" in err
    target = SqliteTarget(tmp_path / ".reconcile" / "state.db")
    try:
        assert [p.name for p in target.observe().providers] == ["P"]
    finally:
        target.close()
