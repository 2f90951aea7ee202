"""The embedded store: a SQLite file with ClaraVerse's data model (providers, models).

``Store`` owns the file: creation with mode 0600 (it holds admin keys) and the marker
(``storefile.py``), migrations (``migrations.py``), one transaction per change. Its methods
(and its ``catalog``: model settings, aliases, tiers) are the only code that reads or
writes the provider, model and catalog tables; the embedded target and the sandbox server
both go through them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.catalog import Alias, TierState
from reconciler.core.model import (
    DEFAULT_SETTINGS,
    KIND_SETTINGS,
    SETTING_NAMES,
    ModelState,
    ProviderSettings,
)
from reconciler.errors import FetchError, TargetError
from reconciler.secrets import Secret, new_salt
from reconciler.targets.sqlite.catalog import (
    Catalog,
    model_select,
    model_state,
    read_aliases,
    read_tiers,
)
from reconciler.targets.sqlite.migrations import MIGRATIONS, applied, now
from reconciler.targets.sqlite.storefile import close_store, open_store, refusal


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
    settings: ProviderSettings
    fetched_at: str | None
    last_fetch_error: str | None


@dataclass(frozen=True, kw_only=True)
class StoreView:
    """What the store holds, read in one snapshot: providers by name, and by provider id
    their models and aliases; the occupied tiers."""

    providers: list[ProviderRow]
    models: dict[int, list[ModelState]]
    aliases: dict[int, list[Alias]]
    tiers: tuple[TierState, ...]


class Store:
    """The SQLite file: created 0600 and marked, migrated, safe to share between threads.

    ``read_only`` opens an existing store to observe it (plan, export): no migration, no
    journal-mode change, no write. A store from an earlier release is then read as its
    upgrade will leave it (new settings at their defaults); ``pending`` counts the
    migrations that the next writer will run first.
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self._mutex = threading.RLock()
        # Refuses what is not a store, before SQLite opens it.
        self._conn, self._opened = open_store(path, read_only=read_only)
        # A Store dropped without close() still closes its connection and leaves the
        # registry of open files (a stale entry would skip the header check of a file
        # that later gets its inode).
        self._finalizer = weakref.finalize(
            self, close_store, self._conn, self._opened, collected=True
        )
        try:
            with self._mutex:
                self.pending, self._select, self._model_select, self._catalog = _schema(self._conn)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise refusal(path, str(exc)) from None
        except BaseException:
            self.close()
            raise
        self._conn.row_factory = sqlite3.Row

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
        """Close the connection (again: nothing)."""
        with self._mutex:
            if self._finalizer.detach() is not None:
                close_store(self._conn, self._opened)

    # --- providers -------------------------------------------------------------------

    def providers(self) -> list[ProviderRow]:
        """Every provider, by name."""
        return [_row(r) for r in self.query(f"{self._select} ORDER BY name")]

    def provider(self, provider_id: int) -> ProviderRow | None:
        """One provider by id."""
        rows = self.query(f"{self._select} WHERE id = ?", (provider_id,))
        return _row(rows[0]) if rows else None

    def provider_names(self) -> dict[int, str]:
        """Provider id → name, for every provider (cheaper than whole rows)."""
        return {int(r[0]): str(r[1]) for r in self.query("SELECT id, name FROM providers")}

    def create_provider(
        self,
        *,
        name: str,
        type: str,
        base_url: str,
        api_key: Secret | None,
        enabled: bool,
        settings: ProviderSettings = DEFAULT_SETTINGS,
    ) -> int:
        """Insert a provider; its name must be new."""
        salt, fp, raw = _key_columns(api_key)
        stamp = now()
        columns: dict[str, Any] = {
            "name": name,
            "type": type,
            "base_url": base_url,
            "api_key": raw,
            "key_salt": salt,
            "key_fingerprint": fp,
            "enabled": int(enabled),
            **{s: _setting_column(s, settings.value(s)) for s in SETTING_NAMES},
            "created_at": stamp,
            "updated_at": stamp,
        }
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        try:
            with self.transaction() as c:
                cur = c.execute(
                    f"INSERT INTO providers ({names}) VALUES ({marks})", tuple(columns.values())
                )
                return int(cur.lastrowid or 0)
        except sqlite3.IntegrityError as exc:
            raise TargetError(f"a provider named '{name}' already exists") from exc

    def update_provider(self, provider_id: int, **fields: Any) -> None:
        """Set some of name, type, base_url, api_key (a Secret or None), enabled and the
        settings (``audio_only``, ...); the columns not named keep their values."""
        sets: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "api_key":
                salt, fp, raw = _key_columns(value)
                sets.update(api_key=raw, key_salt=salt, key_fingerprint=fp)
            elif key == "enabled":
                sets["enabled"] = int(value)
            elif key in ("name", "type", "base_url"):
                sets[key] = value
            elif key in SETTING_NAMES:
                sets[key] = _setting_column(key, value)
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
        """Delete a provider; its models (and rows of other tables that reference it with
        ON DELETE CASCADE, such as the sandbox's user keys) go with it."""
        with self.transaction() as c:
            cur = c.execute("DELETE FROM providers WHERE id = ?", (provider_id,))
        if cur.rowcount == 0:
            raise TargetError(f"provider {provider_id} not found")

    def providers_with_models(self) -> StoreView:
        """Every provider (by name), each one's models (by id) and aliases (by name), and
        the tiers, from one consistent view in four queries: what a plan observes."""
        models: dict[int, list[ModelState]] = {}
        aliases: dict[int, list[Alias]] = {}
        with self.snapshot() as c:
            rows = [_row(r) for r in c.execute(f"{self._select} ORDER BY name")]
            for m in c.execute(f"{self._model_select} ORDER BY provider_id, model_id"):
                models.setdefault(m["provider_id"], []).append(model_state(m))
            # A store from before the catalog (read-only, not upgraded yet) has none.
            stored = read_aliases(c) if self._catalog else []
            tiers = tuple(t.state for t in read_tiers(c)) if self._catalog else ()
        for a in stored:
            aliases.setdefault(a.provider_id, []).append(a.alias)
        return StoreView(providers=rows, models=models, aliases=aliases, tiers=tiers)

    # --- models ----------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The model catalog: model settings, aliases, tiers."""
        return Catalog(self)

    def models(
        self, provider_id: int | None = None, model_id: str | None = None
    ) -> list[sqlite3.Row]:
        """Model rows (provider_id, model_id, display_name, visible, fetched_at and the
        settings columns, see ``catalog.model_settings``): all, a provider's, or one."""
        if provider_id is None:
            return self.query(f"{self._model_select} ORDER BY provider_id, model_id")
        if model_id is not None:
            sql = f"{self._model_select} WHERE provider_id = ? AND model_id = ?"
            return self.query(sql, (provider_id, model_id))
        return self.query(
            f"{self._model_select} WHERE provider_id = ? ORDER BY model_id", (provider_id,)
        )

    def model_counts(self) -> dict[int, int]:
        """Provider id → how many models it has (providers without any left out)."""
        rows = self.query("SELECT provider_id, COUNT(*) AS n FROM models GROUP BY provider_id")
        return {int(r["provider_id"]): int(r["n"]) for r in rows}

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

    def set_visibility_by_model_id(self, model_ids: Sequence[str], visible: bool) -> int:
        """Show or hide the models of these ids at every provider (as real ClaraVerse
        servers key visibility); how many rows changed."""
        with self.transaction() as c:
            cur = c.executemany(
                "UPDATE models SET visible = ? WHERE model_id = ?",
                [(int(visible), m) for m in model_ids],
            )
            return cur.rowcount


# The provider columns of migration 1, which every store has.
_BASE_COLUMNS = (
    "id",
    "name",
    "type",
    "base_url",
    "api_key",
    "key_salt",
    "key_fingerprint",
    "enabled",
    "fetched_at",
    "last_fetch_error",
)


def _schema(conn: sqlite3.Connection) -> tuple[int, str, str, bool]:
    """How many migrations the store lacks, the SELECTs its provider and model rows are
    read with (settings an older schema lacks are read at the defaults its upgrade gives),
    and whether it has the catalog's tables."""
    done = applied(conn)
    model_columns = [r[1] for r in conn.execute("PRAGMA table_info(models)")]
    catalog = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tiers'"
    ).fetchone()
    present = {r[1] for r in conn.execute("PRAGMA table_info(providers)")}
    columns = list(_BASE_COLUMNS)
    for name in SETTING_NAMES:
        default = _setting_column(name, DEFAULT_SETTINGS.value(name))
        literal = default if isinstance(default, int) else "'" + default.replace("'", "''") + "'"
        columns.append(name if name in present else f"{literal} AS {name}")
    select = f"SELECT {', '.join(columns)} FROM providers"
    return len(MIGRATIONS) - len(done), select, model_select(model_columns), catalog is not None


def _setting_column(name: str, value: Any) -> int | str:
    """A setting as its column holds it: the flags as 0/1, the rest as text."""
    return int(bool(value)) if name in KIND_SETTINGS else str(value)


def _key_columns(api_key: Secret | None) -> tuple[str | None, str | None, str]:
    if api_key is None or not api_key:
        return None, None, ""
    salt = new_salt()
    return salt, api_key.fingerprint(salt), api_key.reveal()


def _row(r: sqlite3.Row) -> ProviderRow:
    settings: dict[str, Any] = {
        n: bool(r[n]) if n in KIND_SETTINGS else r[n] for n in SETTING_NAMES
    }
    return ProviderRow(
        id=r["id"],
        name=r["name"],
        type=r["type"],
        base_url=r["base_url"],
        api_key=Secret(r["api_key"]),
        key_salt=r["key_salt"],
        key_fingerprint=r["key_fingerprint"],
        enabled=bool(r["enabled"]),
        settings=ProviderSettings(**settings),
        fetched_at=r["fetched_at"],
        last_fetch_error=r["last_fetch_error"],
    )
