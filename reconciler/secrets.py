"""Secret values (API keys): a type that will not print itself, fingerprints, scrubbing.

A ``Secret`` masks itself in ``str``, ``repr``, f-strings, ``%`` formatting and logging;
the only way to the value is ``reveal()``, called by the code that sends a key to a
target or an upstream. Every secret created in this process is also remembered so that
``scrub`` can remove it from any text we did not write ourselves (an upstream's error
message, say) before that text reaches a user.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _stdlib_secrets
import threading
from typing import Any, NoReturn

MASK = "***"

# Values this long are scrubbed wherever they appear in free text. Shorter ones (a proxy's
# "sk-1234") only where they stand as a whole word: replacing every "test" inside
# "tests/..." would destroy messages. Below _MIN_REMEMBERED nothing is scrubbed; a Secret
# masks itself whatever its length.
_MIN_SCRUB_LENGTH = 8
_MIN_REMEMBERED = 4

_known_values: set[str] = set()
_known_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None
# A short value counts where it stands alone: between spaces, quotes, brackets, "=" or
# commas ("key 'sk-1234'", "key=none"), not inside a path, a URL or a word.
_STANDALONE = r"""(?<![^\s'"(\[,=]){}(?![^\s'")\],;])"""


class Secret:
    """A secret string whose value never appears in output by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value
        remember(value)

    def reveal(self) -> str:
        """The value itself: only for the code that sends it where it belongs."""
        return self._value

    def fingerprint(self, salt: str) -> str:
        """Salted SHA-256 of the value, hex; what a target may store and report."""
        return fingerprint(self._value, salt)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", hashlib.sha256(self._value.encode()).digest()))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


def fingerprint(value: str, salt: str) -> str:
    """Salted SHA-256 of ``value``, as hex."""
    return hashlib.sha256(f"{salt}\0{value}".encode()).hexdigest()


def new_salt() -> str:
    """A fresh random salt for a key fingerprint."""
    return _stdlib_secrets.token_hex(16)


def remember(value: str) -> None:
    """Scrub ``value`` from all text from now on (a secret that is not a Secret yet)."""
    global _pattern
    if len(value) < _MIN_REMEMBERED:
        return
    with _known_lock:
        if value not in _known_values:
            _known_values.add(value)
            _pattern = None


def _known_pattern() -> re.Pattern[str] | None:
    global _pattern
    with _known_lock:
        if _pattern is None and _known_values:
            values = sorted(_known_values, key=len, reverse=True)
            alternatives = [
                re.escape(v) if len(v) >= _MIN_SCRUB_LENGTH else _STANDALONE.format(re.escape(v))
                for v in values
            ]
            _pattern = re.compile("|".join(alternatives))
        return _pattern


def scrub(text: str) -> str:
    """``text`` with every secret value known to this process replaced by the mask."""
    pattern = _known_pattern()
    return text if pattern is None else pattern.sub(MASK, text)
