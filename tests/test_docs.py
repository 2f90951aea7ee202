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
from reconciler.cli_options import envvar_of
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


# --- README and --help cannot drift -------------------------------------------------------


def _contexts() -> list[tuple[str, click.Command, click.Context]]:
    """("reconcile apply", the command, its context) for the group and every command, with
    the contexts click makes when it runs them (so the same environment variables)."""
    top = click.Context(cli, info_name="reconcile", **cli.context_settings)
    out: list[tuple[str, click.Command, click.Context]] = [("reconcile", cli, top)]
    for name in cli.list_commands(top):
        command = cli.get_command(top, name)
        assert command is not None
        out.append(
            (f"reconcile {name}", command, click.Context(command, parent=top, info_name=name))
        )
    return out


def _options(command: click.Command, ctx: click.Context) -> list[click.Option]:
    """The options --help lists, but --help itself (README says it once for all)."""
    return [
        p for p in command.get_params(ctx) if isinstance(p, click.Option) and "--help" not in p.opts
    ]


def _help_rows(command: click.Command, ctx: click.Context) -> list[tuple[str, str]]:
    """(the option as --help spells it, its help text with the [env var; default] part)."""
    rows = []
    for option in _options(command, ctx):
        record = option.get_help_record(ctx)
        assert record is not None
        rows.append(record)
    return rows


def _readme_table(heading: str) -> list[list[str]]:
    """The cells of each row of the first table after the README line ``heading`` (header
    row and separator left out), with ``\\|`` read back as ``|`` and code marks removed."""
    lines = README[README.index(f"\n{heading}\n") :].splitlines()[2:]
    rows: list[list[str]] = []
    for line in lines:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append([c[1:-1] if c.startswith("`") and c.endswith("`") else c for c in cells])
    return rows[2:]


def test_readme_command_table_is_the_commands_and_their_help() -> None:
    expected = {}
    for name, command, ctx in _contexts()[1:]:
        usage = " ".join([name, *command.collect_usage_pieces(ctx)])
        expected[usage] = (command.help or "").split("\n\n")[0].strip()
    assert dict(_readme_table("## Commands")) == expected


@pytest.mark.parametrize("name", [name for name, _, _ in _contexts()])
def test_readme_lists_each_option_as_help_shows_it_and_no_other(name: str) -> None:
    command, ctx = next((c, x) for n, c, x in _contexts() if n == name)
    rows = [tuple(row) for row in _readme_table(f"#### `{name}`")]
    assert rows == _help_rows(command, ctx)


def test_readme_has_one_option_table_per_command_and_says_help_once() -> None:
    assert README.count("\n#### `reconcile") == len(_contexts())
    assert "`reconcile COMMAND --help` (or `-h`)" in README


def test_every_option_shows_its_environment_variable_in_help() -> None:
    for name, command, ctx in _contexts():
        for option in _options(command, ctx):
            if option.name == "version":
                continue  # --version is an action, not a setting
            variable = envvar_of(option, ctx)
            assert variable is not None and variable.startswith("RECONCILE_"), (name, option.opts)
            record = option.get_help_record(ctx)
            assert record is not None and f"env var: {variable}" in record[1], (name, option.opts)
    result = run("apply", "--help")
    assert "RECONCILE_APPLY_PARALLELISM" in result.stdout


def test_exit_codes_in_help_and_readme_are_the_same() -> None:
    from reconciler.commands import common

    help_text = run("--help").stdout
    in_help = {int(n) for n in re.findall(r"^\s+(\d+)\s{2,}\S", help_text, flags=re.MULTILINE)}
    in_readme = {int(row[0]) for row in _readme_table("### Exit codes")}
    constants = {v for k, v in vars(common).items() if k.startswith("EXIT_")}
    assert in_help == in_readme == constants == {0, 1, 2, 3, 130}
