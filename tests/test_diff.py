"""The pure diff: Desired × Observed → Plan, one behaviour per test."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.diff import make_plan
from reconciler.core.model import (
    SETTING_NAMES,
    Capabilities,
    Location,
    ModelRules,
    ProviderSettings,
    ProviderState,
)
from reconciler.core.plan import Action, FieldChange, Options, Plan, Summary
from reconciler.errors import PlanRefused
from tests.factories import (
    BLIND,
    LOCAL_URL,
    absent,
    desired,
    observed,
    spec,
    state,
)


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(a.kind, a.provider) for a in plan.actions]


def only(plan: Plan, kind: str) -> Action:
    found = [a for a in plan.actions if a.kind == kind]
    assert len(found) == 1, kinds(plan)
    return found[0]


# --- no change ------------------------------------------------------------------------


def test_diff_is_empty_when_target_matches() -> None:
    plan = make_plan(desired(spec("OpenAI")), observed(state("OpenAI")))
    assert plan.is_empty
    assert plan.unmanaged == ()


# --- create ---------------------------------------------------------------------------


def test_diff_should_create_missing_provider() -> None:
    plan = make_plan(desired(spec("OpenAI")), observed())
    assert kinds(plan) == [("create", "OpenAI")]
    assert plan.actions[0].spec == spec("OpenAI")
    assert plan.summary().add == 1


def test_diff_should_create_disabled_provider_without_an_extra_disable() -> None:
    plan = make_plan(desired(spec("Local", base_url=LOCAL_URL, enabled=False)), observed())
    assert kinds(plan) == [("create", "Local")]


# --- update ---------------------------------------------------------------------------


def test_diff_should_update_type() -> None:
    plan = make_plan(desired(spec("P", type="openai")), observed(state("P", type="anthropic")))
    update = only(plan, "update")
    assert update.changes == (FieldChange(field="type", before="anthropic", after="openai"),)
    assert update.provider_id == "id-P"


def test_diff_should_update_base_url() -> None:
    plan = make_plan(
        desired(spec("P", base_url="https://b.example/v1")),
        observed(state("P", base_url="https://a.example/v1")),
    )
    assert only(plan, "update").changes == (
        FieldChange(field="base_url", before="https://a.example/v1", after="https://b.example/v1"),
    )


def test_diff_should_update_all_changed_fields_in_one_action() -> None:
    plan = make_plan(
        desired(spec("P", type="openai", base_url="https://b.example/v1", api_key="sk-new")),
        observed(state("P", type="anthropic", base_url="https://a.example/v1", key="sk-old")),
    )
    assert [c.field for c in only(plan, "update").changes] == ["type", "base_url", "api_key"]
    assert plan.summary().change == 1


# --- keys -----------------------------------------------------------------------------


def test_diff_should_show_rotated_key_as_changed() -> None:
    plan = make_plan(desired(spec("P", api_key="sk-new")), observed(state("P", key="sk-old")))
    update = only(plan, "update")
    assert update.changes == (FieldChange(field="api_key", before=None, after="changed"),)


def test_diff_should_ignore_unchanged_key() -> None:
    plan = make_plan(desired(spec("P", api_key="sk-same")), observed(state("P", key="sk-same")))
    assert plan.is_empty


def test_diff_should_show_removed_key() -> None:
    plan = make_plan(desired(spec("P")), observed(state("P", key="sk-old")))
    assert only(plan, "update").changes == (
        FieldChange(field="api_key", before=None, after="removed"),
    )


def test_diff_should_show_set_key() -> None:
    plan = make_plan(desired(spec("P", api_key="sk-new")), observed(state("P", key=None)))
    assert only(plan, "update").changes == (FieldChange(field="api_key", before=None, after="set"),)


def test_diff_never_puts_a_key_value_in_a_change() -> None:
    plan = make_plan(desired(spec("P", api_key="sk-new-value")), observed(state("P", key="sk-old")))
    assert only(plan, "update").changes == (
        FieldChange(field="api_key", before=None, after="changed"),
    )
    assert "sk-new-value" not in repr(plan)
    assert "sk-old" not in repr(plan)


# --- fields the target cannot observe -------------------------------------------------


def test_diff_ignores_type_the_target_does_not_observe() -> None:
    plan = make_plan(
        desired(spec("P", type="openai")),
        observed(state("P", type="anthropic", key_known=False), capabilities=BLIND),
    )
    assert plan.is_empty


def test_diff_ignores_key_the_target_does_not_observe_and_says_so_once() -> None:
    plan = make_plan(
        desired(spec("P", api_key="sk-1"), spec("Q", api_key="sk-2")),
        observed(
            state("P", type=None, key_known=False),
            state("Q", type=None, key_known=False),
            capabilities=BLIND,
        ),
    )
    assert plan.is_empty
    assert len(plan.notes) == 1
    assert plan.notes[0].startswith("this target does not report api_key, audio_only, ")
    assert "cannot be compared" in plan.notes[0]


def test_diff_sends_what_a_blind_target_cannot_report_without_counting_it_as_a_change() -> None:
    plan = make_plan(
        desired(spec("P", api_key="sk-1", settings=ProviderSettings(image_only=True))),
        observed(state("P", type=None, key_known=False), capabilities=BLIND),
    )
    push = only(plan, "push")
    assert push.changes[0] == FieldChange(field="api_key", before=None, after="sent")
    assert FieldChange(field="image_only", before=None, after=True) in push.changes
    assert plan.is_empty and plan.changes == () and plan.summary() == Summary()


def test_diff_sends_no_separate_push_to_a_provider_that_is_written_anyway() -> None:
    plan = make_plan(
        desired(spec("P", api_key="sk-1", enabled=False)),
        observed(state("P", type=None, key_known=False), capabilities=BLIND),
    )
    assert [a.kind for a in plan.actions] == ["disable"]


def test_diff_compares_the_settings_a_target_reports_and_only_those() -> None:
    caps = Capabilities(observes=frozenset({"base_url", "enabled", "audio_only", "favicon"}))
    want = ProviderSettings(audio_only=True, image_only=True, favicon="https://x/icon.png")
    plan = make_plan(
        desired(spec("P", settings=want)),
        observed(state("P", settings=ProviderSettings(image_only=False)), capabilities=caps),
    )
    assert only(plan, "update").changes == (
        FieldChange(field="audio_only", before=False, after=True),
        FieldChange(field="favicon", before="", after="https://x/icon.png"),
    )


def test_diff_resets_an_observed_setting_the_file_leaves_out() -> None:
    caps = Capabilities(observes=frozenset(("base_url", "enabled", *SETTING_NAMES)))
    plan = make_plan(
        desired(spec("P")),
        observed(
            state("P", settings=ProviderSettings(default_model="dall-e-3")), capabilities=caps
        ),
    )
    assert only(plan, "update").changes == (
        FieldChange(field="default_model", before="dall-e-3", after=""),
    )


def test_diff_ignores_enabled_when_the_target_does_not_observe_it() -> None:
    caps = Capabilities(observes=frozenset({"type", "base_url"}))
    plan = make_plan(desired(spec("P", enabled=False)), observed(state("P"), capabilities=caps))
    assert plan.is_empty


# --- rename ---------------------------------------------------------------------------


def test_diff_should_rename_in_place_keeping_the_id() -> None:
    plan = make_plan(
        desired(spec("Team Proxy", renamed_from=("Old Proxy",))),
        observed(state("Old Proxy", id="7")),
    )
    rename = only(plan, "rename")
    assert (rename.provider, rename.old_name, rename.provider_id) == (
        "Team Proxy",
        "Old Proxy",
        "7",
    )
    assert kinds(plan) == [("rename", "Team Proxy")]
    assert plan.unmanaged == ()


def test_diff_should_rename_and_update_base_url_of_the_same_provider() -> None:
    plan = make_plan(
        desired(spec("New", base_url="https://b.example/v1", renamed_from=("Old",))),
        observed(state("Old", id="7", base_url="https://a.example/v1")),
    )
    assert kinds(plan) == [("rename", "New"), ("update", "New")]
    assert only(plan, "update").provider_id == "7"
    assert plan.summary().change == 1


def test_diff_should_not_prune_the_former_name_of_a_renamed_provider() -> None:
    plan = make_plan(
        desired(spec("New", enabled=False, renamed_from=("Old",))),
        observed(state("Old", enabled=False)),
        Options(prune=True),
    )
    assert kinds(plan) == [("rename", "New")]


def test_diff_leaves_former_name_alone_when_both_names_exist() -> None:
    plan = make_plan(
        desired(spec("New", renamed_from=("Old",))),
        observed(state("New"), state("Old")),
    )
    assert plan.is_empty
    assert any("'Old' is left alone" in w for w in plan.warnings)


def test_diff_renames_from_the_first_former_name_and_leaves_the_others_alone() -> None:
    want = desired(spec("New", renamed_from=("Old", "Older")))
    on_target = observed(state("Old"), state("Older", enabled=False))
    first = make_plan(want, on_target, Options(prune=True))
    assert kinds(first) == [("rename", "New")]
    assert first.unmanaged == ()
    assert any("'Older' also exists and is left alone" in w for w in first.warnings)
    # The next run, with the new name in place, treats 'Older' the same way.
    after = make_plan(
        want, observed(state("New"), state("Older", enabled=False)), Options(prune=True)
    )
    assert after.is_empty and after.unmanaged == ()


# --- enable / disable -----------------------------------------------------------------


def test_diff_should_enable_disabled_provider() -> None:
    plan = make_plan(desired(spec("P", enabled=True)), observed(state("P", enabled=False)))
    assert kinds(plan) == [("enable", "P")]
    assert plan.summary().change == 1


def test_diff_should_disable_enabled_provider() -> None:
    plan = make_plan(desired(spec("P", enabled=False)), observed(state("P", enabled=True)))
    assert kinds(plan) == [("disable", "P")]
    assert plan.summary().disable == 1
    assert plan.summary().change == 0


# --- delete ---------------------------------------------------------------------------


def test_diff_should_delete_disabled_provider_marked_absent_with_its_model_count() -> None:
    plan = make_plan(
        desired(absent("Legacy")), observed(state("Legacy", enabled=False, model_count=37))
    )
    delete = only(plan, "delete")
    assert (delete.provider_id, delete.model_count, delete.reason) == (
        "id-Legacy",
        37,
        "ensure: absent",
    )
    assert plan.summary().delete == 1


def test_diff_ignores_absent_provider_that_is_already_gone() -> None:
    assert make_plan(desired(absent("Legacy")), observed()).is_empty


def test_diff_refuses_to_delete_enabled_providers_listing_all_with_the_advice() -> None:
    with pytest.raises(PlanRefused) as caught:
        make_plan(
            desired(absent("A"), absent("B"), absent("C")),
            observed(
                state("A", model_count=37),
                state("B", model_count=1),
                state("C", enabled=False),
            ),
        )
    message = str(caught.value)
    assert "'A' (ensure: absent) and its 37 models" in message
    assert "'B' (ensure: absent) and its 1 model\n" in message
    assert "'C'" not in message
    assert "Disable it first (enabled: false, with the 'ensure: absent' line taken out" in message
    assert "--allow-delete-enabled" in message


def test_diff_deletes_enabled_provider_with_allow_delete_enabled() -> None:
    plan = make_plan(
        desired(absent("A")),
        observed(state("A", enabled=True)),
        Options(allow_delete_enabled=True),
    )
    assert kinds(plan) == [("delete", "A")]


def test_diff_lists_unmanaged_providers_and_leaves_them_alone() -> None:
    plan = make_plan(desired(spec("Mine")), observed(state("Mine"), state("Zed"), state("Other")))
    assert plan.is_empty
    assert plan.unmanaged == ("Other", "Zed")


def test_diff_should_prune_unmanaged_providers() -> None:
    plan = make_plan(
        desired(spec("Mine")),
        observed(state("Mine"), state("Other", enabled=False, model_count=3)),
        Options(prune=True),
    )
    delete = only(plan, "delete")
    assert (delete.provider, delete.reason, delete.model_count) == ("Other", "--prune", 3)
    assert plan.unmanaged == ()


def test_diff_refuses_to_prune_enabled_unmanaged_provider() -> None:
    with pytest.raises(PlanRefused, match=r"'Other' \(--prune\) and its 1 model"):
        make_plan(
            desired(spec("Mine")), observed(state("Mine"), state("Other")), Options(prune=True)
        )


def test_diff_refuses_prune_with_no_providers_declared() -> None:
    with pytest.raises(PlanRefused, match="--allow-empty"):
        make_plan(desired(), observed(state("A", enabled=False)), Options(prune=True))


def test_diff_prunes_everything_with_allow_empty() -> None:
    plan = make_plan(
        desired(),
        observed(state("A", enabled=False), state("B", enabled=False)),
        Options(prune=True, allow_empty=True),
    )
    assert kinds(plan) == [("delete", "A"), ("delete", "B")]


def test_diff_runs_deletes_last() -> None:
    plan = make_plan(
        desired(absent("A"), spec("Z")),
        observed(state("A", enabled=False)),
    )
    assert kinds(plan) == [("create", "Z"), ("delete", "A")]


# --- model fetches --------------------------------------------------------------------


def test_diff_plans_fetch_for_created_provider() -> None:
    plan = make_plan(desired(spec("P", api_key="sk-1")), observed())
    assert kinds(plan) == [("create", "P"), ("fetch", "P")]
    assert only(plan, "fetch").reason == "new provider"
    assert plan.summary().fetch == 1


def test_diff_plans_fetch_for_created_keyless_local_provider() -> None:
    plan = make_plan(desired(spec("Ollama", base_url=LOCAL_URL)), observed())
    assert kinds(plan) == [("create", "Ollama"), ("fetch", "Ollama")]


@pytest.mark.parametrize(
    ("target_has", "reason"),
    [
        (state("P", type="anthropic", key="sk-1"), "type changed"),
        (state("P", base_url="https://old.example/v1", key="sk-1"), "base_url changed"),
        (state("P", key="sk-0"), "api_key changed"),
    ],
    ids=["type", "base_url", "api_key"],
)
def test_diff_plans_fetch_when_type_base_url_or_key_changes(
    target_has: ProviderState, reason: str
) -> None:
    plan = make_plan(desired(spec("P", api_key="sk-1")), observed(target_has))
    assert kinds(plan) == [("update", "P"), ("fetch", "P")]
    assert only(plan, "fetch").reason == reason


def test_diff_plans_fetch_when_provider_has_no_models_yet() -> None:
    plan = make_plan(
        desired(spec("P", api_key="sk-1")),
        observed(state("P", key="sk-1", models=(), fetched=False)),
    )
    assert kinds(plan) == [("fetch", "P")]
    assert only(plan, "fetch").reason == "no models yet"


def test_diff_plans_fetch_again_after_a_failed_one() -> None:
    plan = make_plan(
        desired(spec("P", api_key="sk-1")),
        observed(state("P", key="sk-1", last_fetch_error="401 Unauthorized")),
    )
    assert only(plan, "fetch").reason == "last attempt failed: 401 Unauthorized"


def test_diff_does_not_fetch_for_disabled_provider() -> None:
    plan = make_plan(
        desired(spec("P", api_key="sk-1", enabled=False)),
        observed(state("P", key="sk-1", enabled=False, models=(), fetched=False)),
    )
    assert plan.is_empty


def test_diff_does_not_fetch_when_fetch_models_is_false() -> None:
    plan = make_plan(desired(spec("P", api_key="sk-1", fetch_models=False)), observed())
    assert kinds(plan) == [("create", "P")]


def test_diff_does_not_fetch_without_admin_key_when_type_needs_one() -> None:
    plan = make_plan(
        desired(spec("A", type="anthropic", base_url="https://api.anthropic.com")),
        observed(),
    )
    assert kinds(plan) == [("create", "A")]


def test_diff_plans_fetch_for_every_enabled_provider_with_refetch() -> None:
    plan = make_plan(
        desired(spec("P", api_key="sk-1"), spec("Q", api_key="sk-2", enabled=False)),
        observed(state("P", key="sk-1"), state("Q", key="sk-2", enabled=False)),
        Options(refetch=True),
    )
    assert kinds(plan) == [("fetch", "P")]
    assert only(plan, "fetch").reason == "--refetch"


# --- model visibility -----------------------------------------------------------------


def test_diff_shows_and_hides_models_by_pattern() -> None:
    plan = make_plan(
        desired(spec("P", visible=("gpt-4o*",), hidden=("gpt-4o-mini",))),
        observed(state("P", models=("gpt-4o", "gpt-4o-mini", "o3"), visible=("gpt-4o-mini",))),
    )
    models = only(plan, "models")
    assert (models.show, models.hide) == (("gpt-4o",), ("gpt-4o-mini",))


def test_diff_settles_visibility_after_a_planned_fetch() -> None:
    plan = make_plan(desired(spec("P", api_key="sk-1", visible=("gpt-4o",))), observed())
    assert kinds(plan) == [("create", "P"), ("fetch", "P"), ("models", "P")]
    assert only(plan, "models").after_fetch


# --- order ----------------------------------------------------------------------------


def test_diff_output_is_sorted_whatever_the_input_order() -> None:
    specs = [
        spec("beta", api_key="sk-1"),
        absent("Gone"),
        spec("Alpha", base_url="https://new.example/v1"),
        spec("gamma", enabled=False),
    ]
    states = [
        state("gamma"),
        state("Gone", enabled=False),
        state("Alpha"),
        state("zeta"),
        state("Unused"),
    ]
    first = make_plan(desired(*specs), observed(*states))
    second = make_plan(desired(*reversed(specs)), observed(*reversed(states)))
    assert first == second
    assert kinds(first) == [
        ("update", "Alpha"),
        ("create", "beta"),
        ("fetch", "beta"),
        ("disable", "gamma"),
        ("delete", "Gone"),
    ]
    assert first.unmanaged == ("Unused", "zeta")


# --- model ids shared between providers (targets that set visibility by id) -------------

BY_ID = Capabilities(
    observes=frozenset({"base_url", "enabled", "models"}), lists_models=True, visibility_by_id=True
)


def test_diff_warns_when_a_visibility_change_touches_an_id_another_provider_lists() -> None:
    plan = make_plan(
        desired(spec("B", visible=("gpt-4o",))),
        observed(
            state("A", models=("gpt-4o",)), state("B", models=("gpt-4o",)), capabilities=BY_ID
        ),
    )
    assert only(plan, "models").show == ("gpt-4o",)
    assert any(
        "changing gpt-4o also changes the model(s) of the same id under 'A'" in w
        for w in plan.warnings
    )


def test_diff_names_the_provider_that_holds_the_ids_a_pattern_wants() -> None:
    plan = make_plan(
        desired(spec("B", visible=("gpt-4o*",))),
        observed(state("A", models=("gpt-4o",)), state("B", models=("o3",)), capabilities=BY_ID),
    )
    assert any("'A' already holds the matching ids" in w for w in plan.warnings)


def test_diff_says_nothing_of_other_providers_where_ids_are_per_provider() -> None:
    plan = make_plan(
        desired(spec("B", visible=("gpt-4o",))),
        observed(state("A", models=("gpt-4o",)), state("B", models=("gpt-4o",))),
    )
    assert not any("'A'" in w for w in plan.warnings)


def test_a_pattern_that_matches_nothing_is_warned_about_at_its_place_in_the_file() -> None:
    rules = ModelRules(
        visible=("gpt-4o", "gpt-5*"),
        hidden=("*-preview",),
        visible_at=(Location(file="p.yaml", line=8, column=18), Location(file="p.yaml", line=8)),
        hidden_at=(Location(file="p.yaml", line=9, column=16),),
    )
    plan = make_plan(
        desired(replace(spec("A"), models=rules)),
        observed(state("A", models=("gpt-4o",))),
    )
    assert [w for w in plan.warnings if "pattern" in w] == [
        "p.yaml:8: provider 'A': models.visible pattern 'gpt-5*' matches none of its 1 models "
        "(a typo, or a model the upstream no longer lists?)",
        "p.yaml:9:16: provider 'A': models.hidden pattern '*-preview' matches none of its 1 "
        "models (a typo, or a model the upstream no longer lists?)",
    ]
