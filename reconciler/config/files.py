"""The files to read: folders expanded, each file read once, as a YAML mapping."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Sequence
from pathlib import Path as FsPath

from reconciler.config import yamlsource
from reconciler.config.document import TYPE_NAMES, Document
from reconciler.errors import ConfigError, Problem

DEFAULT_FILE = "providers.yaml"
# Seven times what 10,000 providers take (1.4 MB), and a bound: a huge or endless file is
# refused instead of read into memory, and the densest 10 MB file (a million broken
# one-word entries) is still checked in well under a minute.
MAX_BYTES = 10 * 1024 * 1024
# Opened without blocking (a FIFO would wait for a writer) or becoming our terminal.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_BINARY", 0)
)


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files named directly, plus the *.yaml / *.yml files of named folders, in order."""
    out: list[str] = []
    for raw in paths:
        if not raw.strip():
            # `-f "$FILE"` with FILE unset would otherwise read the working directory.
            message = (
                "an empty file name was given (-f ''): is a variable that should name the "
                "file unset? Name a providers file or a folder of them"
            )
            raise ConfigError([Problem(file="-f", message=message)])
        p = FsPath(raw)
        if p.is_dir():
            out.extend(str(f) for f in _folder(p, raw))
        else:
            out.append(raw)
    # The same file named twice (-f a.yaml -f ./a.yaml) is read once, not reported as
    # declaring every provider twice.
    seen: set[FsPath] = set()
    unique = []
    for f in out:
        try:
            key = FsPath(f).resolve()
        except (OSError, RuntimeError, ValueError):  # a symlink loop: reading it says so
            key = FsPath(os.path.abspath(f))
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _folder(folder: FsPath, raw: str) -> list[FsPath]:
    """The providers files of ``folder``, which ``raw`` names; ConfigError if none."""
    try:
        # Hidden files (editor backups, .yamllint.yaml) are not providers files.
        found = sorted(
            f
            for f in folder.iterdir()
            if f.suffix.lower() in (".yaml", ".yml") and not f.name.startswith(".") and f.is_file()
        )
    except OSError as exc:
        message = f"the folder cannot be read: {exc.strerror}"
        raise ConfigError([Problem(file=raw, message=message)]) from None
    if not found:
        message = (
            "the folder holds no *.yaml or *.yml file; pass the folder that holds "
            "your providers files, or the files themselves"
        )
        raise ConfigError([Problem(file=raw, message=message)])
    return found


def read(file: str, *, named: bool) -> tuple[Document | None, list[Problem]]:
    """One file as a YAML mapping (or None) and the problems found; ``named`` says whether
    the user named the file or it is the default one, for the hint when it is missing."""
    text = _text(file, named=named)
    if isinstance(text, Problem):
        return None, [text]
    doc, problems = yamlsource.load(file, text)
    if doc is None or isinstance(doc.data, dict):
        return doc, problems
    if () not in doc.broken:  # else a refused tag on the whole document: already reported
        hint = (
            ": write 'version: 1' and 'providers:' first, and indent the list under them"
            if isinstance(doc.data, list)
            else ""
        )
        problems.append(
            doc.problem(
                (),
                "the file must be a mapping with 'version: 1' and 'providers:', "
                f"not {TYPE_NAMES.get(type(doc.data), 'a single value')}{hint}",
            )
        )
    return None, problems


def _text(file: str, *, named: bool) -> str | Problem:
    """The text of ``file``, or why it cannot be read. Only regular files are read: a FIFO
    would block, /dev/zero never ends; both are checked before opening and on what opened."""
    try:
        refused = _refused(os.stat(file))
        if refused:
            return Problem(file=file, message=refused)
        fd = os.open(file, _OPEN_FLAGS)
        with os.fdopen(fd, "rb") as f:
            # The path may have been replaced since the check above.
            refused = _refused(os.fstat(f.fileno()))
            if refused:
                return Problem(file=file, message=refused)
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        hint = "check the path" if named else "name your providers file with -f FILE"
        return Problem(file=file, message=f"no such file; {hint}")
    except OSError as exc:
        return Problem(file=file, message=f"cannot be read: {exc.strerror}")
    except ValueError:  # a path with a NUL character, which no file has
        return Problem(file=file, message="no such file (the path holds a NUL character)")
    if len(data) > MAX_BYTES:
        return Problem(file=file, message=_TOO_BIG)
    try:
        # As Path.read_text reads: universal newlines, so \r\n counts as one line break.
        return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()
    except UnicodeDecodeError:
        return Problem(file=file, message="is not UTF-8 text; save it as UTF-8")


_TOO_BIG = (
    f"is larger than {MAX_BYTES // (1024 * 1024)} MB, far more than a providers file needs; "
    "split it into several files (pass them all with -f, or pass their folder)"
)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refused(info: os.stat_result) -> str | None:
    """Why a file with this status is not read, or None for a regular file of fair size."""
    if stat.S_ISREG(info.st_mode):
        return _TOO_BIG if info.st_size > MAX_BYTES else None
    kind = next((name for test, name in _KINDS if test(info.st_mode)), None)
    what = f"is {kind}, not a regular file" if kind else "is not a regular file"
    return f"{what}: pass the providers file itself"
