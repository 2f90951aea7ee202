"""The terminal side of the command line: the console commands print to and ask on, and
the click command class that says which environment variable set a value in an error."""

from __future__ import annotations

import os
import re
import sys
from typing import IO, Any

import click

from reconciler.cli_options import from_environment
from reconciler.commands.common import Console
from reconciler.errors import ReconcilerError, UsageError

TRUE_WORDS = ("1", "true", "t", "yes", "y", "on")


def _colour(stream: IO[str]) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def make_console(*, yes: bool = True) -> Console:
    """The terminal as a command's console. It asks whenever stdin is a terminal (someone
    is there to answer), whatever stdout is: ``apply | tee log`` still asks. Not with --yes."""
    interactive = not yes and sys.stdin.isatty()
    return Console(
        write_out=lambda text: click.echo(text, nl=False),
        write_err=lambda text: click.echo(text, nl=False, err=True),
        out_colour=_colour(sys.stdout),
        err_colour=_colour(sys.stderr),
        err_terminal=sys.stderr.isatty(),
        confirm=_ask if interactive else None,
    )


def _ask(question: str) -> bool:
    """A yes/no question on stderr, answered on stdin; no (the default) unless "y" or "yes".
    On stderr, so that stdout holds only what was asked for (a log, the JSON report)."""
    while True:
        click.echo(f"{question} [y/N]: ", nl=False, err=True)
        line = sys.stdin.readline()
        answer = line.strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("", "n", "no"):
            # An empty line is the default; no line at all (end of input) is no answer.
            if not line:
                click.echo("", err=True)
            return False
        click.echo("Please answer y or n.", err=True)


class ReportingCommand(click.Command):
    """A command whose UsageError is shown as click shows its own: with the usage line.
    An error that names an option the environment set says which variable set it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            message = "\n".join([str(exc), *_set_by_environment(str(exc), ctx)])
            raise click.UsageError(message, ctx) from None
        except ReconcilerError as exc:
            for note in _set_by_environment(str(exc), ctx):
                exc.add_note(note)
            raise


def _set_by_environment(message: str, ctx: click.Context) -> list[str]:
    """A line for each option ``message`` names whose value came from the environment:
    a variable set in CI and forgotten is the hardest cause of an error to see."""
    notes = []
    for param in ctx.command.params:
        variable = from_environment(param, ctx)
        named = [o for o in param.opts if re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", message)]
        if variable is not None and named:
            notes.append(f"({named[0]} was set by the environment variable {variable})")
    return notes


def show_traceback(console: Console, debug: bool) -> None:
    """The traceback of the exception being handled, with --debug."""
    if debug:
        import traceback

        console.err(traceback.format_exc())
