"""The commands as a library: typed functions that write to a Console and return an exit
code. What the CLI cannot show without a terminal (the confirmation) is tested here."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.commands.apply import apply, exit_code
from reconciler.commands.common import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, Console
from reconciler.commands.plan import plan
from reconciler.commands.validate import validate
from reconciler.core.plan import Action, Options, Outcome, Plan, Report
from reconciler.errors import UsageError
from reconciler.targets.base import TargetOptions
from tests.sandbox import write

STORE = "sqlite:///state.db"


class Recorder:
    """A console over lists; answers confirmations with ``answer``."""

    def __init__(self, answer: bool | None = None) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self.asked: list[str] = []
        self.answer = answer

    def console(self) -> Console:
        def confirm(question: str) -> bool:
            self.asked.append(question)
            assert self.answer is not None
            return self.answer

        return Console(
            write_out=self.out.append,
            write_err=self.err.append,
            confirm=None if self.answer is None else confirm,
        )


@pytest.fixture(autouse=True)
def _one_provider() -> None:
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n  - name: P\n    type: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n    fetch_models: false\n",
    )


def _apply(recorder: Recorder, **overrides: object) -> int:
    arguments: dict[str, object] = {
        "saved_plan": None,
        "target_url": STORE,
        "target_options": TargetOptions(),
        "options": Options(),
        "strict": False,
        "lock_timeout": 0.0,
        "format": "text",
        "console": recorder.console(),
    }
    arguments.update(overrides)
    return apply([], **arguments)  # type: ignore[arg-type]


def test_validate_writes_its_verdict_to_the_console() -> None:
    recorder = Recorder()
    code = validate([], require_env=True, format="text", console=recorder.console())
    assert (code, recorder.out, recorder.err) == (EXIT_OK, ["Valid: 1 provider in 1 file.\n"], [])


def test_plan_returns_changes_only_when_asked_to() -> None:
    for detailed, expected in ((False, EXIT_OK), (True, EXIT_CHANGES)):
        recorder = Recorder()
        code = plan(
            [],
            target_url=STORE,
            target_options=TargetOptions(),
            options=Options(),
            format="text",
            out_file=None,
            detailed_exitcode=detailed,
            console=recorder.console(),
        )
        assert code == expected
        assert "+ create P" in "".join(recorder.out)
    assert not Path("state.db").exists()


def test_apply_asks_and_a_no_changes_nothing() -> None:
    recorder = Recorder(answer=False)
    assert _apply(recorder) == EXIT_ERROR
    assert recorder.asked == ["Apply these changes?"]
    assert recorder.err == ["Apply cancelled; nothing was changed.\n"]
    assert not Path("state.db").exists()


def test_apply_asks_and_a_yes_applies_then_nothing_is_left_to_ask() -> None:
    recorder = Recorder(answer=True)
    assert _apply(recorder) == EXIT_OK
    assert "The target now matches the configuration." in "".join(recorder.out)
    again = Recorder(answer=True)
    assert _apply(again) == EXIT_OK
    assert again.asked == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"saved_plan": "providers.yaml"}, "looks like a providers file"),
        ({"saved_plan": "plan.json", "files": ["providers.yaml"]}, "not both"),
        ({"saved_plan": "plan.json", "options": Options(prune=True)}, "options it was made with"),
    ],
)
def test_a_saved_plan_refuses_what_would_change_it(
    overrides: dict[str, object], message: str
) -> None:
    files = overrides.pop("files", [])
    arguments = {
        "target_url": STORE,
        "target_options": TargetOptions(),
        "options": Options(),
        "strict": False,
        "lock_timeout": 0.0,
        "format": "text",
        "console": Recorder().console(),
        **overrides,
    }
    with pytest.raises(UsageError, match=message):
        apply(files, **arguments)  # type: ignore[arg-type]


def _report(*statuses: str, converged: bool | None = True, remaining: Plan | None = None) -> Report:
    action = Action(kind="fetch", provider="P", provider_id="1")
    return Report(
        outcomes=[Outcome(action=action, status=s) for s in statuses],  # type: ignore[arg-type]
        converged=converged,
        remaining=remaining,
    )


def test_exit_code_of_an_apply() -> None:
    fetch_left = Plan(actions=(Action(kind="fetch", provider="P", provider_id="1"),))
    update_left = Plan(actions=(Action(kind="update", provider="P", provider_id="1"),))
    assert exit_code(_report("done"), strict=False) == EXIT_OK
    assert exit_code(_report("failed"), strict=False) == EXIT_ERROR
    assert exit_code(_report("done", converged=None), strict=False) == EXIT_ERROR
    unconverged = _report("done", converged=False, remaining=update_left)
    assert exit_code(unconverged, strict=False) == EXIT_ERROR
    # A failed fetch is retried by the next run: a warning, unless --strict.
    warned = _report("warning", converged=False, remaining=fetch_left)
    assert exit_code(warned, strict=False) == EXIT_OK
    assert exit_code(warned, strict=True) == EXIT_ERROR
