"""Observed → providers.yaml: the way in for an existing installation.

Keys are never exported: each provider that has a key gets a ``${<NAME>_API_KEY}``
reference derived from its name, to be set in CI's secrets. Of a target that cannot say
whether a key is stored (a ClaraVerse server), every provider gets one, and required,
local engines too: applying no key would clear the server's (a plan without the variable
fails instead); a warning names the local engines, which may have none.

The file is made so that a plan of it against the target it came from is empty: every
value is written as the file format reads it back (``${`` as ``$${``, model ids as globs
that match only themselves), and a provider that has no models is told not to fetch them.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from reconciler.core.catalog import MODEL_SETTING_NAMES
from reconciler.core.model import (
    DEFAULT_BASE_URLS,
    DEFAULT_SETTINGS,
    SETTING_NAMES,
    Observed,
    ProviderState,
    needs_key,
    redact_url,
)
from reconciler.output.export_catalog import (
    alias_entries,
    exact_glob,
    literal,
    setting_entries,
    tier_entries,
)
from reconciler.secrets import holds_key

HEADER = """\
# Exported by `reconcile export` from {target}.
# Keys are not exported: set each ${{..._API_KEY}} variable (a CI secret) before plan/apply.
"""


ENVIRONMENT_HEADER = """\
# The providers of environment {environment}: what differs from the other environments'
# exports goes under each provider's environments: {environment}: override.
"""


def env_name(provider_name: str) -> str:
    """``Google AI`` → ``GOOGLE_AI_API_KEY``."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", provider_name).strip("_").upper() or "PROVIDER"
    if base[0].isdigit():
        base = f"P_{base}"
    return f"{base}_API_KEY"


def guess_type(base_url: str | None) -> str:
    """A target that does not report ``type`` (ClaraVerse) gets it guessed from the URL."""
    url = (base_url or "").lower()
    if "anthropic.com" in url:
        return "anthropic"
    if "generativelanguage.googleapis.com" in url:
        return "google"
    return "openai"


def literal_pattern(model_id: str) -> str:
    """A ``models.visible`` glob that matches ``model_id`` and nothing else, written as a
    string value of the file (``${`` as ``$${``)."""
    return literal(exact_glob(model_id))


def _settings(p: ProviderState, observes: frozenset[str]) -> dict[str, str | bool]:
    """The settings the target reports and that differ from the defaults."""
    return {
        name: literal(value) if isinstance(value := p.settings.value(name), str) else value
        for name in SETTING_NAMES
        if name in observes and p.settings.value(name) != DEFAULT_SETTINGS.value(name)
    }


def _visible(p: ProviderState, warnings: list[str]) -> list[str]:
    """The patterns of the provider's visible models. An id that holds a key (an upstream
    may echo one) is left out: written, it would put the key in git, and scrubbed to
    ``***`` it would be a pattern that shows every model."""
    ids = sorted(m.id for m in p.models if m.visible)
    kept = [i for i in ids if not holds_key(i)]
    if len(kept) < len(ids):
        count = len(ids) - len(kept)
        warnings.append(
            f"provider '{p.name}': {count} visible model id{'s' if count != 1 else ''} "
            "holding a key left out of models.visible (the target is left as it is); ask the "
            "upstream's owner why its model list holds a key"
        )
    return [literal_pattern(i) for i in kept]


def _fetch_planned(p: ProviderState, ptype: str, key_ref: str | None) -> bool:
    """Whether a plan of the exported entry would fetch the provider's models because it
    has none yet: as the diff decides it (enabled, a key or none needed, no failed fetch
    to retry, never fetched or no models)."""
    if not p.enabled or p.last_fetch_error is not None:
        return False
    if key_ref is None and needs_key(ptype, p.base_url):
        return False
    return p.fetched is False or (p.fetched is None and p.model_count == 0)


def _entry(
    p: ProviderState,
    key_ref: str | None,
    env_base: str,
    warnings: list[str],
    observed: Observed,
) -> dict[str, Any]:
    ptype = p.type or guess_type(p.base_url)
    entry: dict[str, Any] = {"name": literal(p.name), "type": ptype}
    if p.base_url and DEFAULT_BASE_URLS.get(ptype) != p.base_url:
        if redact_url(p.base_url) != p.base_url:
            # A URL holding credentials or ?key= must not land in git: reference it.
            entry["base_url"] = f"${{{env_base}_BASE_URL}}"
            warnings.append(
                f"provider '{p.name}': its base_url holds credentials or a query "
                f"({redact_url(p.base_url)}); exported as ${{{env_base}_BASE_URL}}: set that "
                "variable, or better, move the key to api_key"
            )
        else:
            entry["base_url"] = literal(p.base_url)
    if key_ref is not None:
        entry["api_key"] = key_ref
    if not p.enabled:
        entry["enabled"] = False
    if _fetch_planned(p, ptype, key_ref):
        entry["fetch_models"] = False
    entry.update(_settings(p, observed.capabilities.observes))
    models: dict[str, Any] = {}
    visible = _visible(p, warnings)
    if visible:
        models["visible"] = visible
    settings = setting_entries(p, observed.capabilities.model_settings, warnings)
    if settings:
        models["settings"] = settings
    aliases = alias_entries(p, warnings)
    if aliases:
        models["aliases"] = aliases
    if models:
        entry["models"] = models
    return entry


def _ordered(observed: Observed) -> list[ProviderState]:
    return sorted(observed.providers, key=lambda p: p.name.casefold())


def _variables(ordered: list[ProviderState]) -> list[str]:
    """Each provider's key variable, in order: derived from its name, never shared."""
    out: list[str] = []
    used: set[str] = set()
    for p in ordered:
        name = env_name(p.name)
        candidate, n = name, 2
        while candidate in used:
            candidate = name.replace("_API_KEY", f"_{n}_API_KEY")
            n += 1
        used.add(candidate)
        out.append(candidate)
    return out


def key_variables(observed: Observed) -> list[str]:
    """The variables an export of ``observed`` references for keys, one per provider."""
    return _variables(_ordered(observed))


def _blind_model_settings(observed: Observed) -> list[str]:
    """A warning naming the model settings the target does not report, if it has models.
    (A target that reports none has no model catalog to export: nothing to warn about.)"""
    reported = observed.capabilities.model_settings
    blind = [n for n in MODEL_SETTING_NAMES if n not in reported]
    if not reported or not blind or not any(p.models for p in observed.providers):
        return []
    return [
        f"this target does not report model {', '.join(blind)}: the exported file leaves "
        "them out, and applying it leaves them as they are; declare them under "
        "models.settings to have apply send them"
    ]


def _key_ref(p: ProviderState, variable: str, keys_observable: bool) -> str | None:
    """The provider's ``api_key`` reference, or None for no ``api_key`` line."""
    if keys_observable:
        return f"${{{variable}}}" if p.key is not None and p.key.present else None
    # The target cannot say whether a key is stored. Required, not ``${VAR:-}`` nor left
    # out, even for a local engine: a plan without the variable would show no change (keys
    # are not compared), and apply would send no key, which clears the one on the server.
    return f"${{{variable}}}"


def _keyless_warning(names: list[str]) -> list[str]:
    """What applying the file does to the keys of the local engines exported without one."""
    if not names:
        return []
    count = len(names)
    return [
        f"{count} provider{'s' if count != 1 else ''} on a loopback address "
        f"({', '.join(names)}) exported with a required api_key reference too: this target "
        "cannot say whether one is stored, and applying a file without a key removes it; "
        "for a local engine that has none, write ${VAR:-} (or set the variable empty-"
        "allowed) before you apply"
    ]


def export(
    observed: Observed, *, target: str, environment: str | None = None
) -> tuple[str, list[str]]:
    """The target's providers as providers.yaml text, and warnings about it; of one
    ``environment``'s target, the header says which, and how to merge it."""
    providers = []
    warnings: list[str] = []
    keyless: list[str] = []
    ordered = _ordered(observed)
    for p, variable in zip(ordered, _variables(ordered), strict=True):
        key_ref = _key_ref(p, variable, observed.capabilities.key_fingerprints)
        keys_blind = not observed.capabilities.key_fingerprints
        if keys_blind and not needs_key(p.type or guess_type(p.base_url), p.base_url):
            keyless.append(p.name)
        env_base = variable.removesuffix("_API_KEY")
        providers.append(_entry(p, key_ref, env_base, warnings, observed))
    warnings.extend(_keyless_warning(keyless))
    unfetched = [p.name for p, e in zip(ordered, providers, strict=True) if "fetch_models" in e]
    if unfetched:
        warnings.append(
            f"{len(unfetched)} provider{'s' if len(unfetched) != 1 else ''} with no models "
            f"({', '.join(unfetched)}) exported with fetch_models: false, so that a plan of "
            "this file changes nothing; remove that line to have apply fetch their models"
        )
    blind = [s for s in SETTING_NAMES if s not in observed.capabilities.observes]
    if blind and providers:
        warnings.append(
            f"this target does not report {', '.join(blind)}: the exported file leaves them "
            "out (false / empty), and applying it sets them so; declare the ones your "
            "providers use (an image provider needs image_only: true) before you apply"
        )
    warnings.extend(_blind_model_settings(observed))
    document: dict[str, Any] = {"version": 1, "providers": providers}
    tiers = tier_entries(observed, warnings)
    if tiers:
        document["tiers"] = tiers
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    header = HEADER.format(target=target)
    if environment is not None:
        # The file is one environment's: a plain file, to compare with the others' and
        # merge into overrides (README: "Export: the way in").
        header += ENVIRONMENT_HEADER.format(environment=environment)
    return header + body, warnings
