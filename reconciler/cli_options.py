"""The click options several commands share, declared once and stacked where needed.

Each group of options reaches the command as one typed value: the target options as
``target_url`` and ``TargetOptions``, the diff's flags as ``Options``. An option left at
its default is passed as "not given" (None), so that a target refuses only what the user
asked for.

Every option is an ``EnvOption`` (declare them with ``option``): its help names the
environment variable that also sets it, and an invalid value that came from that
variable is reported with the variable's name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click
from click.core import ParameterSource

from reconciler.targets.base import (
    DEFAULT_FETCH_RETRIES,
    DEFAULT_FETCH_TIMEOUT,
    DEFAULT_PARALLELISM,
    DEFAULT_TIMEOUT,
    TargetOptions,
)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

DEFAULT_STATE = ".reconcile/sandbox.db"


def envvar_of(param: click.Parameter, ctx: click.Context) -> str | None:
    """The environment variable that sets ``param``: its own, or the one click derives
    from the prefix (``RECONCILE_APPLY_PARALLELISM``)."""
    if isinstance(param.envvar, str):
        return param.envvar
    if isinstance(param, click.Option) and param.allow_from_autoenv and param.name:
        prefix = ctx.auto_envvar_prefix
        return f"{prefix}_{param.name.upper()}" if prefix else None
    return None


def from_environment(param: click.Parameter, ctx: click.Context) -> str | None:
    """The variable ``param``'s value came from, or None when it did not come from one."""
    if param.name is None:
        return None
    if ctx.get_parameter_source(param.name) is not ParameterSource.ENVIRONMENT:
        return None
    return envvar_of(param, ctx)


class EnvOption(click.Option):
    """An option whose help shows its environment variable, and whose invalid value, when
    it came from that variable, is reported with the variable's name: a value set in CI's
    environment is easy to forget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("show_envvar", True)
        super().__init__(*args, **kwargs)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = " / ".join(f"'{opt}'" for opt in self.opts)
        variable = None if ctx is None else from_environment(self, ctx)
        return hint if variable is None else f"{hint} (from the environment variable {variable})"


option = functools.partial(click.option, cls=EnvOption)
"""``click.option`` for an ``EnvOption``: how every option of the CLI is declared."""


def _given(ctx: click.Context, name: str, value: T) -> T | None:
    """``value`` if the user gave it (command line or environment); None for a default,
    so that a target can refuse only what the user asked for."""
    source = ctx.get_parameter_source(name)
    return value if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT) else None


def file_option(f: F) -> F:
    """-f/--file, repeatable."""
    return option(
        "-f",
        "--file",
        "file",
        multiple=True,
        type=click.Path(),
        help="providers.yaml file or folder of *.yaml files; repeatable. Default: providers.yaml.",
    )(f)


_ENV_HELP = (
    "The environment to use, of those the files declare (environments:); its target is "
    "the default target."
)


def env_option(text: str = _ENV_HELP) -> Callable[[F], F]:
    """--env NAME (RECONCILE_ENV, like RECONCILE_TARGET one variable for every command):
    which of the environments the files declare."""
    return option("--env", "environment", metavar="NAME", envvar="RECONCILE_ENV", help=text)


VALIDATE_ENV_HELP = "Check only this environment. Default: every environment the files declare."
EXPORT_ENV_HELP = (
    "Export this environment's target (its target: in the files of -f), for a file of "
    "this environment."
)


def environment_files_option(f: F) -> F:
    """-f/--file of export: where the environments --env names are declared."""
    return option(
        "-f",
        "--file",
        "file",
        multiple=True,
        type=click.Path(),
        help="With --env: the files that declare the environments; repeatable. Default: "
        "providers.yaml.",
    )(f)


def format_option(choices: list[str], text: str) -> Callable[[F], F]:
    """--format, one of ``choices`` (the first is the default)."""
    return option(
        "--format",
        "format",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help=text,
    )


def pace_options(f: F) -> F:
    """--parallelism and --max-rate (apply), passed on in ``TargetOptions``."""
    f = option(
        "--max-rate",
        type=click.FloatRange(1),
        metavar="N",
        help="Requests per minute to a ClaraVerse server, from the start. Default: full speed "
        "until the server answers 429, then under the rate it accepted.",
    )(f)
    return option(
        "--parallelism",
        type=click.IntRange(1, 64),
        default=DEFAULT_PARALLELISM,
        show_default=True,
        help="Providers changed at once.",
    )(f)


def _seconds_option(name: str, default: float, text: str) -> Callable[[F], F]:
    return option(name, type=click.FloatRange(0.1), default=default, show_default=True, help=text)


def target_options(f: F) -> F:
    """--target and the options of opening it, passed on as ``target_url`` and
    ``target_options`` (which also takes the command's --parallelism and fetch options,
    if it has them)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        kwargs["target_options"] = TargetOptions(
            ca_cert=kwargs.pop("ca_cert"),
            timeout=_given(ctx, "timeout", kwargs.pop("timeout")),
            fetch_timeout=_given(ctx, "fetch_timeout", kwargs.pop("fetch_timeout", None)),
            fetch_retries=_given(ctx, "fetch_retries", kwargs.pop("fetch_retries", None)),
            max_rate=_given(ctx, "max_rate", kwargs.pop("max_rate", None)),
            parallelism=kwargs.pop("parallelism", DEFAULT_PARALLELISM),
        )
        return f(*args, **kwargs)

    decorated: Any = wrapper
    for declare in reversed(
        [
            option(
                "--target",
                "target_url",
                metavar="URL",
                envvar="RECONCILE_TARGET",
                help="sqlite:///path/state.db (default sqlite:///.reconcile/state.db) or "
                "https://clara.example.com.",
            ),
            option(
                "--ca-cert",
                type=click.Path(exists=True, dir_okay=False),
                help="CA bundle for a ClaraVerse server behind a private CA.",
            ),
            _seconds_option(
                "--timeout", DEFAULT_TIMEOUT, "Seconds to wait for a ClaraVerse server's answer."
            ),
        ]
    ):
        decorated = declare(decorated)
    return cast(F, decorated)


def fetch_options(f: F) -> F:
    """--fetch-timeout and --fetch-retries, for the commands that fetch models (apply);
    stacked under ``target_options``, which passes them on in ``TargetOptions``."""
    f = option(
        "--fetch-retries",
        type=click.IntRange(0, 10),
        default=DEFAULT_FETCH_RETRIES,
        show_default=True,
        help="Retries of a model listing after a connection error, 429, 502, 503 "
        "or 504 (embedded target).",
    )(f)
    return _seconds_option(
        "--fetch-timeout",
        DEFAULT_FETCH_TIMEOUT,
        "Seconds to wait for an upstream's model listing (embedded target).",
    )(f)


def diff_options(f: F) -> F:
    """The diff's flags, passed on as ``options`` (with the command's --refetch, if any)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from reconciler.core.plan import Options

        kwargs["options"] = Options(
            prune=kwargs.pop("prune"),
            allow_delete_enabled=kwargs.pop("allow_delete_enabled"),
            allow_empty=kwargs.pop("allow_empty"),
            refetch=kwargs.pop("refetch", False),
        )
        return f(*args, **kwargs)

    decorated: Any = wrapper
    for decl, text in reversed(
        [
            ("--prune", "Delete providers on the target that no file declares."),
            ("--allow-delete-enabled", "Allow deleting providers that are still enabled."),
            ("--allow-empty", "Allow --prune when the files declare no provider."),
        ]
    ):
        decorated = option(decl, is_flag=True, help=text)(decorated)
    return cast(F, decorated)


def state_option(f: F) -> F:
    """--state: the sandbox's embedded store."""
    return option(
        "--state",
        type=click.Path(dir_okay=False),
        default=DEFAULT_STATE,
        show_default=True,
        help="The sandbox's embedded store.",
    )(f)
