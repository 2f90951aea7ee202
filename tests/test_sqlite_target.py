"""The embedded target over real store files: what it observes, creates, updates, renames."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.core.model import DEFAULT_SETTINGS, SETTING_NAMES, ProviderSettings
from reconciler.errors import ReconcilerError
from reconciler.targets.sqlite import MIGRATIONS, SqliteTarget, Store
from tests.factories import spec
from tests.stores import add, old_store


def test_readonly_target_does_not_create_a_store(tmp_path: Path) -> None:
    target = SqliteTarget(tmp_path / ".reconcile" / "state.db", lazy=True)
    assert target.observe().providers == ()
    target.close()
    assert not (tmp_path / ".reconcile").exists()


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


# --- reading never writes -----------------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("must_exist", [False, True], ids=["plan", "export"])
def test_reading_an_old_store_neither_migrates_nor_changes_it(
    tmp_path: Path, must_exist: bool
) -> None:
    path = old_store(tmp_path / "state.db")  # rollback journal, migration 1 only
    before = _files(tmp_path)
    target = SqliteTarget(path, lazy=True, must_exist=must_exist)
    try:
        observed = target.observe()
    finally:
        target.close()
    assert _files(tmp_path) == before  # no migration, no marker, no WAL switch, no file
    [kept] = observed.providers
    assert (kept.name, kept.settings) == ("Kept", DEFAULT_SETTINGS)
    assert (
        f"the store {path} was written by an earlier reconciler: the next apply that changes "
        "it upgrades it first (until then, settings it lacks read as their defaults)"
    ) in observed.notes


def test_an_apply_upgrades_the_old_store_it_read(tmp_path: Path) -> None:
    path = old_store(tmp_path / "state.db")
    target = SqliteTarget(path, lazy=True)
    try:
        target.observe()
        target.update("1", replace(spec("Kept"), settings=IMAGES), ("image_only",))
        [kept] = target.observe().providers
        assert kept.settings == replace(DEFAULT_SETTINGS, image_only=True)
        assert target.observe().notes == ()
    finally:
        target.close()
    conn = sqlite3.connect(path)
    try:
        assert len(conn.execute("SELECT * FROM schema_migrations").fetchall()) == len(MIGRATIONS)
    finally:
        conn.close()


def test_reading_a_store_of_a_newer_release_is_refused_without_a_change(tmp_path: Path) -> None:
    path = old_store(tmp_path / "state.db")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'later')", (len(MIGRATIONS) + 1,))
    conn.close()
    before = _files(tmp_path)
    with pytest.raises(ReconcilerError, match="newer reconciler"):
        SqliteTarget(path, lazy=True)
    assert _files(tmp_path) == before


# --- provider settings -----------------------------------------------------------------

IMAGES = ProviderSettings(image_only=True, default_model="dall-e-3", favicon="https://i.example/f")


def test_target_observes_every_setting() -> None:
    assert set(SETTING_NAMES) <= SqliteTarget.capabilities.observes


def test_target_creates_with_the_settings_and_observes_them(tmp_path: Path) -> None:
    target = SqliteTarget(tmp_path / "state.db")
    try:
        target.create(replace(spec("Images"), settings=IMAGES))
        target.create(spec("Plain"))
        observed = target.observe().by_name()
        assert observed["Images"].settings == IMAGES
        assert observed["Plain"].settings == DEFAULT_SETTINGS
    finally:
        target.close()


def test_update_sets_the_settings_named_in_fields_and_no_other(tmp_path: Path) -> None:
    target = SqliteTarget(tmp_path / "state.db")
    try:
        pid = target.create(replace(spec("Images"), settings=IMAGES))
        # The file now differs in three settings and the URL; the plan updates two fields.
        changed = replace(
            spec("Images", base_url="https://other.example/v1"),
            settings=ProviderSettings(
                image_only=False, default_model="gpt-image-1", system_prompt="Plain."
            ),
        )
        target.update(pid, changed, ("default_model", "system_prompt"))
        [p] = target.observe().providers
        assert p.settings == replace(IMAGES, default_model="gpt-image-1", system_prompt="Plain.")
        assert p.base_url == "https://api.openai.com/v1"
        target.update(pid, changed, ("base_url",))
        [p] = target.observe().providers
        assert p.base_url == "https://other.example/v1" and p.settings.image_only is True
    finally:
        target.close()


def test_rename_and_enable_leave_the_settings(tmp_path: Path) -> None:
    target = SqliteTarget(tmp_path / "state.db")
    try:
        pid = target.create(replace(spec("Old"), settings=IMAGES))
        target.rename(pid, spec("New"))
        target.set_enabled(pid, spec("New", enabled=False))
        [p] = target.observe().providers
        assert (p.name, p.enabled, p.settings) == ("New", False, IMAGES)
    finally:
        target.close()
