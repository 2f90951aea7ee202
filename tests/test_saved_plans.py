"""Saved plans and Markdown plans (issue 6): apply exactly what was reviewed, or refuse."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reconciler.targets.sqlite import Store
from tests import inprocess
from tests.factories import provider_id
from tests.sandbox import reconcile, write

KEY = "sk-saved-plan-SECRET-4242424242"
OTHER_KEY = "sk-other-SECRET-7777777777"


def setup_file(*, enabled: str = "true") -> None:
    write(
        Path("providers.yaml"),
        f"""\
version: 1
providers:
  - name: Anthropic
    type: anthropic
    base_url: http://127.0.0.1:9
    api_key: ${{SAVED_KEY}}
    fetch_models: false
  - name: Local
    type: openai
    base_url: http://127.0.0.1:9/v1
    enabled: {enabled}
    fetch_models: false
""",
    )


def run(*args: str, key: str = KEY) -> tuple[int, str, str]:
    result = reconcile(*args, SAVED_KEY=key)
    return result.returncode, result.stdout, result.stderr


def test_saved_plan_round_trip_applies_exactly_the_plan() -> None:
    setup_file()
    code, out, err = run("plan", "-o", "plan.json")
    assert code == 0, err
    assert "Saved the plan to plan.json" in err
    data = json.loads(Path("plan.json").read_text())
    assert data["format_version"] == 1
    assert [a["kind"] for a in data["actions"]] == ["create", "create"]
    assert data["keys"]["Anthropic"]["ref"] == "${SAVED_KEY}"
    code, out, err = run("apply", "plan.json")
    assert code == 0, out + err
    assert "The target now matches the configuration." in out
    assert "No changes" in run("plan")[1]


def test_plan_file_and_markdown_hold_no_key_value() -> None:
    setup_file()
    run("plan", "-o", "plan.json")
    code, markdown, err = run("plan", "--format", "markdown")
    assert code == 0, err
    for text in (Path("plan.json").read_text(), markdown, err):
        assert KEY not in text
    assert "${SAVED_KEY}" in markdown


def test_a_stale_plan_is_refused_after_an_out_of_band_change() -> None:
    setup_file()
    run("apply", "--yes")
    setup_file(enabled="false")
    run("plan", "-o", "plan.json")
    store = Store(Path(".reconcile/state.db"))  # someone clicks in the admin panel meanwhile
    try:
        pid = provider_id(store, "Anthropic")
        assert pid is not None
        store.update_provider(pid, base_url="http://127.0.0.1:10")
    finally:
        store.close()
    code, _, err = run("apply", "plan.json")
    assert code == 1
    assert "the target changed since this plan was made; run plan again" in err
    assert "Traceback" not in err


def test_a_plan_is_refused_when_the_files_changed() -> None:
    setup_file()
    run("plan", "-o", "plan.json")
    setup_file(enabled="false")
    code, _, err = run("apply", "plan.json")
    assert code == 1
    assert "the configuration files changed since this plan was made" in err


def test_a_plan_is_refused_when_a_key_no_longer_matches_its_fingerprint() -> None:
    setup_file()
    run("plan", "-o", "plan.json")
    code, out, err = run("apply", "plan.json", key=OTHER_KEY)
    assert code == 1
    assert "the key of provider 'Anthropic' (${SAVED_KEY}) is not the one the plan was made" in err
    assert OTHER_KEY not in out + err and KEY not in out + err
    store = Store(Path(".reconcile/state.db"))
    try:
        assert store.providers() == []  # refused before anything was written
    finally:
        store.close()


def test_a_hand_edited_plan_is_refused() -> None:
    setup_file()
    run("plan", "-o", "plan.json")
    data = json.loads(Path("plan.json").read_text())
    data["actions"][0]["after"]["base_url"] = "http://evil.example"
    Path("plan.json").write_text(json.dumps(data))
    code, _, err = run("apply", "plan.json")
    assert code == 1
    assert "the plan file was modified after it was made; run plan again" in err


def test_a_file_that_is_not_a_plan_is_refused_clearly() -> None:
    Path("plan.json").write_text("{not json")
    code, _, err = run("apply", "plan.json")
    assert code == 1
    assert "not a plan file" in err


def test_markdown_puts_deletes_first_with_their_models() -> None:
    setup_file(enabled="false")
    run("apply", "--yes")
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n  - name: Local\n    ensure: absent\n"
        "  - name: Anthropic\n    type: anthropic\n    base_url: http://127.0.0.1:9\n"
        "    api_key: ${SAVED_KEY}\n    fetch_models: false\n    enabled: false\n",
    )
    code, markdown, err = run("plan", "--format", "markdown")
    assert code == 0, err
    assert markdown.index("Deletes") < markdown.index("<details>")
    assert "- **`Local`** and its 0 models (ensure: absent)" in markdown
    assert "<details><summary><b>Anthropic</b>: disable</summary>" in markdown
    # Red in its own block too, where a reviewer reads each provider's changes.
    assert "<details><summary><b>Local</b>: delete</summary>" in markdown
    assert "\n- delete Local and its 0 models (ensure: absent)\n" in markdown
    assert (
        "**Plan: 0 to add, 0 to change, 1 to disable, 1 to delete, 0 model fetches.**" in markdown
    )


def test_a_saved_plan_matches_the_plan_schema() -> None:
    from jsonschema import Draft202012Validator

    setup_file()
    run("plan", "-o", "plan.json")
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "plan.schema.json").read_text())
    data = json.loads(Path("plan.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(data)) == []
    assert data["kind"] == "reconciler-plan" and len(data["digest"]) == 64


def test_a_plan_applied_from_another_folder_names_the_folder_it_was_made_in() -> None:
    setup_file()
    run("plan", "-o", "plan.json")
    made_in = str(Path.cwd())
    assert json.loads(Path("plan.json").read_text())["folder"] == made_in
    elsewhere = Path("elsewhere")
    elsewhere.mkdir()
    result = inprocess.run("apply", "../plan.json", cwd=elsewhere, env=_env())
    assert result.returncode == 1
    assert result.stderr == (
        "Error: an input file of the plan is missing: providers.yaml (the plan was made in "
        f"{made_in}, and its paths are relative to that folder: run apply there)\n"
    )
    assert KEY not in result.stdout + result.stderr
    assert not (elsewhere / ".reconcile").exists()


def test_a_plan_whose_file_differs_in_another_folder_says_where_it_was_made() -> None:
    setup_file()
    run("plan", "-o", "plan.json")
    elsewhere = Path("elsewhere")
    elsewhere.mkdir()
    (elsewhere / "providers.yaml").write_text("version: 1\nproviders: []\n")
    result = inprocess.run("apply", "../plan.json", cwd=elsewhere, env=_env())
    assert result.returncode == 1
    assert result.stderr.startswith(
        "Error: the configuration files changed since this plan was made; run plan again "
        f"(the plan was made in {Path.cwd()}"
    )


def test_a_file_gone_from_the_folder_the_plan_was_made_in_is_refused_without_a_hint() -> None:
    setup_file()
    run("plan", "-o", "plan.json")
    Path("providers.yaml").unlink()
    code, _, err = run("apply", "plan.json")
    assert (code, err) == (1, "Error: an input file of the plan is missing: providers.yaml\n")


def _env() -> dict[str, str]:
    return {**os.environ, "SAVED_KEY": KEY}


# What a saved plan fixes is refused with it; what only affects running is allowed; what
# the target cannot use is an error anyway. Every option of apply is in one of these.
FIXED_BY_THE_PLAN = {"--file", "--prune", "--allow-delete-enabled", "--allow-empty", "--refetch"}
RUNNING = {
    "--yes": [],
    "--parallelism": ["2"],
    "--strict": [],
    "--lock-timeout": ["1"],
    "--format": ["json"],
    "--fetch-timeout": ["5"],
    "--fetch-retries": ["0"],
    "--target": ["sqlite:///.reconcile/state.db"],
}
SERVER_ONLY = {"--timeout", "--ca-cert", "--max-rate"}
# Not needed with a saved plan (it records its environment), but one that differs is refused.
CHECKED_AGAINST_THE_PLAN = {"--env"}


def test_every_option_of_apply_is_either_fixed_by_the_plan_or_about_running() -> None:
    import click

    from reconciler.cli import cli

    command = cli.get_command(click.Context(cli), "apply")
    assert command is not None
    flags = {p.opts[-1] for p in command.params if p.opts[-1].startswith("--")} - {"--help"}
    assert flags == FIXED_BY_THE_PLAN | set(RUNNING) | SERVER_ONLY | CHECKED_AGAINST_THE_PLAN


def test_options_a_saved_plan_fixes_are_refused_by_name() -> None:
    setup_file()
    run("plan", "-o", "plan.json")
    for flag in sorted(FIXED_BY_THE_PLAN - {"--file"}):
        code, _, err = run("apply", "plan.json", flag)
        assert code == 1
        assert err.endswith(
            f"Error: a saved plan is applied with the options it was made with; {flag} is "
            "for 'reconcile plan', which makes the plan\n"
        )
    code, _, err = run("apply", "plan.json", "--prune", "--refetch")
    assert "; --prune and --refetch are for 'reconcile plan'" in err
    assert "give either a saved plan or -f files" in run("apply", "plan.json", "-f", "x.yaml")[2]


def test_an_option_the_plan_fixes_set_in_the_environment_is_refused_naming_the_variable() -> None:
    setup_file()
    run("plan", "-o", "plan.json")
    result = reconcile("apply", "plan.json", SAVED_KEY=KEY, RECONCILE_APPLY_PRUNE="1")
    assert result.returncode == 1
    assert result.stderr.endswith(
        "Error: a saved plan is applied with the options it was made with; --prune is for "
        "'reconcile plan', which makes the plan\n"
        "(--prune was set by the environment variable RECONCILE_APPLY_PRUNE)\n"
    )


def test_options_about_running_are_taken_with_a_saved_plan() -> None:
    setup_file()
    run("plan", "-o", "plan.json")
    args = [a for flag, values in RUNNING.items() for a in (flag, *values)]
    code, out, err = run("apply", "plan.json", *args)
    assert code == 0, err
    assert json.loads(out)["converged"] is True  # --format json was honoured


def test_a_variable_in_the_model_rules_cannot_change_between_plan_and_apply() -> None:
    write(
        Path("providers.yaml"),
        """\
version: 1
providers:
  - name: Local
    type: openai
    base_url: http://127.0.0.1:9/v1
    models:
      visible: ["${SHOWN:-gpt-4o}"]
""",
    )
    assert reconcile("plan", "-o", "plan.json").returncode == 0
    saved = json.loads(Path("plan.json").read_text())
    (models,) = [a for a in saved["actions"] if a["kind"] == "models"]
    assert models["rules"] == {"visible": ["gpt-4o"], "hidden": [], "only_listed": False}
    refused = reconcile("apply", "plan.json", SHOWN="*")
    assert refused.returncode == 1
    assert "would apply a different plan" in refused.stderr
    assert not Path(".reconcile/state.db").exists()
