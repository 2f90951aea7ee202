"""A YAML document as plain values, with the place in the file of every value.

Every stage of loading (substitution, the schema check, building specs, cross-checks)
reports its problems through a Document, so that each message names file, line, column
and the path into the document (``providers[2].base_url``).
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column."""

    line: int
    column: int


def node_mark(node: yaml.Node) -> Mark:
    """Where ``node`` starts, 1-based (PyYAML counts from 0)."""
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def format_path(path: Path) -> str:
    """``("providers", 2, "base_url")`` → ``providers[2].base_url``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


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

    def mark(self, path: Path) -> Mark | None:
        """The mark of ``path``, or of its nearest ancestor that has one."""
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
            path=format_path(path),
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
