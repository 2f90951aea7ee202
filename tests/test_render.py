"""Rendering plans: text for people, JSON as the schema documents it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.diff import make_plan
from reconciler.core.model import Observed
from reconciler.core.plan import Options, Outcome, Plan, Report
from reconciler.output import markdown, render
from reconciler.output.apply_report import report_text
from tests.factories import BLIND, FULL, LOCAL_URL, absent, desired, observed, spec, state

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "plan.schema.json"


@pytest.fixture
def busy_plan() -> Plan:
    return make_plan(
        desired(
            spec("New", api_key="sk-render-secret-1", api_key_ref="${NEW_KEY}"),
            spec("Moved", base_url="https://b.example/v1", renamed_from=("Old",)),
            spec("Rekeyed", api_key="sk-render-secret-2", fetch_models=False),
            spec("Off", enabled=False),
            spec("Shown", visible=("gpt-4o",)),
            absent("Legacy"),
        ),
        observed(
            state("Old", base_url="https://a.example/v1"),
            state("Rekeyed", key="sk-render-old"),
            state("Off"),
            state("Shown"),
            state("Legacy", enabled=False, model_count=37),
            state("Stray"),
        ),
        Options(),
    )


def test_empty_plan_says_no_changes() -> None:
    text = render.plan_text(Plan(actions=()), target="sqlite:///s.db")
    assert text == "Target: sqlite:///s.db\n\nNo changes. The target matches the configuration.\n"


def test_plan_text_lists_every_action_with_its_marker(busy_plan: Plan) -> None:
    text = render.plan_text(busy_plan, target="t")
    lines = [line for line in text.splitlines() if line[:4] in ("  + ", "  ~ ", "  - ")]
    assert lines == [
        "  ~ rename Old → Moved (keeps its id and models)",
        "  ~ update Moved",
        "  + create New (openai, https://api.openai.com/v1, enabled)",
        "  ~ fetch models of New (new provider)",
        "  ~ disable Off (users stop seeing it and its models)",
        "  ~ update Rekeyed",
        "  ~ models of Shown: show 1 model (gpt-4o)",
        "  - delete Legacy and its 37 models (ensure: absent)",
    ]
    assert "      base_url: https://a.example/v1 → https://b.example/v1\n" in text
    assert "      api_key: ${NEW_KEY}\n" in text
    assert "      api_key: changed\n" in text
    assert "Unmanaged (on the target, in no file; left alone, --prune deletes them): Stray" in text
    assert text.endswith("Plan: 1 to add, 3 to change, 1 to disable, 1 to delete, 1 model fetch.\n")


def test_plan_text_has_colour_only_when_asked(busy_plan: Plan) -> None:
    assert "\033[" not in render.plan_text(busy_plan, target="t")
    coloured = render.plan_text(busy_plan, target="t", colour=True)
    assert "\033[32m  + create New" in coloured
    assert "\033[31m  - delete Legacy" in coloured


def test_plan_json_matches_the_plan_schema(busy_plan: Plan) -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(SCHEMA.read_text()))
    for plan in (busy_plan, Plan(actions=())):
        data = json.loads(render.plan_json(plan, target="t"))
        assert sorted(validator.iter_errors(data), key=str) == []
    assert json.loads(render.plan_json(busy_plan, target="t"))["summary"]["fetch"] == 1


def test_renderers_never_see_a_key_value(busy_plan: Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "scrub", lambda text: text)  # no second line of defence
    monkeypatch.setattr(markdown, "scrub", lambda text: text)
    outputs = [
        render.plan_text(busy_plan, target="t"),
        render.plan_json(busy_plan, target="t"),
        render.plan_markdown(busy_plan, target="t"),
    ]
    for output in outputs:
        for value in ("sk-render-secret-1", "sk-render-secret-2", "sk-render-old"):
            assert value not in output


def test_text_output_shows_control_characters_of_names_escaped() -> None:
    hostile = "Evil\nPlan: 0 to add.\u202e\x1b[2J"
    seen = Observed(providers=(state(hostile, enabled=False),), capabilities=FULL)
    plan = make_plan(desired(absent(hostile)), seen)
    text = render.plan_text(plan, target="t", colour=True)
    lines = text.splitlines()
    assert sum(line.startswith("Plan: ") for line in lines) == 1  # the real summary only
    assert "Evil\\nPlan: 0 to add.\\u202e\\u001b[2J" in text
    assert "\u202e" not in text and "\x1b[2J" not in text
    report = Report(outcomes=[Outcome(action=plan.actions[0], status="failed", message="x\ny")])
    shown = report_text(report)
    assert "Evil\\nPlan" in shown and "x\\ny" in shown


def test_a_push_to_a_provider_without_an_admin_key_says_a_stored_key_goes() -> None:
    plan = make_plan(
        desired(spec("Local", base_url=LOCAL_URL)),
        observed(state("Local", base_url=LOCAL_URL, key_known=False), capabilities=BLIND),
    )
    text = render.plan_text(plan, target="t", colour=False)
    assert "No admin key is declared for Local: a key the target holds for it is removed." in text
