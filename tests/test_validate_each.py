"""`reconcile validate --each`, the pre-commit hook's command: every file on its own, the
files of a providers.d/ folder together; run as pre-commit runs the hook."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import yaml

from reconciler.commands.validate import configurations
from tests.inprocess import Result, run

ROOT = Path(__file__).resolve().parent.parent
HOOK = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))[0]

OPENAI = (
    "version: 1\nproviders:\n  - name: OpenAI\n    type: openai\n"
    "    base_url: {url}\n    api_key: ${{OPENAI_API_KEY}}\n"
)


def write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")


def hook(*files: str) -> Result:
    """The hook as pre-commit runs it: its entry, then the matched files; no variables."""
    return run(*shlex.split(HOOK["entry"])[1:], *files, env={})


def test_per_environment_files_may_declare_the_same_provider() -> None:
    write("providers-staging.yaml", OPENAI.format(url="https://staging.example/v1"))
    write("env/providers-prod.yaml", OPENAI.format(url="https://api.openai.com/v1"))
    together = run("validate", "--skip-env", "providers-staging.yaml", "env/providers-prod.yaml")
    assert together.returncode == 1 and "duplicate provider name 'OpenAI'" in together.stderr
    result = hook("providers-staging.yaml", "env/providers-prod.yaml")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "Valid: 1 provider in providers-staging.yaml.\n"
        "Valid: 1 provider in env/providers-prod.yaml.\n"
    )


def test_a_providers_d_folder_is_one_configuration_whichever_files_are_named() -> None:
    write("providers.d/a.yaml", OPENAI.format(url="https://a.example/v1"))
    write("providers.d/b.yaml", OPENAI.format(url="https://b.example/v1"))
    # pre-commit names the changed file only; its duplicate is in the other one.
    result = hook("providers.d/b.yaml")
    assert result.returncode == 1
    assert (
        "providers.d/b.yaml:3:5: providers[0].name: duplicate provider name 'OpenAI' (also "
        "declared at providers.d/a.yaml:3:5)"
    ) in result.stderr
    write("providers.d/b.yaml", "version: 1\nproviders:\n  - name: Other\n    ensure: absent\n")
    result = hook("providers.d/a.yaml", "providers.d/b.yaml", "providers-prod.yaml")
    assert result.returncode == 1  # providers-prod.yaml does not exist
    assert result.stdout == "Valid: 2 providers in providers.d (2 files).\n"
    assert result.stderr == (
        "Error: 1 error in the configuration:\n"
        "  providers-prod.yaml: no such file; check the path\n"
    )


def test_every_file_is_checked_and_every_error_reported_at_once() -> None:
    write("providers-a.yaml", "version: 1\nproviders:\n  - name: A\n    type: opnai\n")
    write("providers-b.yaml", OPENAI.format(url="https://b.example/v1"))
    write("providers-c.yaml", "version: 2\nproviders: []\n")
    result = run(
        "validate",
        "--skip-env",
        "--each",
        "--format",
        "json",
        *(f"providers-{x}.yaml" for x in "abc"),
    )
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["valid"] is False
    assert [e["file"] for e in data["errors"]] == ["providers-a.yaml", "providers-c.yaml"]


def test_without_files_each_checks_the_default_file() -> None:
    write("providers.yaml", OPENAI.format(url="https://api.openai.com/v1"))
    result = run("validate", "--skip-env", "--each", env={})
    assert (result.returncode, result.stdout) == (0, "Valid: 1 provider in providers.yaml.\n")


def test_configurations_are_files_and_folders_named_once() -> None:
    Path("providers.d").mkdir()
    assert configurations(
        ["a.yaml", "providers.d/x.yaml", "./a.yaml", "providers.d/", "providers.d/y.yml", "b.yml"]
    ) == ["a.yaml", "providers.d", "b.yml"]
