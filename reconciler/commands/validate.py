"""``reconcile validate``: check files against the schema and the rules; contacts nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from reconciler.commands.common import EXIT_OK, Console
from reconciler.core.model import Desired
from reconciler.errors import ConfigError, Problem
from reconciler.output.render import problems_json

ValidateFormat = Literal["text", "json"]


def validate(
    files: Sequence[str],
    *,
    require_env: bool,
    format: ValidateFormat,
    console: Console,
    each: bool = False,
    environment: str | None = None,
) -> int:
    """Load the files and report what is wrong; raises ConfigError when they are invalid.
    With ``each``, every file is a configuration of its own (see ``configurations``).
    Without ``environment``, every environment the files declare is checked."""
    if each:
        return _validate_each(
            files, require_env=require_env, format=format, console=console, environment=environment
        )
    try:
        loaded = _environments(files, require_env, environment)
    except ConfigError as exc:
        if format == "json":
            # stdout stays machine-readable; the CLI still prints the error on stderr.
            console.out(problems_json(exc.problems, []))
        raise
    warnings = _warnings(loaded)
    for warning in warnings:
        console.warn(warning)
    if format == "json":
        console.out(problems_json([], warnings))
    else:
        for desired in loaded:
            count, files_read = len(desired.providers), len(desired.files)
            console.out(
                f"Valid{_for(desired)}: {count} provider{'s' if count != 1 else ''} in "
                f"{files_read} file{'s' if files_read != 1 else ''}.\n"
            )
    return EXIT_OK


def _environments(
    files: Sequence[str], require_env: bool, environment: str | None
) -> list[Desired]:
    """The configuration of ``environment``, or of every environment the files declare."""
    from reconciler import config

    if environment is not None:
        return [config.load(files, require_env=require_env, environment=environment)]
    return config.load_environments(files, require_env=require_env)


def _for(desired: Desired) -> str:
    return f" (environment {desired.environment})" if desired.environment else ""


def _warnings(loaded: Sequence[Desired]) -> list[str]:
    """Each warning once, named with its environments unless every one has it."""
    from reconciler.config.environments import per_environment

    found = per_environment({d.environment or "": d.warnings for d in loaded})
    return [f"{where}: {warning}" if where else warning for warning, where in found]


def configurations(paths: Sequence[str]) -> list[str]:
    """What ``validate --each`` checks, one at a time: each file or folder on its own
    (``providers-staging.yaml`` and ``providers-prod.yaml`` may both declare OpenAI), but
    a file of a ``providers.d/`` folder as that whole folder, which is one configuration:
    pre-commit names only the files that changed, and a duplicate may be in another."""
    out: dict[str, None] = {}
    for raw in paths:
        path = Path(raw)
        in_folder = path.parent.name == "providers.d" and not path.is_dir()
        out[str(path.parent if in_folder else path)] = None
    return list(out)


def _validate_each(
    files: Sequence[str],
    *,
    require_env: bool,
    format: ValidateFormat,
    console: Console,
    environment: str | None,
) -> int:
    problems: list[Problem] = []
    warnings: list[str] = []
    valid: list[str] = []
    for configuration in configurations(files) or [""]:
        named = [configuration] if configuration else []
        try:
            loaded = _environments(named, require_env, environment)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        own = _warnings(loaded)
        warnings.extend(own)
        for warning in own:
            console.warn(warning)
        for desired in loaded:
            count, read = len(desired.providers), len(desired.files)
            folder = configuration and Path(configuration).is_dir()
            files_read = f" ({read} file{'s' if read != 1 else ''})" if folder else ""
            valid.append(
                f"Valid{_for(desired)}: {count} provider{'s' if count != 1 else ''} in "
                f"{configuration or desired.files[0]}{files_read}.\n"
            )
    if format == "json":
        console.out(problems_json(problems, warnings))
    else:
        console.out("".join(valid))
    if problems:
        raise ConfigError(problems)
    return EXIT_OK
