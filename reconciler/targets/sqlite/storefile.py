"""The store's file: whether a path holds one of ours, how a new one is made, who may read it.

A store is marked with ``PRAGMA application_id`` (``APPLICATION_ID``); stores made before
the marker are recognised by their tables. Anything else at the path (another program's
SQLite file, a YAML file) is refused before SQLite opens it, so that it is left exactly
as it was. A new store is built in a locked temp file beside it and linked into place; the
temp files of a creation that was killed are removed by the next writer.

POSIX locks belong to a process and a file: closing *any* descriptor of a file drops every
lock this process holds on it, SQLite's included. A WAL store whose readers' locks are gone
looks unused to other processes, and the last of them to close deletes its -wal and -shm
files under the feet of a server still writing to them. So a file that this process has
open as a store (``open_store``, until ``close_store``) is never opened by Python code
again: ``probe`` knows it is a store from the registry, without reading its header.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import stat
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from reconciler.errors import TargetError
from reconciler.targets.sqlite.lock import os_reason
from reconciler.targets.sqlite.migrations import APPLICATION_ID, apply_migrations

_MAGIC = b"SQLite format 3\x00"
# What a store made before the marker holds, whatever its schema version.
_OLD_STORE_TABLES = frozenset({"schema_migrations", "providers", "models"})
# The files SQLite keeps beside a WAL-mode store; they hold its data too.
SIDECARS = ("-wal", "-shm")
_TEMP_SUFFIX = ".new"

Kind = Literal["missing", "empty", "store"]
FileId = tuple[int, int]
"""A file's (device, inode): what POSIX locks are held on."""

# Held while a store is probed and opened, so that no thread reads the header of a file
# that another thread is opening; reentrant, as opening probes.
_OPENING = threading.RLock()
# The files this process has open as stores, and through how many connections.
_open_files: Counter[FileId] = Counter()


def refusal(path: Path, why: str) -> TargetError:
    """The error for a --target that names something other than a store."""
    return TargetError(
        f"cannot open the store {path} ({why}); check --target: it must name a reconciler "
        "state file, e.g. sqlite:///.reconcile/state.db"
    )


def probe(path: Path) -> Kind:
    """What is at ``path``: nothing, an empty file, or a store of ours. Anything else is
    refused (TargetError) after reading its header only: SQLite never opens it. A store
    this process has open is not read at all (its locks would go, see above)."""
    with _OPENING:
        if _file_id(path) in _open_files:
            return "store"
        return _read_kind(path)


def _read_kind(path: Path) -> Kind:
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except (FileNotFoundError, NotADirectoryError):
        return "missing"  # under a file: creating it says what is wrong
    except IsADirectoryError:
        raise refusal(path, "it is a folder") from None
    except OSError as exc:
        raise refusal(path, os_reason(exc)) from None
    if not header:
        return "empty"
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise refusal(path, "file is not a database")
    app = int.from_bytes(header[68:72], "big")
    if app == APPLICATION_ID:
        return "store"
    if app != 0:
        why = f"a SQLite database of another program, application_id {app:#x}; left untouched"
        raise refusal(path, why)
    if not _tables(path) >= _OLD_STORE_TABLES:
        raise refusal(path, "a SQLite database, but not a reconciler store; left untouched")
    return "store"


def _tables(path: Path) -> set[str]:
    # immutable: read the file as it is, without locks, -wal or -shm files, so that a
    # foreign database is not touched. A store made before the marker was built whole
    # before it was linked into place, so its tables are in the main file.
    conn = sqlite3.connect(f"{_uri(path)}?mode=ro&immutable=1", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError:
        return set()
    finally:
        conn.close()


def _uri(path: Path) -> str:
    """``path`` as a SQLite ``file:`` URI (``?``, ``#`` and ``%`` in names escaped)."""
    return "file:" + quote(str(path.absolute()))


def open_store(path: Path, *, read_only: bool) -> tuple[sqlite3.Connection, FileId]:
    """A connection to the store at ``path`` (refused if it is something else; read-only:
    it must exist; else made if missing, private, marked, migrated), and the file it is
    registered as open under; give both back to ``close_store``."""
    with _OPENING:
        kind = probe(path)
        if read_only:
            if kind != "store":
                raise TargetError(f"there is no store at {path}")
            conn = _connect(path, read_only=True)
        else:
            conn = _open_for_writing(path, kind)
        opened = _file_id(path)
        if opened is None:  # removed meanwhile: SQLite still has it, nothing can read it
            opened = (-1, id(conn))
        _open_files[opened] += 1
    return conn, opened


def close_store(conn: sqlite3.Connection, opened: FileId) -> None:
    """Close a connection from ``open_store`` and forget it (the file's last one: the file
    may be read again)."""
    with _OPENING:
        try:
            conn.close()
        finally:
            _open_files[opened] -= 1
            if _open_files[opened] <= 0:
                del _open_files[opened]


def _file_id(path: Path) -> FileId | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _open_for_writing(path: Path, kind: Kind) -> sqlite3.Connection:
    """A connection to the store at ``path``, made if missing, private, marked, migrated."""
    # A wrong --target (a folder, a path we may not write) is the user's to fix: say so
    # in one message rather than fail as a bug would.
    remove_leftovers(path)
    if kind == "missing":
        try:
            create(path, apply_migrations)
        except OSError as exc:
            raise TargetError(
                f"cannot create the store {path} ({os_reason(exc)}); check --target"
            ) from None
    make_private(path)  # before a key is written into it
    conn = _connect(path)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        # Migrations before WAL: an empty file gets its marker into the main file at once.
        apply_migrations(conn)
        _use_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise refusal(path, str(exc)) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, wait: float = 30.0) -> None:
    # Switching a store to WAL needs it to itself for an instant, and SQLite answers
    # "database is locked" at once, without its busy timeout, while another connection
    # reads it: so try again until the deadline. Once switched, the file stays WAL and
    # later openers find nothing to do.
    deadline = time.monotonic() + wait
    while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection to the existing file ``path``, for the store's threads to share."""
    try:
        return sqlite3.connect(
            f"{_uri(path)}?mode={'ro' if read_only else 'rw'}",
            uri=True,
            check_same_thread=False,
            isolation_level=None,
            timeout=30,
        )
    except sqlite3.Error as exc:
        raise refusal(path, str(exc)) from None


def make_private(path: Path) -> None:
    """Give the store and its -wal and -shm files mode 0600, as they hold keys; a file we
    cannot chmod (someone else's) is refused rather than written into."""
    for file in (path, *(path.with_name(path.name + s) for s in SIDECARS)):
        try:
            mode = stat.S_IMODE(os.stat(file).st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        try:
            os.chmod(file, 0o600)
        except OSError as exc:
            raise TargetError(
                f"the store file {file} is readable by others (mode {mode:04o}) and cannot "
                f"be made private ({os_reason(exc)}); it holds API keys, so nothing was "
                f"written: have its owner run chmod 600 {file}"
            ) from None


def create(path: Path, build: Callable[[sqlite3.Connection], None]) -> None:
    """Make the store at ``path`` with ``build``, unless another process makes it first.
    Built in a temp file beside it (0600, locked while in use), then linked into place,
    so that no half-made store ever exists, and the file never has a looser mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = _locked_temp(path)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            build(conn)
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # unlike a rename, never replaces a store made meanwhile
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.close(fd)  # the lock goes last: a cleaner must never take a live temp file


def _locked_temp(path: Path) -> tuple[int, str]:
    """A new temp file for ``path``, created and locked; its descriptor and name."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # Between mkstemp and flock, a cleaner may have taken it for a leftover.
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.stat(tmp), os.fstat(fd)):
                return fd, tmp
        os.close(fd)


def remove_leftovers(path: Path) -> None:
    """Delete the temp files that a killed creation of ``path`` left beside it. A live
    creation holds a lock on its temp file, so it is never disturbed; best effort."""
    ours = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}" + re.escape(_TEMP_SUFFIX))
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if ours.fullmatch(name):
            _remove_if_abandoned(path.parent / name, path)


def _remove_if_abandoned(tmp: Path, path: Path) -> None:
    with contextlib.suppress(OSError):
        if os.path.samestat(os.stat(tmp), os.stat(path)):
            # Killed after linking it into place: it is the store itself, which this
            # process may have open, so it must not be opened (and closed) to be locked.
            os.unlink(tmp)
            return
    try:
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The journal first: were this interrupted too, the temp file would still be
        # there to be found next time.
        for name in (tmp.name + "-journal", tmp.name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp.with_name(name))
    except OSError:
        pass  # locked: a creation in progress; or not ours to delete
    finally:
        os.close(fd)
