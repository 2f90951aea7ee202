"""The command line: parse options, call the library, print, map to an exit code.

Nothing here holds logic a test would need to reach. Errors a user can cause
(``ReconcilerError``) become one message and exit 1; anything else is a bug: exit 3 with
a hint to rerun with ``--debug``, which shows the traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NoReturn, TypeVar

import click

from reconciler.errors import ConfigError, ReconcilerError
from reconciler.secrets import scrub

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


def _err(message: str) -> None:
    click.echo(scrub(message), err=True)


def _colour(stream: Any) -> bool:
    return bool(stream.isatty()) and "NO_COLOR" not in os.environ


def file_option(f: F) -> F:
    return click.option(
        "-f",
        "--file",
        "file",
        multiple=True,
        type=click.Path(),
        help="providers.yaml file or folder of *.yaml files; repeatable. Default: providers.yaml.",
    )(f)


@dataclass(frozen=True)
class TargetArgs:
    """The target options of a command, gathered into one value."""

    url: str | None
    ca_cert: str | None
    timeout: float
    fetch_timeout: float
    fetch_retries: int

    def open(self, **extra: Any) -> Any:
        """The target these options name."""
        from reconciler.targets import open_target

        options: dict[str, Any] = {
            "timeout": self.timeout,
            "fetch_timeout": self.fetch_timeout,
            "fetch_retries": self.fetch_retries,
            **extra,
        }
        if self.ca_cert:
            options["ca_cert"] = self.ca_cert
        return open_target(self.url, **options)


def _seconds(name: str, text: str) -> Callable[[F], F]:
    return click.option(
        name, type=click.FloatRange(0.1), default=30.0, show_default=True, help=text
    )


def target_options(f: F) -> F:
    """--target, --ca-cert, --timeout and the fetch options, passed on as ``target_args``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["target_args"] = TargetArgs(
            url=kwargs.pop("target_url"),
            ca_cert=kwargs.pop("ca_cert"),
            timeout=kwargs.pop("timeout"),
            fetch_timeout=kwargs.pop("fetch_timeout"),
            fetch_retries=kwargs.pop("fetch_retries"),
        )
        return f(*args, **kwargs)

    decorated: Any = wrapper
    for option in reversed(
        [
            click.option(
                "--target",
                "target_url",
                metavar="URL",
                envvar="RECONCILE_TARGET",
                show_envvar=True,
                help="sqlite:///path/state.db (default sqlite:///.reconcile/state.db) or "
                "https://clara.example.com.",
            ),
            click.option(
                "--ca-cert",
                type=click.Path(exists=True, dir_okay=False),
                help="CA bundle for a ClaraVerse server behind a private CA.",
            ),
            _seconds("--timeout", "Seconds to wait for a ClaraVerse server's answer."),
            _seconds(
                "--fetch-timeout",
                "Seconds to wait for an upstream's model listing (embedded target).",
            ),
            click.option(
                "--fetch-retries",
                type=click.IntRange(0, 10),
                default=3,
                show_default=True,
                help="Retries of a model listing after a connection error, 429, 502, 503 "
                "or 504 (embedded target).",
            ),
        ]
    ):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def diff_options(f: F) -> F:
    for decl, text in reversed(
        [
            ("--prune", "Delete providers on the target that no file declares."),
            ("--allow-delete-enabled", "Allow deleting providers that are still enabled."),
            ("--allow-empty", "Allow --prune when the files declare no provider."),
        ]
    ):
        f = click.option(decl, is_flag=True, help=text)(f)
    return f


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "RECONCILE"}
)
@click.version_option(package_name="reconciler")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """GitOps for the AI providers of ClaraVerse: plan and apply providers.yaml.

    Exit codes: 0 success, 1 error, 2 plan has changes (with --detailed-exitcode).
    """
    # --debug is read by main(), which must know it before parsing can fail.


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(), metavar="[FILE|DIR]...")
@file_option
@click.option(
    "--skip-env",
    is_flag=True,
    help="Do not require the ${VAR} variables to be set: unset ones read as placeholders "
    "(pre-commit hooks, editors).",
)
@click.option(
    "--format", "format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def validate(paths: tuple[str, ...], file: tuple[str, ...], skip_env: bool, format: str) -> None:
    """Check providers.yaml against the schema and the rules; contacts nothing."""
    from reconciler import config
    from reconciler.output.render import problems_json

    try:
        desired = config.load([*file, *paths], require_env=not skip_env)
    except ConfigError as exc:
        if format == "json":
            click.echo(problems_json(exc.problems, []), nl=False)
        raise
    for warning in desired.warnings:
        _err(f"Warning: {warning}")
    if format == "json":
        click.echo(problems_json([], desired.warnings), nl=False)
    else:
        count = len(desired.providers)
        click.echo(
            f"Valid: {count} provider{'s' if count != 1 else ''} in "
            f"{len(desired.files)} file{'s' if len(desired.files) != 1 else ''}."
        )


def _diff_opts(**kw: Any) -> Any:
    from reconciler.core.plan import Options

    return Options(**kw)


@cli.command()
@file_option
@target_options
@diff_options
@click.option(
    "--format",
    "format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="markdown is made for pull-request comments.",
)
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Also write the plan as JSON.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the plan has changes.")
def plan(
    file: tuple[str, ...],
    target_args: TargetArgs,
    prune: bool,
    allow_delete_enabled: bool,
    allow_empty: bool,
    format: str,
    out: str | None,
    detailed_exitcode: bool,
) -> None:
    """Show what apply would change. Contacts the target, never an upstream."""
    try:
        _plan(
            file,
            target_args,
            format,
            out,
            detailed_exitcode,
            prune=prune,
            allow_delete_enabled=allow_delete_enabled,
            allow_empty=allow_empty,
        )
    except ReconcilerError as exc:
        if format == "markdown":
            # The pull-request comment should say why there is no plan, not be empty.
            from reconciler.output.render import error_markdown

            click.echo(error_markdown(str(exc)))
        raise


def _plan(
    files: tuple[str, ...],
    target_args: TargetArgs,
    format: str,
    out: str | None,
    detailed_exitcode: bool,
    **diff_flags: bool,
) -> None:
    from reconciler import config
    from reconciler.core import diff
    from reconciler.output import render

    desired = config.load(files)
    options = _diff_opts(**diff_flags)
    target = target_args.open(lazy=True)
    try:
        observed = target.observe()
    finally:
        target.close()
    the_plan = diff.make_plan(desired, observed, options)
    if format == "json":
        click.echo(render.plan_json(the_plan, target=target.description), nl=False)
    elif format == "markdown":
        click.echo(render.plan_markdown(the_plan, target=target.description))
    else:
        colour = _colour(sys.stdout)
        click.echo(render.plan_text(the_plan, target=target.description, colour=colour), nl=False)
    if out:
        from reconciler.output import planfile

        data = planfile.build(
            the_plan,
            desired=desired,
            observed=observed,
            options=options,
            target=target.description,
        )
        write_file(out, planfile.dumps(data))
        _err(f"Saved the plan to {out}; apply exactly this plan with: reconcile apply {out}")
    if detailed_exitcode and not the_plan.is_empty:
        sys.exit(EXIT_CHANGES)


def write_file(path: str, text: str) -> None:
    """Write an output file the user named; a failure is the user's to fix, not a bug."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(scrub(text))
    except OSError as exc:
        raise ReconcilerError(f"cannot write {path}: {exc.strerror}") from None


@cli.command()
@click.argument(
    "saved_plan", required=False, type=click.Path(dir_okay=False), metavar="[PLAN.json]"
)
@file_option
@target_options
@diff_options
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Providers changed at once.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--refetch", is_flag=True, help="Fetch models of every enabled managed provider.")
@click.option("--strict", is_flag=True, help="Exit 1 when a model fetch failed.")
@click.option(
    "--lock-timeout",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds to wait for another apply's lock on the embedded store.",
)
@click.option(
    "--format", "format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def apply(
    saved_plan: str | None,
    file: tuple[str, ...],
    target_args: TargetArgs,
    prune: bool,
    allow_delete_enabled: bool,
    allow_empty: bool,
    parallelism: int,
    yes: bool,
    refetch: bool,
    strict: bool,
    lock_timeout: float,
    format: str,
) -> None:
    """Make the target match the files, or apply a plan saved by plan -o.

    Asks for confirmation on a terminal; never without one, or with --yes.
    """
    from reconciler import config
    from reconciler.core import diff
    from reconciler.core import execute as executor
    from reconciler.core.plan import Report, only_fetches_remain
    from reconciler.output import planfile, render

    saved = None
    files = file
    if saved_plan is not None:
        if saved_plan.endswith((".yaml", ".yml")):
            raise click.UsageError(
                f"{saved_plan} looks like a providers file; apply it with -f {saved_plan} "
                "(the argument is a plan saved by 'reconcile plan -o')"
            )
        if files:
            raise click.UsageError("give either a saved plan or -f files, not both")
        if prune or allow_delete_enabled or allow_empty or refetch:
            raise click.UsageError(
                "a saved plan is applied with the options it was made with; give --prune, "
                "--allow-* or --refetch to 'reconcile plan' instead"
            )
        saved = planfile.read(saved_plan)
        files = tuple(planfile.files_of(saved))
        options = planfile.options_of(saved)
        if target_args.url is None:
            target_args = replace(target_args, url=saved["target"])
    else:
        options = _diff_opts(
            prune=prune,
            allow_delete_enabled=allow_delete_enabled,
            allow_empty=allow_empty,
            refetch=refetch,
        )
    desired = config.load(files)
    target = target_args.open(parallelism=parallelism, lazy=True)
    try:
        with target.lock(lock_timeout):
            observed = target.observe()
            the_plan = diff.make_plan(desired, observed, options)
            if saved is not None:
                planfile.check(
                    saved,
                    desired=desired,
                    observed=observed,
                    plan=the_plan,
                    target=target.description,
                )
            # With --format json, stdout is the report and the plan goes to stderr.
            out = sys.stdout if format == "text" else sys.stderr
            text = render.plan_text(the_plan, target=target.description, colour=_colour(out))
            click.echo(text, nl=False, file=out)
            if not the_plan.actions:
                if format == "json":
                    nothing = Report(converged=True, remaining=the_plan)
                    click.echo(render.report_json(nothing), nl=False)
                return
            # Resending what the target cannot report changes nothing anyone could review:
            # no question for that alone.
            interactive = not yes and sys.stdin.isatty() and sys.stdout.isatty()
            if (
                interactive
                and not the_plan.is_empty
                and not click.confirm("Apply these changes?", default=False)
            ):
                _err("Apply cancelled; nothing was changed.")
                sys.exit(EXIT_ERROR)
            report = executor.converge(
                the_plan,
                target,
                lambda: diff.make_plan(desired, target.observe(), replace(options, refetch=False)),
                parallelism=parallelism,
                progress=_progress(len(the_plan.actions)),
            )
    finally:
        target.close()
    if format == "json":
        click.echo(render.report_json(report), nl=False)
    else:
        click.echo(render.report_text(report), nl=False)
    if report.failed:
        sys.exit(EXIT_ERROR)
    if not report.converged and not only_fetches_remain(report):
        sys.exit(EXIT_ERROR)
    if strict and report.by_status("warning"):
        sys.exit(EXIT_ERROR)


@cli.command()
@target_options
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Write to this file.")
def export(target_args: TargetArgs, out: str | None) -> None:
    """Write the target's providers as a providers.yaml (keys as ${VAR} references)."""
    from reconciler.output.export import export as export_yaml

    # An export of a store that is not there would write an empty file over a real one.
    target = target_args.open(lazy=True, must_exist=True)
    try:
        text, warnings = export_yaml(target.observe(), target=target.description)
    finally:
        target.close()
    for warning in warnings:
        _err(f"Warning: {warning}")
    if out:
        write_file(out, text)
        _err(f"Wrote {out}.")
    else:
        click.echo(scrub(text), nl=False)


DEFAULT_STATE = ".reconcile/sandbox.db"


@cli.command()
@click.option(
    "--state",
    type=click.Path(dir_okay=False),
    default=DEFAULT_STATE,
    show_default=True,
    help="The sandbox's embedded store.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port; 0 picks a free one.",
)
def serve(state: str, host: str, port: int) -> None:
    """Run the ClaraVerse provider API over an embedded store: a sandbox for the flow."""
    from pathlib import Path

    from reconciler.sandbox import run

    def ready(url: str) -> None:
        _err(run.startup_message(Path(state), url))

    run.serve(Path(state), host, port, on_ready=ready)


@cli.command()
@click.option(
    "--state",
    type=click.Path(dir_okay=False),
    default=DEFAULT_STATE,
    show_default=True,
    help="The sandbox's embedded store.",
)
@click.option("--email", default="admin@localhost", show_default=True, help="The account.")
@click.option(
    "--role",
    type=click.Choice(["admin", "user"]),
    default="admin",
    show_default=True,
    help="Role of a new account.",
)
@click.option(
    "--password-env",
    metavar="VAR",
    help="Set the account's password (for /api/auth/login) from this variable.",
)
def token(state: str, email: str, role: str, password_env: str | None) -> None:
    """Print a new access token for a sandbox account (created if missing)."""
    from pathlib import Path

    from reconciler.sandbox.accounts import Accounts
    from reconciler.targets.sqlite import Store

    password = None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise ReconcilerError(f"--password-env {password_env}: the variable is not set")
    if not Path(state).exists():
        _err(f"Created the sandbox store {state} (serve it with: reconcile serve --state {state})")
    store = Store(Path(state))
    try:
        click.echo(Accounts(store).account_token(email=email, role=role, password=password))  # type: ignore[arg-type]
    finally:
        store.close()


def _progress(total: int) -> Callable[[Any], None] | None:
    """Progress on stderr for applies of more than a few actions: a bar on a terminal,
    a line per finished action otherwise (CI logs)."""
    if total <= 3:
        return None
    done = 0
    lock = threading.Lock()
    bar = sys.stderr.isatty()

    def report(outcome: Any) -> None:
        nonlocal done
        with lock:
            done += 1
            what = f"{outcome.action.kind} {outcome.action.provider}: {outcome.status}"
            if bar:
                filled = int(30 * done / total)
                line = f"[{'#' * filled}{' ' * (30 - filled)}] {done}/{total} {what}"
                click.echo(f"\r\033[K{scrub(line)[:120]}", err=True, nl=done == total)
            else:
                _err(f"[{done}/{total}] {what}")

    return report


def main() -> NoReturn:
    """Run the CLI; the one place that turns exceptions into messages and exit codes."""
    debug = "--debug" in sys.argv[1:] or os.environ.get("RECONCILE_DEBUG") == "1"
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _err("Interrupted.")
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        _err("Interrupted.")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        # Exit 2 means "the plan has changes" (--detailed-exitcode): a usage error is 1.
        sys.exit(EXIT_ERROR)
    except ReconcilerError as exc:
        if debug:
            import traceback

            _err(traceback.format_exc())
        _err(f"Error: {exc}")
        sys.exit(EXIT_ERROR)
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            import traceback

            _err(traceback.format_exc())
        _err(
            f"Internal error (a bug in reconciler): {type(exc).__name__}: {exc}\n"
            "Rerun with --debug for the traceback, and please report it."
        )
        sys.exit(EXIT_BUG)
    sys.exit(EXIT_OK)
