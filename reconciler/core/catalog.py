"""The model catalog's values: per-model settings, aliases and the five global tiers.

Desired and observed sides share these types. ``None`` in a ``ModelSettings`` means "not
declared" on the file's side and "not reported" on the target's side: only the fields a
file declares are ever compared or written, so a write never resets what the file leaves
out. An ``Alias`` is whole: changing one is a delete and a create (ClaraVerse has no
update), so every field it leaves out is part of the alias as stored.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

ModelSettingName = Literal[
    "display_name",
    "description",
    "context_length",
    "system_prompt",
    "supports_tools",
    "supports_vision",
    "supports_streaming",
    "smart_tool_router",
    "agents",
]
MODEL_SETTING_NAMES: tuple[ModelSettingName, ...] = (
    "display_name",
    "description",
    "context_length",
    "system_prompt",
    "supports_tools",
    "supports_vision",
    "supports_streaming",
    "smart_tool_router",
    "agents",
)

SettingValue = str | int | bool

TierName = Literal["tier1", "tier2", "tier3", "tier4", "tier5"]
TIER_NAMES: tuple[TierName, ...] = ("tier1", "tier2", "tier3", "tier4", "tier5")

STRUCTURED_SUPPORT = ("excellent", "good", "fair", "poor", "unknown")

# An alias's boolean fields, by Alias field name.
ALIAS_FLAGS = (
    "agents",
    "supports_vision",
    "smart_tool_router",
    "free_tier",
    "memory_extractor",
    "memory_selector",
)


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """Settings of one model; ``None`` = not declared (file) or not reported (target)."""

    display_name: str | None = None
    description: str | None = None
    context_length: int | None = None
    system_prompt: str | None = None
    supports_tools: bool | None = None
    supports_vision: bool | None = None
    supports_streaming: bool | None = None
    smart_tool_router: bool | None = None
    agents: bool | None = None

    def value(self, name: ModelSettingName) -> SettingValue | None:
        """One setting, by name."""
        value: SettingValue | None = getattr(self, name)
        return value

    def declared(self) -> dict[ModelSettingName, SettingValue]:
        """The settings that are not None, in MODEL_SETTING_NAMES order."""
        return {n: v for n in MODEL_SETTING_NAMES if (v := self.value(n)) is not None}

    def over(self, base: ModelSettings) -> ModelSettings:
        """These settings laid over ``base``: a field declared here wins."""
        declared: dict[str, Any] = {n: v for n, v in self.declared().items()}
        return replace(base, **declared)

    def only(self, names: Iterable[ModelSettingName]) -> ModelSettings:
        """Just the ``names`` of these settings (the others None)."""
        keep = set(names)
        kept: dict[str, Any] = {n: v for n, v in self.declared().items() if n in keep}
        return ModelSettings(**kept)


NO_SETTINGS = ModelSettings()


@dataclass(frozen=True, kw_only=True)
class ModelSettingRule:
    """``models.settings`` entry: settings for the models whose id matches ``pattern``."""

    pattern: str
    settings: ModelSettings
    # "providers.yaml:12": where the rule is written, for warnings.
    where: str | None = field(default=None, compare=False)

    @property
    def is_glob(self) -> bool:
        """True when the pattern is a glob rather than one model id."""
        return any(c in self.pattern for c in "*?[")


def settings_for(rules: Iterable[ModelSettingRule], model_id: str) -> ModelSettings:
    """The declared settings of ``model_id``: globs in file order, later ones winning field
    by field, then the rule naming the id exactly, which beats them all."""
    rules = tuple(rules)
    merged = NO_SETTINGS
    for rule in rules:
        if rule.is_glob and fnmatch.fnmatchcase(model_id, rule.pattern):
            merged = rule.settings.over(merged)
    for rule in rules:
        # Model ids are case-insensitive on ClaraVerse: an exact key matches either case.
        if not rule.is_glob and rule.pattern.casefold() == model_id.casefold():
            merged = rule.settings.over(merged)
    return merged


@dataclass(frozen=True, kw_only=True)
class StructuredOutput:
    """How well a model follows a JSON schema, as ClaraVerse shows it on an alias."""

    support: str | None = None
    compliance: int | None = None
    speed_ms: int | None = None
    badge: str | None = None
    warning: str | None = None


def alias_key(name: str) -> str:
    """What makes an alias name unique within its provider: ClaraVerse compares names
    ignoring case and trailing spaces."""
    return name.rstrip(" ").casefold()


def deletable_by_name(name: str) -> bool:
    """False for the alias names ClaraVerse cannot delete by name (a ``/``, or a name that
    is ``.`` or ``..``, which URLs resolve away): such an alias goes only with its model or
    its provider."""
    return "/" not in name and name.rstrip(" ") not in (".", "..")


@dataclass(frozen=True, kw_only=True)
class Alias:
    """A user-facing name for one of a provider's models, with its display metadata.
    Empty strings are stored as None (ClaraVerse stores NULL for them)."""

    name: str
    model: str
    display_name: str = ""
    description: str | None = None
    agents: bool | None = None
    supports_vision: bool | None = None
    smart_tool_router: bool | None = None
    free_tier: bool | None = None
    structured_output: StructuredOutput = StructuredOutput()
    memory_extractor: bool | None = None
    memory_selector: bool | None = None
    where: str | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """What makes an alias unique within its provider (``alias_key``)."""
        return alias_key(self.name)

    def differences(self, other: Alias) -> tuple[str, ...]:
        """The fields (``structured_output.badge`` style) in which ``other`` differs."""
        # The name as users see it: a change of case is a change (the key ignores it).
        out: list[str] = ["name"] if self.name != other.name else []
        for f in fields(self):
            if f.name in ("name", "where"):
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "model":
                mine, theirs = mine.casefold(), theirs.casefold()
            if f.name == "structured_output":
                out.extend(
                    f"structured_output.{g.name}"
                    for g in fields(StructuredOutput)
                    if getattr(mine, g.name) != getattr(theirs, g.name)
                )
            elif mine != theirs:
                out.append(f.name)
        return tuple(out)


@dataclass(frozen=True, kw_only=True)
class TierSpec:
    """A declared tier: ``model`` is a model id or an alias name of ``provider``."""

    tier: TierName
    provider: str
    model: str
    where: str | None = field(default=None, compare=False)


@dataclass(frozen=True, kw_only=True)
class TierState:
    """An occupied tier as the target reports it."""

    tier: str
    provider_id: str
    model_id: str
