"""``${VAR}`` substitution in string values.

Grammar: ``${NAME}`` must be set and not empty; ``${NAME:-default}`` falls back to the
literal default when NAME is unset or empty (as in a shell); ``$${`` is a literal ``${``;
any other ``$`` is literal. The result is never expanded again, so a value that itself
contains ``${`` stays as it is.

Empty counts as missing for ``${NAME}`` because that is what CI gives for a secret it does
not have: GitHub Actions expands ``${{ secrets.NOPE }}`` to an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TOKEN = re.compile(
    r"\$\$\{"  # escaped literal
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\$\{(?P<bad>[^}]*)\}?"
)


@dataclass(frozen=True)
class Result:
    """The substituted value, the variables it referenced, and what went wrong."""

    value: str
    names: tuple[str, ...]
    missing: tuple[str, ...]
    malformed: tuple[str, ...]
    # Referenced as ${NAME} (no default), set, but empty.
    empty: tuple[str, ...] = ()


def substitute(text: str, env: Mapping[str, str]) -> Result:
    """Expand the references in ``text`` once, from ``env``."""
    names: list[str] = []
    missing: list[str] = []
    malformed: list[str] = []
    empty: list[str] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        name = match.group("name")
        default = match.group("default")
        if name is None or (default is not None and "${" in default):
            # A nested ``${A:-${B}}`` is refused rather than half-expanded.
            malformed.append(token)
            return token
        names.append(name)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        (missing if value is None else empty).append(name)
        return ""

    value = _TOKEN.sub(replace, text)
    return Result(value, tuple(names), tuple(missing), tuple(malformed), tuple(empty))
