"""The model catalog's part of the pure diff: settings, aliases and tiers."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from reconciler.core.catalog import (
    MODEL_SETTING_NAMES,
    Alias,
    ModelSettingRule,
    ModelSettings,
    StructuredOutput,
    TierSpec,
    TierState,
    settings_for,
)
from reconciler.core.catalog_diff import alias_scope
from reconciler.core.diff import make_plan
from reconciler.core.model import Capabilities, Desired, ModelRules, ModelState, ProviderSpec
from reconciler.core.plan import Action, FieldChange, ModelChange, Plan
from reconciler.core.target import AliasScope
from reconciler.errors import PlanRefused
from tests.factories import FULL, absent, key_state, observed, spec, state

# What a ClaraVerse server reports of models: every setting but agents; tiers by name.
CLARA = Capabilities(
    observes=frozenset({"base_url", "enabled", "models"}),
    lists_models=True,
    visibility_by_id=True,
    model_settings=frozenset(MODEL_SETTING_NAMES) - {"agents"},
    tiers_by_display_name=True,
)
ALL_SETTINGS = replace(FULL, model_settings=frozenset(MODEL_SETTING_NAMES))


def rule(pattern: str, **settings: object) -> ModelSettingRule:
    return ModelSettingRule(pattern=pattern, settings=ModelSettings(**settings))  # type: ignore[arg-type]


def catalog_spec(
    *rules: ModelSettingRule, aliases: tuple[Alias, ...] | None = None, **kw: object
) -> ProviderSpec:
    base = spec("OpenAI", **kw)  # type: ignore[arg-type]
    return replace(base, models=ModelRules(settings=rules, aliases=aliases))


def model(id: str, **settings: object) -> ModelState:
    return ModelState(id=id, settings=ModelSettings(**settings))  # type: ignore[arg-type]


def catalog_state(*models: ModelState, aliases: tuple[Alias, ...] = ()) -> object:
    return replace(state("OpenAI"), models=models, model_count=len(models), aliases=aliases)


def plan_of(
    s: ProviderSpec,
    st: object | None,
    caps: Capabilities = ALL_SETTINGS,
    tiers: tuple[TierSpec, ...] = (),
    observed_tiers: tuple[TierState, ...] = (),
    read_for: frozenset[str] | None = None,
) -> Plan:
    states = () if st is None else (st,)
    obs = replace(
        observed(*states, capabilities=caps),  # type: ignore[arg-type]
        tiers=observed_tiers,
        aliases_read_for=read_for,
    )
    return make_plan(Desired(providers=(s,), tiers=tiers), obs)


def only(plan: Plan, kind: str) -> Action:
    found = [a for a in plan.actions if a.kind == kind]
    assert len(found) == 1, [a.kind for a in plan.actions]
    return found[0]


# --- settings ---------------------------------------------------------------------------


def test_an_exact_id_beats_globs_and_a_later_glob_beats_an_earlier_one_field_by_field() -> None:
    rules = (
        rule("gpt-4o", display_name="GPT-4o"),
        rule("gpt-*", display_name="Any GPT", agents=True, context_length=1),
        rule("*", agents=False),
    )
    assert settings_for(rules, "gpt-4o") == ModelSettings(
        display_name="GPT-4o", agents=False, context_length=1
    )
    assert settings_for(rules, "gpt-4o-mini") == ModelSettings(
        display_name="Any GPT", agents=False, context_length=1
    )
    assert settings_for(rules, "claude") == ModelSettings(agents=False)


def test_only_declared_settings_are_compared_and_written() -> None:
    have = model("gpt-4o", display_name="gpt-4o", description="kept", context_length=8)
    plan = plan_of(catalog_spec(rule("gpt-4o", display_name="GPT-4o")), catalog_state(have))
    action = only(plan, "model_settings")
    assert action.model_changes == (
        ModelChange(
            model="gpt-4o",
            settings=ModelSettings(display_name="GPT-4o"),
            changes=(FieldChange(field="display_name", before="gpt-4o", after="GPT-4o"),),
        ),
    )
    assert plan.summary().change == 1


def test_settings_that_match_change_nothing() -> None:
    have = model("gpt-4o", display_name="GPT-4o", context_length=128000)
    plan = plan_of(
        catalog_spec(rule("gpt-4o", display_name="GPT-4o", context_length=128000)),
        catalog_state(have),
    )
    assert plan.is_empty and plan.actions == ()


def test_a_setting_the_target_cannot_report_is_sent_not_compared() -> None:
    have = model("gpt-4o", display_name="GPT-4o")
    plan = plan_of(
        catalog_spec(rule("gpt-4o", display_name="GPT-4o", agents=True)),
        catalog_state(have),
        caps=CLARA,
    )
    push = only(plan, "model_push")
    assert push.model_changes[0].settings == ModelSettings(agents=True)
    assert plan.is_empty and push in plan.pushes


def test_a_settings_key_that_matches_no_model_is_a_warning() -> None:
    plan = plan_of(
        catalog_spec(rule("gpt-5*", agents=True)), catalog_state(model("gpt-4o")), caps=CLARA
    )
    assert any(
        "models.settings key 'gpt-5*' matches none of its 1 models" in w for w in plan.warnings
    )


def test_a_new_provider_works_its_settings_out_after_the_fetch() -> None:
    s = catalog_spec(
        rule("gpt-4o", display_name="GPT-4o"),
        aliases=(Alias(name="fast", model="gpt-4o"),),
        api_key="sk-test-1234",
    )
    plan = plan_of(s, None, tiers=(TierSpec(tier="tier1", provider="OpenAI", model="fast"),))
    # No visibility rules: no visibility step after the fetch.
    assert [a.kind for a in plan.actions] == [
        "create",
        "fetch",
        "model_settings",
        "aliases",
        "tier",
    ]
    assert only(plan, "model_settings").after_fetch
    tier = only(plan, "tier")
    assert (tier.tier, tier.model_id, tier.provider_id) == ("tier1", "gpt-4o", None)


def test_a_planned_fetch_defers_the_settings_until_after_it() -> None:
    s = catalog_spec(rule("gpt-4o", display_name="GPT-4o"), api_key="sk-test-1234")
    st = replace(catalog_state(model("gpt-4o")), fetched=False, key=key_state("sk-test-1234"))  # type: ignore[type-var]
    plan = plan_of(s, st)
    assert [a.kind for a in plan.actions] == ["fetch", "model_settings"]
    assert only(plan, "model_settings").after_fetch


# --- aliases ----------------------------------------------------------------------------

FAST = Alias(name="fast", model="gpt-4o-mini", display_name="Fast")
MODELS = (model("gpt-4o"), model("gpt-4o-mini"))


def test_a_new_alias_is_created() -> None:
    plan = plan_of(catalog_spec(aliases=(FAST,)), catalog_state(*MODELS))
    action = only(plan, "aliases")
    assert (action.alias_delete, action.alias_create) == ((), (FAST,))


def test_a_changed_alias_is_deleted_and_created_again() -> None:
    old = replace(FAST, display_name="Quick", structured_output=StructuredOutput(compliance=9))
    plan = plan_of(catalog_spec(aliases=(FAST,)), catalog_state(*MODELS, aliases=(old,)))
    action = only(plan, "aliases")
    assert (action.alias_delete, action.alias_create) == ((old,), (FAST,))
    assert action.changes[0].after == "fast: display_name, structured_output.compliance changed"


def test_an_alias_model_id_compares_case_insensitively() -> None:
    stored = replace(FAST, model="GPT-4o-mini")
    plan = plan_of(catalog_spec(aliases=(FAST,)), catalog_state(*MODELS, aliases=(stored,)))
    assert plan.actions == ()


def test_a_new_case_of_an_alias_name_replaces_it() -> None:
    # Users see the name as written: "FAST" on the target is not the file's "fast".
    stored = replace(FAST, name="FAST")
    plan = plan_of(catalog_spec(aliases=(FAST,)), catalog_state(*MODELS, aliases=(stored,)))
    action = only(plan, "aliases")
    assert (action.alias_delete, action.alias_create) == ((stored,), (FAST,))
    assert action.changes[0].after == "fast: name changed"


def test_an_undeclared_alias_is_deleted_only_where_its_model_was_read() -> None:
    other = Alias(name="old", model="gpt-4o")
    st = catalog_state(*MODELS, aliases=(FAST, other))
    everything = plan_of(catalog_spec(aliases=(FAST,)), st)
    assert only(everything, "aliases").alias_delete == (other,)
    partly = plan_of(catalog_spec(aliases=(FAST,)), st, read_for=frozenset({"gpt-4o-mini"}))
    assert partly.actions == ()


def test_a_file_without_aliases_leaves_the_targets_alone() -> None:
    plan = plan_of(catalog_spec(), catalog_state(*MODELS, aliases=(FAST,)))
    assert plan.actions == ()


def test_an_alias_of_a_model_the_provider_lacks_is_refused() -> None:
    wrong = Alias(name="x", model="claude-3", where="providers.yaml:9")
    with pytest.raises(
        PlanRefused, match=re.escape("providers.yaml:9: provider 'OpenAI': alias 'x'")
    ):
        plan_of(catalog_spec(aliases=(wrong,)), catalog_state(*MODELS))


def test_alias_scope_names_the_aliased_models_and_every_provider_declaring_aliases() -> None:
    s = catalog_spec(aliases=(FAST, Alias(name="b", model="GPT-4o")), renamed_from=("Was",))
    # ``aliases: {}`` declares the list (empty): its provider's aliases are read too.
    empty = replace(catalog_spec(aliases=()), name="Empty")
    silent = replace(catalog_spec(), name="Silent")
    scope = alias_scope(Desired(providers=(s, empty, silent, absent("Old"))))
    assert scope == AliasScope(
        models=frozenset({"gpt-4o-mini", "gpt-4o"}),
        providers=frozenset({"OpenAI", "Was", "Empty"}),
    )


# --- tiers ------------------------------------------------------------------------------

TIER1 = TierSpec(tier="tier1", provider="OpenAI", model="gpt-4o")


def test_a_tier_not_shown_on_its_model_is_set() -> None:
    before = TierState(tier="tier1", provider_id="id-OpenAI", model_id="gpt-4o-mini")
    plan = plan_of(catalog_spec(), catalog_state(*MODELS), tiers=(TIER1,), observed_tiers=(before,))
    tier = only(plan, "tier")
    assert (tier.model_id, tier.provider_id) == ("gpt-4o", "id-OpenAI")
    assert tier.changes == (
        FieldChange(field="tier1", before="OpenAI/gpt-4o-mini", after="OpenAI/gpt-4o"),
    )


def test_a_tier_already_on_its_model_changes_nothing() -> None:
    now = TierState(tier="tier1", provider_id="id-OpenAI", model_id="GPT-4o")
    plan = plan_of(catalog_spec(), catalog_state(*MODELS), tiers=(TIER1,), observed_tiers=(now,))
    assert plan.actions == ()


def test_an_alias_tier_is_its_models_tier() -> None:
    tier4 = TierSpec(tier="tier4", provider="OpenAI", model="fast")
    now = TierState(tier="tier4", provider_id="id-OpenAI", model_id="gpt-4o-mini")
    s = catalog_spec(aliases=(FAST,))
    plan = plan_of(
        s, catalog_state(*MODELS, aliases=(FAST,)), tiers=(tier4,), observed_tiers=(now,)
    )
    assert plan.actions == ()


def test_a_display_name_change_resets_a_tier_stored_by_display_name() -> None:
    now = TierState(tier="tier1", provider_id="id-OpenAI", model_id="gpt-4o")
    s = catalog_spec(rule("gpt-4o", display_name="Flagship"))
    st = catalog_state(model("gpt-4o", display_name="gpt-4o"))
    by_name = plan_of(s, st, caps=CLARA, tiers=(TIER1,), observed_tiers=(now,))
    assert [a.kind for a in by_name.changes] == ["model_settings", "tier"]
    assert "re-set: the display name of gpt-4o changes" in (by_name.changes[1].reason or "")
    by_id = plan_of(s, st, tiers=(TIER1,), observed_tiers=(now,))
    assert [a.kind for a in by_id.actions] == ["model_settings"]


def test_a_change_of_case_only_keeps_a_tier_stored_by_display_name() -> None:
    # The server finds the stored name case-insensitively: nothing detaches.
    now = TierState(tier="tier1", provider_id="id-OpenAI", model_id="gpt-4o")
    s = catalog_spec(rule("gpt-4o", display_name="GPT-4o"))
    st = catalog_state(model("gpt-4o", display_name="gpt-4o"))
    plan = plan_of(s, st, caps=CLARA, tiers=(TIER1,), observed_tiers=(now,))
    assert [a.kind for a in plan.changes] == ["model_settings"]


def test_a_rename_resets_a_tier_the_file_does_not_declare() -> None:
    admins = TierState(tier="tier3", provider_id="id-OpenAI", model_id="gpt-4o")
    s = catalog_spec(rule("gpt-4o", display_name="Flagship 2"))
    st = catalog_state(model("gpt-4o", display_name="Flagship"))
    plan = plan_of(s, st, caps=CLARA, observed_tiers=(admins,))
    tier = only(plan, "tier")
    assert (tier.tier, tier.model_id) == ("tier3", "gpt-4o")
    assert "does not declare" in (tier.reason or "")


def test_a_rename_with_a_fetch_planned_still_resets_the_tier() -> None:
    now = TierState(tier="tier1", provider_id="id-OpenAI", model_id="gpt-4o")
    s = catalog_spec(rule("gpt-4o", display_name="Flagship"), api_key="sk-test-1234")
    st = replace(
        catalog_state(model("gpt-4o", display_name="gpt-4o")),  # type: ignore[type-var]
        fetched=False,
        key=key_state("sk-test-1234"),
    )
    plan = plan_of(s, st, caps=CLARA, tiers=(TIER1,), observed_tiers=(now,))
    assert [a.kind for a in plan.changes] == ["fetch", "model_settings", "tier"]


def test_models_sharing_a_display_name_hold_a_tier_without_a_loop() -> None:
    # The server reports whichever model of that name it joined last.
    now = TierState(tier="tier1", provider_id="id-OpenAI", model_id="gpt-4o-mini")
    s = catalog_spec(rule("gpt-4o*", display_name="GPT-4o family"))
    family = (
        model("gpt-4o", display_name="GPT-4o family"),
        model("gpt-4o-mini", display_name="GPT-4o family"),
    )
    plan = plan_of(s, catalog_state(*family), caps=CLARA, tiers=(TIER1,), observed_tiers=(now,))
    assert [a.kind for a in plan.changes] == []
    assert any("is also the display name or id of 'gpt-4o-mini'" in w for w in plan.warnings)


def test_a_display_name_that_is_another_models_id_holds_a_tier_without_a_loop() -> None:
    # The server looks the stored name up as a display name or an id: "gpt-4o-mini" is both
    # gpt-4o's display name and the other model's id, and it may report either.
    now = TierState(tier="tier1", provider_id="id-OpenAI", model_id="gpt-4o-mini")
    s = catalog_spec(rule("gpt-4o", display_name="gpt-4o-mini"))
    st = catalog_state(
        model("gpt-4o", display_name="gpt-4o-mini"), model("gpt-4o-mini", display_name="Mini")
    )
    plan = plan_of(s, st, caps=CLARA, tiers=(TIER1,), observed_tiers=(now,))
    assert plan.changes == ()


def test_a_planned_fetch_resets_names_so_an_undeclared_tier_is_set_again() -> None:
    # The fetch gives o3-mini its id back as its name; the admin's tier3 (by "Reasoner")
    # would fall off it.
    admins = TierState(tier="tier3", provider_id="id-OpenAI", model_id="o3-mini")
    s = catalog_spec(rule("gpt-4o", display_name="gpt-4o"), api_key="sk-test-1234")
    st = replace(
        catalog_state(model("o3-mini", display_name="Reasoner")),  # type: ignore[type-var]
        fetched=False,
        key=key_state("sk-test-1234"),
    )
    plan = plan_of(s, st, caps=CLARA, observed_tiers=(admins,))
    assert [(a.kind, a.tier) for a in plan.changes if a.kind == "tier"] == [("tier", "tier3")]


def test_a_tier_naming_a_model_its_provider_lacks_is_refused() -> None:
    wrong = TierSpec(tier="tier2", provider="OpenAI", model="claude-3", where="providers.yaml:30")
    with pytest.raises(PlanRefused, match=re.escape("providers.yaml:30: tier2 names model")):
        plan_of(catalog_spec(), catalog_state(*MODELS), tiers=(wrong,))


def test_a_tier_set_on_a_model_whose_display_name_differs_from_its_id_warns_of_no_badge() -> None:
    s = catalog_spec(rule("gpt-4o", display_name="Flagship"))
    st = catalog_state(model("gpt-4o", display_name="Flagship"))
    plan = plan_of(s, st, caps=CLARA, tiers=(TIER1,))
    assert [a.kind for a in plan.changes] == ["tier"]
    assert any("no badge shows" in w for w in plan.warnings)
    # Said when the tier is set, not on every plan after.
    now = TierState(tier="tier1", provider_id="id-OpenAI", model_id="gpt-4o")
    again = plan_of(s, st, caps=CLARA, tiers=(TIER1,), observed_tiers=(now,))
    assert again.changes == () and not any("no badge" in w for w in again.warnings)


def test_a_deleted_provider_says_which_aliases_and_tiers_go_with_it() -> None:
    st = replace(catalog_state(*MODELS, aliases=(FAST,)), enabled=False)  # type: ignore[type-var]
    gone = TierState(tier="tier2", provider_id="id-OpenAI", model_id="gpt-4o")
    obs = replace(observed(st), tiers=(gone,))  # type: ignore[arg-type]
    plan = make_plan(Desired(providers=(absent("OpenAI"),)), obs)
    delete = only(plan, "delete")
    assert (delete.alias_count, delete.tiers) == (1, ("tier2",))


def test_settings_of_an_id_another_provider_lists_warn_where_ids_are_server_wide() -> None:
    s = catalog_spec(rule("gpt-4o", display_name="GPT-4o"))
    mine = catalog_state(model("gpt-4o", display_name="gpt-4o"))
    theirs = replace(state("Azure", id="id-Azure"), models=(model("GPT-4o"),))
    obs = replace(observed(mine, theirs, capabilities=CLARA))  # type: ignore[arg-type]
    plan = make_plan(Desired(providers=(s,)), obs)
    assert any(
        "keeps model settings by id across all providers, so changing gpt-4o also changes "
        "the model(s) of the same id under 'Azure'" in w
        for w in plan.warnings
    )


def test_ids_shared_with_many_providers_make_one_warning_and_sends_make_none() -> None:
    s = catalog_spec(rule("gpt-4o", display_name="GPT-4o", agents=True))
    mine = catalog_state(model("gpt-4o", display_name="gpt-4o"))
    others = [replace(state(f"P{i}", id=f"id-P{i}"), models=(model("gpt-4o"),)) for i in range(8)]
    obs = observed(mine, *others, capabilities=CLARA)  # type: ignore[arg-type]
    plan = make_plan(Desired(providers=(s,)), obs)
    (warning,) = [w for w in plan.warnings if "keeps model settings" in w]
    assert warning.endswith("under 'P0', 'P1', 'P2', 'P3', 'P4' and 3 more providers")
    # Once the name is set, only agents is sent (every apply): no warning on that plan.
    settled = catalog_state(model("gpt-4o", display_name="GPT-4o"))
    quiet = make_plan(Desired(providers=(s,)), observed(settled, *others, capabilities=CLARA))  # type: ignore[arg-type]
    assert quiet.is_empty and not any("keeps model settings" in w for w in quiet.warnings)
