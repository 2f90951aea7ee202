"""Strict YAML reading: safe tags only, duplicate keys refused, aliases bounded, locations kept.

PyYAML's loaders keep the last of two duplicate keys without a word, expand aliases
without limit, and recurse until Python's stack runs out on an alias inside its own
anchor. We compose the node graph (safe, linear in the input) and build plain values
from it ourselves, which lets us refuse all of these, bound nesting and expansion, and
remember where every value came from, so that later errors can name file, line and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import yaml

from reconciler.config.document import Document, Path, format_path, node_mark, shown
from reconciler.config.yamlscalars import (
    MAP,
    MERGE,
    NULL,
    PLAIN_TAGS,
    SEQ,
    STR,
    misplaced_tag,
    scalar,
    short_tag,
)
from reconciler.config.yamlsyntax import MAX_DEPTH, TOO_DEEP, syntax_problem
from reconciler.errors import Problem

# Billion-laughs guard: a legitimate file reuses an anchor a handful of times; a bomb
# multiplies its node count exponentially, so a generous linear bound catches it early.
_EXPANSION_FACTOR = 10
_EXPANSION_SLACK = 10_000
# The same guard for size: one long value aliased thousands of times is few nodes but
# gigabytes of text for every later stage. Legitimate reuse (a long system prompt shared
# by a few hundred providers) stays far below ten times the file plus this slack.
_SIZE_SLACK = 10_000_000

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
            # Bounded: long or unique values are not worth keeping across files.
            if (value is None or len(value) <= 100) and len(self._resolved) < 100_000:
                self._resolved[key] = tag
        return tag


class _Builder:
    """Plain values from a node graph, each path's node remembered; what is not plain YAML
    (tags, complex keys, duplicate keys, cycles, deep nesting, runaway aliases) is refused."""

    def __init__(self, file: str, size: int) -> None:
        self.file = file
        self.marks: dict[Path, yaml.Node] = {}
        self.problems: list[Problem] = []
        self.broken: set[Path] = set()
        self.visited = 0
        self.chars = 0
        self.max_chars = _EXPANSION_FACTOR * size + _SIZE_SLACK
        self.built: set[int] = set()
        # The lists and mappings being built: an alias to one of them is a cycle.
        self.ancestors: set[int] = set()
        # Nodes already reported: each alias of one is broken too, but said once.
        self.refused: set[int] = set()
        self.too_deep = False
        # Where the outermost alias being expanded is used: where a bomb is reported.
        self.alias_at: Path | None = None

    @property
    def limit(self) -> int:
        """How many values the nodes seen so far may expand to: a legitimate document
        visits each node about once; a bomb revisits a few nodes exponentially often."""
        return _EXPANSION_FACTOR * len(self.built) + _EXPANSION_SLACK

    def _count(self, path: Path, chars: int = 0) -> None:
        self.visited += 1
        self.chars += chars
        if self.visited > self.limit or self.chars > self.max_chars:
            where = self.alias_at[:-1] if self.alias_at else path
            raise _TooLarge(where, by_size=self.chars > self.max_chars)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._count(path, len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
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
        if node.tag not in PLAIN_TAGS:
            self._refuse(
                node,
                path,
                f"the tag '{short_tag(node.tag)}' is not allowed; only plain values "
                "(text, numbers, true/false, lists, mappings) are: remove the tag",
            )
            return None
        if isinstance(node, yaml.ScalarNode):
            return node.value if node.tag == STR else self._scalar(node, path)
        if id(node) in self.ancestors:
            self._refuse_once(node, path, _CYCLE)
            return None
        if len(path) > MAX_DEPTH:
            self.broken.add(path)
            if not self.too_deep:  # one nest of many levels is one mistake
                self.too_deep = True
                self.problems.append(self._problem(node, path, TOO_DEEP))
            return None
        if node.tag != (MAP if isinstance(node, yaml.MappingNode) else SEQ):
            self._refuse_once(node, path, misplaced_tag(node.tag, node))
            return None
        self.ancestors.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.ancestors.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        value, why = scalar(node)
        if why is not None:
            self._refuse_once(node, path, why)
        return value

    def _pairs(
        self, node: yaml.MappingNode, path: Path
    ) -> Iterator[tuple[yaml.Node, yaml.Node, bool]]:
        """Key/value node pairs, merge keys (``<<: *defaults``) flattened as inherited."""
        if all(key.tag != MERGE for key, _ in node.value):  # the common case, quickly
            for key, value in node.value:
                yield key, value, False
            return
        # A stack, not recursion: merges of merges may nest deeply, and one may name a
        # mapping it is inside. Each entry iterates the pairs of a mapping (with its id),
        # or the mappings one merge key names (None).
        stack: list[tuple[Iterator[Any], int | None]] = [(iter(node.value), id(node))]
        while stack:
            entries, source_id = stack[-1]
            item = next(entries, None)
            if item is None:
                stack.pop()
                continue
            mappings = [i for _, i in stack if i is not None]
            if source_id is None:
                self._count(path)
                if not isinstance(item, yaml.MappingNode):
                    continue  # reported by _merged
                if id(item) in mappings or id(item) in self.ancestors:
                    self._refuse_once(item, path, _CYCLE)
                else:
                    stack.append((iter(item.value), id(item)))
            elif item[0].tag == MERGE:
                stack.append((iter(self._merged(item[1], path)), None))
            else:
                # Counted once per merge it comes through: merges of merges multiply just
                # as aliases do.
                for _ in mappings[1:]:
                    self._count(path)
                yield item[0], item[1], len(mappings) > 1

    def _merged(self, value_node: yaml.Node, path: Path) -> list[yaml.Node]:
        """The nodes a merge key names; any that is not a mapping is reported, once."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        wrong = next((s for s in sources if not isinstance(s, yaml.MappingNode)), None)
        if wrong is not None:
            self._refuse(
                wrong,
                path,
                "'<<' merges the fields of a mapping: write '<<: *name' where "
                "'&name' marks a mapping, not a list or a single value",
            )
        return list(sources)

    def _key(self, key_node: yaml.Node, path: Path) -> str | None:
        """The text of a mapping key; None (reported) if it is not a plain scalar."""
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in PLAIN_TAGS:
            self._refuse(
                key_node,
                path,
                "a key must be a plain word, not a list, a mapping or a tagged value",
            )
            return None
        self.chars += len(key_node.value)
        value, why = scalar(key_node)
        if why is not None:
            self._refuse(key_node, path, why)
            return None
        return str(value)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, yaml.Node] = {}
        inherited: set[str] = set()
        for key_node, value_node, is_inherited in self._pairs(node, path):
            if key_node.tag == STR and isinstance(key_node, yaml.ScalarNode):
                key = key_node.value  # the common case, without a call
                self.chars += len(key)
            else:
                key = self._key(key_node, path)
                if key is None:
                    continue
            if key in seen:
                if is_inherited:
                    continue  # explicit keys override what a merge brings in
                if key not in inherited:
                    first = node_mark(seen[key])
                    self.problems.append(
                        self._problem(
                            key_node,
                            (*path, key),
                            f"duplicate key '{shown(key)}' (first defined at line "
                            f"{first.line}); YAML would keep only one of them: remove or "
                            "rename the other",
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

    def _refuse_once(self, node: yaml.Node, path: Path, message: str) -> None:
        """Refuse the value at ``path``; report it unless ``node`` is already reported
        (reached again through an alias, it is the same mistake)."""
        self.broken.add(path)
        if id(node) not in self.refused:
            self.refused.add(id(node))
            self.problems.append(self._problem(node, path, message))

    def _refuse(self, node: yaml.Node, path: Path, message: str) -> None:
        self.broken.add(path)
        self.problems.append(self._problem(node, path, message))

    def _problem(self, node: yaml.Node, path: Path, message: str) -> Problem:
        m = node_mark(node)
        return Problem(
            file=self.file, line=m.line, column=m.column, path=format_path(path), message=message
        )


_CYCLE = (
    "this alias names a list or mapping that contains the alias itself, so its value would "
    "never end: alias a value defined outside it, or write the value out"
)


_BOMB = (
    "anchors and aliases here expand to ten times more values than the file holds, which "
    "looks like an alias bomb (nested aliases that multiply); write the values out instead "
    "of nesting aliases"
)
_BOMB_BY_SIZE = (
    "anchors and aliases here repeat long values until they are ten times the size of the "
    "file, which looks like an alias bomb (a long value aliased over and over); write the "
    "values out, or alias shorter ones"
)


class _TooLarge(Exception):
    def __init__(self, path: Path, *, by_size: bool) -> None:
        super().__init__()
        self.path = path
        self.by_size = by_size


def _is_empty(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == NULL and not node.value


def load(file: str, text: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document; returns it (or None) and the problems found."""
    root, problems = _root(file, text)
    if root is None:
        return None, problems
    builder = _Builder(file, len(text))
    try:
        data = builder.build(root, ())
    except _TooLarge as exc:
        partial = Document(file=file, data=None, marks=builder.marks)
        return None, [partial.problem(exc.path, _BOMB_BY_SIZE if exc.by_size else _BOMB)]
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
