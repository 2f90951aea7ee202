"""The embedded store's model catalog over real store files: model settings, aliases, tiers,
what a fetch keeps and what a delete takes, a store of the previous release upgraded in
place, and the target that observes and writes them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.core.catalog import (
    MODEL_SETTING_NAMES,
    Alias,
    ModelSettings,
    StructuredOutput,
    TierState,
)
from reconciler.core.target import NO_ALIASES
from reconciler.errors import TargetError
from reconciler.targets.sqlite import MIGRATIONS, SqliteTarget, Store
from tests.catalog_example import FAST
from tests.stores import add, old_store

# What a fetched model has until someone sets it: ClaraVerse's defaults.
FETCHED = ModelSettings(
    description="",
    context_length=0,
    system_prompt="",
    supports_tools=False,
    supports_vision=False,
    supports_streaming=False,
    smart_tool_router=False,
    agents=False,
)


def fetched(**settings: str | int | bool) -> ModelSettings:
    """A fetched model's settings with ``settings`` set."""
    return ModelSettings(**settings).over(FETCHED)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def _with_models(store: Store, name: str = "OpenAI", *ids: str) -> int:
    pid = add(store, name)
    store.replace_models(pid, [(i, None) for i in ids or ("gpt-4o", "gpt-4o-mini")])
    return pid


def _settings(store: Store, pid: int) -> dict[str, ModelSettings]:
    view = store.providers_with_models()
    return {m.id: m.settings for m in view.models.get(pid, [])}


# --- the migration -------------------------------------------------------------------


def test_a_store_of_the_previous_release_is_upgraded_in_place(tmp_path: Path) -> None:
    path = old_store(tmp_path / "state.db", migrations=len(MIGRATIONS) - 1)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO models (provider_id, model_id, display_name, visible, fetched_at)"
        " VALUES (1, 'gpt-4o', 'GPT-4o', 1, 'then'), (1, 'o3', NULL, 0, 'then')"
    )
    conn.commit()
    conn.close()
    store = Store(path)
    try:
        versions = [r["version"] for r in store.query("SELECT version FROM schema_migrations")]
        assert versions == list(range(1, len(MIGRATIONS) + 1))
        [kept] = store.providers()
        view = store.providers_with_models()
        [gpt, o3] = view.models[kept.id]
        # The rows stay as they were; the new settings read as a fetched model's.
        assert (gpt.id, gpt.visible, gpt.settings.display_name) == ("gpt-4o", True, "GPT-4o")
        assert gpt.settings == fetched(display_name="GPT-4o")
        assert (o3.visible, o3.settings.display_name) == (False, "o3")
        assert view.aliases == {} and view.tiers == ()
        store.catalog.create_alias(kept.id, Alias(name="best", model="gpt-4o"))
        store.catalog.set_tier("tier1", kept.id, "gpt-4o")
        assert store.catalog.tiers()[0].display_name == "GPT-4o"
    finally:
        store.close()


def test_reading_a_store_of_the_previous_release_shows_the_defaults_without_a_change(
    tmp_path: Path,
) -> None:
    path = old_store(tmp_path / "state.db", migrations=len(MIGRATIONS) - 1)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO models (provider_id, model_id, display_name, visible, fetched_at)"
        " VALUES (1, 'gpt-4o', NULL, 1, 'then')"
    )
    conn.commit()
    conn.close()
    before = path.read_bytes()
    target = SqliteTarget(path, lazy=True)
    try:
        observed = target.observe()
    finally:
        target.close()
    assert path.read_bytes() == before
    [kept] = observed.providers
    assert [m.settings for m in kept.models] == [fetched(display_name="gpt-4o")]
    assert kept.aliases == () and observed.tiers == ()


# --- model settings ------------------------------------------------------------------


def test_a_new_model_has_clara_verses_defaults(store: Store) -> None:
    pid = _with_models(store)
    assert _settings(store, pid)["gpt-4o"] == fetched(display_name="gpt-4o")


def test_update_models_writes_only_the_declared_settings(store: Store) -> None:
    pid = _with_models(store)
    store.catalog.update_models(
        pid, [("gpt-4o", ModelSettings(display_name="GPT-4o", context_length=128000))]
    )
    store.catalog.update_models(pid, [("gpt-4o", ModelSettings(agents=True, system_prompt="x"))])
    want = fetched(display_name="GPT-4o", context_length=128000, agents=True, system_prompt="x")
    assert _settings(store, pid)["gpt-4o"] == want
    assert _settings(store, pid)["gpt-4o-mini"].display_name == "gpt-4o-mini"


def test_update_models_of_an_unknown_model_writes_nothing(store: Store) -> None:
    pid = _with_models(store)
    with pytest.raises(
        TargetError, match="model 'nope' is not one of the models of provider 'OpenAI'"
    ):
        store.catalog.update_models(
            pid,
            [("gpt-4o", ModelSettings(description="first")), ("nope", ModelSettings(agents=True))],
        )
    assert _settings(store, pid)["gpt-4o"].description == ""


def test_a_fetch_resets_display_names_and_keeps_every_other_setting(store: Store) -> None:
    pid = _with_models(store)
    store.catalog.update_models(
        pid, [("gpt-4o", ModelSettings(display_name="GPT-4o", supports_tools=True, agents=True))]
    )
    store.set_visibility(pid, ["gpt-4o"], True)
    store.replace_models(pid, [("gpt-4o", None), ("gpt-4o-mini", "Mini")])
    view = store.providers_with_models()
    [gpt, mini] = view.models[pid]
    assert gpt.visible and gpt.settings == fetched(
        display_name="gpt-4o", supports_tools=True, agents=True
    )
    assert mini.settings.display_name == "Mini"


# --- aliases -------------------------------------------------------------------------


def test_an_alias_is_stored_whole_and_read_back_equal(store: Store) -> None:
    pid = _with_models(store)
    bare = Alias(name="Plain", model="gpt-4o")
    store.catalog.create_alias(pid, FAST)
    store.catalog.create_alias(pid, bare)
    assert store.providers_with_models().aliases == {pid: [FAST, bare]}
    assert [a.alias for a in store.catalog.aliases(pid)] == [FAST, bare]


def test_an_alias_names_the_model_as_stored_whatever_the_case(store: Store) -> None:
    pid = _with_models(store)
    store.catalog.create_alias(pid, Alias(name="big", model="GPT-4O"))
    [stored] = store.catalog.aliases(pid)
    assert stored.alias.model == "gpt-4o"


def test_an_alias_of_a_model_of_another_provider_is_refused(store: Store) -> None:
    _with_models(store, "OpenAI")
    other = _with_models(store, "Other", "claude")
    with pytest.raises(TargetError) as caught:
        store.catalog.create_alias(other, FAST)
    assert str(caught.value) == (
        "alias 'fast': model 'gpt-4o-mini' is not one of the models of provider 'Other'; an alias "
        "must name a model of its own provider"
    )


@pytest.mark.parametrize("taken", ["FAST", "fast"])
def test_alias_names_are_unique_per_provider_whatever_the_case(store: Store, taken: str) -> None:
    pid = _with_models(store)
    other = _with_models(store, "Other")
    store.catalog.create_alias(pid, FAST)
    store.catalog.create_alias(other, FAST)  # another provider may use the name
    with pytest.raises(TargetError, match="provider 'OpenAI' already has an alias named"):
        store.catalog.create_alias(pid, Alias(name=taken, model="gpt-4o"))


def test_alias_names_beyond_ascii_are_unique_whatever_the_case(store: Store) -> None:
    pid = _with_models(store)
    store.catalog.create_alias(pid, Alias(name="Éclair", model="gpt-4o"))
    with pytest.raises(TargetError, match="already has an alias"):
        store.catalog.create_alias(pid, Alias(name="éCLAIR", model="gpt-4o"))
    assert store.catalog.delete_alias(pid, "ÉCLAIR")


def test_a_structured_output_support_the_store_cannot_hold_is_refused(store: Store) -> None:
    pid = _with_models(store)
    bad = Alias(name="x", model="gpt-4o", structured_output=StructuredOutput(support="great"))
    with pytest.raises(TargetError, match="must be one of excellent, good, fair, poor, unknown"):
        store.catalog.create_alias(pid, bad)


def test_delete_alias_by_name_whatever_the_case(store: Store) -> None:
    pid = _with_models(store)
    store.catalog.create_alias(pid, FAST)
    assert store.catalog.delete_alias(pid, "Fast")
    assert not store.catalog.delete_alias(pid, "fast")
    assert store.catalog.aliases(pid) == []


def test_an_alias_whose_name_ends_in_a_space_is_updated_and_deleted_by_that_name(
    store: Store,
) -> None:
    pid = _with_models(store)
    store.catalog.create_alias(pid, Alias(name="fast ", model="gpt-4o"))
    with pytest.raises(TargetError, match="already has an alias"):
        store.catalog.create_alias(pid, Alias(name="FAST", model="gpt-4o"))
    assert store.catalog.update_alias(pid, Alias(name="fast ", model="gpt-4o", description="d"))
    assert [a.alias.description for a in store.catalog.aliases(pid)] == ["d"]
    assert store.catalog.delete_alias(pid, "fast ")
    assert store.catalog.aliases(pid) == []


def test_a_fetch_that_no_longer_lists_a_model_removes_its_aliases_and_tiers(store: Store) -> None:
    pid = _with_models(store)
    store.catalog.create_alias(pid, FAST)
    store.catalog.create_alias(pid, Alias(name="big", model="gpt-4o"))
    store.catalog.set_tier("tier4", pid, "gpt-4o-mini")
    store.catalog.set_tier("tier1", pid, "gpt-4o")
    store.replace_models(pid, [("gpt-4o", None)])
    assert [a.alias.name for a in store.catalog.aliases(pid)] == ["big"]
    assert [t.state.tier for t in store.catalog.tiers()] == ["tier1"]


def test_deleting_a_provider_removes_its_aliases_and_tiers(store: Store) -> None:
    pid = _with_models(store)
    other = _with_models(store, "Other")
    store.catalog.create_alias(pid, FAST)
    store.catalog.create_alias(other, FAST)
    store.catalog.set_tier("tier1", pid, "gpt-4o")
    store.catalog.set_tier("tier2", other, "gpt-4o")
    store.delete_provider(pid)
    assert [(a.provider_id, a.alias.name) for a in store.catalog.aliases()] == [(other, "fast")]
    assert [t.state for t in store.catalog.tiers()] == [
        TierState(tier="tier2", provider_id=str(other), model_id="gpt-4o")
    ]


# --- tiers ---------------------------------------------------------------------------


def test_a_tier_holds_one_model_and_setting_it_again_replaces_it(store: Store) -> None:
    pid = _with_models(store)
    store.catalog.update_models(pid, [("gpt-4o", ModelSettings(display_name="GPT-4o"))])
    store.catalog.set_tier("tier1", pid, "gpt-4o-mini")
    assert store.catalog.set_tier("tier1", pid, "GPT-4o") == "gpt-4o"
    [tier] = store.catalog.tiers()
    assert tier.state == TierState(tier="tier1", provider_id=str(pid), model_id="gpt-4o")
    assert tier.display_name == "GPT-4o"
    assert store.catalog.clear_tier("tier1") and not store.catalog.clear_tier("tier1")


def test_a_tier_takes_only_a_model_of_that_provider(store: Store) -> None:
    pid = _with_models(store)
    other = _with_models(store, "Other", "claude")
    with pytest.raises(
        TargetError, match="tier1: model 'gpt-4o' is not one of the models of provider 'Other'"
    ):
        store.catalog.set_tier("tier1", other, "gpt-4o")
    with pytest.raises(TargetError, match="unknown tier 'top': the tiers are tier1, tier2"):
        store.catalog.set_tier("top", pid, "gpt-4o")
    assert store.catalog.tiers() == []


# --- the target ----------------------------------------------------------------------


def test_the_target_reports_every_setting_and_not_tiers_by_display_name() -> None:
    caps = SqliteTarget.capabilities
    assert caps.model_settings == frozenset(MODEL_SETTING_NAMES)
    assert not caps.tiers_by_display_name


def test_the_target_observes_settings_aliases_and_tiers(tmp_path: Path) -> None:
    target = SqliteTarget(tmp_path / "state.db")
    try:
        pid = _with_models(target.store)
        target.update_models(str(pid), (("gpt-4o", ModelSettings(agents=True)),))
        target.create_alias(str(pid), FAST)
        target.set_tier("tier4", str(pid), "gpt-4o-mini")
        observed = target.observe(NO_ALIASES)
        [state] = observed.providers
        assert observed.aliases_read_for is None
        assert state.aliases == (FAST,)
        assert observed.tiers == (
            TierState(tier="tier4", provider_id=str(pid), model_id="gpt-4o-mini"),
        )
        assert [m.settings.agents for m in state.models] == [True, False]
        assert target.list_models(str(pid)) == state.models
        target.delete_alias(str(pid), FAST)
        with pytest.raises(TargetError, match=f"provider {pid} has no alias named 'fast'"):
            target.delete_alias(str(pid), FAST)
    finally:
        target.close()


def test_observing_takes_the_same_queries_whatever_the_number_of_providers(
    tmp_path: Path,
) -> None:
    def statements(providers: int) -> int:
        target = SqliteTarget(tmp_path / f"{providers}.db")
        try:
            for n in range(providers):
                pid = _with_models(target.store, f"P{n}")
                target.create_alias(str(pid), FAST)
            seen: list[str] = []
            # The store's own connection: every statement it runs, counted.
            target.store._conn.set_trace_callback(seen.append)
            target.observe()
            return len(seen)
        finally:
            target.close()

    assert statements(1) == statements(5)
