"""The embedded target: a SQLite file with ClaraVerse's data model.

``Store`` owns the file: creation with mode 0600 (it holds admin keys), numbered
migrations, and one transaction per change. ``SqliteTarget`` adapts it to the Target
protocol and fetches models from upstream itself. The sandbox server (``server.py``)
serves the same store over HTTP.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.core.model import (
    Capabilities,
    KeyState,
    ModelState,
    Observed,
    ProviderSpec,
    ProviderState,
)
from reconciler.errors import FetchError, LockError, ReconcilerError, TargetError
from reconciler.secrets import Secret, new_salt

MIGRATIONS: tuple[str, ...] = (
    # 1: providers and their models, as ClaraVerse stores them.
    """
    CREATE TABLE providers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        base_url TEXT NOT NULL,
        api_key TEXT NOT NULL DEFAULT '',
        key_salt TEXT,
        key_fingerprint TEXT,
        enabled INTEGER NOT NULL DEFAULT 1,
        fetched_at TEXT,
        last_fetch_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE models (
        provider_id INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        display_name TEXT,
        visible INTEGER NOT NULL DEFAULT 0,
        fetched_at TEXT NOT NULL,
        PRIMARY KEY (provider_id, model_id)
    );
    """,
    # 2: the sandbox server's users, their hashed tokens and their own provider keys.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        role TEXT NOT NULL CHECK (role IN ('admin', 'user'))
    );
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
        expires_at REAL
    );
    CREATE TABLE user_keys (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        provider_id INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
        api_key TEXT NOT NULL,
        PRIMARY KEY (user_id, provider_id)
    );
    """,
)

CAPABILITIES = Capabilities(
    observes=frozenset({"type", "base_url", "enabled", "api_key", "models"}),
    key_fingerprints=True,
    lists_models=True,
)


def now() -> str:
    """The current UTC time as ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, kw_only=True)
class ProviderRow:
    """A provider row, its key kept as a Secret."""

    id: int
    name: str
    type: str
    base_url: str
    api_key: Secret
    key_salt: str | None
    key_fingerprint: str | None
    enabled: bool
    fetched_at: str | None
    last_fetch_error: str | None


class Store:
    """The SQLite file: created 0600, migrated, safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mutex = threading.RLock()
        # A wrong --target (a folder, a YAML file, a path we may not write) is the user's
        # to fix: say so in one message rather than fail as a bug would.
        try:
            self._create_if_missing()
        except OSError as exc:
            raise TargetError(
                f"cannot create the store {path} ({_os_reason(exc)}); check --target"
            ) from None
        try:
            self._conn = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=30
            )
        except sqlite3.Error as exc:
            raise TargetError(f"cannot open the store {path} ({exc}); check --target") from None
        self._conn.row_factory = sqlite3.Row
        try:
            with self._mutex:
                self._conn.execute("PRAGMA foreign_keys = ON")
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise TargetError(
                f"cannot open the store {path} ({exc}); check --target: it must name a "
                "reconciler state file, e.g. sqlite:///.reconcile/state.db"
            ) from None
        except BaseException:
            self._conn.close()
            raise

    # --- file and schema -------------------------------------------------------------

    def _create_if_missing(self) -> None:
        if self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Build the schema in a temp file and move it into place, so that a crash never
        # leaves a half-made store, and the file never exists with a looser mode.
        fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".db", dir=self.path.parent)
        os.close(fd)
        os.chmod(tmp, 0o600)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                _apply_migrations(conn)
            finally:
                conn.close()
            with contextlib.suppress(FileExistsError):
                os.link(tmp, self.path)  # fails if another process made it first
        finally:
            os.unlink(tmp)

    def _migrate(self) -> None:
        with self._mutex:
            _apply_migrations(self._conn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed on success, rolled back on error."""
        with self._mutex:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent view, without taking the write lock."""
        with self._mutex:
            self._conn.execute("BEGIN DEFERRED")
            try:
                yield self._conn
            finally:
                if self._conn.in_transaction:  # an error may have ended it already
                    self._conn.execute("ROLLBACK")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query."""
        with self._mutex:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the connection."""
        with self._mutex:
            self._conn.close()

    # --- providers -------------------------------------------------------------------

    def providers(self) -> list[ProviderRow]:
        """Every provider, by name."""
        return [_row(r) for r in self.query("SELECT * FROM providers ORDER BY name")]

    def provider(self, provider_id: int) -> ProviderRow | None:
        """One provider by id."""
        rows = self.query("SELECT * FROM providers WHERE id = ?", (provider_id,))
        return _row(rows[0]) if rows else None

    def provider_id(self, name: str) -> int | None:
        """The id of the provider called ``name``."""
        rows = self.query("SELECT id FROM providers WHERE name = ?", (name,))
        return int(rows[0]["id"]) if rows else None

    def create_provider(
        self, *, name: str, type: str, base_url: str, api_key: Secret | None, enabled: bool
    ) -> int:
        """Insert a provider; its name must be new."""
        salt, fp, raw = _key_columns(api_key)
        stamp = now()
        try:
            with self.transaction() as c:
                cur = c.execute(
                    "INSERT INTO providers (name, type, base_url, api_key, key_salt,"
                    " key_fingerprint, enabled, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, type, base_url, raw, salt, fp, int(enabled), stamp, stamp),
                )
                return int(cur.lastrowid or 0)
        except sqlite3.IntegrityError as exc:
            raise TargetError(f"a provider named '{name}' already exists") from exc

    def update_provider(self, provider_id: int, **fields: Any) -> None:
        """Set some of name, type, base_url, api_key (a Secret or None), enabled."""
        sets: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "api_key":
                salt, fp, raw = _key_columns(value)
                sets.update(api_key=raw, key_salt=salt, key_fingerprint=fp)
            elif key == "enabled":
                sets["enabled"] = int(value)
            elif key in ("name", "type", "base_url"):
                sets[key] = value
            else:
                raise ValueError(f"unknown provider field {key}")
        if not sets:
            return
        sets["updated_at"] = now()
        assignments = ", ".join(f"{k} = ?" for k in sets)
        try:
            with self.transaction() as c:
                cur = c.execute(
                    f"UPDATE providers SET {assignments} WHERE id = ?",
                    (*sets.values(), provider_id),
                )
        except sqlite3.IntegrityError as exc:
            raise TargetError(f"a provider named '{fields.get('name')}' already exists") from exc
        if cur.rowcount == 0:
            raise TargetError(f"provider {provider_id} not found")

    def delete_provider(self, provider_id: int) -> None:
        """Delete a provider; its models and user keys go with it."""
        with self.transaction() as c:
            cur = c.execute("DELETE FROM providers WHERE id = ?", (provider_id,))
        if cur.rowcount == 0:
            raise TargetError(f"provider {provider_id} not found")

    # --- models ----------------------------------------------------------------------

    def models(self, provider_id: int | None = None) -> list[sqlite3.Row]:
        """Model rows (provider_id, model_id, display_name, visible, fetched_at)."""
        if provider_id is None:
            return self.query("SELECT * FROM models ORDER BY provider_id, model_id")
        return self.query(
            "SELECT * FROM models WHERE provider_id = ? ORDER BY model_id", (provider_id,)
        )

    def replace_models(self, provider_id: int, models: Sequence[tuple[str, str | None]]) -> None:
        """Store a fresh listing: new models hidden, known ones keep their visibility,
        models no longer listed removed. An empty listing for a provider that has models
        is refused (FetchError): an upstream restarted without its models, or still
        starting, must not wipe the models and the visibility admins chose."""
        stamp = now()
        ids = [m[0] for m in models]
        if not ids:
            known = self.query("SELECT COUNT(*) FROM models WHERE provider_id = ?", (provider_id,))
            if known[0][0]:
                raise FetchError(
                    f"the upstream listed no models; kept the {known[0][0]} known ones (an "
                    "upstream that lost its models, or is still starting?) and will fetch "
                    "again on the next apply; set fetch_models: false to stop"
                )
        with self.transaction() as c:
            c.execute("CREATE TEMP TABLE IF NOT EXISTS listed (model_id TEXT PRIMARY KEY)")
            c.execute("DELETE FROM listed")
            c.executemany("INSERT OR IGNORE INTO listed VALUES (?)", [(i,) for i in ids])
            c.execute(
                "DELETE FROM models WHERE provider_id = ? AND model_id NOT IN"
                " (SELECT model_id FROM listed)",
                (provider_id,),
            )
            c.executemany(
                "INSERT INTO models (provider_id, model_id, display_name, visible, fetched_at)"
                " VALUES (?, ?, ?, 0, ?) ON CONFLICT (provider_id, model_id) DO UPDATE SET"
                " display_name = excluded.display_name, fetched_at = excluded.fetched_at",
                [(provider_id, mid, name, stamp) for mid, name in models],
            )
            c.execute(
                "UPDATE providers SET fetched_at = ?, last_fetch_error = NULL WHERE id = ?",
                (stamp, provider_id),
            )

    def record_fetch_error(self, provider_id: int, message: str) -> None:
        """Remember that the last fetch failed, so the next plan fetches again."""
        with self.transaction() as c:
            c.execute(
                "UPDATE providers SET last_fetch_error = ? WHERE id = ?", (message, provider_id)
            )

    def set_visibility(self, provider_id: int, model_ids: Sequence[str], visible: bool) -> int:
        """Show or hide models of a provider; how many rows changed."""
        with self.transaction() as c:
            cur = c.executemany(
                "UPDATE models SET visible = ? WHERE provider_id = ? AND model_id = ?",
                [(int(visible), provider_id, m) for m in model_ids],
            )
            return cur.rowcount


def _apply_migrations(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    known = len(MIGRATIONS)
    newest = max(done, default=0)
    if newest > known:
        raise ReconcilerError(
            f"the store was written by a newer reconciler (schema {newest} > {known}); upgrade"
        )
    for number, sql in enumerate(MIGRATIONS, start=1):
        if number in done:
            continue
        # The migration and its record in one transaction, checked again under the write
        # lock: another process opening the same store may have applied it meanwhile.
        conn.execute("BEGIN IMMEDIATE")
        try:
            applied = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (number,)
            ).fetchone()
            if applied is None:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, now()))
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    """The SQL statements of a migration script, one by one (executescript would commit
    the enclosing transaction first)."""
    out: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out


def _os_reason(exc: OSError) -> str:
    """``Not a directory: 'a/b'``: what went wrong, and where."""
    reason = exc.strerror or type(exc).__name__
    return f"{reason}: '{exc.filename}'" if exc.filename else reason


def _key_columns(api_key: Secret | None) -> tuple[str | None, str | None, str]:
    if api_key is None or not api_key:
        return None, None, ""
    salt = new_salt()
    return salt, api_key.fingerprint(salt), api_key.reveal()


def _row(r: sqlite3.Row) -> ProviderRow:
    return ProviderRow(
        id=r["id"],
        name=r["name"],
        type=r["type"],
        base_url=r["base_url"],
        api_key=Secret(r["api_key"]),
        key_salt=r["key_salt"],
        key_fingerprint=r["key_fingerprint"],
        enabled=bool(r["enabled"]),
        fetched_at=r["fetched_at"],
        last_fetch_error=r["last_fetch_error"],
    )


class FileLock:
    """An exclusive advisory lock on ``<store>.lock``, across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        """Hold the lock; wait up to ``timeout`` seconds, then fail with LockError."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LockError(
                f"cannot create the lock file {self.path} ({_os_reason(exc)})"
            ) from None
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        store = str(self.path).removesuffix(".lock")
                        raise LockError(
                            f"another apply holds the lock on {store}; wait for it to "
                            "finish, or pass --lock-timeout SECONDS to wait"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class SqliteTarget:
    """The embedded target over a Store; fetches models from upstream itself."""

    capabilities = CAPABILITIES

    def __init__(
        self,
        path: Path,
        *,
        lazy: bool = False,
        must_exist: bool = False,
        fetch_timeout: float | None = None,
        fetch_retries: int | None = None,
    ) -> None:
        self.path = path
        self.description = f"sqlite:///{path}"
        # lazy: the file is made by the first write, so that a plan, or an apply that is
        # refused or cancelled, leaves no store behind where there was none.
        self._store = None if lazy and not path.exists() else Store(path)
        self._store_lock = threading.Lock()
        self._lock = FileLock(path.with_name(path.name + ".lock"))
        # Plain numbers here: building FetchSettings would import httpx, which plan
        # (it never fetches) should not pay for.
        self._must_exist = must_exist
        self._fetch_timeout = fetch_timeout
        self._fetch_retries = fetch_retries
        self._client: Any = None  # one httpx client for every fetch of this run
        self._settings: Any = None
        self._client_lock = threading.Lock()

    @property
    def store(self) -> Store:
        """The store, created on first use."""
        with self._store_lock:  # the executor's threads may all write first at once
            if self._store is None:
                self._store = Store(self.path)
            return self._store

    def observe(self) -> Observed:
        """Every provider with its models, in one read transaction."""
        if self._store is None:
            if self._must_exist:
                raise TargetError(
                    f"there is no store at {self.path}; check --target (the default is "
                    ".reconcile/state.db in the working directory)"
                )
            return Observed(
                providers=(),
                capabilities=CAPABILITIES,
                notes=(
                    f"the store {self.path} does not exist yet: apply will create it (check "
                    "--target if you expected one)",
                ),
            )
        with self.store.snapshot() as c:
            rows = [_row(r) for r in c.execute("SELECT * FROM providers ORDER BY name")]
            models: dict[int, list[ModelState]] = {}
            for m in c.execute(
                "SELECT provider_id, model_id, display_name, visible FROM models"
                " ORDER BY provider_id, model_id"
            ):
                models.setdefault(m[0], []).append(
                    ModelState(id=m[1], display_name=m[2], visible=bool(m[3]))
                )
        states = []
        for r in rows:
            ms = tuple(models.get(r.id, ()))
            states.append(
                ProviderState(
                    id=str(r.id),
                    name=r.name,
                    type=r.type,  # type: ignore[arg-type]
                    base_url=r.base_url,
                    enabled=r.enabled,
                    key=KeyState(
                        present=bool(r.api_key), salt=r.key_salt, fingerprint=r.key_fingerprint
                    ),
                    models=ms,
                    model_count=len(ms),
                    fetched=r.fetched_at is not None,
                    last_fetch_error=r.last_fetch_error,
                )
            )
        return Observed(providers=tuple(states), capabilities=CAPABILITIES)

    def create(self, spec: ProviderSpec) -> str:
        """Insert the provider."""
        assert spec.type is not None and spec.base_url is not None
        return str(
            self.store.create_provider(
                name=spec.name,
                type=spec.type,
                base_url=spec.base_url,
                api_key=spec.api_key,
                enabled=spec.enabled,
            )
        )

    def update(self, provider_id: str, spec: ProviderSpec, fields: tuple[str, ...]) -> None:
        """Set the given fields from the spec."""
        values = {f: getattr(spec, f) for f in fields}
        self.store.update_provider(int(provider_id), **values)

    def rename(self, provider_id: str, new_name: str) -> None:
        """Rename in place."""
        self.store.update_provider(int(provider_id), name=new_name)

    def set_enabled(self, provider_id: str, enabled: bool) -> None:
        """Enable or disable."""
        self.store.update_provider(int(provider_id), enabled=enabled)

    def delete(self, provider_id: str) -> None:
        """Delete the provider and its models."""
        self.store.delete_provider(int(provider_id))

    def fetch_models(self, provider_id: str) -> int:
        """List models upstream and store them; record the error on failure."""
        row = self.store.provider(int(provider_id))
        if row is None:
            raise TargetError(f"provider {provider_id} not found")
        settings, client = self._fetcher()
        return refresh_models(self.store, row, settings=settings, client=client)

    def _fetcher(self) -> tuple[Any, Any]:
        """The fetch settings and the one HTTP client every fetch of this run shares, made
        on first use: plan never fetches, and importing httpx is not free."""
        from reconciler.upstream import discovery

        with self._client_lock:
            if self._client is None:
                settings = discovery.FetchSettings()
                if self._fetch_timeout is not None:
                    settings = replace(
                        settings,
                        read_timeout=self._fetch_timeout,
                        connect_timeout=min(settings.connect_timeout, self._fetch_timeout),
                    )
                if self._fetch_retries is not None:
                    retry = replace(settings.retry, max_attempts=self._fetch_retries + 1)
                    settings = replace(settings, retry=retry)
                self._settings = settings
                self._client = discovery.new_client(settings)
            return self._settings, self._client

    def list_models(self, provider_id: str) -> tuple[ModelState, ...]:
        """The provider's models now."""
        return tuple(
            ModelState(id=m["model_id"], display_name=m["display_name"], visible=bool(m["visible"]))
            for m in self.store.models(int(provider_id))
        )

    def set_visibility(self, provider_id: str, model_ids: tuple[str, ...], visible: bool) -> None:
        """Show or hide models."""
        self.store.set_visibility(int(provider_id), model_ids, visible)

    def find_id(self, name: str) -> str | None:
        """The id of a provider by name."""
        found = self.store.provider_id(name)
        return None if found is None else str(found)

    def lock(self, timeout: float) -> contextlib.AbstractContextManager[None]:
        """The store's file lock, held for a whole apply."""
        return self._lock.hold(timeout)

    def close(self) -> None:
        """Close the store and the fetch client."""
        if self._client is not None:
            self._client.close()
        if self._store is not None:
            self._store.close()


def refresh_models(store: Store, row: ProviderRow, *, settings: Any, client: Any) -> int:
    """List ``row``'s models upstream and store them (the embedded target's fetch and the
    sandbox server's). On failure the reason is recorded, so that the next plan fetches
    again, and the FetchError raised."""
    from reconciler.upstream import discovery

    try:
        found = discovery.list_models(
            provider_name=row.name,
            provider_type=row.type,  # type: ignore[arg-type]
            base_url=row.base_url,
            api_key=row.api_key if row.api_key else None,
            settings=settings,
            client=client,
        )
        store.replace_models(row.id, [(m.id, m.display_name) for m in found])
    except FetchError as exc:
        store.record_fetch_error(row.id, exc.short_reason())
        raise
    return len(found)
