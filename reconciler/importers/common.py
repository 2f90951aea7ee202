"""What every importer produces, and the rules they share: keys, types, names, URLs.

An importer turns another system's file into a ``Source``: one ``Imported`` provider per
endpoint, each with the ``Note``s that say what could not be carried (with the source
line where the format has lines) and the ``comments`` kept for the reader. Keys never
travel as strings: a literal key becomes a ``Secret`` the moment it is read, and only its
variable name ever reaches the output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from reconciler.core.model import (
    DEFAULT_BASE_URLS,
    DEFAULT_SETTINGS,
    ModelRules,
    ProviderSettings,
    ProviderType,
)
from reconciler.output.export_catalog import literal
from reconciler.secrets import Secret

# A whole-value reference, as LibreChat (and this tool) write it, and as LiteLLM does.
_DOLLAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LITELLM_REF = re.compile(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)")
_ANY_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)|os\.environ/([A-Za-z_][A-Za-z0-9_]*)")
# Settings whose values are secrets (a master key, a database URL with its password).
SECRET_NAME = re.compile(r"key|secret|token|pass|database_url|dsn", re.IGNORECASE)

# Well-known API hosts, for names a reader recognises ("OpenAI", not "api.openai.com").
KNOWN_HOSTS: dict[str, str] = {
    "api.openai.com": "OpenAI",
    "api.anthropic.com": "Anthropic",
    "generativelanguage.googleapis.com": "Google AI",
    "api.mistral.ai": "Mistral",
    "api.groq.com": "Groq",
    "openrouter.ai": "OpenRouter",
    "api.deepseek.com": "DeepSeek",
    "api.together.xyz": "Together AI",
    "api.x.ai": "xAI",
    "api.fireworks.ai": "Fireworks AI",
    "api.perplexity.ai": "Perplexity",
    "api.cerebras.ai": "Cerebras",
}


@dataclass(frozen=True)
class Note:
    """Something of the source that the imported file does not carry, and why."""

    message: str
    line: int | None = None


@dataclass(frozen=True, kw_only=True)
class Key:
    """An admin key as the source gives it: the variable it names, or a literal value
    (a ``Secret``: written out only as a reference); neither is a key the source holds
    where we cannot read it (it gets a variable of its own)."""

    variable: str | None = None
    literal: Secret | None = None


@dataclass(frozen=True, kw_only=True)
class Imported:
    """One provider as it will be written. ``base_url`` is in this tool's syntax (a
    ``${VAR}`` in it is a reference); None means the type's default."""

    name: str
    type: ProviderType
    base_url: str | None = None
    key: Key | None = None
    enabled: bool = True
    fetch_models: bool = True
    settings: ProviderSettings = DEFAULT_SETTINGS
    models: ModelRules | None = None
    notes: tuple[Note, ...] = ()
    comments: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True, kw_only=True)
class Source:
    """Everything read from one file: its providers, and notes about the file as a whole."""

    format: str
    file: str
    providers: tuple[Imported, ...]
    notes: tuple[Note, ...] = ()
    # Literal values the source holds besides keys (a LiteLLM environment_variables
    # section): never written, and scrubbed from output like keys.
    secrets: tuple[Secret, ...] = field(default=(), repr=False)


def reference(text: str) -> str | None:
    """The variable a whole value names (``${X}`` or LiteLLM's ``os.environ/X``), or None."""
    text = text.strip()
    match = _DOLLAR_REF.fullmatch(text) or _LITELLM_REF.fullmatch(text)
    return match.group(1) if match else None


def variables_in(text: str) -> set[str]:
    """Every variable a source file names anywhere (``${X}``, ``os.environ/X``): the names
    it already gives a meaning, which a generated variable must not take."""
    return {a or b for a, b in _ANY_REF.findall(text)}


def key_from(value: object) -> Key | None:
    """A key as a source writes it: empty is no key, a reference keeps its variable,
    anything else is a literal (held as a Secret from here on)."""
    if value is None:
        return None
    text = str(value)
    if not text.strip():
        return None
    variable = reference(text)
    if variable is not None:
        return Key(variable=variable)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return Key()  # a lone surrogate: no HTTP client could send it; a variable of its own
    return Key(literal=Secret(text))


def url_from(value: str) -> str:
    """A source's URL in this tool's syntax: ``os.environ/X`` and ``${X}`` become
    references, anything else is literal; a trailing slash goes."""
    variable = reference(value)
    if variable is not None:
        return f"${{{variable}}}"
    return literal(value.strip().rstrip("/"))


def host_of(url: str | None) -> str:
    """The lower-cased host of a URL, or '' (for a reference, or nothing)."""
    if not url or "${" in url.replace("$${", ""):
        return ""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def is_http_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host, or a reference (checked when set)."""
    if "${" in url.replace("$${", ""):
        return True
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def infer_type(url: str | None) -> ProviderType:
    """``api.anthropic.com`` is anthropic, ``generativelanguage.googleapis.com`` google,
    anything else speaks OpenAI's API."""
    host = host_of(url)
    if host == "api.anthropic.com":
        return "anthropic"
    if host == "generativelanguage.googleapis.com":
        return "google"
    return "openai"


def native_base_url(ptype: ProviderType, url: str | None) -> str | None:
    """The base URL this tool's ``ptype`` expects, from an OpenAI-style one: Anthropic's
    ``/v1`` and Google's ``/openai`` suffixes go (the types add their own paths), and the
    type's default becomes None (not written)."""
    if url is None:
        return None
    trimmed = url.rstrip("/")
    if ptype == "anthropic":
        trimmed = trimmed.removesuffix("/v1")
    elif ptype == "google":
        trimmed = trimmed.removesuffix("/openai")
    return None if DEFAULT_BASE_URLS.get(ptype) == trimmed else trimmed


def name_from_url(url: str | None, fallback: str = "Provider") -> str:
    """A provider name for an endpoint without one: the vendor of a well-known host, else
    the host (and port)."""
    host = host_of(url)
    if host in KNOWN_HOSTS:
        return KNOWN_HOSTS[host]
    if not host:
        return fallback
    try:
        port = urlsplit(url or "").port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def plural(count: int, word: str) -> str:
    """``1 model``, ``2 models``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def quoted(items: Iterable[str]) -> str:
    """``'a', 'b'``: names and patterns as a message shows them."""
    return ", ".join(f"'{item}'" for item in items)
