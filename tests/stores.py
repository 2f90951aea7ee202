"""Embedded stores for the tests: a provider in one line, and stores as earlier releases
left them (their schema frozen here, so that a change to today's migrations cannot make
the upgrade tests pass by accident)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from reconciler.secrets import Secret
from reconciler.targets.sqlite import Store

# Migration 1 as released: providers and models.
RELEASE_1 = """
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
"""

# Migration 2 as released: the sandbox's users, tokens and user keys.
RELEASE_2 = """
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
"""

# Migration 3 as released: ClaraVerse's provider settings.
RELEASE_3 = """
ALTER TABLE providers ADD COLUMN audio_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE providers ADD COLUMN image_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE providers ADD COLUMN image_edit_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE providers ADD COLUMN default_model TEXT NOT NULL DEFAULT '';
ALTER TABLE providers ADD COLUMN system_prompt TEXT NOT NULL DEFAULT '';
ALTER TABLE providers ADD COLUMN favicon TEXT NOT NULL DEFAULT '';
"""


def add(store: Store, name: str = "P", *, key: str | None = None, enabled: bool = True) -> int:
    """A provider with a public URL (and ``key``, if given); its id."""
    return store.create_provider(
        name=name,
        type="openai",
        base_url="https://api.example/v1",
        api_key=None if key is None else Secret(key),
        enabled=enabled,
    )


def old_store(path: Path, *, migrations: int = 1) -> Path:
    """A store as an earlier release left it: the first ``migrations`` (1 to 3) applied,
    and one provider, 'Kept'."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for number, script in enumerate((RELEASE_1, RELEASE_2, RELEASE_3)[:migrations], start=1):
        conn.executescript(script)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (number,))
    conn.execute(
        "INSERT INTO providers (name, type, base_url, created_at, updated_at)"
        " VALUES ('Kept', 'openai', 'https://api.example/v1', 'then', 'then')"
    )
    conn.close()
    path.chmod(0o600)
    return path
