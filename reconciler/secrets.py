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
import secrets as _stdlib_secrets
import threading
from typing import Any, NoReturn

MASK = "***"

# Values shorter than this are not scrubbed from free text: replacing every "test" or
# "none" (a placeholder key) in a message would destroy it ("tests/..." -> "***s/..."), and
# a key that short is not a real key anyway. Secret masks itself whatever its length.
_MIN_SCRUB_LENGTH = 8

_known_values: set[str] = set()
_known_lock = threading.Lock()


class Secret:
    """A secret string whose value never appears in output by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value
        if len(value) >= _MIN_SCRUB_LENGTH:
            with _known_lock:
                _known_values.add(value)

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


def scrub(text: str) -> str:
    """``text`` with every secret value known to this process replaced by the mask."""
    with _known_lock:
        values = sorted(_known_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text
