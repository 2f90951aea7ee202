"""``main(argv)``: one call per run that returns the exit code; errors become one message;
target options a target cannot honour are refused, defaults never are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler import cli
from reconciler.targets.base import TargetOptions
from tests.inprocess import run
from tests.sandbox import write


@pytest.fixture
def empty_file() -> Path:
    return write(Path("providers.yaml"), "version: 1\nproviders: []\n")


def test_main_returns_the_exit_code_instead_of_exiting(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert "version" in capsys.readouterr().out
    assert cli.main(["validate", "-f", "missing.yaml"]) == 1
    assert cli.main(["no-such-command"]) == 1


def test_main_leaves_the_environment_as_it_found_it(empty_file: Path) -> None:
    before = dict(os.environ)
    assert cli.main(["apply", "--yes", "--target", "sqlite:///state.db"]) == 0
    assert dict(os.environ) == before


def test_a_bug_is_exit_3_with_a_hint_and_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("something internal")

    monkeypatch.setattr("reconciler.commands.validate.validate", broken)
    result = run("validate")
    assert result.returncode == 3
    assert result.stderr == (
        "Internal error (a bug in reconciler): RuntimeError: something internal\n"
        "Rerun with --debug for the traceback, and please report it.\n"
    )
    debug = run("--debug", "validate")
    assert debug.returncode == 3
    assert debug.stderr.startswith("Traceback (most recent call last):")


def test_debug_set_in_the_environment_takes_the_values_its_help_promises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("something internal")

    monkeypatch.setattr("reconciler.commands.validate.validate", broken)
    for value in ("1", "true", "yes"):
        result = run("validate", env={**os.environ, "RECONCILE_DEBUG": value})
        assert result.stderr.startswith("Traceback (most recent call last):"), value
    assert "Traceback" not in run("validate", env={**os.environ, "RECONCILE_DEBUG": "0"}).stderr


def test_only_the_variables_help_names_act(empty_file: Path) -> None:
    result = run("validate", env={**os.environ, "RECONCILE_VERSION": "1"})
    assert (result.returncode, result.stdout) == (0, "Valid: 0 providers in 1 file.\n")


def test_ctrl_c_in_a_command_is_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("reconciler.commands.validate.validate", interrupted)
    result = run("validate")
    # click ends the terminal's "^C" line first.
    assert (result.returncode, result.stderr) == (130, "\nInterrupted.\n")


def test_a_saved_plan_with_files_is_a_usage_error_with_the_usage_line(empty_file: Path) -> None:
    result = run("apply", "plan.json", "-f", "providers.yaml")
    assert result.returncode == 1
    assert result.stderr == (
        "Usage: reconcile apply [OPTIONS] [PLAN.json]\n"
        "Try 'reconcile apply --help' for help.\n\n"
        "Error: give either a saved plan or -f files, not both\n"
    )


# --- target options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("commands", "args", "message"),
    [
        (
            ["apply"],
            ["--target", "https://clara.example.com", "--fetch-timeout", "5"],
            "Error: --fetch-timeout applies to the embedded target only: a ClaraVerse server "
            "fetches models itself\n",
        ),
        (
            ["apply"],
            ["--target", "http://127.0.0.1:9", "--fetch-retries", "0", "--fetch-timeout", "5"],
            "Error: --fetch-timeout and --fetch-retries apply to the embedded target only: a "
            "ClaraVerse server fetches models itself\n",
        ),
        (
            ["plan", "export", "apply"],
            ["--timeout", "5"],
            "Error: --timeout applies to a ClaraVerse server only: the embedded target is a "
            "local file\n",
        ),
        (
            ["plan", "export", "apply"],
            ["--ca-cert", "providers.yaml"],
            "Error: --ca-cert applies to a ClaraVerse server only: the embedded target is a "
            "local file\n",
        ),
    ],
)
def test_an_option_the_target_cannot_honour_is_an_error(
    empty_file: Path, commands: list[str], args: list[str], message: str
) -> None:
    for command in commands:
        result = run(command, *args)
        assert (result.returncode, result.stderr) == (1, message)
    assert not Path(".reconcile").exists()


def test_an_option_set_in_the_environment_counts_as_given_and_the_error_names_it(
    empty_file: Path,
) -> None:
    env = {**os.environ, "RECONCILE_APPLY_FETCH_RETRIES": "2"}
    result = run("apply", "--target", "http://127.0.0.1:9", env=env)
    assert (result.returncode, result.stderr) == (
        1,
        "Error: --fetch-retries applies to the embedded target only: a ClaraVerse server "
        "fetches models itself\n"
        "(--fetch-retries was set by the environment variable RECONCILE_APPLY_FETCH_RETRIES)\n",
    )


def test_an_invalid_value_from_the_environment_names_the_variable(empty_file: Path) -> None:
    env = {**os.environ, "RECONCILE_APPLY_PARALLELISM": "0"}
    result = run("apply", env=env)
    assert result.returncode == 1
    assert result.stderr.endswith(
        "Error: Invalid value for '--parallelism' (from the environment variable "
        "RECONCILE_APPLY_PARALLELISM): 0 is not in the range 1<=x<=64.\n"
    )
    # Given on the command line, the same value is reported as click reports it.
    line = run("apply", "--parallelism", "0")
    assert line.stderr.endswith(
        "Error: Invalid value for '--parallelism': 0 is not in the range 1<=x<=64.\n"
    )


def test_a_target_from_the_environment_is_named_in_its_errors(empty_file: Path) -> None:
    env = {**os.environ, "RECONCILE_TARGET": "ftp://user:pw@example.com"}
    for command in ("plan", "apply", "export"):
        result = run(command, env=env)
        assert (result.returncode, result.stderr) == (
            1,
            "Error: --target ftp://***@example.com: unknown kind of target; use "
            "sqlite:///path/state.db or https://clara.example.com\n"
            "(--target was set by the environment variable RECONCILE_TARGET)\n",
        )
    given = run("plan", "--target", "ftp://example.com")
    assert "set by the environment" not in given.stderr


@pytest.mark.parametrize("command", ["plan", "export"])
def test_commands_that_fetch_nothing_have_no_fetch_options(empty_file: Path, command: str) -> None:
    for flag in ("--fetch-timeout", "--fetch-retries"):
        result = run(command, flag, "5")
        assert result.returncode == 1
        assert f"No such option '{flag}'" in result.stderr


def test_defaults_are_not_given_and_the_embedded_target_takes_its_fetch_options(
    empty_file: Path,
) -> None:
    assert run("plan").returncode == 0
    assert run("apply", "--fetch-timeout", "5", "--fetch-retries", "0").returncode == 0
    # A ClaraVerse target takes --timeout: the run gets as far as checking the URL.
    server = run("plan", "--target", "http://127.0.0.1:9/api", "--timeout", "5")
    assert server.returncode == 1
    assert server.stderr.startswith("Error: --target http://127.0.0.1:9/api: give the server's")


def test_parallelism_is_given_once_and_reaches_the_target_and_the_executor(
    empty_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.commands import apply as command
    from reconciler.targets import open_target

    opened: list[TargetOptions] = []
    executed: list[int] = []
    converge = command.converge

    def recording_open(url: str | None, options: TargetOptions) -> object:
        opened.append(options)
        return open_target(url, options)

    def recording_converge(*args: object, parallelism: int, **kwargs: object) -> object:
        executed.append(parallelism)
        return converge(*args, parallelism=parallelism, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(command, "open_target", recording_open)
    monkeypatch.setattr(command, "converge", recording_converge)
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n  - name: P\n    type: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n    fetch_models: false\n",
    )
    assert run("apply", "--yes", "--parallelism", "3").returncode == 0
    assert [o.parallelism for o in opened] == [3]
    assert executed == [3]
