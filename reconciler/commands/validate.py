"""``reconcile validate``: check files against the schema and the rules; contacts nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from reconciler.commands.common import EXIT_OK, Console, load
from reconciler.errors import ConfigError
from reconciler.output.render import problems_json

ValidateFormat = Literal["text", "json"]


def validate(
    files: Sequence[str], *, require_env: bool, format: ValidateFormat, console: Console
) -> int:
    """Load the files and report what is wrong; raises ConfigError when they are invalid."""
    try:
        desired = load(files, require_env=require_env)
    except ConfigError as exc:
        if format == "json":
            # stdout stays machine-readable; the CLI still prints the error on stderr.
            console.out(problems_json(exc.problems, []))
        raise
    for warning in desired.warnings:
        console.warn(warning)
    if format == "json":
        console.out(problems_json([], desired.warnings))
    else:
        count, files_read = len(desired.providers), len(desired.files)
        console.out(
            f"Valid: {count} provider{'s' if count != 1 else ''} in "
            f"{files_read} file{'s' if files_read != 1 else ''}.\n"
        )
    return EXIT_OK
