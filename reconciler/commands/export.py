"""``reconcile export``: the target's providers as a providers.yaml, keys as ${VAR}
references; the way in for an existing installation."""

from __future__ import annotations

from dataclasses import replace

from reconciler.commands.common import EXIT_OK, Console, observe, write_file
from reconciler.output.export import export as export_yaml
from reconciler.secrets import scrub
from reconciler.targets.base import TargetOptions


def export(
    *,
    target_url: str | None,
    target_options: TargetOptions,
    out_file: str | None,
    console: Console,
) -> int:
    """Write the target as YAML to ``out_file``, or to stdout; EXIT_OK."""
    # must_exist: an export of a store that is not there would write an empty file over a
    # real one (a typo in --target).
    observed, description = observe(target_url, replace(target_options, lazy=True, must_exist=True))
    text, warnings = export_yaml(observed, target=description)
    for warning in warnings:
        console.warn(warning)
    if out_file:
        write_file(out_file, text)
        console.err(f"Wrote {out_file}.")
    else:
        console.out(scrub(text))
    return EXIT_OK
