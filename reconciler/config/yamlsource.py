"""Strict YAML reading: safe tags only, duplicate keys refused, aliases bounded, locations kept.

PyYAML's loaders keep the last of two duplicate keys without a word, and expand aliases
without limit. We compose the node graph (safe, linear in the input) and build plain
values from it ourselves, which lets us refuse both and remember where every value came
from, so that later errors can name file, line and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import yaml

from reconciler.config.document import Document, Path, format_path, node_mark
from reconciler.config.yamlsyntax import syntax_problem
from reconciler.errors import Problem

# Billion-laughs guard: a legitimate file reuses an anchor a handful of times; a bomb
# multiplies its node count exponentially, so a generous linear bound catches it early.
_EXPANSION_FACTOR = 10
_EXPANSION_SLACK = 10_000

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The safe loader, with tag resolution remembered: libyaml calls the Python resolver
    (a few regular expressions) for every scalar, and a providers file repeats the same
    keys and values (name, type, openai, false) thousands of times."""

    _resolved: ClassVar[dict[tuple[type, str, tuple[bool, bool] | bool], str]] = {}

    def resolve(self, kind: type, value: str, implicit: Any) -> str:
        key = (kind, value, tuple(implicit) if isinstance(implicit, list) else implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._resolved) < 100_000:  # bounded: long unique values are not worth it
                self._resolved[key] = tag
        return tag


_CORE = "tag:yaml.org,2002:"
_MERGE = _CORE + "merge"
_TIMESTAMP = _CORE + "timestamp"
_STR = _CORE + "str"
# What plain YAML resolves to on its own; any other tag (!!python/object, !Ref, !!binary,
# !!set...) is refused rather than silently read as a plain list or mapping.
_PLAIN_TAGS = frozenset(
    _CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
)


class _Builder:
    """Plain values from a node graph, each path's node remembered; what is not plain
    YAML (tags, complex keys, duplicate keys, runaway aliases) is refused and reported."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.marks: dict[Path, yaml.Node] = {}
        self.problems: list[Problem] = []
        self.broken: set[Path] = set()
        self.visited = 0
        self.constructor = yaml.SafeLoader("")
        self.built: set[int] = set()
        # Where the outermost alias being expanded is used: where a bomb is reported.
        self.alias_at: Path | None = None

    @property
    def limit(self) -> int:
        """How many values the nodes seen so far may expand to: a legitimate document
        visits each node about once; a bomb revisits a few nodes exponentially often."""
        return _EXPANSION_FACTOR * len(self.built) + _EXPANSION_SLACK

    def _count(self, path: Path) -> None:
        self.visited += 1
        if self.visited > self.limit:
            raise _TooLarge(self.alias_at[:-1] if self.alias_at else path)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._count(path)
        self.marks[path] = node
        if id(node) in self.built and self.alias_at is None:
            self.alias_at = path
            try:
                return self._build(node, path)
            finally:
                self.alias_at = None
        self.built.add(id(node))
        return self._build(node, path)

    def _build(self, node: yaml.Node, path: Path) -> Any:
        if node.tag not in _PLAIN_TAGS:
            self._refuse(
                node,
                path,
                f"the tag '{_short_tag(node.tag)}' is not allowed; only plain values "
                "(text, numbers, true/false, lists, mappings) are: remove the tag",
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag == _STR:
            return node.value  # the common case, without the constructor's overhead
        if node.tag == _TIMESTAMP:
            # YAML 1.2 (and editors reading our schema) has no dates: 2024-01-01 is text.
            return node.value
        return self.constructor.construct_object(node, deep=True)

    def _pairs(
        self, node: yaml.MappingNode, path: Path
    ) -> Iterator[tuple[yaml.Node, yaml.Node, bool]]:
        """Key/value node pairs, merge keys (``<<: *defaults``) flattened as inherited."""
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                yield key_node, value_node, False
                continue
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            refused = False
            for source in sources:
                self._count(path)
                if not isinstance(source, yaml.MappingNode):
                    if not refused:
                        self._refuse(
                            source,
                            path,
                            "'<<' merges the fields of a mapping: write '<<: *name' where "
                            "'&name' marks a mapping, not a list or a single value",
                        )
                    refused = True
                    continue
                for k, v, _ in self._pairs(source, path):
                    # Counted too: merges of merges multiply just as aliases do.
                    self._count(path)
                    yield k, v, True

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, yaml.Node] = {}
        inherited: set[str] = set()
        for key_node, value_node, is_inherited in self._pairs(node, path):
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _PLAIN_TAGS:
                self._refuse(
                    key_node,
                    path,
                    "a key must be a plain word, not a list, a mapping or a tagged value",
                )
                continue
            key = (
                key_node.value
                if key_node.tag == _STR
                else str(self.constructor.construct_object(key_node))
            )
            if key in seen:
                if is_inherited:
                    continue  # explicit keys override what a merge brings in
                if key not in inherited:
                    first = node_mark(seen[key])
                    self.problems.append(
                        self._problem(
                            key_node,
                            (*path, key),
                            f"duplicate key '{key}' (first defined at line {first.line}); "
                            "YAML would keep only one of them: remove or rename the other",
                        )
                    )
                    continue
            seen[key] = key_node
            if is_inherited:
                inherited.add(key)
            else:
                inherited.discard(key)
            out[key] = self.build(value_node, (*path, key))
            self.marks[(*path, key)] = key_node
        return out

    def _refuse(self, node: yaml.Node, path: Path, message: str) -> None:
        self.broken.add(path)
        self.problems.append(self._problem(node, path, message))

    def _problem(self, node: yaml.Node, path: Path, message: str) -> Problem:
        m = node_mark(node)
        return Problem(
            file=self.file, line=m.line, column=m.column, path=format_path(path), message=message
        )


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


class _TooLarge(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


def _is_empty(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _CORE + "null" and not node.value


def load(file: str, text: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document; returns it (or None) and the problems found."""
    root, problems = _root(file, text)
    if root is None:
        return None, problems
    builder = _Builder(file)
    try:
        data = builder.build(root, ())
    except _TooLarge as exc:
        partial = Document(file=file, data=None, marks=builder.marks)
        return None, [
            partial.problem(
                exc.path,
                "anchors and aliases here expand to ten times more values than the file "
                "holds, which looks like an alias bomb (nested aliases that multiply); "
                "write the values out instead of nesting aliases",
            )
        ]
    except yaml.constructor.ConstructorError as exc:  # pragma: no cover - tags refused above
        mark = exc.problem_mark
        return None, [
            Problem(
                file=file,
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
                message=f"{exc.problem}; only plain YAML values are allowed",
            )
        ]
    document = Document(file=file, data=data, marks=builder.marks, broken=frozenset(builder.broken))
    return document, builder.problems


def _root(file: str, text: str) -> tuple[yaml.Node | None, list[Problem]]:
    """The node graph of the file's one document, or None and why there is none."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        return None, [syntax_problem(file, text, exc, yaml.parse(text, Loader=_Loader))]
    except yaml.reader.ReaderError as exc:
        pos = exc.position
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"the character U+{code:04X} is not allowed in YAML: remove it"
        return None, [Problem(file=file, line=line, column=column, message=message)]
    except yaml.YAMLError as exc:  # pragma: no cover - every error above is marked
        return None, [Problem(file=file, message=str(exc))]
    if not nodes or nodes[0] is None or _is_empty(nodes[0]):
        message = "the file is empty; start it with 'version: 1' and a 'providers:' list"
        return None, [Problem(file=file, message=message)]
    if len(nodes) > 1:
        m = node_mark(nodes[1])
        message = (
            "the file holds several YAML documents (separated by '---'); "
            "put each in its own file and pass them all with -f, or pass their folder"
        )
        return None, [Problem(file=file, line=m.line, column=m.column, message=message)]
    return nodes[0], []
