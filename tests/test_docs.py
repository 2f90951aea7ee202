"""README is the user's manual: every command is documented, and the recipes work as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml
from click.core import ParameterSource

from reconciler.cli import cli
from tests.inprocess import run

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
WORKFLOW = (ROOT / "examples" / "github-workflow.yml").read_text(encoding="utf-8")
HOOKS = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")


def _reconcile_invocations(text: str) -> list[list[str]]:
    """Each `reconcile ...` command line in a shell snippet, as argv (minus redirections)."""
    found = []
    for line in text.splitlines():
        line = line.split(" #")[0]
        for part in re.split(r"\|\||&&|;|\$\(", line):
            part = part.strip().rstrip(")")
            if part.startswith("reconcile "):
                argv = shlex.split(part.split(">")[0].split("&")[0])
                found.append(argv[1:])
    return found


def _parses(argv: list[str]) -> click.Context:
    """The arguments parse as the CLI would parse them (options exist, choices are valid)."""
    name, *rest = argv
    parent = click.Context(cli, info_name="reconcile")
    command = cli.get_command(parent, name)
    assert command is not None, f"unknown command {name}"
    return command.make_context(name, rest, parent=parent)


def _from_the_line(ctx: click.Context) -> set[str]:
    """The options (every spelling) whose value came from the command line."""
    return {
        opt
        for param in ctx.command.params
        if param.name and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
        for opt in param.opts
    }


def test_every_command_has_help_and_is_in_readme() -> None:
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        assert command.help, f"{name} has no help"
        assert f"reconcile {name}" in README, f"README does not document `reconcile {name}`"


def quick_start() -> list[str]:
    """The commands of README's Quick start block."""
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_quick_start_is_two_commands_that_need_only_python3() -> None:
    setup, tests = quick_start()
    assert setup.startswith("python3 -m venv --clear .venv && ")
    assert "reconcile apply -f examples/providers.yaml --yes" in setup
    assert tests == ".venv/bin/python -m pytest"
    # Nothing that a stock system lacks: no bare `python`, no activated venv.
    programs = [step.split()[0] for step in setup.split("&&")]
    assert programs[0] == "python3"
    assert all(p.startswith(".venv/bin/") for p in programs[1:])


def test_ci_runs_the_quick_start_as_readme_writes_it() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "/^## Quick start/" in ci and "README.md" in ci
    assert 'bash -c "$setup"' in ci and 'bash -c "$tests"' in ci


def test_readme_shows_the_workflow_file_verbatim() -> None:
    assert WORKFLOW in README


def test_readme_shows_the_pre_commit_hook_verbatim() -> None:
    assert HOOKS in README


def test_workflow_is_valid_yaml_with_plan_and_apply_jobs() -> None:
    doc = yaml.safe_load(WORKFLOW)
    assert set(doc["jobs"]) == {"plan", "apply"}
    assert doc["jobs"]["apply"]["concurrency"]["cancel-in-progress"] is False
    # YAML reads the key `on` as True.
    triggers = doc.get("on", doc.get(True))
    assert set(triggers) == {"pull_request", "push"}


@pytest.mark.parametrize(
    "argv",
    _reconcile_invocations(WORKFLOW) + _reconcile_invocations(README),
    ids=lambda a: " ".join(a)[:60],
)
def test_documented_command_lines_parse(argv: list[str]) -> None:
    if argv[0] in ("--help", "-h"):
        result = run(*argv)
        assert result.returncode == 0
        assert result.stdout.startswith("Usage: reconcile [OPTIONS] COMMAND [ARGS]...")
        return
    ctx = _parses(argv)
    assert ctx.command.name == argv[0]
    # Each option the line writes reached the command as written, not as a default.
    written = {arg for arg in argv[1:] if arg.startswith("-")}
    assert written <= _from_the_line(ctx), written - _from_the_line(ctx)


def test_pre_commit_hook_entry_parses_with_filenames() -> None:
    hook = yaml.safe_load(HOOKS)[0]
    argv = shlex.split(hook["entry"])
    assert argv[0] == "reconcile"
    assert hook["pass_filenames"] is True
    ctx = _parses([*argv[1:], "providers.yaml", "more/providers-prod.yml"])
    assert ctx.params["paths"] == ("providers.yaml", "more/providers-prod.yml")
    assert ctx.params["each"] is True  # per-environment files are not one configuration
    assert re.search(hook["files"], "providers.yaml")
    assert re.search(hook["files"], "env/providers-prod.yml")
    assert not re.search(hook["files"], "docker-compose.yaml")


def test_workflow_and_readme_use_only_existing_commands() -> None:
    commands = set(cli.list_commands(click.Context(cli)))
    for argv in _reconcile_invocations(WORKFLOW) + _reconcile_invocations(README):
        if argv and not argv[0].startswith("-"):
            assert argv[0] in commands, argv
