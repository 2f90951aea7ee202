"""``reconcile export``: the target's providers as a providers.yaml, keys as ${VAR}
references; the way in for an existing installation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from reconciler.commands.common import EXIT_OK, Console, observe, write_file
from reconciler.errors import ReconcilerError, UsageError
from reconciler.output.export import export as export_yaml
from reconciler.output.export import key_variables
from reconciler.secrets import remember, scrub
from reconciler.targets.base import TargetOptions


def export(
    *,
    environment: str | None = None,
    files: Sequence[str] = (),
    target_url: str | None,
    target_options: TargetOptions,
    out_file: str | None,
    force: bool = False,
    console: Console,
) -> int:
    """Write the target as YAML to ``out_file`` (a new file, unless ``force``), or to
    stdout; EXIT_OK. With ``environment``, the default target is the one ``files``
    declare for it."""
    if force and not out_file:
        raise UsageError("--force overwrites the file of -o FILE; there is none")
    if files and environment is None:
        raise UsageError("-f names the files that declare the environments of --env; give --env")
    if environment is not None and target_url is None:
        from reconciler import config

        target_url = config.environment_target(files, environment)
    if out_file and not force and os.path.lexists(out_file):
        # Checked before the target is contacted too: the file is most often the
        # providers.yaml being written by hand.
        raise ReconcilerError(_exists(out_file))
    # must_exist: an export of a store that is not there would write an empty file over a
    # real one (a typo in --target).
    observed, description = observe(
        target_url, replace(target_options, lazy=True, must_exist=True), None
    )
    # A ClaraVerse server reports no key, so this run knows none to find in a model id an
    # upstream echoed it into; where the variables the file will name are set (CI), their
    # values are the keys.
    for name in key_variables(observed):
        if os.environ.get(name):
            remember(os.environ[name])
    text, warnings = export_yaml(observed, target=description, environment=environment)
    for warning in warnings:
        console.warn(warning)
    if out_file:
        write_file(out_file, text, exists=None if force else _exists(out_file))
        console.err(f"Wrote {out_file}.")
    else:
        console.out(scrub(text))
    return EXIT_OK


def _exists(path: str) -> str:
    return f"{path} already exists; pass --force to overwrite it, or write to another file"
