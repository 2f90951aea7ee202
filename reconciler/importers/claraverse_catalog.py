"""The model catalog of a ClaraVerse providers.json entry: ``model_aliases`` and
``recommended_models``.

``model_aliases`` (alias name → ``ModelAlias``) becomes ``models.aliases``: ClaraVerse
stored each one whole (``INSERT ... ON DUPLICATE KEY UPDATE``, empty text as NULL). An
alias our format refuses is reported and kept as a comment. Its sync also copied an
alias's ``display_name``, ``description``, ``supports_vision`` and ``smart_tool_router``
onto the model whose id is the alias *name* (``WHERE id = <alias name>``), for enabled
providers, and failed that whole update when ``free_tier`` was set: an alias keyed by
its own model's id therefore also becomes ``models.settings`` of that model.

``recommended_models`` (``top``, ``medium``, ``fastest``, ``new``, per provider) has no
faithful counterpart in the five global tiers: it stays a comment, with how to write
``tiers:`` by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.catalog import (
    STRUCTURED_SUPPORT,
    TIER_NAMES,
    Alias,
    ModelSettingRule,
    ModelSettings,
    StructuredOutput,
    alias_key,
    deletable_by_name,
)
from reconciler.output.export_catalog import exact_glob
from reconciler.secrets import holds_key

RECOMMENDED = ("top", "medium", "fastest", "new")
_TIER_TITLES = ("Elite", "Premium", "Standard", "Fast", "New")
_ALIAS_STRINGS = (
    "actual_model",
    "display_name",
    "description",
    "structured_output_support",
    "structured_output_warning",
    "structured_output_badge",
)
_ALIAS_BOOLS = (
    "supports_vision",
    "agents",
    "smart_tool_router",
    "free_tier",
    "memory_extractor",
    "memory_selector",
)
_ALIAS_INTS = ("structured_output_compliance", "structured_output_speed_ms")
_LONGEST_BADGE = 50
# What the schema refuses in an alias name (control and text-direction characters), and
# line and paragraph separators, which providers.yaml does not read back as written.
_BAD_NAME_CHAR = re.compile(
    "[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
_GO_INT = 2**63  # Go's int: a larger number failed the whole file


def shown(text: str) -> str:
    """``text`` fit for a message: a character that could end the line or move the
    terminal's cursor is written as an escape (``\\u0007``)."""
    return _BAD_NAME_CHAR.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def get(obj: dict[str, Any], key: str) -> Any:
    """``obj[key]`` as Go's decoder finds it: the exact key, else one that differs in case."""
    if key in obj:
        return obj[key]
    for k, v in obj.items():
        if isinstance(k, str) and k.casefold() == key.casefold():
            return v
    return None


def type_errors(where: str, aliases: Any, recommended: Any) -> list[str]:
    """Values of ``model_aliases`` and ``recommended_models`` Go's decoder could not read
    (any one of them failed the whole file)."""
    errors = []
    for name, spec in aliases.items() if isinstance(aliases, dict) else ():
        at = f"{where}.model_aliases[{name!r}]"
        if spec is None:
            continue  # null: Go's zero value, an alias without actual_model
        if not isinstance(spec, dict):
            errors.append(f"{at}: not an object")
            continue
        for key in _ALIAS_STRINGS:
            if get(spec, key) is not None and not isinstance(get(spec, key), str):
                errors.append(f"{at}.{key}: not a string")
        for key in _ALIAS_BOOLS:
            if get(spec, key) is not None and not isinstance(get(spec, key), bool):
                errors.append(f"{at}.{key}: not true or false")
        for key in _ALIAS_INTS:
            value = get(spec, key)
            if value is not None and (type(value) is not int or abs(value) >= _GO_INT):
                errors.append(f"{at}.{key}: not an integer")
    for key in RECOMMENDED if isinstance(recommended, dict) else ():
        value = get(recommended, key)
        if value is not None and not isinstance(value, str):
            errors.append(f"{where}.recommended_models.{key}: not a string")
    return errors


@dataclass
class Catalog:
    """What one entry's ``model_aliases`` became: the aliases to declare (None: none),
    model settings ClaraVerse also set, notes, and the aliases kept as comments."""

    aliases: tuple[Alias, ...] | None = None
    settings: tuple[ModelSettingRule, ...] = ()
    notes: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def convert(aliases: Any, *, enabled: bool) -> Catalog:
    """``model_aliases`` of one entry (``enabled``: ClaraVerse copied metadata onto
    models only for enabled providers)."""
    out = Catalog()
    if not isinstance(aliases, dict) or not aliases:
        return out
    carried: dict[str, Alias] = {}
    kept: list[str] = []
    for position, (name, raw) in enumerate(aliases.items(), start=1):
        spec: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if _holds_key(name, spec):
            # Neither written nor kept as a comment: a key must not reach the file.
            out.notes.append(
                f"alias #{position} of 'model_aliases' holds what looks like a key: left out "
                "(not even as a comment); add it by hand without the key"
            )
            continue
        reasons = _refusals(name, spec, carried)
        if reasons:
            out.notes.append(
                f"alias '{shown(name)}' is not carried: {'; '.join(reasons)}; kept as a comment"
            )
            kept.append(f"  {shown(name)}: {_alias_text(spec)}")
            continue
        alias = _alias(name, spec)
        carried[alias.key] = alias
        rule = _model_settings(alias, spec, enabled, out.notes)
        if rule is not None:
            out.settings = (*out.settings, rule)
    if carried:
        out.aliases = tuple(carried.values())
        out.notes.append(
            f"'model_aliases' is written as models.aliases ({len(carried)}): applying this "
            "file makes them this provider's only aliases (any other alias it has on the "
            "target is deleted)"
        )
    if kept:
        out.comments = ["model_aliases not carried (see the notes above):", *kept]
    return out


def _holds_key(name: str, spec: dict[str, Any]) -> bool:
    texts = [name, *(v for v in spec.values() if isinstance(v, str))]
    return any(holds_key(t) for t in texts)


def _refusals(name: str, spec: dict[str, Any], carried: dict[str, Alias]) -> list[str]:
    """Why our format refuses this alias, if it does."""
    reasons = []
    if not name.strip():
        reasons.append("its name is empty")
    elif _BAD_NAME_CHAR.search(name):
        reasons.append("its name holds a control, text-direction or line-separator character")
    if "/" in name:
        reasons.append("its name holds '/', and ClaraVerse cannot delete such an alias")
    elif not deletable_by_name(name):
        reasons.append(
            f"its name is '{name.rstrip(' ')}', which ClaraVerse's admin API cannot take in a "
            "URL path"
        )
    same = carried.get(alias_key(name))
    if same is not None:
        reasons.append(
            f"it is the same name as alias '{shown(same.name)}' for ClaraVerse (which ignores "
            "case and trailing spaces), whose sync wrote both into one alias in Go's random "
            "map order: check which one your server has"
        )
    if not str(get(spec, "actual_model") or "").strip():
        reasons.append("it has no actual_model")
    support = get(spec, "structured_output_support")
    if support and _support(support) not in STRUCTURED_SUPPORT:
        reasons.append(
            f"structured_output_support '{shown(support)}' is not one of "
            + ", ".join(STRUCTURED_SUPPORT)
        )
    compliance = get(spec, "structured_output_compliance")
    if compliance is not None and not 0 <= compliance <= 100:
        reasons.append(f"structured_output_compliance {compliance} is not within 0..100")
    speed = get(spec, "structured_output_speed_ms")
    if speed is not None and speed < 0:
        reasons.append(f"structured_output_speed_ms {speed} is negative")
    badge = get(spec, "structured_output_badge") or ""
    if len(badge) > _LONGEST_BADGE:
        reasons.append(f"structured_output_badge is {len(badge)} characters (at most 50)")
    return reasons


def _support(value: str) -> str:
    # ClaraVerse's database matched its ENUM ignoring case and trailing spaces.
    return value.rstrip(" ").lower()


def _alias(name: str, spec: dict[str, Any]) -> Alias:
    """The alias as providers.yaml holds it; empty text is no value (ClaraVerse: NULL)."""
    flags = {f: get(spec, f) for f in _ALIAS_BOOLS}
    support = get(spec, "structured_output_support")
    return Alias(
        name=name,
        model=get(spec, "actual_model"),
        display_name=get(spec, "display_name") or "",
        description=get(spec, "description") or None,
        structured_output=StructuredOutput(
            support=_support(support) if support else None,
            compliance=get(spec, "structured_output_compliance"),
            speed_ms=get(spec, "structured_output_speed_ms"),
            badge=get(spec, "structured_output_badge") or None,
            warning=get(spec, "structured_output_warning") or None,
        ),
        **flags,
    )


def _model_settings(
    alias: Alias, spec: dict[str, Any], enabled: bool, notes: list[str]
) -> ModelSettingRule | None:
    """The settings ClaraVerse's sync also wrote on the model whose id is the alias's
    name; only found here when that model is the alias's own (other ids are unknown)."""
    if not enabled or alias.key != alias_key(alias.model):
        return None
    copied = ModelSettings(
        display_name=alias.display_name or None,
        description=alias.description,
        supports_vision=alias.supports_vision,
        smart_tool_router=alias.smart_tool_router,
    )
    if not copied.declared():
        return None
    if get(spec, "free_tier") is not None:
        notes.append(
            f"alias '{shown(alias.name)}' is keyed by its model's id, so ClaraVerse tried to "
            "copy its display name, description and flags onto that model, and failed (models have "
            "no free_tier): not written as models.settings either"
        )
        return None
    notes.append(
        f"alias '{shown(alias.name)}' is keyed by its model's id, so ClaraVerse also set its "
        f"{', '.join(copied.declared())} on that model: written as models.settings too"
    )
    return ModelSettingRule(pattern=exact_glob(alias.model), settings=copied)


def _alias_text(spec: Any) -> str:
    if not isinstance(spec, dict):
        return "(no values)"
    return ", ".join(f"{k}={shown(str(v))}" for k, v in spec.items() if v not in (None, ""))


def recommended_comments(provider: str, recommended: Any) -> list[str]:
    """``recommended_models`` as comments, with how to write it as ``tiers:`` by hand."""
    if not isinstance(recommended, dict):
        return []
    slots = [(t, get(recommended, t)) for t in RECOMMENDED if get(recommended, t)]
    if not slots:
        return []
    names = ", ".join(f"{t} ({title})" for t, title in zip(TIER_NAMES, _TIER_TITLES, strict=True))
    return [
        "recommended_models (ClaraVerse's per-provider slots; not carried): "
        + ", ".join(f"{slot}={model}" for slot, model in slots),
        f"To keep them, add a top-level tiers: by hand. Its tiers are global, one model each "
        f"across all providers: {names}. For example:",
        "  tiers:",
        f"    tier1: {{provider: {provider}, model: {slots[0][1]}}}",
    ]
