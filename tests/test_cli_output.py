"""Where output goes: stdout stays machine-readable with --format json, progress and plans
for people go to stderr."""

from __future__ import annotations

import json
from pathlib import Path

from tests.sandbox import reconcile, write


def _providers(n: int) -> None:
    lines = ["version: 1", "providers:"]
    for i in range(n):
        lines += [
            f"  - name: p{i}",
            "    type: openai",
            "    base_url: http://127.0.0.1:9/v1",
            "    fetch_models: false",
        ]
    write(Path("providers.yaml"), "\n".join(lines) + "\n")


def test_apply_json_keeps_stdout_clean_and_reports_progress_on_stderr() -> None:
    _providers(5)
    result = reconcile("apply", "--yes", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["converged"] is True
    assert [o["status"] for o in report["outcomes"]] == ["done"] * 5
    assert "[5/5] create" in result.stderr
    assert "Plan: 5 to add" in result.stderr


def test_apply_json_with_nothing_to_do_prints_the_empty_plan_as_json() -> None:
    _providers(2)
    reconcile("apply", "--yes")
    result = reconcile("apply", "--yes", "--format", "json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["actions"] == []


def test_small_applies_print_no_progress_lines() -> None:
    _providers(2)
    result = reconcile("apply", "--yes")
    assert "[1/2]" not in result.stderr


def test_plan_json_matches_its_schema() -> None:
    from jsonschema import Draft202012Validator

    _providers(3)
    result = reconcile("plan", "--format", "json")
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "plan.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    errors = list(Draft202012Validator(schema).iter_errors(json.loads(result.stdout)))
    assert errors == []
