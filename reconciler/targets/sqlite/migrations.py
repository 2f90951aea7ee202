"""The embedded store's schema: numbered migrations, each applied once with its record.

A migration's number is its position in ``MIGRATIONS`` and is recorded in
``schema_migrations`` in the same transaction as its statements, so that a store is never
left half-migrated. Numbers are never reused or renumbered: stores in the wild record them.
The newest number is mirrored in ``PRAGMA user_version``, and ``PRAGMA application_id``
marks the file as a store, for tools that look at a SQLite file's header.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from reconciler.errors import ReconcilerError

# "RCLR" in ASCII: the PRAGMA application_id of every store (0 in stores made before it).
APPLICATION_ID = 0x52434C52

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
    # 2: once the sandbox server's users, tokens and user keys. The sandbox now creates its
    # own tables (reconciler.sandbox.accounts); stores made before keep them, and the
    # number stays taken so that their records still line up.
    "",
    # 3: ClaraVerse's provider settings; existing providers get the defaults.
    """
    ALTER TABLE providers ADD COLUMN audio_only INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE providers ADD COLUMN image_only INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE providers ADD COLUMN image_edit_only INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE providers ADD COLUMN default_model TEXT NOT NULL DEFAULT '';
    ALTER TABLE providers ADD COLUMN system_prompt TEXT NOT NULL DEFAULT '';
    ALTER TABLE providers ADD COLUMN favicon TEXT NOT NULL DEFAULT '';
    """,
    # 4: the model catalog: model settings (existing models get what ClaraVerse gives a
    # fetched one), aliases and the five global tiers. Aliases and tiers reference their
    # model under its own provider, so that they go with the model or the provider.
    """
    ALTER TABLE models ADD COLUMN description TEXT NOT NULL DEFAULT '';
    ALTER TABLE models ADD COLUMN context_length INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE models ADD COLUMN system_prompt TEXT NOT NULL DEFAULT '';
    ALTER TABLE models ADD COLUMN supports_tools INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE models ADD COLUMN supports_vision INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE models ADD COLUMN supports_streaming INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE models ADD COLUMN smart_tool_router INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE models ADD COLUMN agents INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE model_aliases (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        provider_id INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
        alias_name TEXT NOT NULL COLLATE NOCASE,
        -- The name casefolded: unique per provider whatever the case, beyond ASCII too.
        alias_key TEXT NOT NULL,
        model_id TEXT NOT NULL,
        display_name TEXT NOT NULL DEFAULT '',
        description TEXT,
        agents INTEGER,
        supports_vision INTEGER,
        smart_tool_router INTEGER,
        free_tier INTEGER,
        structured_output_support TEXT CHECK (structured_output_support IN
            ('excellent', 'good', 'fair', 'poor', 'unknown')),
        structured_output_compliance INTEGER,
        structured_output_speed_ms INTEGER,
        structured_output_badge TEXT,
        structured_output_warning TEXT,
        memory_extractor INTEGER,
        memory_selector INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (provider_id, alias_key),
        FOREIGN KEY (provider_id, model_id) REFERENCES models(provider_id, model_id)
            ON DELETE CASCADE
    );
    CREATE INDEX model_aliases_model ON model_aliases (provider_id, model_id);
    CREATE TABLE tiers (
        tier TEXT PRIMARY KEY CHECK (tier IN ('tier1', 'tier2', 'tier3', 'tier4', 'tier5')),
        provider_id INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        FOREIGN KEY (provider_id, model_id) REFERENCES models(provider_id, model_id)
            ON DELETE CASCADE
    );
    CREATE INDEX tiers_model ON tiers (provider_id, model_id);
    """,
)


def now() -> str:
    """The current UTC time as ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def applied(conn: sqlite3.Connection) -> set[int]:
    """The migrations ``conn``'s store has; refuse a store from a newer release."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    done = (
        {r[0] for r in conn.execute("SELECT version FROM schema_migrations")} if exists else set()
    )
    newest = max(done, default=0)
    if newest > len(MIGRATIONS):
        raise ReconcilerError(
            f"the store was written by a newer reconciler (schema {newest} > "
            f"{len(MIGRATIONS)}); upgrade"
        )
    return done


def apply_migrations(conn: sqlite3.Connection) -> None:
    """Mark the store and apply the migrations it lacks; refuse a store from a newer
    release."""
    done = applied(conn)
    # The marker first: an empty file being made a store must never be left with tables
    # but no marker, or the next run would take it for someone else's database.
    if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    for number, sql in enumerate(MIGRATIONS, start=1):
        if number not in done:
            _apply(conn, number, sql)
    # Stores migrated before user_version was kept get it now.
    if conn.execute("PRAGMA user_version").fetchone()[0] != len(MIGRATIONS):
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")


def _apply(conn: sqlite3.Connection, number: int, sql: str) -> None:
    # The migration and its record in one transaction, checked again under the write
    # lock: another process opening the same store may have applied it meanwhile.
    conn.execute("BEGIN IMMEDIATE")
    try:
        already = conn.execute(
            "SELECT 1 FROM schema_migrations WHERE version = ?", (number,)
        ).fetchone()
        if already is None:
            for statement in statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, now()))
            conn.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def statements(script: str) -> list[str]:
    """The SQL statements of a script, one by one (``executescript`` would commit the
    enclosing transaction first)."""
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
