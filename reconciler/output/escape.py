"""Values from outside (names, URLs, model ids, server messages) shown so that none can
pretend to be something else: a newline cannot start a fake plan line, a bidi override
cannot reverse what a reviewer reads, an escape sequence cannot repaint a terminal."""

from __future__ import annotations

__all__ = ["visible"]

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every character that is not printable (controls, bidi overrides,
    zero-width and line separators) as a visible escape, as Python's ``repr`` decides."""
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch.isprintable() or (keep_newlines and ch == "\n")
        else _NAMED_ESCAPES.get(ch) or _escape_code_point(ord(ch))
        for ch in text
    )


def _escape_code_point(code: int) -> str:
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
