"""What an apply did, as text and as JSON: each failure's reason said once, the JSON as
schemas/apply.schema.json documents it, and never a key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.diff import make_plan
from reconciler.core.plan import Action, Options, Outcome, Plan, Report
from reconciler.output import apply_report
from reconciler.secrets import scrubbing_run
from tests.factories import desired, observed, spec, state

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "apply.schema.json"
PLAN_SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "plan.schema.json"


@pytest.fixture
def busy_plan() -> Plan:
    return make_plan(
        desired(
            spec("New", api_key="sk-report-secret-1", api_key_ref="${NEW_KEY}"),
            spec("Moved", base_url="https://b.example/v1", renamed_from=("Old",)),
        ),
        observed(state("Old", base_url="https://a.example/v1")),
        Options(),
    )


def _fetch(provider: str, reason: str = "new provider", retry: bool = False) -> Action:
    return Action(kind="fetch", provider=provider, provider_id="1", reason=reason, retry=retry)


def test_report_text_says_what_failed_and_what_was_not_attempted(busy_plan: Plan) -> None:
    a, b, c = busy_plan.actions[:3]
    report = Report(
        outcomes=[
            Outcome(action=a, status="done"),
            Outcome(action=b, status="failed", message="provider 7 not found"),
            Outcome(action=c, status="skipped", message="not attempted"),
        ],
        converged=False,
        remaining=Plan(actions=(b, c)),
    )
    assert apply_report.report_text(report).splitlines() == [
        "Error: update Moved failed: provider 7 not found",
        "Not attempted after the failure:",
        "  create New",
        "Apply: 1 done, 1 failed, 0 with warnings, 1 not attempted.",
        "The target does not match the configuration yet (2 actions remain); "
        "the errors above say why:",
        "  update Moved",
        "  create New (openai, https://api.openai.com/v1, enabled)",
    ]
    data = apply_report.report_data(report, target="t")
    assert [o["status"] for o in data["outcomes"]] == ["done", "failed", "skipped"]
    assert data["converged"] is False


def test_report_says_when_the_target_could_not_be_checked_again(busy_plan: Plan) -> None:
    report = Report(
        outcomes=[Outcome(action=busy_plan.actions[0], status="done")],
        recheck_error="the server answered 503 Service Unavailable",
    )
    assert apply_report.report_text(report).splitlines()[-1] == (
        "Could not check that the target now matches the configuration: "
        "the server answered 503 Service Unavailable"
    )
    assert apply_report.report_data(report, target="t")["recheck_error"] == (
        "the server answered 503 Service Unavailable"
    )


def test_a_refusal_on_the_check_after_apply_keeps_its_lines(busy_plan: Plan) -> None:
    report = Report(
        outcomes=[Outcome(action=busy_plan.actions[0], status="done")],
        recheck_error="the file does not fit the target's models:\n  - f.yaml:11: alias 'x'",
    )
    assert apply_report.report_text(report).splitlines()[-2:] == [
        "Could not check that the target now matches the configuration: the file does not "
        "fit the target's models:",
        "  - f.yaml:11: alias 'x'",
    ]


def test_a_failed_fetch_s_reason_is_said_once_and_the_retries_are_named() -> None:
    reason = "could not connect to 127.0.0.1:9 (Connection refused)"
    failed = [_fetch("A"), _fetch("B")]
    # What the next plan says of them: on the embedded target the last error, on a server
    # only "no models yet"; either way the reason was in the warnings.
    remaining = Plan(
        actions=(
            _fetch("A", f"last attempt failed: {reason}", retry=True),
            _fetch("B", "no models yet"),
        )
    )
    report = Report(
        outcomes=[Outcome(action=a, status="warning", message=reason) for a in failed],
        converged=False,
        remaining=remaining,
    )
    text = apply_report.report_text(report)
    assert text.splitlines() == [
        f"Warning: fetch models of A: {reason}",
        f"Warning: fetch models of B: {reason}",
        "Apply: 0 done, 0 failed, 2 with warnings, 0 not attempted.",
        "The providers match the configuration; 2 model fetches failed and will be retried "
        "by the next apply: A, B (the warnings above say why).",
    ]
    assert text.count(reason) == 2  # once per provider


def test_a_fetch_this_run_did_not_attempt_keeps_the_plan_s_reason() -> None:
    report = Report(
        outcomes=[Outcome(action=_fetch("A"), status="warning", message="401 Unauthorized")],
        converged=False,
        remaining=Plan(actions=(_fetch("A", "no models yet"), _fetch("C", "no models yet"))),
    )
    assert apply_report.report_text(report).splitlines()[-3:] == [
        "The providers match the configuration; 2 model fetches failed and will be retried "
        "by the next apply:",
        "  A (the warnings above say why)",
        "  fetch models of C (no models yet)",
    ]


def test_the_json_report_names_the_target_and_the_warnings_and_matches_its_schema(
    busy_plan: Plan,
) -> None:
    from jsonschema import Draft202012Validator

    a, b, c = busy_plan.actions[:3]
    report = Report(
        outcomes=[
            Outcome(action=a, status="done"),
            Outcome(action=b, status="warning", message="could not list models"),
            Outcome(action=c, status="skipped", message="not attempted"),
        ],
        converged=False,
        remaining=Plan(actions=(c,)),
    )
    warnings = ("2 providers have no admin api_key; ...",)
    data = apply_report.report_data(report, target="https://clara.example.com", warnings=warnings)
    assert data["target"] == "https://clara.example.com"
    assert data["warnings"] == list(warnings)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(schema).iter_errors(data)) == []
    # An empty report (nothing to do) has the same shape.
    empty = apply_report.report_data(Report(converged=True, remaining=Plan(actions=())), target="t")
    assert list(Draft202012Validator(schema).iter_errors(empty)) == []


def test_the_apply_schema_describes_actions_as_the_plan_schema_does() -> None:
    apply_schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    plan_schema = json.loads(PLAN_SCHEMA.read_text(encoding="utf-8"))
    assert apply_schema["$defs"]["action"] == plan_schema["$defs"]["action"]


def test_no_key_reaches_the_report_even_in_an_upstream_s_message() -> None:
    with scrubbing_run():
        plan = make_plan(
            desired(spec("New", api_key="sk-report-secret-9", api_key_ref="${NEW_KEY}")),
            observed(),
        )
        echoed = "upstream said: bad key sk-report-secret-9"
        report = Report(
            outcomes=[Outcome(action=plan.actions[1], status="warning", message=echoed)],
            converged=False,
            remaining=plan,
        )
        outputs = [
            apply_report.report_text(report),
            apply_report.report_json(report, target="t", warnings=(echoed,)),
        ]
    for output in outputs:
        assert "sk-report-secret-9" not in output
        assert "bad key ***" in output


def test_an_interrupted_report_lists_done_abandoned_and_not_attempted(busy_plan: Plan) -> None:
    from jsonschema import Draft202012Validator

    a, b, c = busy_plan.actions[:3]
    report = Report(
        outcomes=[
            Outcome(action=a, status="done"),
            Outcome(action=b, status="abandoned", message="still running when abandoned"),
            Outcome(action=c, status="skipped", message="not attempted"),
        ],
        interrupted=True,
    )
    assert apply_report.report_text(report).splitlines() == [
        "Abandoned while running (their outcome is unknown; plan shows it):",
        "  update Moved",
        "Not attempted after the interruption:",
        "  create New",
        "Apply: 1 done, 0 failed, 0 with warnings, 1 abandoned, 1 not attempted.",
        "Interrupted: the target was not observed again; 'reconcile plan' shows what remains, "
        "and the next apply does it.",
    ]
    data = apply_report.report_data(report, target="t")
    assert data["interrupted"] is True and data["converged"] is None
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema).iter_errors(data)) == []
