"""The embedded store: its file, its provider and model rows, and the provider settings."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.core.model import DEFAULT_SETTINGS, ProviderSettings
from reconciler.errors import TargetError
from reconciler.secrets import Secret
from reconciler.targets.sqlite import SqliteTarget, Store
from tests.stores import add


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state" / "state.db")
    yield s
    s.close()


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
        assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
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


# --- provider settings -----------------------------------------------------------------

IMAGES = ProviderSettings(
    audio_only=False,
    image_only=True,
    image_edit_only=True,
    default_model="dall-e-3",
    system_prompt="Draw plainly.",
    favicon="https://images.example/favicon.ico",
)


def test_a_provider_is_created_with_its_settings(store: Store) -> None:
    pid = store.create_provider(
        name="Images",
        type="openai",
        base_url="https://api.example/v1",
        api_key=None,
        enabled=True,
        settings=IMAGES,
    )
    row = store.provider(pid)
    assert row is not None and row.settings == IMAGES


def test_a_provider_created_without_settings_has_the_defaults(store: Store) -> None:
    row = store.provider(add(store))
    assert row is not None and row.settings == DEFAULT_SETTINGS


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("audio_only", True),
        ("image_only", False),
        ("image_edit_only", False),
        ("default_model", "gpt-image-1"),
        ("system_prompt", ""),
        ("favicon", "https://other.example/icon.png"),
    ],
)
def test_updating_one_setting_leaves_the_others(store: Store, name: str, value: object) -> None:
    pid = store.create_provider(
        name="Images",
        type="openai",
        base_url="https://api.example/v1",
        api_key=Secret("sk-images"),
        enabled=True,
        settings=IMAGES,
    )
    store.update_provider(pid, **{name: value})
    row = store.provider(pid)
    assert row is not None
    assert row.settings == replace(IMAGES, **{name: value})
    assert (row.name, row.enabled, row.api_key) == ("Images", True, Secret("sk-images"))


def test_updating_other_fields_leaves_the_settings(store: Store) -> None:
    pid = store.create_provider(
        name="Images",
        type="openai",
        base_url="https://api.example/v1",
        api_key=None,
        enabled=True,
        settings=IMAGES,
    )
    store.update_provider(pid, name="Renamed", base_url="https://b.example/v1", enabled=False)
    store.update_provider(pid, api_key=Secret("sk-new"), type="anthropic")
    row = store.provider(pid)
    assert row is not None and row.settings == IMAGES


def test_an_unknown_field_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown provider field secure"):
        store.update_provider(add(store), secure=True)
