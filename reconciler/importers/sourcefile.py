"""Reading a source file: YAML or JSON with the line of every value, or a ``.env`` file.

Values are built by PyYAML's safe loader (no tags beyond plain YAML); lines come from the
composed nodes, each node visited once, so that anchors and aliases cost what they cost in
the file and no more. JSON that YAML cannot read (tabs, some escapes) is read as JSON,
without lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.errors import ReconcilerError

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """A parsed file and the 1-based line of each value, by path (``("a", 0, "b")``)."""

    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, *path: str | int) -> int | None:
        """The line of the value at ``path``, when known."""
        return self.lines.get(tuple(path))


@dataclass(frozen=True)
class EnvFile:
    """A ``KEY=VALUE`` file: each variable's value and line (the last one wins, as in a shell)."""

    values: dict[str, tuple[str, int]]


def read_text(path: str) -> str:
    """The file's text; a file that cannot be read is the user's to fix."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ReconcilerError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReconcilerError(f"{path}: is a folder; name the configuration file") from None
    except UnicodeDecodeError:
        raise ReconcilerError(f"{path}: not a text file (not UTF-8)") from None
    except OSError as exc:
        raise ReconcilerError(f"cannot read {path}: {exc.strerror}") from None


def parse_structured(text: str) -> Document | None:
    """JSON or YAML, with the line of each value where YAML can tell it; None if neither
    reads the text. JSON is read as JSON: YAML reads a few of its escapes differently (a
    surrogate pair is two characters to PyYAML, one to JSON)."""
    try:
        data = json.loads(text)
        is_json = True
    except ValueError:
        data, is_json = None, False
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if not is_json:
            data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError:
        node = None
    finally:
        loader.dispose()
    if node is None and not is_json:
        return None
    lines: dict[PathKey, int] = {}
    if node is not None:
        _collect_lines(node, (), lines, set())
    return Document(data, lines)


def _collect_lines(node: yaml.Node, path: PathKey, out: dict[PathKey, int], seen: set[int]) -> None:
    """Record the line of ``node`` and of everything under it, visiting each node once."""
    out.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                _collect_lines(value, (*path, key.value), out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*path, index), out, seen)


def parse_env(text: str) -> EnvFile:
    """``KEY=VALUE`` lines as docker and dotenv read them: ``export`` allowed, ``#``
    comments, single- or double-quoted values, an unquoted value ends at `` #``."""
    values: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        name = name.strip()
        if not name.replace("_", "a").isalnum():
            continue
        values[name] = (_unquote(value.strip()), number)
    return EnvFile(values)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        return inner.replace('\\"', '"') if value[0] == '"' else inner
    comment = value.find(" #")
    return value[:comment].rstrip() if comment >= 0 else value


def looks_like_env(text: str, names: frozenset[str]) -> bool:
    """Whether ``text`` is a ``KEY=VALUE`` file that sets one of ``names``."""
    return any(name in names for name in parse_env(text).values)


def mapping_items(value: Any) -> Iterator[tuple[str, Any]]:
    """The items of a mapping with string keys; nothing for anything else."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield key, item
