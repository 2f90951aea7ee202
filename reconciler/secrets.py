"""Secret values (API keys): a type that will not print itself, fingerprints, scrubbing.

A ``Secret`` masks itself in ``str``, ``repr``, f-strings, ``%`` formatting and logging;
the only way to the value is ``reveal()``, called by the code that sends a key to a
target or an upstream. Every secret created during a run is also remembered in that run's
``SecretRegistry`` so that ``scrub`` can remove it from any text we did not write
ourselves (an upstream's error message, say) before that text reaches a user.

The registry of the current run lives in a context variable: ``scrubbing_run()`` starts a
fresh one (the CLI does, once per command), so runs in one process never share their
secrets, and threads that run in a copy of the run's context (the executor's workers) add
to and scrub with the same registry. Outside any run, a process-wide registry serves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets as _stdlib_secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NoReturn
from urllib.parse import quote, quote_plus

MASK = "***"

# Values this long are scrubbed wherever they appear in free text. Shorter ones (a proxy's
# "sk-1234") only where they stand as a whole word: replacing every "test" inside
# "tests/..." would destroy messages. Below _MIN_REMEMBERED nothing is scrubbed; a Secret
# masks itself whatever its length.
_MIN_SCRUB_LENGTH = 8
_MIN_REMEMBERED = 4

# A short value counts where it stands alone: between spaces, quotes, brackets, "=" or
# commas ("key 'sk-1234'", "key=none"), not inside a path, a URL or a word.
_STANDALONE = r"""(?<![^\s'"(\[,=]){}(?![^\s'")\],;])"""


class Secret:
    """A secret string whose value never appears in output by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str, *, scrubbed: bool = True) -> None:
        """``scrubbed=False`` only for a value known to be the file's own text and no key
        (``$OPENAI_API_KEY``, a reference written without braces): output quotes it."""
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value
        if scrubbed:
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


def hard_fingerprint(value: str, salt: str) -> str:
    """A fingerprint that is slow and memory-hard to compute (scrypt, 16 MiB, ~50 ms), for
    files that leave the machine (saved plans): recovering even a short key from it costs
    a brute force at that price per guess, not a SHA-256's."""
    digest = hashlib.scrypt(value.encode(), salt=salt.encode(), n=2**14, r=8, p=1, dklen=32)
    return digest.hex()


def new_salt() -> str:
    """A fresh random salt for a key fingerprint."""
    return _stdlib_secrets.token_hex(16)


def encoded_forms(value: str) -> set[str]:
    """``value`` as it reads in every encoding an output of ours may use: as it is, inside
    a JSON string (``"`` and ``\\`` escaped, non-ASCII as ``\\uXXXX`` or not), and
    URL-encoded (``%2F`` or ``%2f``, ``+`` or ``%20`` for spaces)."""
    json_forms = {json.dumps(value, ensure_ascii=a)[1:-1] for a in (True, False)}
    url = quote(value, safe="")
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), url)
    python_repr = repr(value)[1:-1]  # what a message that quotes with !r shows
    return {value, *json_forms, url, lower, quote_plus(value, safe=""), python_repr} - {""}


class SecretRegistry:
    """The secret values of one run, and the pattern that scrubs them from text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()  # the executor's threads remember and scrub at once
        self._pattern: re.Pattern[str] | None = None

    def remember(self, value: str) -> None:
        """Scrub ``value`` from all text of this run from now on."""
        if len(value) < _MIN_REMEMBERED:
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                self._pattern = None

    def scrub(self, text: str) -> str:
        """``text`` with every value remembered here replaced by the mask."""
        pattern = self._compiled()
        return text if pattern is None else pattern.sub(MASK, text)

    def holds(self, text: str) -> bool:
        """True when ``text`` contains a value remembered here (a search, no substitution)."""
        pattern = self._compiled()
        return pattern is not None and pattern.search(text) is not None

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first: a key that contains another is masked whole.
                forms = {f: len(v) for v in self._values for f in encoded_forms(v)}
                values = sorted(forms, key=len, reverse=True)
                alternatives = [
                    re.escape(f)
                    if forms[f] >= _MIN_SCRUB_LENGTH
                    else _STANDALONE.format(re.escape(f))
                    for f in values
                ]
                self._pattern = re.compile("|".join(alternatives))
            return self._pattern


# Library use outside a run (a script calling config.load, the test suite) keeps the
# behaviour of one registry for the process.
_PROCESS = SecretRegistry()
_current: ContextVar[SecretRegistry] = ContextVar("reconciler_secrets", default=_PROCESS)


def current_registry() -> SecretRegistry:
    """The registry of the run this code runs in (the process's, outside any run)."""
    return _current.get()


@contextmanager
def scrubbing_run() -> Iterator[SecretRegistry]:
    """Start a run with a registry of its own; the previous one is back when it ends."""
    registry = SecretRegistry()
    token = _current.set(registry)
    try:
        yield registry
    finally:
        _current.reset(token)


def remember(value: str) -> None:
    """Scrub ``value`` from all text of the current run (a secret that is not a Secret yet)."""
    _current.get().remember(value)


def scrub(text: str) -> str:
    """``text`` with every secret value known to the current run replaced by the mask."""
    return _current.get().scrub(text)


# What well-known keys look like (OpenAI and Anthropic sk-..., Google AIza...).
_KEY_SHAPED = re.compile(r"(?<![A-Za-z0-9])(?:sk-[A-Za-z0-9_-]{32,}|AIza[A-Za-z0-9_-]{35})")


def looks_like_key(text: str) -> bool:
    """True when ``text`` holds something shaped like a well-known provider key."""
    return _KEY_SHAPED.search(text) is not None


def holds_secret(text: str) -> bool:
    """True when ``text`` contains a secret value of the current run, in any encoding
    (an upstream that echoes a key into a model id, say)."""
    return _current.get().holds(text)


def holds_key(text: str) -> bool:
    """Whether ``text`` holds a key value this run knows, or what looks like a key: what
    must never be written to a file (an export, an import)."""
    return holds_secret(text) or looks_like_key(text)
