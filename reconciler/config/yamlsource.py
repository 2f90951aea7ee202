"""Strict YAML reading: safe tags only, duplicate keys refused, aliases bounded, locations kept.

PyYAML's loaders keep the last of two duplicate keys without a word, and expand aliases
without limit. We compose the node graph (safe, linear in the input) and build plain
values from it ourselves, which lets us refuse both and remember where every value came
from, so that later errors can name file, line and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from reconciler.errors import Problem

PathPart = str | int
Path = tuple[PathPart, ...]

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
    # The node behind each value: its Mark is made only when an error needs it.
    marks: dict[Path, yaml.Node]
    # Paths whose value could not be read as written (a refused tag, a bad merge...): the
    # problem is already reported, so later checks should not add a second one there.
    broken: frozenset[Path] = frozenset()

    def mark(self, path: Path) -> Mark | None:
        """The mark of ``path``, or of its nearest ancestor that has one."""
        while True:
            if path in self.marks:
                return _mark(self.marks[path])
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
                    first = _mark(seen[key])
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
        m = _mark(node)
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


# libyaml's and PyYAML's words for common mistakes → what happened and how to fix it.
_SYNTAX_HINTS: tuple[tuple[str, str], ...] = (
    (
        "undefined alias",
        "this alias (*name) refers to no anchor: define '&name' before it, or put the "
        "text in quotes if '*' is meant literally",
    ),
    (
        "mapping values are not allowed",
        "a ': ' is not allowed here: put a value that contains ': ' in quotes, or fix the "
        "indentation of this line",
    ),
    (
        "unknown escape character",
        "unknown escape sequence in a double-quoted string: write '\\\\' for a backslash, "
        "or use single quotes",
    ),
    (
        "could not find expected ':'",
        "this line is neither 'key: value' nor a list item: add ': ' after the key, or "
        "indent it as part of the value above",
    ),
    (
        "expected '-' indicator",
        "this line does not line up with the ones above: fields of one provider must be "
        "indented equally, and each list item starts with '- '",
    ),
    (
        "expected key",
        "this line does not line up with the ones above, or has text after a closing quote "
        "or bracket: check its indentation and quoting",
    ),
    (
        "expected <block end>",
        "this line does not line up with the ones above, or has text after a closing quote "
        "or bracket: check its indentation and quoting",
    ),
    (
        "cannot start any token",
        "this character cannot start a value: put the value in quotes",
    ),
    (
        "incompatible YAML document",
        "only YAML 1.x is read: remove the %YAML line",
    ),
)


def _syntax_problem(file: str, text: str, exc: yaml.MarkedYAMLError) -> Problem:
    problem = exc.problem or "invalid YAML"
    context = exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    path, inline = _path_at_error(text, exc.problem_mark or exc.context_mark)
    lines = text.splitlines()
    message = ""
    if mark is not None and mark.line < len(lines):
        source_line = lines[mark.line]
        indent = source_line[: len(source_line) - len(source_line.lstrip(" \t"))]
        if "\t" in indent or "tab character" in problem or "'\\t'" in problem:
            message = (
                "a tab character is used for indentation; YAML allows only spaces: "
                "replace the tab with spaces"
            )
            if inline:
                # The scanner was still reading the value written after the key above, so
                # the tab starts the next field, not part of that value.
                path = path[:-1]
    if not message and "quoted scalar" in context and "end of stream" in problem:
        # Report where the quote opens, not the end of the file where the scanner gave up.
        mark = exc.context_mark or mark
        message = "this quoted text is never closed: add the closing quote"
    if (
        not message
        and ("flow sequence" in context or "flow mapping" in context)
        and mark is not None
        and "${" in "".join(lines[exc.context_mark.line if exc.context_mark else 0 : mark.line + 1])
    ):
        message = (
            "inside [...] or {...}, a ${VAR} reference must be quoted (the braces would "
            'end the list): write "${VAR}"'
        )
    if not message and ("flow sequence" in context or "flow mapping" in context):
        opener, closer = ("[", "]") if "sequence" in context else ("{", "}")
        cm = exc.context_mark
        where = f" at line {cm.line + 1}, column {cm.column + 1}" if cm else ""
        message = (
            f"the '{opener}' opened{where} is not closed where expected: add '{closer}', "
            "or the ',' missing between two items"
        )
    if not message:
        hint = next((h for key, h in _SYNTAX_HINTS if key in problem), "")
        message = hint or (
            f"{problem}{f' ({context})' if context else ''}; check the indentation and quoting "
            "around this line"
        )
    return Problem(
        file=file,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        path=format_path(path),
        message=f"YAML syntax error: {message}",
    )


def _path_at_error(text: str, mark: Any) -> tuple[Path, bool]:
    """The path of the node the parser was in when it failed: context for a syntax error;
    and whether it ends with a key whose value had begun on the key's own line."""
    # One frame per open collection: [is_mapping, key (mapping) or items begun (sequence),
    # whether the mapping is between a key and the end of its value, the key's end mark].
    frames: list[list[Any]] = []

    def begin(key: PathPart, end: Any) -> None:
        if frames:
            frame = frames[-1]
            if not frame[0]:
                frame[1] += 1
            elif not frame[2]:
                frame[1] = key
                frame[3] = end

    def complete() -> None:
        if frames and frames[-1][0]:
            frames[-1][2] = not frames[-1][2]

    try:
        for event in yaml.parse(text, Loader=_Loader):
            start = event.start_mark
            if start and mark and (start.line, start.column) >= (mark.line, mark.column):
                break  # an error found after parsing (an undefined alias) stops here too
            if isinstance(event, yaml.ScalarEvent):
                begin(event.value, event.end_mark)
                complete()
            elif isinstance(event, yaml.AliasEvent):
                begin("?", event.end_mark)
                complete()
            elif isinstance(event, yaml.CollectionStartEvent):
                begin("?", event.end_mark)
                frames.append([isinstance(event, yaml.MappingStartEvent), 0, False, None])
            elif isinstance(event, yaml.CollectionEndEvent):
                frames.pop()
                complete()
    except yaml.YAMLError:
        pass
    path: list[PathPart] = []
    for is_mapping, at, in_value, _ in frames:
        if (is_mapping and not in_value) or (not is_mapping and not at):
            break
        path.append(at if is_mapping else at - 1)
    inline = False
    if frames and frames[-1][0] and frames[-1][2] and len(path) == len(frames):
        key_end = frames[-1][3]
        lines = text.splitlines()
        if key_end is not None and key_end.line < len(lines):
            rest = lines[key_end.line][key_end.column :].strip().lstrip(":").strip()
            inline = bool(rest) and not rest.startswith("#")
    return tuple(path), inline


def load(file: str, text: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document; returns it (or None) and the problems found."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(file, text, exc)]
    except yaml.reader.ReaderError as exc:
        pos = exc.position
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return None, [
            Problem(
                file=file,
                line=line,
                column=column,
                path="",
                message=f"the character U+{code:04X} is not allowed in YAML: remove it",
            )
        ]
    except yaml.YAMLError as exc:  # pragma: no cover - every error above is marked
        return None, [Problem(file=file, line=None, column=None, path="", message=str(exc))]
    if not nodes or nodes[0] is None or _is_empty(nodes[0]):
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
                message="the file holds several YAML documents (separated by '---'); "
                "put each in its own file and pass them all with -f, or pass their folder",
            )
        ]
    root = nodes[0]
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
                path="",
                message=f"{exc.problem}; only plain YAML values are allowed",
            )
        ]
    document = Document(file=file, data=data, marks=builder.marks, broken=frozenset(builder.broken))
    return document, builder.problems
