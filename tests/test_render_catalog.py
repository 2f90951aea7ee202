"""The model catalog in plans and apply reports: model settings field by field, model
pushes listed as 'send', aliases, tiers and what a delete takes with it; text, Markdown
and JSON (as the schemas document it); and the notes on what a target cannot compare."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.catalog import Alias, ModelSettingRule, ModelSettings
from reconciler.core.diff import make_plan
from reconciler.core.model import Desired, ModelRules, Observed
from reconciler.core.plan import Action, FieldChange, Options, Outcome, Plan, Report
from reconciler.output import apply_report, markdown, planfile, render, render_catalog
from tests.catalog_plans import (
    CATALOG,
    KEY,
    catalog_desired,
    catalog_observed,
    catalog_plan,
)
from tests.factories import FULL, spec

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def errors_of(schema: str, data: dict[str, Any]) -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads((SCHEMAS / schema).read_text()))
    return sorted(e.message for e in validator.iter_errors(data))


@pytest.fixture
def plan() -> Plan:
    return catalog_plan()


def test_text_shows_each_catalog_change_and_keeps_the_summary_line(plan: Plan) -> None:
    text = render.plan_text(plan, target="t")
    body = text.split("\n\n")[2].splitlines()
    assert body == [
        "  ~ model settings of OpenAI: 1 model",
        '      gpt-4o: display_name "gpt-4o" → "GPT-4o"',
        "      gpt-4o: context_length 0 → 128000",
        "  ~ aliases of OpenAI: 1 to create, 1 to replace, 1 to delete",
        "      replace fast → gpt-4o-mini (delete + create; description, free_tier, "
        "structured_output.support, structured_output.compliance, structured_output.badge "
        "changed)",
        "      create smart → gpt-4o (new)",
        "      delete old → gpt-4o (not in the file)",
        "  ~ tier1: OpenAI/gpt-4o-mini → OpenAI/gpt-4o",
        "  ~ tier4: (empty) → OpenAI/fast (alias of gpt-4o-mini)",
        "  - delete Legacy and its 37 models, 2 aliases; tiers tier2, tier5 go with it "
        "(ensure: absent)",
    ]
    assert text.endswith(
        "Plan: 0 to add, 1 to change, 0 to disable, 1 to delete, 0 model fetches.\n"
    )


def test_model_settings_the_target_cannot_report_are_sent_not_changes(plan: Plan) -> None:
    assert [a.kind for a in plan.pushes] == ["model_push"]
    assert all(a.kind != "model_push" for a in plan.changes)
    text = render.plan_text(plan, target="t")
    assert (
        "Apply also sends, as declared, model settings this target cannot report: agents of "
        "2 models of OpenAI (gpt-4o, gpt-4o-mini).\n" in text
    )
    marker, lines = render.action_lines(plan.pushes[0])
    assert marker == " "
    assert lines == [
        "model settings of OpenAI: agents of 2 models sent (this target cannot report them)",
        "gpt-4o, gpt-4o-mini",
    ]


def test_the_plan_notes_once_what_the_target_cannot_compare(plan: Plan) -> None:
    assert plan.notes == (
        "this target does not report model agents: they cannot be compared, so apply sends "
        "the declared values with every apply (listed as 'send'; not counted as a change)",
        "this target lists aliases per model: the aliases of 2 models were read (gpt-4o, "
        "gpt-4o-mini): those the file's aliases name and the visible models of the providers "
        "that declare aliases; an alias on another model (a hidden one the file does not "
        "name) is left alone",
    )
    text = render.plan_text(plan, target="t")
    assert text.count("does not report model agents") == 1


def test_no_note_where_the_target_reports_and_reads_everything() -> None:
    everything = replace(
        catalog_observed(replace(CATALOG, model_settings=CATALOG.model_settings | {"agents"})),
        aliases_read_for=None,
    )
    plan = make_plan(catalog_desired(), everything, Options())
    assert plan.notes == ()
    assert plan.pushes == ()


def test_no_alias_note_when_the_file_declares_no_aliases() -> None:
    desired = catalog_desired()
    openai = desired.providers[0]
    assert openai.models is not None
    without = replace(openai, models=replace(openai.models, aliases=None))
    plan = make_plan(replace(desired, providers=(without,), tiers=()), catalog_observed())
    assert not any("aliases per model" in n for n in plan.notes)


def test_markdown_colours_catalog_changes_and_lists_what_a_delete_takes(plan: Plan) -> None:
    text = render.plan_markdown(plan, target="t")
    assert (
        "- **`Legacy`** and its 37 models, 2 aliases; tiers tier2, tier5 go with it "
        "(ensure: absent)" in text
    )
    for line in (
        '-     gpt-4o: display_name: "gpt-4o"',
        '+     gpt-4o: display_name: "GPT-4o"',
        "+     create smart → gpt-4o (new)",
        "-     delete old → gpt-4o (not in the file)",
        "-     tier1: OpenAI/gpt-4o-mini",
        "+     tier1: OpenAI/gpt-4o",
        "-     tier4: (empty)",
    ):
        assert f"\n{line}\n" in text, line
    assert "<b>OpenAI</b>: model_settings, aliases, tier</summary>" in text
    assert "agents of 2 models of OpenAI" in text


def test_plan_json_carries_the_catalog_and_matches_the_schema(plan: Plan) -> None:
    data = json.loads(render.plan_json(plan, target="t"))
    assert errors_of("plan.schema.json", data) == []
    by_kind = {a["kind"]: a for a in data["actions"]}
    assert by_kind["model_settings"]["model_changes"] == [
        {
            "model": "gpt-4o",
            "changes": [
                {"field": "display_name", "before": "gpt-4o", "after": "GPT-4o"},
                {"field": "context_length", "before": "0", "after": "128000"},
            ],
        }
    ]
    assert by_kind["aliases"]["aliases"] == {
        "delete": ["fast", "old"],
        "create": [
            {
                "name": "fast",
                "model": "gpt-4o-mini",
                "display_name": "Fast",
                "description": "Quick answers",
                "free_tier": True,
                "structured_output": {"support": "good", "compliance": 92, "badge": "FAST"},
            },
            {"name": "smart", "model": "gpt-4o", "display_name": "Smart"},
        ],
    }
    tiers = [(a["tier"], a["model_id"]) for a in data["actions"] if a["kind"] == "tier"]
    assert tiers == [("tier1", "gpt-4o"), ("tier4", "gpt-4o-mini")]
    assert by_kind["delete"]["alias_count"] == 2
    assert by_kind["delete"]["tiers"] == ["tier2", "tier5"]


def test_settings_worked_out_after_the_fetch_pin_their_rules() -> None:
    rules = ModelRules(
        visible=("*",),
        settings=(
            ModelSettingRule(pattern="gpt-4o", settings=ModelSettings(display_name="GPT-4o")),
        ),
    )
    new = replace(spec("New", api_key=KEY), models=rules)
    plan = make_plan(Desired(providers=(new,)), Observed(providers=(), capabilities=CATALOG))
    action = next(a for a in plan.actions if a.kind == "model_settings")
    assert render.action_lines(action) == (
        "~",
        ["model settings of New: worked out after the fetch"],
    )
    data = json.loads(render.plan_json(plan, target="t"))
    assert errors_of("plan.schema.json", data) == []
    (entry,) = [a for a in data["actions"] if a["kind"] == "model_settings"]
    assert entry["after_fetch"] is True
    assert entry["setting_rules"] == [{"pattern": "gpt-4o", "settings": {"display_name": "GPT-4o"}}]
    assert "model settings of New: worked out after the fetch" in render.plan_markdown(
        plan, target="t"
    )


def test_a_saved_plan_with_catalog_actions_is_read_back(plan: Plan, tmp_path: Path) -> None:
    desired, observed = catalog_desired(), catalog_observed()
    data = planfile.build(plan, desired=desired, observed=observed, options=Options(), target="t")
    path = tmp_path / "plan.json"
    path.write_text(planfile.dumps(data), encoding="utf-8")
    assert planfile.read(str(path))["actions"] == render.plan_data(plan, target="t")["actions"]


def test_a_tier_moved_since_the_plan_is_a_changed_target() -> None:
    observed = catalog_observed()
    moved = replace(observed, tiers=observed.tiers[1:])
    assert planfile.observed_digest(moved) != planfile.observed_digest(observed)


def test_the_apply_report_names_catalog_actions_and_matches_its_schema(plan: Plan) -> None:
    outcomes = [
        Outcome(
            action=a,
            status="failed" if a.kind == "tier" else "done",
            message="Data truncated for column 'tier'" if a.kind == "tier" else "",
        )
        for a in plan.actions
    ]
    report = Report(outcomes=outcomes, converged=False, remaining=plan)
    text = apply_report.report_text(report)
    assert "Error: tier1 → OpenAI/gpt-4o failed: Data truncated for column 'tier'" in text
    assert "  tier4: (empty) → OpenAI/fast (alias of gpt-4o-mini)" in text
    assert "  aliases of OpenAI: 1 to create, 1 to replace, 1 to delete" in text
    data = json.loads(apply_report.report_json(report, target="t"))
    assert errors_of("apply.schema.json", data) == []
    assert [o["kind"] for o in data["outcomes"]] == [a.kind for a in plan.actions]


def test_catalog_values_that_hold_a_key_are_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    # A key pasted into a description, a display name, an alias: the plan shows only
    # what scrub leaves, in every format.
    from reconciler.secrets import Secret, scrubbing_run

    with scrubbing_run():
        Secret(KEY)  # known to this run, as every key read from the file is
        desired = catalog_desired()
        openai = desired.providers[0]
        assert openai.models is not None
        leaky = ModelSettings(display_name=f"GPT {KEY}", description=KEY, system_prompt=KEY * 3)
        leaky_alias = Alias(name="leak", model="gpt-4o", display_name=KEY, description=KEY)
        rules = replace(
            openai.models,
            settings=(ModelSettingRule(pattern="gpt-4o", settings=leaky),),
            aliases=(*(openai.models.aliases or ()), leaky_alias),
        )
        desired = replace(
            desired, providers=(replace(openai, models=rules), *desired.providers[1:])
        )
        plan = make_plan(desired, catalog_observed())
        outputs = [
            render.plan_text(plan, target="t"),
            render.plan_json(plan, target="t"),
            render.plan_markdown(plan, target="t"),
            apply_report.report_text(Report(outcomes=[], converged=False, remaining=plan)),
        ]
        for output in outputs:
            assert KEY not in output
            assert KEY[:20] not in output  # nor a part of it, cut short


def test_the_renderers_never_see_the_provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "scrub", lambda text: text)  # no second line of defence
    monkeypatch.setattr(markdown, "scrub", lambda text: text)
    monkeypatch.setattr(render_catalog, "scrub", lambda text: text)
    plan = make_plan(catalog_desired(), catalog_observed(replace(FULL, model_settings=frozenset())))
    for output in (
        render.plan_text(plan, target="t"),
        render.plan_json(plan, target="t"),
        render.plan_markdown(plan, target="t"),
    ):
        assert KEY not in output


def test_hostile_catalog_values_stay_on_their_line() -> None:
    hostile = "x\nPlan: 0 to add.\u202e```"
    desired = catalog_desired()
    openai = desired.providers[0]
    assert openai.models is not None
    rules = replace(
        openai.models,
        settings=(
            ModelSettingRule(pattern="gpt-4o", settings=ModelSettings(display_name=hostile)),
        ),
        aliases=(Alias(name=hostile, model="gpt-4o", description=hostile),),
    )
    plan = make_plan(
        replace(desired, providers=(replace(openai, models=rules),), tiers=()),
        catalog_observed(),
    )
    text = render.plan_text(plan, target="t")
    assert sum(line.startswith("Plan: ") for line in text.splitlines()) == 1
    assert "\u202e" not in text and "x\\nPlan: 0 to add.\\u202e" in text
    comment = render.plan_markdown(plan, target="t")
    assert "\u202e" not in comment
    blocks = comment.split("````diff")
    assert len(blocks) == 2 and "\n````\n" in blocks[1]  # a fence longer than the value's


def test_the_send_line_does_not_say_no_change_where_the_catalog_changes() -> None:
    # Keys not reported: OpenAI's own fields have no write, so it gets a push; its
    # aliases, model settings and tiers still change above.
    blind_keys = replace(CATALOG, key_fingerprints=False)
    plan = make_plan(catalog_desired(), catalog_observed(blind_keys), Options())
    assert "push" in [a.kind for a in plan.pushes]
    assert {a.kind for a in plan.changes if a.provider == "OpenAI"} >= {"aliases", "tier"}
    text = render.plan_text(plan, target="t")
    assert "no change above" not in text
    line = (
        "Apply also sends api_key as declared to 1 provider whose own fields no action above "
        "writes (OpenAI): this target cannot report them."
    )
    assert line in text
    assert render_markdown_text(plan).count("Apply also sends api_key as declared") == 1


def render_markdown_text(plan: Plan) -> str:
    return markdown.plan_markdown(plan, target="t").replace("\\", "")


def test_a_tier_set_again_says_why_in_text_markdown_and_json() -> None:
    # A tier re-set to the model it has (its display name changes on a server that keeps
    # tiers by display name) reads as a no-op without its reason.
    why = "re-set: the display name of gpt-4o changes, and this server keeps tiers by display name"
    tier = Action(
        kind="tier",
        provider="OpenAI",
        provider_id="id-OpenAI",
        tier="tier1",
        model_id="gpt-4o",
        changes=(FieldChange(field="tier1", before="OpenAI/gpt-4o", after="OpenAI/gpt-4o"),),
        reason=why,
    )
    plan = Plan(actions=(tier,))
    assert f"  ~ tier1: OpenAI/gpt-4o → OpenAI/gpt-4o ({why})\n" in render.plan_text(
        plan, target="t"
    )
    assert ("!", f"tier tier1 ({why})") in render_catalog.catalog_diff_lines(tier)
    assert f"! tier tier1 ({why})" in markdown.plan_markdown(plan, target="t")
    data = render.plan_data(plan, target="t")
    assert data["actions"][0]["reason"] == why
    assert errors_of("plan.schema.json", data) == []
    # Without a reason, nothing is added.
    plain = replace(tier, reason=None)
    assert render.action_lines(plain)[1] == ["tier1: OpenAI/gpt-4o → OpenAI/gpt-4o"]


@pytest.mark.parametrize(
    ("action", "name"),
    [
        (Action(kind="push", provider="X"), "send X"),
        (Action(kind="model_push", provider="X"), "send model settings of X"),
        (Action(kind="model_settings", provider="X"), "model settings of X"),
        (Action(kind="aliases", provider="X"), "aliases of X"),
        (Action(kind="models", provider="X"), "models of X"),
        (Action(kind="fetch", provider="X"), "fetch models of X"),
        (Action(kind="create", provider="X"), "create X"),
        (Action(kind="update", provider="X"), "update X"),
        (Action(kind="rename", provider="X", old_name="W"), "rename W → X"),
        (Action(kind="delete", provider="X"), "delete X"),
        (
            Action(
                kind="tier",
                provider="X",
                tier="tier1",
                model_id="gpt-4o",
                changes=(FieldChange(field="tier1", before=None, after="X/gpt-4o"),),
            ),
            "tier1 → X/gpt-4o",
        ),
    ],
    ids=lambda v: v.kind if isinstance(v, Action) else None,
)
def test_the_apply_report_names_actions_as_the_plan_does(action: Action, name: str) -> None:
    assert apply_report.action_name(action) == name
    report = Report(outcomes=[Outcome(action=action, status="failed", message="boom")])
    assert apply_report.report_text(report).startswith(f"Error: {name} failed: boom\n")
    # The JSON keeps the kinds apply.schema.json names.
    (outcome,) = apply_report.report_data(report, target="t")["outcomes"]
    assert outcome["kind"] == action.kind
