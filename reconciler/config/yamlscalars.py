"""Scalar values read safely: text that does not fit its tag is a message, not an exception.

YAML 1.1 (what PyYAML reads) takes ``0b_`` and ``0x_`` for numbers, and an explicit tag
(``!!int abc``) for a promise about the text; PyYAML's constructors then raise ValueError
or KeyError. Python also refuses to convert integers of more than 4,300 digits, a guard
against conversions that take quadratic time. Each of these becomes a problem to report.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from reconciler.config.document import shown

CORE = "tag:yaml.org,2002:"
STR = CORE + "str"
INT = CORE + "int"
FLOAT = CORE + "float"
BOOL = CORE + "bool"
NULL = CORE + "null"
TIMESTAMP = CORE + "timestamp"
MAP = CORE + "map"
SEQ = CORE + "seq"
MERGE = CORE + "merge"
# What plain YAML resolves to on its own; any other tag (!!python/object, !Ref, !!binary,
# !!set...) is refused rather than silently read as a plain list or mapping.
PLAIN_TAGS = frozenset((STR, INT, FLOAT, BOOL, NULL, MAP, SEQ, TIMESTAMP))

# Python's own limit (sys.int_info.default_max_str_digits): longer integers cannot be
# printed in a message, and decimal ones cannot even be read.
MAX_DIGITS = 4300
# The same bound for 0x / 0b / base-60 forms, whose text is shorter than their value.
_TOO_LARGE = 10**MAX_DIGITS
_NOT_DIGITS = re.compile(r"[^0-9]")

_WHAT = {
    INT: "a whole number",
    FLOAT: "a number",
    BOOL: "true or false",
    NULL: "nothing (~ or null)",
    TIMESTAMP: "a date",
    STR: "text",
    MAP: "a mapping",
    SEQ: "a list",
}

_constructor = yaml.constructor.SafeConstructor()
_resolver = yaml.resolver.Resolver()
_CONSTRUCT = {
    INT: _constructor.construct_yaml_int,
    FLOAT: _constructor.construct_yaml_float,
    BOOL: _constructor.construct_yaml_bool,
}


def short_tag(tag: str) -> str:
    """``tag:yaml.org,2002:int`` → ``!!int``; other tags as written (cut if long)."""
    return shown("!!" + tag[len(CORE) :] if tag.startswith(CORE) else tag)


def _implicit(value: str) -> str:
    """The tag YAML gives ``value`` written plain, without a tag."""
    tag: str = _resolver.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag


def scalar(node: yaml.ScalarNode) -> tuple[Any, str | None]:
    """The value of a plain-tagged scalar node; or None and why its text does not fit."""
    tag, text = node.tag, node.value
    if tag in (STR, TIMESTAMP):
        # YAML 1.2 (and editors reading our schema) has no dates: 2024-01-01 is text.
        fits = tag == STR or yaml.constructor.SafeConstructor.timestamp_regexp.match(text)
        return (text, None) if fits else (None, _misfit(node))
    if tag in (MAP, SEQ):
        return None, misplaced_tag(tag, node)
    if tag == NULL:
        return (None, None) if _implicit(text) == NULL else (None, _misfit(node))
    if tag == INT and len(text) > MAX_DIGITS and len(_NOT_DIGITS.sub("", text)) > MAX_DIGITS:
        return None, _TOO_LONG
    try:
        value = _CONSTRUCT[tag](node)
    except (ValueError, KeyError, IndexError, TypeError, ArithmeticError):
        return None, _misfit(node)
    if type(value) is int and abs(value) >= _TOO_LARGE:
        return None, _TOO_LONG
    return value, None


_TOO_LONG = (
    f"a number longer than {MAX_DIGITS:,} digits is not read: put it in quotes if it is text"
)


def _misfit(node: yaml.ScalarNode) -> str:
    """Why ``node``'s text is not what its tag says: the tag was written, or YAML 1.1 took
    the text for a number by its look (0b..., 0x..., 1:30)."""
    quoted = f"'{shown(node.value)}'"
    if not node.style and _implicit(node.value) == node.tag:  # plain: None, or "" (libyaml)
        return (
            f"{quoted} looks like a YAML 1.1 number (0b... binary, 0x... hex, 0... octal, "
            "1:30 base 60, 1_000) but is not a valid one: put it in quotes if it is text"
        )
    what = _WHAT.get(node.tag, node.tag)
    tag = short_tag(node.tag)
    return f"the tag '{tag}' says this is {what}, but {quoted} is not: remove the tag"


def misplaced_tag(tag: str, node: yaml.Node) -> str:
    """Why a core tag does not fit the kind of node it is on (``!!str [a]``, ``!!map x``)."""
    kind = _WHAT[MAP if isinstance(node, yaml.MappingNode) else SEQ]
    if isinstance(node, yaml.ScalarNode):
        kind = "a single value"
    return f"the tag '{short_tag(tag)}' says this is {_WHAT[tag]}, not {kind}: remove the tag"
