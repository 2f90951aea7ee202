"""Strict YAML reading: safe tags only, duplicate keys refused, aliases bounded, locations kept.

PyYAML's loaders keep the last of two duplicate keys without a word, and expand aliases
without limit. We compose the node graph (safe, linear in the input) and build plain
values from it ourselves, which lets us refuse both and remember where every value came
from, so that later errors can name file, line and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.errors import Problem

PathPart = str | int
Path = tuple[PathPart, ...]

# Billion-laughs guard: a legitimate file reuses an anchor a handful of times; a bomb
# multiplies its node count exponentially, so a generous linear bound catches it early.
_EXPANSION_FACTOR = 10
_EXPANSION_SLACK = 10_000

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column."""

    line: int
    column: int


@dataclass
class Document:
    """A YAML document as plain values, with the location of each value by path."""

    file: str
    data: Any
    marks: dict[Path, Mark]

    def mark(self, path: Path) -> Mark | None:
        """The mark of ``path``, or of its nearest ancestor that has one."""
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return None
            path = path[:-1]

    def problem(self, path: Path, message: str) -> Problem:
        """A Problem located at ``path`` in this document."""
        mark = self.mark(path)
        return Problem(
            file=self.file,
            line=mark.line if mark else None,
            column=mark.column if mark else None,
            path=format_path(path),
            message=message,
        )


def format_path(path: Path) -> str:
    """``("providers", 2, "base_url")`` → ``providers[2].base_url``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, file: str, distinct_nodes: int) -> None:
        self.file = file
        self.marks: dict[Path, Mark] = {}
        self.problems: list[Problem] = []
        self.visited = 0
        self.limit = _EXPANSION_FACTOR * distinct_nodes + _EXPANSION_SLACK
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.visited += 1
        if self.visited > self.limit:
            raise _TooLarge()
        self.marks[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)

    def _pairs(self, node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node, bool]]:
        """Key/value node pairs, merge keys (``<<: *defaults``) flattened as inherited."""
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        for k, v, _ in self._pairs(source):
                            yield k, v, True
                    else:
                        self.problems.append(self._problem(source, "", "'<<' must merge a mapping"))
            else:
                yield key_node, value_node, False

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, yaml.Node] = {}
        inherited: set[str] = set()
        for key_node, value_node, is_inherited in self._pairs(node):
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(
                    self._problem(key_node, _fmt(path), "a key must be a plain word")
                )
                continue
            key = str(self.constructor.construct_object(key_node))
            if key in seen:
                if is_inherited:
                    continue  # explicit keys override what a merge brings in
                if key not in inherited:
                    first = _mark(seen[key])
                    self.problems.append(
                        self._problem(
                            key_node,
                            _fmt((*path, key)),
                            f"duplicate key '{key}' (first defined at line {first.line}); "
                            "YAML keeps only one of them: remove or rename the other",
                        )
                    )
                    continue
            seen[key] = key_node
            if is_inherited:
                inherited.add(key)
            else:
                inherited.discard(key)
            out[key] = self.build(value_node, (*path, key))
            self.marks[(*path, key)] = _mark(key_node)
        return out

    def _problem(self, node: yaml.Node, path: str, message: str) -> Problem:
        m = _mark(node)
        return Problem(file=self.file, line=m.line, column=m.column, path=path, message=message)


def _fmt(path: Path) -> str:
    return format_path(path)


class _TooLarge(Exception):
    pass


def _count_nodes(node: yaml.Node) -> int:
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack.extend((k, v))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return len(seen)


def _syntax_problem(file: str, text: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    problem = exc.problem or "invalid YAML"
    if mark is not None:
        source_line = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
        indent = source_line[: len(source_line) - len(source_line.lstrip(" \t"))]
        if "\t" in indent or "'\\t'" in problem:
            return Problem(
                file=file,
                line=line,
                column=column,
                path="",
                message="a tab character is used for indentation; YAML allows only spaces",
            )
    context = f" {exc.context}" if exc.context else ""
    return Problem(
        file=file,
        line=line,
        column=column,
        path="",
        message=f"YAML syntax error: {problem}{context}; check the indentation and quoting "
        "around this line",
    )


def load(file: str, text: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document; returns it (or None) and the problems found."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(file, text, exc)]
    except yaml.YAMLError as exc:  # pragma: no cover - non-marked errors are rare
        return None, [Problem(file=file, line=None, column=None, path="", message=str(exc))]
    if not nodes or nodes[0] is None:
        return None, [
            Problem(
                file=file,
                line=None,
                column=None,
                path="",
                message="the file is empty; start it with 'version: 1' and a 'providers:' list",
            )
        ]
    if len(nodes) > 1:
        m = _mark(nodes[1])
        return None, [
            Problem(
                file=file,
                line=m.line,
                column=m.column,
                path="",
                message="the file holds several YAML documents ('---'); put each in its own file",
            )
        ]
    root = nodes[0]
    builder = _Builder(file, _count_nodes(root))
    try:
        data = builder.build(root, ())
    except _TooLarge:
        return None, [
            Problem(
                file=file,
                line=1,
                column=1,
                path="",
                message=f"anchors and aliases expand to more than {builder.limit} values; "
                "this looks like an alias bomb: write the values out instead",
            )
        ]
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        return None, [
            Problem(
                file=file,
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
                path="",
                message=f"{exc.problem}; only plain YAML values are allowed",
            )
        ]
    return Document(file=file, data=data, marks=builder.marks), builder.problems
