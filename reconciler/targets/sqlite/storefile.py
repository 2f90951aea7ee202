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
again: ``probe`` knows it is a store from the registry, without reading its header. Each
registered file is *pinned* by the descriptor its header was read through, kept open until
its last connection in this process closes: its inode cannot be freed and reused by
another file while it is registered, and closing that descriptor then drops no lock in
use. A ``Store`` collected without ``close()`` is released by its finalizer.
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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
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

# Held while the registry is read or changed, and while a header is read; never during
# SQLite's work (migrations, the WAL switch), so that one opener never waits for another.
_REGISTRY = threading.Lock()


@dataclass
class _Pin:
    """A registered file: its connections here, the descriptors that pin its inode."""

    fds: list[int]
    connections: int = 0


_pins: dict[FileId, _Pin] = {}
# Files whose connection a finalizer closed without taking _REGISTRY (the collection may
# run in a thread holding it): released by the next reader of the registry.
_released: deque[FileId] = deque()


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
    with _REGISTRY:  # until the close: no opener may register the file meanwhile
        _drain()
        kind, _, fd = _look(path)
        if fd is not None:
            os.close(fd)  # not registered: no lock of this process is on it
    return kind


def _look(path: Path) -> tuple[Kind, FileId | None, int | None]:
    """Under _REGISTRY: what is at ``path``, its file, and, unless it is registered (or
    missing), the descriptor its header was read through, for the caller to keep as the
    pin or to close."""
    known = _file_id(path)
    if known in _pins:
        return "store", known, None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return "missing", None, None  # under a file: creating it says what is wrong
    except OSError as exc:
        raise refusal(path, os_reason(exc)) from None
    st = os.fstat(fd)
    opened = (st.st_dev, st.st_ino)
    if opened in _pins:  # swapped for a registered file since the stat: keep, never close
        _pins[opened].fds.append(fd)
        return "store", opened, None
    try:
        if stat.S_ISDIR(st.st_mode):
            raise refusal(path, "it is a folder")
        return _kind(path, os.pread(fd, 100, 0)), opened, fd
    except BaseException:
        os.close(fd)
        raise


def _kind(path: Path, header: bytes) -> Kind:
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
    opened = _register(path, read_only=read_only)
    conn: sqlite3.Connection | None = None
    try:
        conn = _connect(path, read_only=read_only)
        # The file read and pinned must be the one SQLite opened: a file swapped in
        # meanwhile was never looked at, and may be anyone's.
        if _file_id(path) != opened:
            raise refusal(path, "it was replaced while being opened; try again")
        if not read_only:
            _prepare(path, conn)
    except BaseException:
        close_store(conn, opened)
        raise
    return conn, opened


def _register(path: Path, *, read_only: bool) -> FileId:
    """Register the store at ``path`` as open (made first if missing and not
    ``read_only``), pinned; its file."""
    for attempt in range(2):
        with _REGISTRY:
            _drain()
            kind, opened, fd = _look(path)
            if opened is not None and (kind == "store" or (kind == "empty" and not read_only)):
                pin = _pins.setdefault(opened, _Pin([]))
                pin.connections += 1
                pin.fds.extend([] if fd is None else [fd])
                return opened
            if fd is not None:
                os.close(fd)  # an empty file, read-only: not registered
        if read_only or kind != "missing" or attempt:
            break
        _create_missing(path)
    raise TargetError(f"there is no store at {path}")


def close_store(
    conn: sqlite3.Connection | None, opened: FileId, *, collected: bool = False
) -> None:
    """Close a connection from ``open_store`` and forget it (the file's last one: its pin
    is closed, and the file may be read again). ``collected``: called by a finalizer,
    which must not wait for the registry."""
    try:
        if conn is not None:
            conn.close()
    finally:
        _released.append(opened)
        if _REGISTRY.acquire(blocking=not collected):
            try:
                _drain()
            finally:
                _REGISTRY.release()


def _drain() -> None:
    """Under _REGISTRY: release the connections closed since."""
    while _released:
        opened = _released.popleft()
        pin = _pins.get(opened)
        if pin is None:
            continue
        pin.connections -= 1
        if pin.connections <= 0:
            del _pins[opened]
            for fd in pin.fds:
                os.close(fd)  # the file's last connection is closed: no lock to lose


def registered() -> frozenset[FileId]:
    """The files this process has open as stores (what ``probe`` does not read)."""
    with _REGISTRY:
        _drain()
        return frozenset(_pins)


def _file_id(path: Path) -> FileId | None:
    with contextlib.suppress(OSError):
        st = os.stat(path)
        return st.st_dev, st.st_ino
    return None


def _create_missing(path: Path) -> None:
    """Make the store at ``path``, its leftover temp files removed first."""
    # A wrong --target (a folder, a path we may not write) is the user's to fix: say so
    # in one message rather than fail as a bug would.
    remove_leftovers(path)
    try:
        create(path, apply_migrations)
    except OSError as exc:
        raise TargetError(
            f"cannot create the store {path} ({os_reason(exc)}); check --target"
        ) from None


def _prepare(path: Path, conn: sqlite3.Connection) -> None:
    """Make the store at ``path`` private, marked, migrated and WAL, through ``conn``."""
    remove_leftovers(path)
    make_private(path)  # before a key is written into it
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        # Migrations before WAL: an empty file gets its marker into the main file at once.
        apply_migrations(conn)
        _use_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        raise refusal(path, str(exc)) from None


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
    built = False
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            build(conn)
        finally:
            conn.close()
        built = True
    finally:
        # Under _REGISTRY from the link to the close: once linked, ``fd`` is a descriptor
        # of the store itself, and closing it would drop the locks of a connection another
        # thread made to it meanwhile; no opener can register the file until it is closed.
        with _REGISTRY:
            if built:
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)  # unlike a rename, never replaces a store made meanwhile
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
    # Under _REGISTRY throughout: no store may be registered (and connected) on the file
    # between the check and the close of the descriptor opened here.
    with _REGISTRY:
        _drain()
        known = _file_id(tmp)
        if known is None:
            return
        if known in _pins or known == _file_id(path):
            # Killed after linking it into place: it is a store this process may have
            # open (the current one, or one it opened before the path was replaced), so
            # it must not be opened (and closed) to be locked.
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
        _remove_unlocked(tmp)


def _remove_unlocked(tmp: Path) -> None:
    """Delete the temp file ``tmp`` and its journal unless a creation holds its lock."""
    try:
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) in _pins:  # swapped since the stat: keep it, never close
        _pins[st.st_dev, st.st_ino].fds.append(fd)
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
