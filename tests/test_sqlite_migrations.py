"""The embedded store's migrations: recorded, applied once, atomic, and stores made by earlier
releases upgraded in place."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.core.model import DEFAULT_SETTINGS, ProviderSettings
from reconciler.errors import ReconcilerError, TargetError
from reconciler.targets.sqlite import MIGRATIONS, Store
from tests.stores import add, old_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state" / "state.db")
    yield s
    s.close()


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


def _tables(store: Store) -> set[str]:
    return {r["name"] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_new_store_holds_no_sandbox_tables(store: Store) -> None:
    # The sandbox makes its own (reconciler.sandbox.accounts); the embedded target needs none.
    assert {"users", "tokens", "user_keys"}.isdisjoint(_tables(store))


@pytest.mark.parametrize("migrations", [1, 2])
def test_an_old_store_is_upgraded_in_place_with_default_settings(
    tmp_path: Path, migrations: int
) -> None:
    store = Store(old_store(tmp_path / "state.db", migrations=migrations))
    try:
        versions = [r["version"] for r in store.query("SELECT version FROM schema_migrations")]
        assert versions == list(range(1, len(MIGRATIONS) + 1))
        [kept] = store.providers()
        assert kept.name == "Kept" and kept.settings == DEFAULT_SETTINGS
        if migrations == 2:  # a sandbox's store keeps its accounts' tables
            assert {"users", "tokens", "user_keys"} <= _tables(store)
    finally:
        store.close()


def test_an_upgraded_store_stores_settings(tmp_path: Path) -> None:
    store = Store(old_store(tmp_path / "state.db"))
    try:
        [kept] = store.providers()
        store.update_provider(kept.id, image_only=True, default_model="dall-e-3")
        assert store.providers()[0].settings == ProviderSettings(
            image_only=True, default_model="dall-e-3"
        )
    finally:
        store.close()


def test_a_migration_that_fails_changes_nothing(tmp_path: Path) -> None:
    path = old_store(tmp_path / "state.db")
    conn = sqlite3.connect(path)
    # In the way of migration 3's fourth column; its first three must be rolled back.
    conn.execute("ALTER TABLE providers ADD COLUMN default_model TEXT")
    conn.commit()
    conn.close()
    with pytest.raises(TargetError, match="duplicate column name: default_model"):
        Store(path)
    conn = sqlite3.connect(path)
    try:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(providers)")}
        assert "audio_only" not in columns and "default_model" in columns
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == [1, 2]
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
