"""Where output goes: stdout stays machine-readable with --format json, progress and plans
for people go to stderr."""

from __future__ import annotations

import json
from pathlib import Path

from tests.sandbox import reconcile, running_sandbox, write


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


def test_apply_json_has_one_shape_also_when_there_is_nothing_to_do() -> None:
    _providers(2)
    reconcile("apply", "--yes")
    result = reconcile("apply", "--yes", "--format", "json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report == {
        "format_version": 1,
        "target": "sqlite:///.reconcile/state.db",
        "warnings": [],
        "outcomes": [],
        "converged": True,
        "remaining": [],
        "recheck_error": None,
        "interrupted": False,
    }


def test_usage_errors_exit_1_not_2_which_means_changes() -> None:
    _providers(1)
    result = reconcile("plan", "--detailed-exitcode", "--timeout", "0")
    assert result.returncode == 1
    assert reconcile("plan", "providers.yaml").returncode == 1


def test_a_providers_file_given_as_a_saved_plan_gets_a_hint() -> None:
    _providers(1)
    result = reconcile("apply", "providers.yaml", "--yes")
    assert result.returncode == 1
    assert "apply it with -f providers.yaml" in result.stderr


def test_saved_plan_options_cannot_be_changed_at_apply() -> None:
    _providers(1)
    assert reconcile("plan", "-o", "plan.json").returncode == 0
    result = reconcile("apply", "plan.json", "--prune")
    assert result.returncode == 1
    assert "applied with the options it was made with" in result.stderr


def test_an_output_file_that_cannot_be_written_is_a_clear_error() -> None:
    _providers(1)
    result = reconcile("plan", "-o", "no/such/dir/plan.json")
    assert result.returncode == 1
    assert "cannot write no/such/dir/plan.json: No such file or directory" in result.stderr
    assert "Internal error" not in result.stderr


def test_warnings_of_the_file_reach_the_markdown_plan() -> None:
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n  - name: A\n    type: anthropic\n    base_url: http://127.0.0.1:9\n"
        "    api_key: sk-literal-in-git-123\n    fetch_models: false\n",
    )
    result = reconcile("plan", "--format", "markdown")
    assert "api_key is a literal value in the file" in result.stdout
    assert "sk-literal-in-git-123" not in result.stdout + result.stderr


def test_a_refused_plan_still_leaves_a_markdown_comment() -> None:
    write(Path("providers.yaml"), "version: 1\nproviders: []\n")
    result = reconcile("plan", "--prune", "--format", "markdown")
    assert result.returncode == 1
    assert "No plan: the configuration or the target needs a fix." in result.stdout
    assert "--allow-empty" in result.stdout


def test_small_applies_print_no_progress_lines() -> None:
    _providers(2)
    result = reconcile("apply", "--yes")
    assert result.returncode == 0, result.stderr
    assert "The target now matches the configuration." in result.stdout
    assert result.stderr == ""  # no "[1/2] create p0: done"


def test_larger_applies_print_a_progress_line_per_action() -> None:
    _providers(4)
    result = reconcile("apply", "--yes")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    # Actions finish in any order; the counter counts up.
    assert [line.split("]")[0] for line in lines] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert sorted(line.split("] ")[1] for line in lines) == [f"create p{i}: done" for i in range(4)]


def test_plan_json_matches_its_schema() -> None:
    from jsonschema import Draft202012Validator

    _providers(3)
    result = reconcile("plan", "--format", "json")
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "plan.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    errors = list(Draft202012Validator(schema).iter_errors(json.loads(result.stdout)))
    assert errors == []


def test_export_of_a_store_that_does_not_exist_refuses_to_write_an_empty_file() -> None:
    write(Path("providers.yaml"), "version: 1\nproviders: []\n")
    # --force: even where overwriting is asked for, an empty file never replaces a real one.
    result = reconcile("export", "-o", "providers.yaml", "--force", "--target", "sqlite:///typo.db")
    assert result.returncode == 1
    assert "there is no store at typo.db" in result.stderr
    assert Path("providers.yaml").read_text() == "version: 1\nproviders: []\n"
    assert not Path("typo.db").exists()


def test_plan_says_when_the_store_does_not_exist_yet() -> None:
    _providers(1)
    result = reconcile("plan")
    assert "the store .reconcile/state.db does not exist yet: apply will create it" in result.stdout


def test_a_refused_saved_plan_leaves_no_store_behind() -> None:
    _providers(1)
    assert reconcile("plan", "-o", "plan.json").returncode == 0
    result = reconcile("apply", "plan.json", "--target", "sqlite:///other.db")
    assert result.returncode == 1
    assert "the plan was made for" in result.stderr
    assert not Path("other.db").exists()


def test_a_lazy_store_is_made_by_the_first_write_of_a_parallel_apply() -> None:
    _providers(12)
    result = reconcile("apply", "--yes", "--parallelism", "8")
    assert result.returncode == 0, result.stderr
    assert "The target now matches the configuration." in result.stdout


def test_apply_json_names_the_target_and_the_warnings_and_matches_its_schema() -> None:
    from jsonschema import Draft202012Validator

    _providers(2)
    write(
        Path("providers.yaml"),
        Path("providers.yaml").read_text()
        + "  - name: Remote\n    type: anthropic\n    base_url: http://127.0.0.1:9\n"
        "  - name: Remote 2\n    type: google\n    base_url: http://127.0.0.1:9\n",
    )
    result = reconcile("apply", "--yes", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["target"] == "sqlite:///.reconcile/state.db"
    assert report["warnings"] == [
        "2 providers have no admin api_key; only users with their own key can use them: "
        "'Remote' (providers.yaml:11:5), 'Remote 2' (providers.yaml:14:5)"
    ]
    schema_file = Path(__file__).parent.parent / "schemas" / "apply.schema.json"
    schema = json.loads(schema_file.read_text())
    Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(schema).iter_errors(report)) == []


# --- each failure's reason once -------------------------------------------------------

DOWN = "could not connect to 127.0.0.1:9"


def _unreachable(n: int) -> None:
    """n providers whose upstream refuses connections: every fetch fails."""
    lines = ["version: 1", "providers:"]
    for i in range(n):
        lines += [f"  - name: p{i}", "    type: openai", "    base_url: http://127.0.0.1:9/v1"]
    write(Path("providers.yaml"), "\n".join(lines) + "\n")


def test_a_failed_fetch_s_reason_is_said_once_per_apply_on_the_embedded_target() -> None:
    _unreachable(2)
    for run in range(2):  # the first apply fetches; the second retries
        result = reconcile("apply", "--yes", "--fetch-retries", "0")
        assert result.returncode == 0, result.stderr
        output = result.stdout + result.stderr
        assert output.count(DOWN) == 2, (run, output)
        assert (
            "2 model fetches failed and will be retried by the next apply: p0, p1 (the "
            "warnings above say why)."
        ) in result.stdout
    # plan, which does not fetch, is where the last attempt's reason is told.
    assert reconcile("plan").stdout.count(DOWN) == 2


def test_a_failed_fetch_s_reason_reaches_the_summary_once_on_a_server(tmp_path: Path) -> None:
    _unreachable(2)
    with running_sandbox(tmp_path / "sandbox.db") as sandbox:
        result = reconcile("apply", "--yes", sandbox=sandbox)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert output.count(DOWN) == 2
    # The server keeps no fetch error ("no models yet"): the summary points at the warnings.
    assert "no models yet" not in result.stdout.split("Apply:")[1]
    assert "retried by the next apply: p0, p1 (the warnings above say why)." in result.stdout


def test_a_warning_for_many_providers_is_one_line() -> None:
    lines = ["version: 1", "providers:"]
    for i in range(4):
        lines += [f"  - name: k{i}", "    type: anthropic", "    fetch_models: false"]
    write(Path("providers.yaml"), "\n".join(lines) + "\n")
    for args in (["validate"], ["plan"], ["apply", "--yes"]):
        result = reconcile(*args)
        output = result.stdout + result.stderr
        assert output.count("no admin api_key") == 1, args
        assert (
            "Warning: 4 providers have no admin api_key; only users with their own key can use "
            "them: 'k0' (providers.yaml:3:5), 'k1' (providers.yaml:6:5), 'k2' (providers.yaml:"
            "9:5), 'k3' (providers.yaml:12:5)"
        ) in output


def test_a_reference_without_braces_is_quoted_as_the_file_says() -> None:
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n  - name: A\n    type: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n    api_key: $OPENAI_API_KEY\n"
        "    fetch_models: false\n",
    )
    quoted = "api_key is the literal text '$OPENAI_API_KEY'; did you mean ${OPENAI_API_KEY}?"
    for args in (["validate"], ["plan"], ["plan", "--format", "json"], ["apply", "--yes"]):
        result = reconcile(*args)
        assert quoted in result.stdout + result.stderr, args
        assert "***" not in result.stdout + result.stderr, args
