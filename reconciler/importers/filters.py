"""ClaraVerse's model filters (providers.json ``filters``) as ``models:`` rules.

How ClaraVerse applied a provider's filters: every model hidden, then each filter in turn,
from the highest ``priority`` to the lowest (ties in file order), an ``include`` showing
and an ``exclude`` hiding the models it matches; so the lowest-priority filter that
matches a model decides, and a model no filter matches stays hidden. A pattern matched a
model's id or name (the same text for fetched models) with SQL ``LIKE`` after ``*`` was
replaced by ``%``: whole string, case-insensitive, ``%`` any text, ``_`` any one character,
``\\`` escapes the next character. With no filters at all, every model was visible.

Our rules are simpler: a model is shown when it matches a ``visible`` glob and no ``hidden``
glob (``only_listed``: everything else hidden). Read as a decision list from the lowest
priority up, an include becomes a visible glob and an exclude that some include follows
becomes a hidden glob. That shows a subset of what ClaraVerse showed, never more: the
models lost are those an include decided before an exclude that also matches them (a
low-priority exact id re-included from a broad exclude). ``convert`` finds each such pair
whose patterns can match one id, and says so with an example id.

Globs are written case-insensitively (``[gG]``) because LIKE was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from reconciler.core.model import ModelRules

ANY = "%"  # any text
ONE = "_"  # any one character
Token = tuple[str, str]  # (kind, char): ("lit", "a"), ("any", ""), ("one", "")
_GLOB_SPECIAL = "*?["
_LONGEST_PAIR = 400  # tokens; beyond it, two patterns are assumed to overlap


@dataclass(frozen=True, kw_only=True)
class Filter:
    """One entry of a provider's ``filters``, with its place in the file."""

    pattern: str
    action: str
    priority: int
    index: int
    line: int | None = None

    def describe(self) -> str:
        """``include 'gpt-4o*' (priority 20)``."""
        return f"{self.action} '{self.pattern}' (priority {self.priority})"


@dataclass(frozen=True, kw_only=True)
class Conversion:
    """The rules, and each way they differ from what ClaraVerse showed."""

    rules: ModelRules
    losses: tuple[str, ...] = ()


def tokens(pattern: str) -> tuple[Token, ...]:
    """A ClaraVerse pattern as LIKE read it: ``*`` became ``%`` before LIKE saw it."""
    text = pattern.replace("*", "%")
    out: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(("lit", text[i + 1]))
            i += 2
            continue
        if char == ANY:
            if not out or out[-1][0] != "any":  # %% is %
                out.append(("any", ""))
        elif char == ONE:
            out.append(("one", ""))
        else:
            out.append(("lit", char))
        i += 1
    return tuple(out)


def glob(pattern: str) -> str:
    """The fnmatch glob that matches, case-sensitively, exactly the ids LIKE matched."""
    parts = []
    for kind, char in tokens(pattern):
        if kind == "any":
            parts.append("*")
        elif kind == "one":
            parts.append("?")
        else:
            parts.append(_glob_char(char))
    return "".join(parts)


def _glob_char(char: str) -> str:
    lower, upper = char.lower(), char.upper()
    if lower != upper and len(lower) == 1 and len(upper) == 1:
        return f"[{lower}{upper}]"
    return f"[{char}]" if char in _GLOB_SPECIAL else char


def overlap(a: str, b: str) -> str | None:
    """An id both patterns match (LIKE, ignoring case), or None when there is none."""
    ta, tb = tokens(a), tokens(b)
    if len(ta) + len(tb) > _LONGEST_PAIR:
        return "(a long id)"
    return _overlap(ta, tb)


@cache
def _overlap(a: tuple[Token, ...], b: tuple[Token, ...]) -> str | None:
    """The search visits each pair of positions (one in each pattern) at most once."""

    @cache
    def step(i: int, j: int) -> str | None:
        if i == len(a) and j == len(b):
            return ""
        ka = a[i] if i < len(a) else None
        kb = b[j] if j < len(b) else None
        for option in _moves(ka, kb):
            di, dj, char = option
            rest = step(i + di, j + dj)
            if rest is not None:
                return char + rest
        return None

    return step(0, 0)


def _moves(ka: Token | None, kb: Token | None) -> list[tuple[int, int, str]]:
    """The ways to go on from one token of each pattern: (advance a, advance b, char)."""
    moves: list[tuple[int, int, str]] = []
    if ka is not None and ka[0] == "any":
        moves.append((1, 0, ""))  # a's % ends here
        if kb is not None and kb[0] != "any":
            moves.append((0, 1, _char_of(kb)))  # a's % takes b's next character
    if kb is not None and kb[0] == "any":
        moves.append((0, 1, ""))
        if ka is not None and ka[0] != "any":
            moves.append((1, 0, _char_of(ka)))
    both_chars = ka is not None and kb is not None and ka[0] != "any" and kb[0] != "any"
    if both_chars and ka is not None and kb is not None and _same_char(ka, kb):
        moves.append((1, 1, _char_of(ka) if ka[0] == "lit" else _char_of(kb)))
    return moves


def _same_char(ka: Token, kb: Token) -> bool:
    """Whether one character can match both tokens (LIKE ignores case)."""
    return ka[0] == "one" or kb[0] == "one" or ka[1].casefold() == kb[1].casefold()


def _char_of(token: Token) -> str:
    return token[1] if token[0] == "lit" else "x"


def like(pattern: str, model_id: str) -> bool:
    """Whether ClaraVerse's filter ``pattern`` matched ``model_id``."""
    parts = []
    for kind, char in tokens(pattern):
        parts.append(".*" if kind == "any" else "." if kind == "one" else re.escape(char))
    return re.fullmatch("".join(parts), model_id, re.IGNORECASE | re.DOTALL) is not None


def convert(filters: list[Filter]) -> Conversion:
    """The closest rules that never show a model ClaraVerse hid (see the module doc)."""
    if not filters:
        return Conversion(rules=ModelRules(visible=("*",)))
    applied = sorted(filters, key=lambda f: (-f.priority, f.index))
    decisions = [f for f in reversed(applied) if f.pattern]  # LIKE '' matches no model
    # An exclude matters only where an include after it (in decision order) would show.
    relevant = {
        at
        for at, f in enumerate(decisions)
        if f.action == "exclude" and any(g.action == "include" for g in decisions[at + 1 :])
    }
    visible: list[str] = []
    hidden: list[str] = []
    # Written in file order, which the reader knows; the order does not change the rules.
    for at, f in sorted(enumerate(decisions), key=lambda item: item[1].index):
        target = visible if f.action == "include" else hidden if at in relevant else None
        if target is not None and glob(f.pattern) not in target:
            target.append(glob(f.pattern))
    rules = ModelRules(visible=tuple(visible), hidden=tuple(hidden), only_listed=True)
    return Conversion(rules=rules, losses=tuple(_losses(decisions, relevant)))


def _losses(decisions: list[Filter], relevant: set[int]) -> list[str]:
    """Each include ClaraVerse let decide before an exclude that hides the same ids here."""
    out = []
    for at, inc in enumerate(decisions):
        if inc.action != "include":
            continue
        for exc_at in sorted(x for x in relevant if x > at):
            exc = decisions[exc_at]
            example = overlap(inc.pattern, exc.pattern)
            if example is None:
                continue
            # The example is certain when no exclude ClaraVerse consulted first hides it.
            certain = not any(
                decisions[x].action == "exclude" and like(decisions[x].pattern, example)
                for x in range(at)
            )
            shown = "showed" if certain else "may have shown"
            out.append(
                f"ClaraVerse {shown} models that match both {inc.describe()} and "
                f"{exc.describe()}, because the lower priority decides (e.g. '{example}'); "
                "here hidden wins over visible, so they stay hidden"
            )
    return out
