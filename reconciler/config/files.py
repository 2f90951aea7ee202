"""The files to read: folders expanded, each file read once, as a YAML mapping."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path as FsPath

from reconciler.config import yamlsource
from reconciler.config.document import TYPE_NAMES, Document
from reconciler.errors import ConfigError, Problem

DEFAULT_FILE = "providers.yaml"


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files named directly, plus the *.yaml / *.yml files of named folders, in order."""
    out: list[str] = []
    for raw in paths:
        p = FsPath(raw)
        if p.is_dir():
            # Hidden files (editor backups, .yamllint.yaml) are not providers files.
            found = sorted(
                f
                for f in p.iterdir()
                if f.suffix.lower() in (".yaml", ".yml")
                and not f.name.startswith(".")
                and f.is_file()
            )
            if not found:
                message = (
                    "the folder holds no *.yaml or *.yml file; pass the folder that holds "
                    "your providers files, or the files themselves"
                )
                raise ConfigError([Problem(file=raw, message=message)])
            out.extend(str(f) for f in found)
        else:
            out.append(raw)
    # The same file named twice (-f a.yaml -f ./a.yaml) is read once, not reported as
    # declaring every provider twice.
    seen: set[FsPath] = set()
    unique = []
    for f in out:
        key = FsPath(f).resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def read(file: str, *, named: bool) -> tuple[Document | None, list[Problem]]:
    """One file as a YAML mapping (or None) and the problems found; ``named`` says whether
    the user named the file or it is the default one, for the hint when it is missing."""
    try:
        text = FsPath(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "check the path" if named else "name your providers file with -f FILE"
        return None, [Problem(file=file, message=f"no such file; {hint}")]
    except IsADirectoryError:  # pragma: no cover - expand_paths expands folders
        return None, [Problem(file=file, message="is a folder")]
    except UnicodeDecodeError:
        return None, [Problem(file=file, message="is not UTF-8 text; save it as UTF-8")]
    except OSError as exc:
        return None, [Problem(file=file, message=f"cannot be read: {exc.strerror}")]
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
