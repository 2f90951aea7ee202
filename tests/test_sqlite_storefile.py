"""The store's file: its marker, its mode, what is refused untouched, and creation that a
kill cannot leave half-done."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import TargetError
from reconciler.targets.sqlite import MIGRATIONS, SqliteTarget, Store, storefile
from reconciler.targets.sqlite import migrations as migrations_module
from tests.factories import spec
from tests.stores import add, old_store

ROOT = Path(__file__).resolve().parents[1]


def child_env() -> dict[str, str]:
    """The test's environment (RECONCILE_* removed), importing this checkout."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def folder_state(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file of ``folder``: its bytes, mtime and mode, to show nothing changed."""
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns, mode(p))
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


# --- the marker ---------------------------------------------------------------------


def test_a_new_store_is_marked_and_records_its_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    assert path.read_bytes()[68:72] == b"RCLR"  # PRAGMA application_id, in the header
    assert user_version(path) == len(MIGRATIONS)


def test_a_store_made_before_the_marker_gets_it_on_its_next_write(tmp_path: Path) -> None:
    path = old_store(tmp_path / "state.db", migrations=2)
    target = SqliteTarget(path, lazy=True)
    try:
        assert [p.name for p in target.observe().providers] == ["Kept"]
        assert path.read_bytes()[68:72] == bytes(4)  # reading marks nothing
        target.create(spec("New"))
    finally:
        target.close()
    assert path.read_bytes()[68:72] == b"RCLR"
    assert user_version(path) == len(MIGRATIONS)


# --- what is not a store is refused, untouched ----------------------------------------


def _with_notes(path: Path, *first: str) -> None:
    """A database of another program: a table of notes, after the ``first`` statements."""
    conn = sqlite3.connect(path)
    for statement in first:
        conn.execute(statement)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()


FOREIGN: dict[str, Callable[[Path], None]] = {
    "another program's database": lambda p: _with_notes(p),
    "another program's WAL database": lambda p: _with_notes(p, "PRAGMA journal_mode = WAL"),
    "a database marked by another program": lambda p: _with_notes(
        p, "PRAGMA application_id = 1179406369"
    ),
    "a database with a providers table": lambda p: _with_notes(
        p, "CREATE TABLE providers (name TEXT)"
    ),
    "a YAML file": lambda p: p.write_text("version: 1\nproviders: []\n" * 10),
}


def _use(command: str, path: Path) -> None:
    """What each command does with the store at ``path``, through the public API."""
    if command == "serve":  # the sandbox server, and `reconcile token`
        Store(path).close()
        return
    target = SqliteTarget(path, lazy=True, must_exist=command == "export")
    try:
        if command == "apply":
            with target.lock(0):
                target.observe()
                target.create(spec("P"))
        else:
            target.observe()
    finally:
        target.close()


@pytest.mark.parametrize("command", ["plan", "export", "apply", "serve"])
@pytest.mark.parametrize("kind", list(FOREIGN))
def test_a_file_that_is_not_a_store_is_refused_untouched(
    tmp_path: Path, kind: str, command: str
) -> None:
    path = tmp_path / "any.db"
    FOREIGN[kind](path)
    before = folder_state(tmp_path)
    with pytest.raises(
        TargetError, match=r"cannot open the store .*any\.db \(.*\); check --target"
    ):
        _use(command, path)
    assert folder_state(tmp_path) == before  # no table, no WAL switch, no -wal, -shm, .lock


@pytest.mark.parametrize("command", ["plan", "apply", "export"])
def test_the_commands_refuse_another_programs_database_untouched(
    tmp_path: Path, command: str
) -> None:
    (tmp_path / "providers.yaml").write_text(
        "version: 1\nproviders:\n  - name: Local\n    type: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n"
    )
    FOREIGN["another program's WAL database"](tmp_path / "any.db")
    before = folder_state(tmp_path)
    extra = ["--yes"] if command == "apply" else []
    run = subprocess.run(
        [sys.executable, "-m", "reconciler", command, "--target", "sqlite:///any.db", *extra],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 1, run.stderr
    assert run.stderr.splitlines()[-1] == (
        "Error: cannot open the store any.db (a SQLite database, but not a reconciler store; "
        "left untouched); check --target: it must name a reconciler state file, e.g. "
        "sqlite:///.reconcile/state.db"
    )
    assert folder_state(tmp_path) == before


# --- the mode -----------------------------------------------------------------------


def _loosen(path: Path) -> sqlite3.Connection:
    """Make ``path`` and its -wal and -shm files 0644; the connection keeps the latter."""
    holder = sqlite3.connect(path)
    holder.execute("SELECT * FROM providers").fetchall()  # WAL readers keep both files
    for file in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        os.chmod(file, 0o644)
    return holder


def test_a_store_with_a_looser_mode_is_made_private_before_a_write(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    holder = _loosen(path)
    try:
        store = Store(path)
        add(store, key="sk-private")
        store.close()
        files = [path, path.with_name("state.db-wal"), path.with_name("state.db-shm")]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        holder.close()


def test_plan_leaves_the_mode_to_apply_which_fixes_it_even_without_a_change(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    os.chmod(path, 0o644)
    target = SqliteTarget(path, lazy=True)
    try:
        notes = target.observe().notes
        assert mode(path) == 0o644
        assert f"the store {path} is readable by others (mode 0644): apply will make it " in (
            " ".join(notes)
        )
        with target.lock(0):
            assert mode(path) == 0o600
    finally:
        target.close()


def test_a_store_that_cannot_be_made_private_is_refused_before_a_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    os.chmod(path, 0o644)
    before = folder_state(tmp_path)

    def not_the_owner(file: object, _mode: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted", str(file))

    monkeypatch.setattr(storefile.os, "chmod", not_the_owner)
    with pytest.raises(TargetError) as refused:
        _use("apply", path)
    assert str(refused.value) == (
        f"the store file {path} is readable by others (mode 0644) and cannot be made private "
        f"(Operation not permitted: '{path}'); it holds API keys, so nothing was written: "
        f"have its owner run chmod 600 {path}"
    )
    after = folder_state(tmp_path)
    assert after["state.db"] == before["state.db"]
    # The lock, and the (empty) WAL index files a reader of a WAL-mode store makes.
    assert set(after) - set(before) <= {"state.db.lock", "state.db-wal", "state.db-shm"}
    assert after.get("state.db-wal", (b"",))[0] == b""


def test_a_touched_empty_file_reads_as_no_store_and_apply_makes_it_a_private_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    path.touch()
    os.chmod(path, 0o644)
    target = SqliteTarget(path, lazy=True)
    try:
        assert target.observe().providers == ()
        assert sorted(os.listdir(tmp_path)) == ["state.db"] and path.stat().st_size == 0
        with target.lock(0):
            target.create(spec("P"))
        assert [p.name for p in target.observe().providers] == ["P"]
    finally:
        target.close()
    assert mode(path) == 0o600
    assert path.read_bytes()[68:72] == b"RCLR"


# --- creation -----------------------------------------------------------------------

# Runs Store(path) in a child that dies (or waits) at a chosen point of the creation.
CREATE_AND_STOP = """
import os, signal, sys, time
from pathlib import Path
import reconciler.targets.sqlite.migrations as migrations
from reconciler.targets.sqlite import Store

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

def wait(*args, **kwargs):
    print("ready", flush=True)
    time.sleep(120)

path, where = Path(sys.argv[1]), sys.argv[2]
if where == "in a migration":
    migrations.now = die  # called inside a migration's transaction: its journal exists
elif where == "before the link":
    os.link = die
else:
    os.link = wait
Store(path)
"""


def _child(path: Path, where: str) -> list[str]:
    return [sys.executable, "-c", CREATE_AND_STOP, str(path), where]


@pytest.mark.parametrize("where", ["in a migration", "before the link"])
def test_a_creation_killed_midway_leaves_no_store_and_the_next_open_cleans_up(
    tmp_path: Path, where: str
) -> None:
    path = tmp_path / "s" / "state.db"
    killed = subprocess.run(_child(path, where), env=child_env(), timeout=60, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert not path.exists()
    assert os.listdir(path.parent) != []  # the killed creation's temp files
    Store(path).close()
    assert os.listdir(path.parent) == ["state.db"]


def test_a_creation_in_progress_is_not_taken_for_a_leftover(tmp_path: Path) -> None:
    path = tmp_path / "s" / "state.db"
    with subprocess.Popen(
        _child(path, "wait"), env=child_env(), stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
            [temp] = os.listdir(path.parent)
            Store(path).close()  # another process creates the store meanwhile
            assert sorted(os.listdir(path.parent)) == sorted([temp, "state.db"])
        finally:
            child.kill()
    Store(path).close()
    assert os.listdir(path.parent) == ["state.db"]


def test_a_creation_that_fails_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> str:
        raise RuntimeError("injected")

    monkeypatch.setattr(migrations_module, "now", broken)
    with pytest.raises(RuntimeError, match="injected"):
        Store(tmp_path / "s" / "state.db")
    assert os.listdir(tmp_path / "s") == []


def test_a_store_whose_name_has_uri_characters_is_read_and_written(tmp_path: Path) -> None:
    path = tmp_path / "odd #1?%20.db"
    add(store := Store(path), "P")
    store.close()
    target = SqliteTarget(path, lazy=True)
    try:
        assert [p.name for p in target.observe().providers] == ["P"]
    finally:
        target.close()
    # No file under a name cut at the ? or # (the -wal and -shm are the reader's).
    assert {name.removesuffix("-wal").removesuffix("-shm") for name in os.listdir(tmp_path)} == {
        "odd #1?%20.db"
    }
