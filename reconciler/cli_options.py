"""The click options several commands share, declared once and stacked where needed.

Each group of options reaches the command as one typed value: the target options as
``target_url`` and ``TargetOptions``, the diff's flags as ``Options``. An option left at
its default is passed as "not given" (None), so that a target refuses only what the user
asked for.
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


def _given(ctx: click.Context, name: str, value: T) -> T | None:
    """``value`` if the user gave it (command line or environment); None for a default,
    so that a target can refuse only what the user asked for."""
    source = ctx.get_parameter_source(name)
    return value if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT) else None


def file_option(f: F) -> F:
    """-f/--file, repeatable."""
    return click.option(
        "-f",
        "--file",
        "file",
        multiple=True,
        type=click.Path(),
        help="providers.yaml file or folder of *.yaml files; repeatable. Default: providers.yaml.",
    )(f)


def _seconds_option(name: str, default: float, text: str) -> Callable[[F], F]:
    return click.option(
        name, type=click.FloatRange(0.1), default=default, show_default=True, help=text
    )


def target_options(f: F) -> F:
    """--target and the options of opening it, passed on as ``target_url`` and
    ``target_options`` (which also takes the command's --parallelism, if it has one)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        kwargs["target_options"] = TargetOptions(
            ca_cert=kwargs.pop("ca_cert"),
            timeout=_given(ctx, "timeout", kwargs.pop("timeout")),
            fetch_timeout=_given(ctx, "fetch_timeout", kwargs.pop("fetch_timeout")),
            fetch_retries=_given(ctx, "fetch_retries", kwargs.pop("fetch_retries")),
            max_rate=_given(ctx, "max_rate", kwargs.pop("max_rate", None)),
            parallelism=kwargs.pop("parallelism", DEFAULT_PARALLELISM),
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
            _seconds_option(
                "--timeout", DEFAULT_TIMEOUT, "Seconds to wait for a ClaraVerse server's answer."
            ),
            _seconds_option(
                "--fetch-timeout",
                DEFAULT_FETCH_TIMEOUT,
                "Seconds to wait for an upstream's model listing (embedded target).",
            ),
            click.option(
                "--fetch-retries",
                type=click.IntRange(0, 10),
                default=DEFAULT_FETCH_RETRIES,
                show_default=True,
                help="Retries of a model listing after a connection error, 429, 502, 503 "
                "or 504 (embedded target).",
            ),
        ]
    ):
        decorated = option(decorated)
    return cast(F, decorated)


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
        decorated = click.option(decl, is_flag=True, help=text)(decorated)
    return cast(F, decorated)


def state_option(f: F) -> F:
    """--state: the sandbox's embedded store."""
    return click.option(
        "--state",
        type=click.Path(dir_okay=False),
        default=DEFAULT_STATE,
        show_default=True,
        help="The sandbox's embedded store.",
    )(f)
