"""`reconcile validate` run as a user runs it (in this process: see inprocess.py): exit
codes, stdout vs stderr.

Every broken file in tests/data/invalid/ is paired with the exact text the CLI prints on
stderr.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.inprocess import Result, run

ROOT = Path(__file__).resolve().parent.parent
INVALID = Path("tests/data/invalid")  # relative: messages name the path as passed
EXAMPLE = "examples/providers.yaml"
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Case:
    """A broken input: the files passed with -f, and the stderr expected."""

    name: str
    files: tuple[str, ...]
    expected: Path


def _cases() -> list[Case]:
    cases = []
    for expected in sorted((ROOT / INVALID).glob("*.expected")):
        name = expected.stem
        single = INVALID / f"{name}.yaml"
        if (ROOT / single).is_file():
            files: tuple[str, ...] = (str(single),)
        else:  # a folder of files passed one by one: -f a.yaml -f b.yaml
            files = tuple(
                str(INVALID / name / p.name) for p in sorted((ROOT / INVALID / name).glob("*.yaml"))
            )
        cases.append(Case(name, files, expected))
    return cases


CASES = _cases()


def _referenced_variables() -> set[str]:
    texts = [p.read_text(encoding="utf-8") for p in (ROOT / "tests/data").rglob("*.yaml")]
    texts.append((ROOT / EXAMPLE).read_text(encoding="utf-8"))
    return set(_REFERENCE.findall("\n".join(texts)))


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment minus every variable the data files and the example use."""
    drop = _referenced_variables()
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def reconcile(*args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> Result:
    return run(*args, env=env if env is not None else clean_env(), cwd=cwd)


def validate_args(files: Sequence[str]) -> list[str]:
    return ["validate", *(a for f in files for a in ("-f", f))]


def test_there_are_at_least_twenty_distinct_broken_files() -> None:
    assert len(CASES) >= 20
    assert len({c.expected.read_text(encoding="utf-8") for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_file_exits_1_with_the_exact_message_on_stderr(case: Case) -> None:
    result = reconcile(*validate_args(case.files))
    assert result.stderr == case.expected.read_text(encoding="utf-8")
    assert result.stdout == ""
    assert result.returncode == 1


def test_every_invalid_message_names_file_line_column_and_path_except_file_level_ones() -> None:
    located = re.compile(r"^  tests/data/invalid/\S+\.yaml:\d+:\d+: \S+: \S")
    file_level = {"empty_file", "top_level_list", "several_documents", "version_missing"}
    for case in CASES:
        lines = case.expected.read_text(encoding="utf-8").splitlines()
        assert re.fullmatch(r"Error: \d+ errors? in the configuration:", lines[0]), case.name
        for line in lines[1:]:
            if case.name not in file_level:
                assert located.match(line), f"{case.name}: {line}"


# One line for the four providers without an admin key, not one each.
EXAMPLE_WARNINGS = (
    "Warning: 4 providers have no admin api_key; only users with their own key can use "
    "them: 'OpenAI' (examples/providers.yaml:11:5), 'Anthropic' (examples/providers.yaml:"
    "17:5), 'Google AI' (examples/providers.yaml:22:5), 'Team Proxy' (examples/providers."
    "yaml:35:5)\n"
)


def test_example_validates_on_a_clean_environment_with_the_keyless_warnings() -> None:
    result = reconcile("validate", "-f", EXAMPLE)
    assert result.returncode == 0
    assert result.stdout == "Valid: 5 providers in 1 file.\n"
    assert result.stderr == EXAMPLE_WARNINGS


def test_json_format_prints_the_result_on_stdout_and_warnings_on_stderr() -> None:
    result = reconcile("validate", "-f", EXAMPLE, "--format", "json")
    assert result.returncode == 0
    assert result.stderr == EXAMPLE_WARNINGS
    data = json.loads(result.stdout)
    assert data == {
        "format_version": 1,
        "valid": True,
        "errors": [],
        "warnings": [line.removeprefix("Warning: ") for line in EXAMPLE_WARNINGS.splitlines()],
    }


def test_json_format_lists_every_error_with_its_location() -> None:
    case = INVALID / "several_missing_variables.yaml"
    result = reconcile("validate", "-f", str(case), "--format", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["valid"] is False
    assert data["warnings"] == []
    assert [(e["file"], e["line"], e["column"], e["path"]) for e in data["errors"]] == [
        (str(case), 5, 5, "providers[0].api_key"),
        (str(case), 8, 5, "providers[1].base_url"),
        (str(case), 9, 5, "providers[1].api_key"),
    ]
    assert "TEAM_PROXY_KEY_PREFIX and TEAM_PROXY_KEY_SUFFIX" in data["errors"][2]["message"]
    # The human text still goes to stderr, so a CI log shows it.
    assert result.stderr == (ROOT / INVALID / "several_missing_variables.expected").read_text()


def test_a_folder_merges_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "providers.d"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "version: 1\nproviders:\n  - name: Local\n    type: openai\n"
        "    base_url: http://localhost:11434/v1\n"
    )
    (folder / "b.yml").write_text(
        "version: 1\nproviders:\n  - name: Gone\n    ensure: absent\n"
        "  - name: Other local\n    type: openai\n    base_url: http://127.0.0.1:8000/v1\n"
    )
    (folder / "notes.txt").write_text("not yaml: ignored")
    result = reconcile("validate", "-f", "providers.d", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "Valid: 3 providers in 2 files.\n",
        "",
    )


LITERAL_KEY = "sk-literal-0c5e3b9d71f24a86be0d"
ENV_KEY = "sk-env-9f8e7d6c5b4a39281706"
DEFAULT_KEY = "sk-default-3a1b2c3d4e5f60718293"
LEAKY = (
    "version: 1\nproviders:\n"
    f"  - name: Literal\n    type: anthropic\n    api_key: {LITERAL_KEY}\n"
    "  - name: From env\n    type: openai\n    base_url: http://llm.example.com/v1\n"
    "    api_key: ${RT_LEAK_KEY}\n"
    f"  - name: Default\n    type: google\n    api_key: ${{RT_LEAK_UNSET:-{DEFAULT_KEY}}}\n"
)
BROKEN = "  - name: Broken\n    type: openai\n    base_url: ftp://x\n    api_key: ${RT_LEAK_KEY}\n"


def test_key_values_never_appear_in_validate_output(tmp_path: Path) -> None:
    (tmp_path / "keys.yaml").write_text(LEAKY)
    (tmp_path / "broken.yaml").write_text(LEAKY + BROKEN)
    env = clean_env(RT_LEAK_KEY=ENV_KEY)
    ok = reconcile("validate", "-f", "keys.yaml", env=env, cwd=tmp_path)
    failed = reconcile("validate", "-f", "broken.yaml", "--format", "json", env=env, cwd=tmp_path)
    assert ok.returncode == 0
    assert failed.returncode == 1
    # The warnings that talk about these keys are there, without the keys.
    assert "provider 'Literal': api_key is a literal value in the file" in ok.stderr
    assert "api_key would be sent over plain http to llm.example.com" in ok.stderr
    assert json.loads(failed.stdout)["errors"][0]["path"] == "providers[3].base_url"
    for output in (ok.stdout, ok.stderr, failed.stdout, failed.stderr):
        for value in (LITERAL_KEY, ENV_KEY, DEFAULT_KEY):
            assert value not in output


def test_skip_env_checks_a_file_whose_variables_are_unset(tmp_path: Path) -> None:
    (tmp_path / "providers.yaml").write_text(
        "version: 1\nproviders:\n"
        "  - name: A\n    type: anthropic\n    api_key: ${SKIP_ENV_KEY}\n"
        "  - name: B\n    type: openai\n    base_url: https://${SKIP_ENV_HOST}/v1\n"
        "  - name: C\n    type: openai\n    base_url: ${SKIP_ENV_URL:-https://c.example/v1}\n"
    )
    strict = reconcile("validate", env=clean_env(), cwd=tmp_path)
    assert strict.returncode == 1
    assert "SKIP_ENV_KEY, SKIP_ENV_HOST and SKIP_ENV_URL" not in strict.stderr  # URL has a default
    assert "SKIP_ENV_KEY" in strict.stderr and "SKIP_ENV_HOST" in strict.stderr
    lenient = reconcile("validate", "--skip-env", env=clean_env(), cwd=tmp_path)
    assert lenient.returncode == 0, lenient.stderr
    assert lenient.stdout == "Valid: 3 providers in 1 file.\n"


def test_skip_env_still_reports_real_mistakes(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "version: 1\nproviders:\n  - name: A\n    type: opnai\n    api_key: ${SKIP_ENV_KEY}\n"
    )
    result = reconcile("validate", "--skip-env", "p.yaml", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 1
    assert "did you mean 'openai'?" in result.stderr
    assert "SKIP_ENV_KEY" not in result.stderr
