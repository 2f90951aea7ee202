"""Observed → providers.yaml: the way in for an existing installation.

Keys are never exported: each provider that has (or may have) a key gets a
``${<NAME>_API_KEY}`` reference derived from its name, to be set in CI's secrets.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from reconciler.core.model import (
    DEFAULT_BASE_URLS,
    DEFAULT_SETTINGS,
    SETTING_NAMES,
    Observed,
    ProviderState,
    redact_url,
)

HEADER = """\
# Exported by `reconcile export` from {target}.
# Keys are not exported: set each ${{..._API_KEY}} variable (a CI secret) before plan/apply.
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


def _settings(p: ProviderState, observes: frozenset[str]) -> dict[str, str | bool]:
    """The settings the target reports and that differ from the defaults."""
    return {
        name: p.settings.value(name)
        for name in SETTING_NAMES
        if name in observes and p.settings.value(name) != DEFAULT_SETTINGS.value(name)
    }


def _entry(
    p: ProviderState,
    key_ref: str | None,
    env_base: str,
    warnings: list[str],
    observes: frozenset[str],
) -> dict[str, Any]:
    ptype = p.type or guess_type(p.base_url)
    entry: dict[str, Any] = {"name": p.name, "type": ptype}
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
            entry["base_url"] = p.base_url
    if key_ref is not None:
        entry["api_key"] = key_ref
    if not p.enabled:
        entry["enabled"] = False
    entry.update(_settings(p, observes))
    visible = sorted(m.id for m in p.models if m.visible)
    if visible:
        entry["models"] = {"visible": visible}
    return entry


def export(observed: Observed, *, target: str) -> tuple[str, list[str]]:
    """The target's providers as providers.yaml text, and warnings about it."""
    keys_observable = observed.capabilities.key_fingerprints
    used: set[str] = set()
    providers = []
    warnings: list[str] = []
    for p in sorted(observed.providers, key=lambda p: p.name.casefold()):
        name = env_name(p.name)
        candidate, n = name, 2
        while candidate in used:
            candidate = name.replace("_API_KEY", f"_{n}_API_KEY")
            n += 1
        used.add(candidate)
        if keys_observable:
            key_ref = f"${{{candidate}}}" if p.key is not None and p.key.present else None
        else:
            # The target cannot say whether a key is stored: reference one, allowed empty.
            key_ref = f"${{{candidate}:-}}"
        env_base = candidate.removesuffix("_API_KEY")
        providers.append(_entry(p, key_ref, env_base, warnings, observed.capabilities.observes))
    blind = [s for s in SETTING_NAMES if s not in observed.capabilities.observes]
    if blind and providers:
        warnings.append(
            f"this target does not report {', '.join(blind)}: the exported file leaves them "
            "out (false / empty), and applying it sets them so; declare the ones your "
            "providers use (an image provider needs image_only: true) before you apply"
        )
    body = yaml.safe_dump(
        {"version": 1, "providers": providers}, sort_keys=False, allow_unicode=True, width=100
    )
    return HEADER.format(target=target) + body, warnings
