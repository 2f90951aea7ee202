"""The model catalog of the file: ``models.settings`` and ``models.aliases`` of a provider,
and the top-level ``tiers``. Values here are schema-valid and substituted; what the schema
cannot say (alias names ClaraVerse cannot handle, tiers naming a provider that is not
declared, tiers in several files) is checked here, every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.config.document import Document, Path, shown
from reconciler.core.catalog import (
    ALIAS_FLAGS,
    MODEL_SETTING_NAMES,
    TIER_NAMES,
    Alias,
    ModelSettingRule,
    ModelSettings,
    StructuredOutput,
    TierSpec,
    alias_key,
    deletable_by_name,
)
from reconciler.core.model import ProviderSpec
from reconciler.errors import Problem, format_location


def where(doc: Document, path: Path) -> str:
    """``file:line`` of ``path`` (its key), for warnings made at plan time."""
    location = doc.location(path)
    return format_location(location.file, location.line, None)


def setting_rules(
    models: Mapping[str, Any], doc: Document, at: Path
) -> tuple[ModelSettingRule, ...]:
    """``models.settings`` (at ``at``) as rules, in file order."""
    rules = []
    for pattern, values in (models.get("settings") or {}).items():
        declared = {n: values[n] for n in MODEL_SETTING_NAMES if n in values}
        rules.append(
            ModelSettingRule(
                pattern=pattern,
                settings=ModelSettings(**declared),
                where=where(doc, (*at, "settings", pattern)),
            )
        )
    return tuple(rules)


def aliases(models: Mapping[str, Any], doc: Document, at: Path) -> tuple[Alias, ...] | None:
    """``models.aliases`` (at ``at``); None when the file declares none (the target's are
    then left alone), ``()`` for ``aliases: {}`` (all of them deleted)."""
    declared = models.get("aliases")
    if declared is None:
        return None
    return tuple(
        _alias(name, values, where(doc, (*at, "aliases", name)))
        for name, values in declared.items()
    )


def _alias(name: str, values: Mapping[str, Any], at: str) -> Alias:
    flags = {f: values.get(f) for f in ALIAS_FLAGS}
    structured = values.get("structured_output") or {}
    return Alias(
        name=name,
        model=values["model"],
        display_name=values.get("display_name", ""),
        # ClaraVerse stores an empty text as NULL: so does the value compared with it.
        description=values.get("description") or None,
        structured_output=StructuredOutput(
            support=structured.get("support"),
            compliance=structured.get("compliance"),
            speed_ms=structured.get("speed_ms"),
            badge=structured.get("badge") or None,
            warning=structured.get("warning") or None,
        ),
        where=at,
        **flags,
    )


def alias_problems(doc: Document, at: Path, models: Any) -> list[Problem]:
    """Alias names ClaraVerse cannot keep apart or delete, in the ``models`` mapping at
    ``at`` (any value: an entry with schema errors elsewhere is checked too)."""
    declared = models.get("aliases") if isinstance(models, dict) else None
    if not isinstance(declared, dict):
        return []
    problems = []
    first: dict[str, str] = {}
    for name in declared:
        path = (*at, "aliases", name)
        if "/" in name:
            problems.append(
                doc.problem(
                    path,
                    f"alias name '{shown(name)}' contains '/', and ClaraVerse cannot delete "
                    "such an alias (its admin API takes the name in the URL path); use "
                    "another character, e.g. '-'",
                )
            )
        elif not deletable_by_name(name):
            # A URL path normalises "." and ".." away: a DELETE of alias ".." would reach
            # the route that deletes its model.
            problems.append(
                doc.problem(
                    path,
                    f"alias name '{shown(name)}' is a path segment ('.' or '..') that URLs "
                    "resolve away, so ClaraVerse's admin API cannot address it (a delete "
                    "would reach another route); choose a name with other characters",
                )
            )
        key = alias_key(name)
        if key in first:
            problems.append(
                doc.problem(
                    path,
                    f"alias '{shown(name)}' and alias '{shown(first[key])}' (at "
                    f"{where(doc, (*at, 'aliases', first[key]))}) are the same name for "
                    "ClaraVerse, which ignores case: rename or remove one of them",
                )
            )
        else:
            first[key] = name
    return problems


@dataclass(frozen=True)
class DeclaredTiers:
    """The ``tiers`` of one file."""

    doc: Document
    tiers: tuple[TierSpec, ...]


def read_tiers(doc: Document, data: Mapping[str, Any], reported: set[Path]) -> DeclaredTiers | None:
    """The file's ``tiers`` (None when it declares none). Only well-formed tiers are
    read: the schema check reports the others, and ``reported`` values (a missing
    variable) are left out, already reported."""
    declared = data.get("tiers")
    if not isinstance(declared, dict):
        return None if "tiers" not in data else DeclaredTiers(doc, ())
    tiers = []
    for tier in TIER_NAMES:
        value = declared.get(tier)
        if not isinstance(value, dict):
            continue
        provider, model = value.get("provider"), value.get("model")
        fields = (("tiers", tier, "provider"), ("tiers", tier, "model"))
        if not isinstance(provider, str) or not isinstance(model, str):
            continue
        # An empty value is the schema's to report; a blank provider is not declared.
        if not provider or not model or any(f in reported for f in fields):
            continue
        # Provider names are read stripped, so the one a tier names is too.
        spec = TierSpec(
            tier=tier, provider=provider.strip(), model=model, where=where(doc, ("tiers", tier))
        )
        tiers.append(spec)
    return DeclaredTiers(doc, tuple(tiers))


def tier_problems(
    declared: Sequence[DeclaredTiers],
    specs: Sequence[ProviderSpec],
    unreadable: Sequence[str],
    *,
    all_read: bool,
) -> list[Problem]:
    """Tiers declared in several files, and tiers naming a provider that is not declared
    or is to be deleted. ``unreadable``: names of entries with schema errors (reported
    already); ``all_read``: False when some file's provider list could not be read at all,
    so that "not declared" cannot be told."""
    problems = []
    if len(declared) > 1:
        first = declared[0]
        for other in declared[1:]:
            problems.append(
                other.doc.problem(
                    ("tiers",),
                    f"tiers are also declared at {first.doc.location(('tiers',))}; the five "
                    "tiers are global: declare them in one file only (move these there, or "
                    "remove one of the two)",
                )
            )
    by_name = {s.name: s for s in specs}
    for file in declared:
        for tier in file.tiers:
            spec = by_name.get(tier.provider)
            path = ("tiers", tier.tier, "provider")
            if spec is not None and spec.ensure == "absent":
                problems.append(
                    file.doc.problem(
                        path,
                        f"{tier.tier} names provider '{shown(tier.provider)}', which is to be "
                        f"deleted (ensure: absent, at {spec.location}); put another "
                        f"provider's model in {tier.tier}, or remove {tier.tier}",
                    )
                )
            elif spec is None and tier.provider not in unreadable and all_read:
                problems.append(file.doc.problem(path, _undeclared(tier, specs, unreadable)))
    return problems


def _undeclared(tier: TierSpec, specs: Sequence[ProviderSpec], unreadable: Sequence[str]) -> str:
    """Why a tier's provider is refused, and the likely fix."""
    message = (
        f"{tier.tier} names provider '{shown(tier.provider)}', which is not declared in the "
        "files; a tier holds a model of a provider this configuration declares"
    )
    renamed = [s for s in specs if tier.provider in s.renamed_from]
    if renamed:
        return f"{message}: it is renamed to '{shown(renamed[0].name)}', write that name"
    names = [*(s.name for s in specs), *unreadable]
    folded = [n for n in names if n.casefold() == tier.provider.casefold()]
    if folded:
        return f"{message}: names are case-sensitive, did you mean '{shown(folded[0])}'?"
    return f"{message}: declare it, or correct the name"


# --- what the schema check says of the catalog ---------------------------------------

_ALIAS_ONLY = ("free_tier", "structured_output", "memory_extractor", "memory_selector", "model")
_MODEL_ONLY = ("context_length", "system_prompt", "supports_tools", "supports_streaming")
_MISPLACED = {
    **{
        ("settings", f): f"{f} exists only on aliases (models.aliases), not on model settings"
        for f in _ALIAS_ONLY
    },
    ("settings", "free_tier"): "free_tier exists only on aliases (ClaraVerse models have no "
    "such column): set it on an alias under models.aliases, or remove it",
    **{
        ("aliases", f): f"{f} exists only on model settings (models.settings), not on aliases"
        for f in _MODEL_ONLY
    },
}
_TIERS = (
    "ClaraVerse has five tiers: tier1 (Elite), tier2 (Premium), tier3 (Standard), tier4 (Fast) "
    "and tier5 (New)"
)


def unknown_field_hint(path: Path, key: str) -> str | None:
    """What to say of an unknown field of the model catalog, rather than a close match:
    a field of the other kind of entry, or a sixth tier."""
    if path == ("tiers",):
        return _TIERS
    if len(path) >= 3 and path[-3] == "models":  # inside models.settings or .aliases
        return _MISPLACED.get((str(path[-2]), key))
    return None


_REQUIRED = {
    ("tiers", "provider"): " (the name of a provider declared in the files)",
    ("tiers", "model"): " (a model id of the provider, or the name of one of its aliases)",
    ("aliases", "model"): " (the id of the provider's model this alias stands for)",
}


def required_hint(path: Path, key: str) -> str | None:
    """What to add when ``key`` is missing at ``path`` of the catalog, if anything."""
    if path[:1] == ("tiers",):
        return _REQUIRED.get(("tiers", key))
    if len(path) >= 3 and path[-3] == "models":
        return _REQUIRED.get((str(path[-2]), key))
    return None
