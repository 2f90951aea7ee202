"""YAML syntax errors explained: what happened, where (file, line, column, path), how to fix.

libyaml's own words ("expected <block end>, but found '-'") name the parser's state, not
the user's mistake; these messages name the mistake. The path is found by re-reading the
events up to the error, so that even a syntax error says which provider it is in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from reconciler.config.document import Path, PathPart, format_path
from reconciler.errors import Problem

# A providers file needs five levels; beyond this, nesting is a mistake or an attack (and
# every later stage walks the values recursively). libyaml stops at 1,000 levels with a
# syntax error; the reader (yamlsource) refuses what lies beyond this bound, in these words.
MAX_DEPTH = 100
TOO_DEEP = (
    f"lists and mappings are nested more than {MAX_DEPTH} levels deep here; a providers "
    "file needs only a few levels: flatten this value"
)

# libyaml's and PyYAML's words for common mistakes → what happened and how to fix it.
_SYNTAX_HINTS: tuple[tuple[str, str], ...] = (
    ("exceeded maximum nesting depth", TOO_DEEP),
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


def syntax_problem(
    file: str, text: str, exc: yaml.MarkedYAMLError, events: Iterable[yaml.Event]
) -> Problem:
    """The Problem for ``exc``, raised while reading ``text``; ``events`` are the text's
    parse events (lazily: they are read only up to the error)."""
    problem = exc.problem or "invalid YAML"
    context = exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    path, inline = _path_at_error(text, exc.problem_mark or exc.context_mark, events)
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


def _path_at_error(text: str, mark: Any, events: Iterable[yaml.Event]) -> tuple[Path, bool]:
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
        for event in events:
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
