"""``reconcile plan`` and ``reconcile apply`` as a user runs them, in a folder (in this
process: see inprocess.py).

No test here contacts the internet: the example file's keys are left unset (so none of its
providers is fetched), and files with keys point at the fake upstream on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.targets.sqlite import SqliteTarget
from tests import inprocess
from tests.factories import write_yaml
from tests.upstreams import Upstream, running_upstream

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "providers.yaml"
EXAMPLE_NAMES = ["Anthropic", "Google AI", "Local Ollama", "OpenAI", "Team Proxy"]
NO_CHANGES = "No changes. The target matches the configuration."
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "TEAM_PROXY_API_KEY")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def action_lines(self) -> list[str]:
        """The plan's action lines (``  + create ...``), without their details."""
        return [
            line.strip() for line in self.out.splitlines() if line[:4] in ("  + ", "  ~ ", "  - ")
        ]


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RECONCILE_", "CLARAVERSE_")) and k not in KEY_VARS
    }
    env.pop("NO_COLOR", None)
    return {**env, **extra}


def reconcile(
    cwd: Path, *args: str, env: dict[str, str] | None = None, typed: str | None = None
) -> Run:
    result = inprocess.run(*args, env=env if env is not None else clean_env(), cwd=cwd, typed=typed)
    return Run(result.returncode, result.stdout, result.stderr)


def stored(tmp_path: Path) -> dict[str, bool]:
    """Provider name → enabled, as the default store holds them."""
    target = SqliteTarget(tmp_path / ".reconcile" / "state.db", lazy=True)
    try:
        return {p.name: p.enabled for p in target.observe().providers}
    finally:
        target.close()


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return Path(shutil.copy(EXAMPLE, tmp_path / "providers.yaml"))


@pytest.fixture
def applied(tmp_path: Path, example: Path) -> Path:
    run = reconcile(tmp_path, "apply", "-f", "providers.yaml", "--yes")
    assert run.code == 0, run.err
    return example


# --- the first run and the second -----------------------------------------------------


def test_plan_exits_2_with_changes_and_creates_no_store(tmp_path: Path, example: Path) -> None:
    run = reconcile(tmp_path, "plan", "--detailed-exitcode", "--format", "json")
    assert run.code == 2, run.err
    data = json.loads(run.out)
    assert data["format_version"] == 1
    assert data["summary"]["text"] == (
        "Plan: 5 to add, 0 to change, 0 to disable, 0 to delete, 0 model fetches."
    )
    assert sorted(a["provider"] for a in data["actions"]) == EXAMPLE_NAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["providers.yaml"]


def test_apply_creates_the_five_providers_then_a_second_apply_changes_nothing(
    tmp_path: Path, example: Path
) -> None:
    first = reconcile(tmp_path, "apply", "-f", "providers.yaml", "--yes")
    assert first.code == 0, first.err
    assert "Plan: 5 to add, 0 to change, 0 to disable, 0 to delete, 0 model fetches." in first.out
    assert "The target now matches the configuration." in first.out
    assert "Traceback" not in first.err
    assert stored(tmp_path) == {
        "Anthropic": True,
        "Google AI": True,
        "Local Ollama": False,
        "OpenAI": True,
        "Team Proxy": True,
    }
    second = reconcile(tmp_path, "apply", "-f", "providers.yaml", "--yes")
    assert second.code == 0, second.err
    assert second.out.rstrip().splitlines()[-1] == NO_CHANGES
    assert second.action_lines() == []
    # providers.yaml is the default file; no changes is exit 0 even with --detailed-exitcode.
    plan = reconcile(tmp_path, "plan", "--detailed-exitcode")
    assert (plan.code, plan.out.rstrip().splitlines()[-1]) == (0, NO_CHANGES)


def test_plan_shows_exactly_the_edit(tmp_path: Path, applied: Path) -> None:
    text = applied.read_text()
    applied.write_text(
        text.replace("https://llm.internal.example/v1", "https://llm2.internal.example/v1")
    )
    run = reconcile(tmp_path, "plan", "-f", "providers.yaml")
    assert run.code == 0, run.err
    assert run.action_lines() == ["~ update Team Proxy"]
    assert (
        "      base_url: https://llm.internal.example/v1 → https://llm2.internal.example/v1\n"
        in (run.out)
    )
    assert "Plan: 0 to add, 1 to change, 0 to disable, 0 to delete, 0 model fetches." in run.out


def test_plan_shows_a_disable_and_a_rename(tmp_path: Path, applied: Path) -> None:
    text = applied.read_text()
    text = text.replace(
        "  - name: Team Proxy\n", "  - name: Proxy\n    renamed_from: [Team Proxy]\n"
    )
    text = text.replace("    type: google\n", "    type: google\n    enabled: false\n")
    applied.write_text(text)
    run = reconcile(tmp_path, "plan", "-f", "providers.yaml")
    assert run.action_lines() == [
        "~ disable Google AI (users stop seeing it and its models)",
        "~ rename Team Proxy → Proxy (keeps its id and models)",
    ]
    assert "Plan: 0 to add, 1 to change, 1 to disable, 0 to delete, 0 model fetches." in run.out
    assert reconcile(tmp_path, "apply", "-f", "providers.yaml", "--yes").code == 0
    assert stored(tmp_path)["Proxy"] is True
    assert "Team Proxy" not in stored(tmp_path)


def test_delete_of_an_enabled_provider_is_refused_with_one_message(
    tmp_path: Path, applied: Path
) -> None:
    applied.write_text(
        applied.read_text().replace(
            "  - name: OpenAI\n    type: openai\n    base_url: https://api.openai.com/v1\n"
            "    api_key: ${OPENAI_API_KEY:-}\n",
            "  - name: OpenAI\n    ensure: absent\n",
        )
    )
    for args in (["plan"], ["apply", "--yes"]):
        run = reconcile(tmp_path, *args)
        assert run.code == 1
        assert run.out == ""
        errors = [line for line in run.err.splitlines(True) if not line.startswith("Warning:")]
        assert "".join(errors).startswith(
            "Error: refusing to delete providers that are still enabled on the target:\n"
            "  - 'OpenAI' (ensure: absent) and its 0 models\n"
        )
        assert run.err.count("Error:") == 1
        assert "Disable it first" in run.err
        assert "Traceback" not in run.err
    assert "OpenAI" in stored(tmp_path)


def test_disable_then_delete_in_a_later_run(tmp_path: Path, applied: Path) -> None:
    text = applied.read_text()
    applied.write_text(
        text.replace("    type: anthropic\n", "    type: anthropic\n    enabled: false\n")
    )
    assert reconcile(tmp_path, "apply", "--yes").code == 0
    applied.write_text(
        text.replace(
            "  - name: Anthropic\n    type: anthropic\n    api_key: ${ANTHROPIC_API_KEY:-}\n",
            "  - name: Anthropic\n    ensure: absent\n",
        )
    )
    run = reconcile(tmp_path, "apply", "--yes")
    assert run.code == 0, run.err
    assert "- delete Anthropic and its 0 models (ensure: absent)" in run.out
    assert "Anthropic" not in stored(tmp_path)


def test_unmanaged_providers_are_listed_and_pruned_only_with_prune(
    tmp_path: Path, applied: Path
) -> None:
    applied.write_text(
        applied.read_text().replace(
            "  - name: Local Ollama\n    type: openai\n    base_url: http://localhost:11434/v1\n"
            "    enabled: false\n",
            "",
        )
    )
    run = reconcile(tmp_path, "plan")
    assert run.action_lines() == []
    assert (
        "Unmanaged (on the target, in no file; left alone, --prune deletes them): Local Ollama"
        in run.out
    )
    run = reconcile(tmp_path, "apply", "--yes", "--prune")
    assert run.code == 0, run.err
    assert run.action_lines() == ["- delete Local Ollama and its 0 models (--prune)"]
    assert sorted(stored(tmp_path)) == ["Anthropic", "Google AI", "OpenAI", "Team Proxy"]


def test_prune_with_no_providers_declared_is_refused(tmp_path: Path) -> None:
    write_yaml(tmp_path / "empty.yaml", [])
    run = reconcile(tmp_path, "plan", "-f", "empty.yaml", "--prune")
    assert run.code == 1
    assert "--allow-empty" in run.err and "Traceback" not in run.err


def test_a_target_that_is_not_a_store_is_one_clear_error(tmp_path: Path, example: Path) -> None:
    run = reconcile(tmp_path, "plan", "--target", "sqlite:///providers.yaml")
    assert run.code == 1
    assert run.err.splitlines()[-1] == (
        "Error: cannot open the store providers.yaml (file is not a database); check "
        "--target: it must name a reconciler state file, e.g. sqlite:///.reconcile/state.db"
    )
    assert "Traceback" not in run.err


# --- the question before applying ----------------------------------------------------

QUESTION = "Apply these changes? [y/N]: "


def test_apply_asks_on_stderr_whenever_stdin_is_a_terminal_even_with_stdout_piped(
    tmp_path: Path, example: Path
) -> None:
    # stdout is captured (not a terminal), as in `reconcile apply | tee log`.
    run = reconcile(tmp_path, "apply", typed="y\n")
    assert run.code == 0, run.err
    assert QUESTION in run.err
    assert "Apply these changes" not in run.out
    assert sorted(stored(tmp_path)) == EXAMPLE_NAMES


def test_no_or_an_empty_answer_or_no_answer_at_all_changes_nothing(
    tmp_path: Path, example: Path
) -> None:
    for typed in ("n\n", "\n", "", "maybe\nno\n"):
        run = reconcile(tmp_path, "apply", typed=typed)
        assert run.code == 1, typed
        assert run.err.count(QUESTION) == (2 if typed.startswith("maybe") else 1)
        assert run.err.endswith("Apply cancelled; nothing was changed.\n")
    assert not (tmp_path / ".reconcile" / "state.db").exists()


def test_apply_never_asks_with_yes_without_a_terminal_or_without_changes(
    tmp_path: Path, example: Path
) -> None:
    assert QUESTION not in reconcile(tmp_path, "apply", "--yes", typed="n\n").err
    assert QUESTION not in reconcile(tmp_path, "apply", "--yes").err
    # Nothing to change: no question, even on a terminal.
    again = reconcile(tmp_path, "apply", typed="n\n")
    assert again.code == 0
    assert QUESTION not in again.err


def test_the_question_and_the_json_report_keep_apart(tmp_path: Path, example: Path) -> None:
    run = reconcile(tmp_path, "apply", "--format", "json", typed="yes\n")
    assert run.code == 0, run.err
    assert QUESTION in run.err
    assert json.loads(run.out)["converged"] is True


# --- secrets --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with running_upstream() as up:
        yield up


KEYS = {
    "OPENAI_API_KEY": "sk-openai-8f3a61c0b2d94e7f",
    "ANTHROPIC_API_KEY": "sk-ant-api03-5e2b7d9c1a4f",
    "GOOGLE_API_KEY": "AIzaSyD-google-0d1e2f3a4b",
    "PROXY_KEY": "proxy-key-77aa88bb99cc",
}


def test_no_secret_reaches_output_or_files(tmp_path: Path, upstream: Upstream) -> None:
    upstream.state.reset()
    write_yaml(
        tmp_path / "providers.yaml",
        [
            {
                "name": "OpenAI",
                "type": "openai",
                "base_url": upstream.base_url("openai"),
                "api_key": "${OPENAI_API_KEY}",
            },
            {
                "name": "Anthropic",
                "type": "anthropic",
                "base_url": upstream.base_url("anthropic"),
                "api_key": "${ANTHROPIC_API_KEY}",
            },
            {
                "name": "Google",
                "type": "google",
                "base_url": upstream.base_url("google"),
                "api_key": "${GOOGLE_API_KEY}",
            },
            {
                "name": "Proxy",
                "type": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key": "${PROXY_KEY}",
                "fetch_models": False,
            },
        ],
    )
    env = clean_env(**KEYS)
    # Upstreams that quote the request headers back, key included, in their errors.
    upstream.state.then("echo", "echo-400", "echo")
    runs = [
        reconcile(tmp_path, "validate", env=env),
        reconcile(tmp_path, "validate", "--format", "json", env=env),
        reconcile(tmp_path, "plan", "-o", "plan.json", env=env),
        reconcile(tmp_path, "plan", "--format", "json", env=env),
        reconcile(tmp_path, "plan", "--format", "markdown", env=env),
        reconcile(tmp_path, "apply", "--yes", env=env),
        reconcile(tmp_path, "apply", "--yes", "--format", "json", env=env),
    ]
    # A key rotated in the environment, and a missing variable: both name, never show.
    rotated = {**KEYS, "OPENAI_API_KEY": "sk-openai-rotated-1234abcd"}
    runs.append(reconcile(tmp_path, "plan", env=clean_env(**rotated)))
    runs.append(reconcile(tmp_path, "apply", "--yes", env=clean_env(**rotated)))
    missing = {k: v for k, v in KEYS.items() if k != "PROXY_KEY"}
    runs.append(reconcile(tmp_path, "plan", env=clean_env(**missing)))
    # Asked on a terminal (a rotated key again, so that there is a change to confirm).
    again = {**KEYS, "OPENAI_API_KEY": "sk-openai-rotated-5678efgh"}
    runs.append(
        reconcile(tmp_path, "apply", "--format", "json", env=clean_env(**again), typed="y\n")
    )

    assert [r.code for r in runs] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    assert "Apply these changes?" in runs[10].err
    assert "Warning: fetch" in runs[5].err + runs[5].out  # the echoing upstream was reached
    assert "api_key: changed" in runs[7].out
    assert "PROXY_KEY is not set" in runs[9].err
    files = [
        (tmp_path / "plan.json").read_text(),
        "\n".join(str(p) for p in tmp_path.rglob("*")),
    ]
    secrets = [*KEYS.values(), rotated["OPENAI_API_KEY"], again["OPENAI_API_KEY"]]
    for secret in secrets:
        for run in runs:
            assert secret not in run.out
            assert secret not in run.err
        for content in files:
            assert secret not in content
    # The plan file names the variables instead.
    assert "${OPENAI_API_KEY}" in files[0]
