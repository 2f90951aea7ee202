"""``reconcile import``: another system's configuration as a providers.yaml, keys as
``${VAR}`` references; the way in from ClaraVerse's providers.json, LiteLLM, LibreChat or
Open WebUI."""

from __future__ import annotations

import os

from reconciler.commands.common import EXIT_OK, Console, write_file
from reconciler.errors import ReconcilerError
from reconciler.importers import Format, import_file, lines_of
from reconciler.importers.writer import LABELS
from reconciler.secrets import scrub

SourceFormat = Format


def import_(
    file: str,
    *,
    source_format: SourceFormat | None,
    out_file: str | None,
    force: bool,
    console: Console,
) -> int:
    """Write ``file`` as providers.yaml to ``out_file`` (never over a file without
    ``force``), or to stdout; what was not carried and the variables to set go to stderr."""
    if out_file:
        _check_out_file(file, out_file, force)
    fmt, written = import_file(file, source_format)
    count = written.providers
    console.err(
        f"Imported {count} provider{'s' if count != 1 else ''} from {file} ({LABELS[fmt]})."
    )
    for line in lines_of(written):
        console.err(line)
    if out_file:
        # Checked again by the write: a file made since the check is not overwritten.
        write_file(out_file, written.text, exists=None if force else _exists(out_file))
        console.err(f"Wrote {out_file}.")
    else:
        console.out(scrub(written.text))
    return EXIT_OK


def _check_out_file(file: str, out_file: str, force: bool) -> None:
    """Refuse to overwrite: a file without --force, and the source itself ever."""
    if not os.path.exists(out_file):
        return
    if os.path.exists(file) and os.path.samefile(file, out_file):
        raise ReconcilerError(f"-o {out_file} is the file being imported; name another file")
    if not force:
        raise ReconcilerError(_exists(out_file))


def _exists(out_file: str) -> str:
    return f"{out_file} exists; add --force to overwrite it"
