"""The command line: parse options, call one command of ``reconciler.commands``, print,
map to an exit code.

Nothing here holds logic a test would need to reach. Errors a user can cause
(``ReconcilerError``) become one message and exit 1; anything else is a bug: exit 3 with
a hint to rerun with ``--debug``, which shows the traceback. Heavy modules are imported
inside the commands, so that ``reconcile --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import click

from reconciler.cli_console import TRUE_WORDS, ReportingCommand, make_console, show_traceback
from reconciler.cli_options import (
    EXPORT_ENV_HELP,
    VALIDATE_ENV_HELP,
    diff_options,
    env_option,
    environment_files_option,
    fetch_options,
    file_option,
    format_option,
    option,
    pace_options,
    state_option,
    target_options,
)
from reconciler.commands.common import EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED
from reconciler.errors import ReconcilerError
from reconciler.secrets import scrubbing_run

if TYPE_CHECKING:
    from reconciler.core.plan import Options
    from reconciler.targets.base import TargetOptions


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "RECONCILE"}
)
# --version is an action, not a setting: no RECONCILE_VERSION (click would derive one).
@click.version_option(package_name="reconciler", allow_from_autoenv=False)
@option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """GitOps for the AI providers of ClaraVerse: plan and apply providers.yaml.

    Every option can also be set by the environment variable its help names.

    \b
    Exit codes:
      0    success
      1    error: invalid file, refused or stale plan, target error, failed action
      2    the plan has changes (plan --detailed-exitcode only)
      3    internal error (a bug): rerun with --debug, and please report it
      130  interrupted (Ctrl-C)
    """
    # --debug is read by main(), which must know it before parsing can fail.


cli.command_class = ReportingCommand


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(), metavar="[FILE|DIR]...")
@file_option
@option(
    "--skip-env",
    is_flag=True,
    help="Do not require the ${VAR} variables to be set: unset ones read as placeholders "
    "(pre-commit hooks, editors).",
)
@option(
    "--each",
    is_flag=True,
    help="Check each file on its own (providers-staging.yaml, providers-prod.yaml), the "
    "files of a providers.d/ folder together (pre-commit hooks).",
)
@env_option(VALIDATE_ENV_HELP)
@format_option(["text", "json"], "json: the errors and warnings as data, on stdout.")
def validate(
    paths: tuple[str, ...],
    file: tuple[str, ...],
    skip_env: bool,
    each: bool,
    environment: str | None,
    format: str,
) -> int:
    """Check providers.yaml against the schema and the rules; contacts nothing."""
    from reconciler.commands import validate as command

    return command.validate(
        [*file, *paths],
        require_env=not skip_env,
        format=cast(command.ValidateFormat, format),
        console=make_console(),
        each=each,
        environment=environment,
    )


@cli.command()
@file_option
@env_option()
@target_options
@diff_options
@format_option(["text", "json", "markdown"], "markdown is made for pull-request comments.")
@option("-o", "--out", type=click.Path(dir_okay=False), help="Also write the plan as JSON.")
@option("--detailed-exitcode", is_flag=True, help="Exit 2 when the plan has changes.")
def plan(
    file: tuple[str, ...],
    environment: str | None,
    target_url: str | None,
    target_options: TargetOptions,
    options: Options,
    format: str,
    out: str | None,
    detailed_exitcode: bool,
) -> int:
    """Show what apply would change. Contacts the target, never an upstream."""
    from reconciler.commands import plan as command

    return command.plan(
        file,
        environment=environment,
        target_url=target_url,
        target_options=target_options,
        options=options,
        format=cast(command.PlanFormat, format),
        out_file=out,
        detailed_exitcode=detailed_exitcode,
        console=make_console(),
    )


@cli.command()
@click.argument(
    "saved_plan", required=False, type=click.Path(dir_okay=False), metavar="[PLAN.json]"
)
@file_option
@env_option()
@target_options
@fetch_options
@diff_options
@pace_options
@option("--yes", is_flag=True, help="Do not ask for confirmation.")
@option("--refetch", is_flag=True, help="Fetch models of every enabled managed provider.")
@option("--strict", is_flag=True, help="Exit 1 when a model fetch failed.")
@option(
    "--lock-timeout",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds to wait for another apply's lock on the embedded store.",
)
@format_option(
    ["text", "json"],
    "json: the report on stdout, as schemas/apply.schema.json says; the plan on stderr.",
)
def apply(
    saved_plan: str | None,
    file: tuple[str, ...],
    environment: str | None,
    target_url: str | None,
    target_options: TargetOptions,
    options: Options,
    yes: bool,
    strict: bool,
    lock_timeout: float,
    format: str,
) -> int:
    """Make the target match the files, or apply a plan saved by plan -o.

    Asks for confirmation (on stderr) whenever stdin is a terminal; never otherwise, or
    with --yes.
    """
    from reconciler.commands import apply as command

    return command.apply(
        file,
        saved_plan=saved_plan,
        environment=environment,
        target_url=target_url,
        target_options=target_options,
        options=options,
        strict=strict,
        lock_timeout=lock_timeout,
        format=cast(command.ApplyFormat, format),
        console=make_console(yes=yes),
    )


@cli.command()
@env_option(EXPORT_ENV_HELP)
@environment_files_option
@target_options
@option("-o", "--out", type=click.Path(dir_okay=False), help="Write to this file (a new one).")
@option("--force", is_flag=True, help="Overwrite the file of -o if it exists.")
def export(
    environment: str | None,
    file: tuple[str, ...],
    target_url: str | None,
    target_options: TargetOptions,
    out: str | None,
    force: bool,
) -> int:
    """Write the target's providers as a providers.yaml (keys as ${VAR} references)."""
    from reconciler.commands import export as command

    return command.export(
        environment=environment,
        files=file,
        target_url=target_url,
        target_options=target_options,
        out_file=out,
        force=force,
        console=make_console(),
    )


@cli.command()
@state_option
@option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port; 0 picks a free one.",
)
def serve(state: str, host: str, port: int) -> int:
    """Run the ClaraVerse provider API over an embedded store: a sandbox for the flow."""
    from reconciler.commands import serve as command

    return command.serve(state=state, host=host, port=port, console=make_console())


@cli.command()
@state_option
@option("--email", default="admin@localhost", show_default=True, help="The account.")
@option(
    "--role",
    type=click.Choice(["admin", "user"]),
    default="admin",
    show_default=True,
    help="Role of a new account.",
)
@option(
    "--password-env",
    metavar="VAR",
    help="Set the account's password (for /api/auth/login) from this variable.",
)
def token(state: str, email: str, role: str, password_env: str | None) -> int:
    """Print a new access token for a sandbox account (created if missing)."""
    from reconciler.commands import token as command

    return command.token(
        state=state,
        email=email,
        role=cast(command.Role, role),
        password_env=password_env,
        console=make_console(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: the process's arguments) and return its exit code;
    the one place that turns exceptions into messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    # RECONCILE_DEBUG takes what click takes for the flag ("1", "true", "yes", "on"...).
    debug = "--debug" in args or os.environ.get("RECONCILE_DEBUG", "").lower() in TRUE_WORDS
    # Called with argv (a test, a script), the program is "reconcile" whatever runs it;
    # from the command line, click names it as invoked ("python -m reconciler").
    prog_name = None if argv is None else "reconcile"
    console = make_console()
    # One secret registry per run: what this run scrubs is what this run loaded.
    with scrubbing_run():
        try:
            code = cli.main(args, prog_name=prog_name, standalone_mode=False)
        except (click.exceptions.Abort, KeyboardInterrupt):
            console.err("Interrupted.")
            return EXIT_INTERRUPTED
        except click.ClickException as exc:
            exc.show()
            # Exit 2 means "the plan has changes" (--detailed-exitcode): a usage error is 1.
            return EXIT_ERROR
        except ReconcilerError as exc:
            show_traceback(console, debug)
            console.err("\n".join([f"Error: {exc}", *getattr(exc, "__notes__", ())]))
            return EXIT_ERROR
        except Exception as exc:
            show_traceback(console, debug)
            console.err(
                f"Internal error (a bug in reconciler): {type(exc).__name__}: {exc}\n"
                "Rerun with --debug for the traceback, and please report it."
            )
            return EXIT_BUG
    # click returns a command's result, or the code of an early exit (--help: 0).
    return int(code) if isinstance(code, int) else 0


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False), metavar="FILE")
@option(
    "--from",
    "source_format",
    type=click.Choice(["claraverse", "litellm", "librechat", "openwebui"]),
    help="The format of FILE. Default: told from its content.",
)
@option("-o", "--out", type=click.Path(dir_okay=False), help="Write to this file.")
@option("--force", is_flag=True, help="Overwrite the -o file if it exists.")
def import_(file: str, source_format: str | None, out: str | None, force: bool) -> int:
    """Write another system's configuration as a providers.yaml (keys as ${VAR} references)."""
    from reconciler.commands import import_ as command

    return command.import_(
        file,
        source_format=cast("command.SourceFormat | None", source_format),
        out_file=out,
        force=force,
        console=make_console(),
    )


@cli.command()
@file_option
@env_option()
@target_options
@diff_options
@option(
    "--interval",
    type=click.FloatRange(0.1),
    required=True,
    metavar="SECONDS",
    help="Seconds between runs (a failing target is retried sooner, then backs off).",
)
@option(
    "--self-heal",
    is_flag=True,
    help="Apply the plan when the target drifts, as apply would. Default: report only.",
)
@option(
    "--listen",
    metavar="HOST:PORT",
    help="Serve / (a status page), /healthz, /readyz and /metrics here; port 0 picks one.",
)
@option(
    "--webhook",
    metavar="URL",
    help="POST each change of state here as JSON (Slack's incoming webhooks accept it).",
)
@option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line.",
)
def watch(
    file: tuple[str, ...],
    environment: str | None,
    target_url: str | None,
    target_options: TargetOptions,
    options: Options,
    interval: float,
    self_heal: bool,
    listen: str | None,
    webhook: str | None,
    log_format: str,
) -> int:
    """Report drift between the files and the target; heal it with --self-heal.

    Runs every --interval seconds until SIGTERM or Ctrl-C (exit 0).
    """
    from reconciler.commands import watch as command

    return command.watch(
        file,
        environment=environment,
        target_url=target_url,
        target_options=target_options,
        options=options,
        interval=interval,
        self_heal=self_heal,
        listen=listen,
        webhook=webhook,
        log_format=cast(command.LogFormat, log_format),
        console=make_console(),
    )
