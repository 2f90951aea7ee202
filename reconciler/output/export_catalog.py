"""The model catalog of an observed target as providers.yaml: ``models.settings``,
``models.aliases`` and the top-level ``tiers``.

Only what a plan compares is written, and as the target reports it, so that a plan of the
export against its target is empty: a setting only where it differs from what a fresh
fetch gives (display name = the id, empty text, no context length, flags off), never a
setting the target does not report (it could not be checked), every alias whole, and each
occupied tier by model id. Nothing that holds a key is written (an upstream may echo one
into a model id), nor an alias the file cannot hold: each is left out with a warning.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from reconciler.core.catalog import MODEL_SETTING_NAMES, Alias, StructuredOutput
from reconciler.core.model import ModelState, Observed, ProviderState
from reconciler.secrets import holds_key

__all__ = ["alias_entries", "exact_glob", "literal", "setting_entries", "tier_entries"]

_TEXT = ("description", "system_prompt")


def literal(text: str) -> str:
    """``text`` as a string value of this tool's files: ``${`` would be read as a
    reference, so it is written ``$${``. (Keys of a mapping are not substituted, so they
    are written as they are.)"""
    return text.replace("${", "$${")


def exact_glob(model_id: str, *, wildcards: bool = False) -> str:
    """A glob (a ``models.visible`` pattern or ``models.settings`` key) that matches
    ``model_id`` only: ``*``, ``?`` and ``[`` each become a one-character class (``[*]``).
    With ``wildcards``, ``*`` stays a wildcard, as LiteLLM reads it."""
    return re.sub(r"([?\[])" if wildcards else r"([*?\[])", r"[\1]", model_id)


def _model_settings(model: ModelState, reported: frozenset[str]) -> dict[str, Any]:
    """The settings of ``model`` that differ from what a fresh fetch gives."""
    out: dict[str, Any] = {}
    for name in MODEL_SETTING_NAMES:
        value = model.settings.value(name)
        if name not in reported or value is None:
            continue
        if name == "display_name":
            keep = value not in ("", model.id)
        elif name in _TEXT:
            keep = value != ""
        elif name == "context_length":
            keep = value != 0
        else:
            keep = value is True
        if keep:
            out[name] = literal(value) if isinstance(value, str) else value
    return out


def setting_entries(
    p: ProviderState, reported: frozenset[str], warnings: list[str]
) -> dict[str, dict[str, Any]]:
    """``models.settings`` of one provider: each model whose settings differ from a fresh
    fetch's, by id, in id order."""
    out: dict[str, dict[str, Any]] = {}
    left_out = 0
    for model in sorted(p.models, key=lambda m: m.id):
        settings = _model_settings(model, reported)
        if not settings:
            continue
        if holds_key(model.id) or any(
            isinstance(v, str) and holds_key(v) for v in settings.values()
        ):
            left_out += 1
            continue
        out[exact_glob(model.id)] = settings
    if left_out:
        warnings.append(
            f"provider '{p.name}': the settings of {left_out} model{'s' if left_out != 1 else ''} "
            "holding a key left out of models.settings (the target is left as it is)"
        )
    return out


def _alias_entry(alias: Alias) -> dict[str, Any]:
    """One alias, with every field it has (an alias is compared whole)."""
    out: dict[str, Any] = {}
    for f in fields(alias):
        value = getattr(alias, f.name)
        if f.name in ("name", "where") or value is None:
            continue
        if isinstance(value, StructuredOutput):
            shown = {g.name: getattr(value, g.name) for g in fields(StructuredOutput)}
            value = {k: literal(v) if isinstance(v, str) else v for k, v in shown.items()}
            value = {k: v for k, v in value.items() if v is not None}
            if not value:
                continue
        elif isinstance(value, str):
            value = literal(value)
        out[f.name] = value
    return out


def _alias_texts(alias: Alias) -> list[str]:
    texts = [alias.name, alias.model, alias.display_name, alias.description or ""]
    so = alias.structured_output
    return [*texts, so.support or "", so.badge or "", so.warning or ""]


def _unfit(alias: Alias, model_ids: set[str]) -> str | None:
    """Why the file cannot hold ``alias`` as the target has it (validate or plan would
    refuse the exported file), or None."""
    if "/" in alias.name:
        return "its name contains '/'"
    if alias.name.rstrip(" ") in (".", ".."):
        # ClaraVerse ignores trailing spaces in a name: '.. ' is '..' in a URL path.
        return f"its name is '{alias.name.rstrip(' ')}'"
    if alias.model.casefold() not in model_ids:
        return f"its model '{alias.model}' is not one of the provider's models"
    return None


def alias_entries(p: ProviderState, warnings: list[str]) -> dict[str, dict[str, Any]]:
    """``models.aliases`` of one provider, by name in name order; none at all when one of
    them holds a key or cannot be written (the file's list is authoritative: one left out
    would be deleted)."""
    leaky = sum(1 for a in p.aliases if any(holds_key(t) for t in _alias_texts(a) if t))
    if leaky:
        warnings.append(
            f"provider '{p.name}': {leaky} alias{'es' if leaky != 1 else ''} holding a key, so "
            "models.aliases is left out (a plan of the file leaves its aliases as they are)"
        )
        return {}
    ordered = sorted(p.aliases, key=lambda a: (a.key, a.name))
    model_ids = {m.id.casefold() for m in p.models}
    unfit = [(a.name, why) for a in ordered if (why := _unfit(a, model_ids)) is not None]
    if unfit:
        listed = "; ".join(f"'{name}': {why}" for name, why in unfit)
        warnings.append(
            f"provider '{p.name}': the file cannot hold {len(unfit)} of its aliases "
            f"({listed}), so models.aliases is left out (a plan of the file leaves its "
            "aliases as they are)"
        )
        return {}
    return {alias.name: _alias_entry(alias) for alias in ordered}


def tier_entries(observed: Observed, warnings: list[str]) -> dict[str, dict[str, str]]:
    """The top-level ``tiers``: each occupied tier as its provider's name and model id."""
    by_id = {p.id: p for p in observed.providers}
    out: dict[str, dict[str, str]] = {}
    for tier in sorted(observed.tiers, key=lambda t: t.tier):
        provider = by_id.get(tier.provider_id)
        if provider is None:
            warnings.append(
                f"tier {tier.tier}: its provider is not on the target; left out (the target "
                "is left as it is)"
            )
            continue
        if holds_key(tier.model_id):
            warnings.append(
                f"tier {tier.tier}: its model id holds a key; left out (the target is left "
                "as it is)"
            )
            continue
        # A tier naming an alias takes the alias's model: an alias called like this model
        # id but pointing elsewhere would make the tier mean another model.
        shadow = next((a for a in provider.aliases if a.key == tier.model_id.casefold()), None)
        if shadow is not None and shadow.model.casefold() != tier.model_id.casefold():
            warnings.append(
                f"tier {tier.tier}: model '{tier.model_id}' of provider '{provider.name}' is "
                f"also the name of an alias of '{shadow.model}', so the file cannot name it; "
                "left out (the target is left as it is)"
            )
            continue
        out[tier.tier] = {"provider": literal(provider.name), "model": literal(tier.model_id)}
    return out
