"""The domain values: what the file asks for (Desired) and what a target has (Observed).

Both sides are frozen dataclasses so that the diff between them can be a pure function.
Identity is the provider ``name``; ids belong to the target and are opaque strings here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from reconciler.core.catalog import (
    NO_SETTINGS,
    Alias,
    ModelSettingName,
    ModelSettingRule,
    ModelSettings,
    TierSpec,
    TierState,
)
from reconciler.errors import format_location
from reconciler.secrets import Secret

ProviderType = Literal["openai", "anthropic", "google"]
PROVIDER_TYPES: tuple[ProviderType, ...] = ("openai", "anthropic", "google")

DEFAULT_BASE_URLS: dict[str, str] = {
    "anthropic": "https://api.anthropic.com",
    "google": "https://generativelanguage.googleapis.com/v1beta",
}

# ClaraVerse's own provider settings, by its own names. A chat list leaves out providers
# that are audio-, image- or image-edit-only; image generation uses the image_only ones.
SettingName = Literal[
    "audio_only", "image_only", "image_edit_only", "default_model", "system_prompt", "favicon"
]
SETTING_NAMES: tuple[SettingName, ...] = (
    "audio_only",
    "image_only",
    "image_edit_only",
    "default_model",
    "system_prompt",
    "favicon",
)

# The settings that are flags (a provider is chat, or one of these kinds); the others text.
KIND_SETTINGS: tuple[SettingName, ...] = ("audio_only", "image_only", "image_edit_only")

# The fields a target may be able to observe; the diff compares only those it declares.
Field = Literal[
    "type",
    "base_url",
    "enabled",
    "api_key",
    "models",
    "audio_only",
    "image_only",
    "image_edit_only",
    "default_model",
    "system_prompt",
    "favicon",
]


@dataclass(frozen=True, kw_only=True)
class ProviderSettings:
    """A provider's settings besides name, type, URL, key and enabled. The file is
    authoritative: a setting it does not declare is this default."""

    audio_only: bool = False
    image_only: bool = False
    image_edit_only: bool = False
    default_model: str = ""
    system_prompt: str = ""
    favicon: str = ""

    def value(self, name: SettingName) -> bool | str:
        """The value of one setting, by name."""
        value: bool | str = getattr(self, name)
        return value


DEFAULT_SETTINGS = ProviderSettings()


@dataclass(frozen=True, kw_only=True)
class Location:
    """Where a value came from: file, 1-based line and column."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        return format_location(self.file, self.line, self.column)


@dataclass(frozen=True, kw_only=True)
class ModelRules:
    """Which of a provider's models users see: glob patterns over model ids."""

    visible: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    only_listed: bool = False
    # Where each pattern is written, by position in ``visible`` / ``hidden``: a warning
    # about one pattern points at its line. Empty when not read from a file.
    visible_at: tuple[Location, ...] = field(default=(), compare=False)
    hidden_at: tuple[Location, ...] = field(default=(), compare=False)
    # The catalog: settings by model id or glob, and the provider's aliases (None: the
    # file declares none, and the target's are left alone).
    settings: tuple[ModelSettingRule, ...] = ()
    aliases: tuple[Alias, ...] | None = None

    @property
    def decide_visibility(self) -> bool:
        """True when these rules show or hide any model (not only the catalog)."""
        return bool(self.visible or self.hidden or self.only_listed)

    def location(self, kind: Literal["visible", "hidden"], index: int) -> Location | None:
        """Where the ``index``-th pattern of ``kind`` is written, if known."""
        where = self.visible_at if kind == "visible" else self.hidden_at
        return where[index] if index < len(where) else None


def redact_url(url: str) -> str:
    """``url`` fit to print: a user:password part and a query (``?key=...``, Google's
    documented way to pass a key) are masked. Anything unparsable is masked whole."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "***" if parts.query else ""
    return parts._replace(netloc=netloc, query=query).geturl()


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses: local engines need no key."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_local_url(url: str | None) -> bool:
    """True when the URL's host is this machine (a local engine)."""
    return is_loopback(urlsplit(url or "").hostname or "")


def needs_key(provider_type: str | None, base_url: str | None) -> bool:
    """Whether requests to this provider fail without a key (all but local engines)."""
    if provider_type in ("anthropic", "google"):
        return True
    return not is_local_url(base_url)


@dataclass(frozen=True, kw_only=True)
class Override:
    """A field of a provider whose value an environment's override gave: the field and
    where that override is written (``providers.yaml:12``). Never the value."""

    field: str
    source: str


@dataclass(frozen=True, kw_only=True)
class ProviderSpec:
    """One provider as the file declares it, after substitution and defaults."""

    name: str
    ensure: Literal["present", "absent"] = "present"
    type: ProviderType | None = None
    base_url: str | None = None
    api_key: Secret | None = None
    # The api_key as written (``${OPENAI_API_KEY}``): safe to show and to save in a plan.
    api_key_ref: str | None = None
    enabled: bool = True
    renamed_from: tuple[str, ...] = ()
    fetch_models: bool = True
    settings: ProviderSettings = DEFAULT_SETTINGS
    models: ModelRules | None = None
    location: Location | None = field(default=None, compare=False)
    # The fields the selected environment's override set (the others are the base entry's).
    overrides: tuple[Override, ...] = field(default=(), compare=False)

    @property
    def unusable_without_user_key(self) -> bool:
        """True when no admin key is declared but the provider's type needs one."""
        return self.api_key is None and needs_key(self.type, self.base_url)


def keyless_warning(specs: Iterable[ProviderSpec]) -> str | None:
    """One warning for all the providers that need a key and have no admin key (None if
    none): a file of providers for users who bring their own keys would otherwise repeat
    the same line for each of them."""
    keyless = [s for s in specs if s.ensure == "present" and s.unusable_without_user_key]
    if len(keyless) == 1:
        where = f"{keyless[0].location}: " if keyless[0].location else ""
        return (
            f"{where}provider '{keyless[0].name}': no admin api_key; only users with their "
            "own key can use it"
        )
    if not keyless:
        return None
    listed = ", ".join(
        f"'{s.name}' ({s.location})" if s.location else f"'{s.name}'" for s in keyless
    )
    return (
        f"{len(keyless)} providers have no admin api_key; only users with their own key can "
        f"use them: {listed}"
    )


@dataclass(frozen=True, kw_only=True)
class Desired:
    """Everything the configuration files declare."""

    providers: tuple[ProviderSpec, ...]
    # The declared tiers (``tiers:``); the others are left alone.
    tiers: tuple[TierSpec, ...] = ()
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # The environment the files were read for (``--env``), and its declared target.
    environment: str | None = None
    target: str | None = None
    # Globs over names: providers no file declares that match one are never pruned.
    prune_ignore: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ModelState:
    """One model of a provider, as the target has it."""

    id: str
    visible: bool = False
    # What the target reports of the model's settings (None: not reported).
    settings: ModelSettings = NO_SETTINGS


@dataclass(frozen=True, kw_only=True)
class FetchResult:
    """What a successful model fetch stored, and what the user should know about it."""

    count: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class KeyState:
    """What a target can tell about a provider's stored key without revealing it."""

    present: bool
    salt: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderState:
    """One provider as the target has it. ``None`` means the target does not report it."""

    id: str
    name: str
    type: ProviderType | None = None
    base_url: str | None = None
    enabled: bool = True
    key: KeyState | None = None
    # Only the settings named in the target's ``capabilities.observes`` are meaningful.
    settings: ProviderSettings = DEFAULT_SETTINGS
    models: tuple[ModelState, ...] = ()
    model_count: int = 0
    # Whether models were ever fetched successfully; None when the target cannot say.
    fetched: bool | None = None
    last_fetch_error: str | None = None
    # The provider's aliases the target has (see Observed.aliases_read_for).
    aliases: tuple[Alias, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a target can observe and do; the diff relies on nothing else."""

    observes: frozenset[Field]
    # True when the target stores key fingerprints, so key rotation can be detected.
    key_fingerprints: bool = False
    # True when the target lists each provider's models (ids and visibility).
    lists_models: bool = False
    # True when a model id exists once on the whole target and visibility is set by id
    # (ClaraVerse): a fetch cannot take an id another provider holds.
    visibility_by_id: bool = False
    # The model settings the target reports; the others are sent, never compared.
    model_settings: frozenset[ModelSettingName] = frozenset()
    # True when the target stores a tier by its model's display name (ClaraVerse): a new
    # display name detaches the tier, which must then be set again.
    tiers_by_display_name: bool = False
    # Providers the target creates by itself (a ClaraVerse server registers "Ollama" and
    # "LM Studio" when it finds local engines): pruning them would only see them return.
    self_created: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class Observed:
    """Everything the target holds, observed in one pass."""

    providers: tuple[ProviderState, ...]
    capabilities: Capabilities
    # What the target wants said about itself in the plan ("the store does not exist yet").
    notes: tuple[str, ...] = ()
    tiers: tuple[TierState, ...] = ()
    # The model ids (casefolded) whose aliases were read; None when all were. A target
    # that lists aliases per model (ClaraVerse) reads those the file's aliases name and the
    # visible models of the providers that declare aliases (core.target.AliasScope).
    aliases_read_for: frozenset[str] | None = None

    def by_name(self) -> dict[str, ProviderState]:
        """Providers keyed by name."""
        return {p.name: p for p in self.providers}
