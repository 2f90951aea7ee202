"""A YAML document as plain values, with the place in the file of every value.

Every stage of loading (substitution, the schema check, building specs, cross-checks)
reports its problems through a Document, so that each message names file, line, column
and the path into the document (``providers[2].base_url``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.core.model import Location
from reconciler.errors import Problem

PathPart = str | int
Path = tuple[PathPart, ...]

# How messages name the kind of a plain YAML value ("expected a string, got a number").
TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "a mapping",
    type(None): "nothing (null)",
}


# Characters that change how the text around them is shown: C0 and C1 controls (line
# breaks, tabs, escape sequences), DEL, and the bidirectional marks, embeddings, overrides
# and isolates that can make a name read differently from what it is. The schema's
# pattern on names lists the same set (a test keeps them equal).
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# How much of a value a message quotes: enough to recognise it, never a whole file.
SHOWN_LENGTH = 80
# How many parts of a path a message shows: real paths have five or six.
_SHOWN_PARTS = 12


def escape(char: str) -> str:
    """``char`` as it would be written in a double-quoted YAML string (\\n, \\u202e)."""
    return _ESCAPES.get(char, f"\\u{ord(char):04x}")


def shown(text: str, limit: int = SHOWN_LENGTH) -> str:
    """``text`` fit to quote in a one-line message: cut after ``limit`` characters (with
    "…"), unprintable characters written as escapes."""
    cut = text[:limit]
    return UNPRINTABLE.sub(lambda m: escape(m.group(0)), cut) + ("…" if len(text) > limit else "")


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column."""

    line: int
    column: int


def node_mark(node: yaml.Node) -> Mark:
    """Where ``node`` starts, 1-based (PyYAML counts from 0)."""
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def format_path(path: Path) -> str:
    """``("providers", 2, "base_url")`` → ``providers[2].base_url``; keys are cut and
    escaped as in ``shown``, and a very deep path ends in "…"."""
    out = ""
    for part in path[:_SHOWN_PARTS]:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = shown(part, 40)
            out += f".{key}" if out else key
    return out + ("…" if len(path) > _SHOWN_PARTS else "")


@dataclass
class Document:
    """A YAML document as plain values, with the location of each value by path."""

    file: str
    data: Any
    # The node behind each value: its Mark is made only when an error needs it.
    marks: dict[Path, yaml.Node]
    # Paths whose value could not be read as written (a refused tag, a bad merge...): the
    # problem is already reported, so later checks should not add a second one there.
    broken: frozenset[Path] = frozenset()
    # An environment's effective document (config/environments.py) holds merged entries:
    # where each value came from in the file, by the path of the value or of an ancestor.
    # Empty: every path is the file's own.
    origin: dict[Path, Path] = field(default_factory=dict)

    def source(self, path: Path) -> Path:
        """Where the value at ``path`` is written in the file (an override's path for a
        value an environment overrides)."""
        if not self.origin:
            return path
        for end in range(len(path), -1, -1):
            found = self.origin.get(path[:end])
            if found is not None:
                return (*found, *path[end:])
        return path

    def mark(self, path: Path) -> Mark | None:
        """The mark of ``path``, or of its nearest ancestor that has one."""
        path = self.source(path)
        while True:
            if path in self.marks:
                return node_mark(self.marks[path])
            if not path:
                return None
            path = path[:-1]

    def location(self, path: Path) -> Location:
        """Where ``path`` (or its nearest marked ancestor) is in the file."""
        mark = self.mark(path)
        return Location(
            file=self.file, line=mark.line if mark else None, column=mark.column if mark else None
        )

    def problem(self, path: Path, message: str) -> Problem:
        """A Problem located at ``path`` in this document."""
        where = self.location(path)
        return Problem(
            file=self.file,
            line=where.line,
            column=where.column,
            path=format_path(self.source(path)),
            message=message,
        )

    def raw(self, path: Path) -> Any:
        """The value at ``path`` as written in the file, before substitution; None if absent."""
        value: Any = self.data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    def as_written(self, path: Path, value: Any) -> Any:
        """What a message may quote: the text as written when ``${...}`` was substituted
        into ``value`` (the value may be a secret), else the value itself."""
        raw = self.raw(path)
        return raw if isinstance(raw, str) and raw != value and "${" in raw else value
