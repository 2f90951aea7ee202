"""ClaraVerse's own ``providers.json`` (the file its backend once synced from), all of it.

``{"providers": [...]}``, each entry: ``name``, ``base_url`` (OpenAI-style, with ``/v1``),
``api_key``, ``enabled``, ``secure``, the six settings (``audio_only``, ``image_only``,
``image_edit_only``, ``default_model``, ``system_prompt``, ``favicon``), ``filters``,
``model_aliases`` and ``recommended_models``. ClaraVerse read it with Go's JSON decoder:
unknown keys ignored, keys matched without regard to case, a missing value is Go's zero
(so a missing ``enabled`` is false), and a value of the wrong type failed the whole file.
Names are unique without regard to case: a second entry of the same name updated the
first (its values, the first's name). ``secure`` was never stored. Model aliases and
recommended models: see ``claraverse_catalog``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.core.model import KIND_SETTINGS, SETTING_NAMES, ProviderSettings
from reconciler.errors import ReconcilerError
from reconciler.importers import claraverse_catalog as catalog
from reconciler.importers import filters as flt
from reconciler.importers.claraverse_catalog import get as _get
from reconciler.importers.common import (
    Imported,
    Note,
    Source,
    infer_type,
    is_http_url,
    key_from,
    native_base_url,
    quoted,
    url_from,
)
from reconciler.importers.sourcefile import Document

_BOOLS = ("enabled", "secure", "audio_only", "image_only", "image_edit_only")
_STRINGS = ("name", "base_url", "api_key", "default_model", "system_prompt", "favicon")


def detect(data: Any) -> bool:
    """A ``{"providers": [...]}`` document that is not already a providers.yaml."""
    return isinstance(data, dict) and isinstance(_get(data, "providers"), list)


def parse(doc: Document, file: str) -> Source:
    """The providers of a providers.json; a file ClaraVerse could not read is an error."""
    if not detect(doc.data):
        raise ReconcilerError(f"{file}: not a ClaraVerse providers.json (no 'providers' list)")
    entries: list[dict[str, Any]] = _get(doc.data, "providers")
    errors = [e for i, entry in enumerate(entries) for e in _type_errors(doc, file, i, entry)]
    if errors:
        raise ReconcilerError(
            f"{file}: ClaraVerse could not have read this file (Go's decoder fails on a "
            "value of the wrong type):\n  " + "\n  ".join(errors)
        )
    merged: dict[str, Imported] = {}
    skipped: list[Note] = []
    for index, entry in enumerate(entries):
        provider = _provider(doc, index, entry)
        if isinstance(provider, Note):
            skipped.append(provider)
            continue
        first = merged.get(provider.name.casefold())
        if first is not None:
            provider = replace(
                provider,
                name=first.name,
                notes=(
                    *first.notes,
                    Note(
                        f"declared again at line {provider.line}; ClaraVerse updated this "
                        "provider with the later entry's values, as done here",
                        first.line,
                    ),
                    *provider.notes,
                ),
            )
        merged[provider.name.casefold()] = provider
    providers = tuple(merged.values())
    return Source(
        format="claraverse",
        file=file,
        providers=providers,
        notes=(*_aliases_note(providers), *skipped),
    )


def _aliases_note(providers: tuple[Imported, ...]) -> list[Note]:
    """The warning at the top of the file: a declared alias list is authoritative."""
    named = [p.name for p in providers if p.models is not None and p.models.aliases is not None]
    if not named:
        return []
    return [
        Note(
            f"models.aliases of {quoted(named)} come from 'model_aliases'. Applying this file "
            "makes them each provider's only aliases: an alias the target has that is not "
            "listed is deleted. ClaraVerse never deleted an alias removed from providers.json, "
            "so a server may have more: run `reconcile plan` first, and add any alias you "
            "want to keep"
        )
    ]


def _type_errors(doc: Document, file: str, index: int, entry: Any) -> list[str]:
    where = f"{file}:{doc.line('providers', index) or '?'}: providers[{index}]"
    if not isinstance(entry, dict):
        return [f"{where}: not an object"]
    errors = []
    for key in _BOOLS:
        value = _get(entry, key)
        if value is not None and not isinstance(value, bool):
            errors.append(f"{where}.{key}: not true or false")
    for key in _STRINGS:
        value = _get(entry, key)
        if value is not None and not isinstance(value, str):
            errors.append(f"{where}.{key}: not a string")
    for key, kind in (("filters", list), ("model_aliases", dict), ("recommended_models", dict)):
        value = _get(entry, key)
        if value is not None and not isinstance(value, kind):
            errors.append(f"{where}.{key}: not {'a list' if kind is list else 'an object'}")
    errors.extend(
        catalog.type_errors(where, _get(entry, "model_aliases"), _get(entry, "recommended_models"))
    )
    filters = _get(entry, "filters")
    for i, f in enumerate(filters if isinstance(filters, list) else []):
        if not _filter_shape_ok(f):
            errors.append(
                f"{where}.filters[{i}]: needs a string pattern and action and an integer priority"
            )
    return errors


def _filter_shape_ok(f: Any) -> bool:
    if not isinstance(f, dict):
        return False
    priority = _get(f, "priority")
    strings = all(isinstance(_get(f, k) or "", str) for k in ("pattern", "action"))
    return strings and (priority is None or type(priority) is int)


def _provider(doc: Document, index: int, entry: dict[str, Any]) -> Imported | Note:
    """The provider of one entry, or why it is not imported."""
    line = doc.line("providers", index)
    name = (_get(entry, "name") or "").strip()
    url = (_get(entry, "base_url") or "").strip()
    if not name:
        return Note(f"providers[{index}] has no name: not imported", line)
    if not url or not is_http_url(url):
        # Nothing ClaraVerse could fetch models from, nor can a provider here.
        return Note(f"provider '{name}' has no http(s) base_url: not imported", line)
    ptype = infer_type(url)
    notes = [Note(n, line) for n in _dropped(entry, url)]
    if _get(entry, "enabled") is None:
        notes.append(Note("'enabled' is missing, which ClaraVerse read as false", line))
    settings, kind_notes = _settings(entry)
    conversion = flt.convert(_filters(doc, index, entry))
    aliases = catalog.convert(_get(entry, "model_aliases"), enabled=_get(entry, "enabled") is True)
    return Imported(
        name=name,
        type=ptype,
        base_url=native_base_url(ptype, url_from(url)),
        key=key_from(_get(entry, "api_key")),
        enabled=_get(entry, "enabled") is True,
        settings=settings,
        models=replace(conversion.rules, settings=aliases.settings, aliases=aliases.aliases),
        notes=tuple(
            [*notes, *(Note(n, line) for n in kind_notes)]
            + [Note(loss, line) for loss in conversion.losses]
            + _filter_notes(doc, index, entry)
            + [Note(n, line) for n in aliases.notes]
        ),
        comments=(
            *_comments(entry),
            *aliases.comments,
            *catalog.recommended_comments(name, _get(entry, "recommended_models")),
        ),
        line=line,
    )


def _dropped(entry: dict[str, Any], url: str) -> list[str]:
    """What of the entry cannot be written as it is, and why."""
    notes = []
    if _get(entry, "secure") is not None:
        notes.append("'secure' is not carried: ClaraVerse never stored it either")
    recommended = _get(entry, "recommended_models")
    if isinstance(recommended, dict) and any(_get(recommended, t) for t in catalog.RECOMMENDED):
        notes.append(
            "'recommended_models' is not carried: its per-provider slots (top, medium, "
            "fastest, new) have no counterpart among the five global tiers; kept as a "
            "comment next to this provider, with how to write tiers: by hand"
        )
    if infer_type(url) == "google":
        notes.append(
            "ClaraVerse listed this endpoint's models through Google's OpenAI-compatible "
            "API; the google type lists them natively (ids without 'models/'): check that "
            "the patterns below still match"
        )
    return notes


def _settings(entry: dict[str, Any]) -> tuple[ProviderSettings, list[str]]:
    values: dict[str, Any] = {}
    for setting in SETTING_NAMES:
        value = _get(entry, setting)
        if value not in (None, False, ""):
            values[setting] = value
    kinds = [k for k in KIND_SETTINGS if values.get(k) is True]
    notes = []
    for extra in kinds[1:]:
        del values[extra]
        notes.append(
            f"'{extra}' is not carried: a provider is one kind here ('{kinds[0]}' is kept); "
            "declare another provider with the same base_url and api_key for it"
        )
    return ProviderSettings(**values), notes


def _filters(doc: Document, index: int, entry: dict[str, Any]) -> list[flt.Filter]:
    out = []
    for i, raw in enumerate(_get(entry, "filters") or []):
        action = str(_get(raw, "action") or "").strip().lower()
        if action not in ("include", "exclude"):
            continue  # reported by _filter_notes
        out.append(
            flt.Filter(
                pattern=_get(raw, "pattern") or "",
                action=action,
                priority=_get(raw, "priority") or 0,
                index=i,
                line=doc.line("providers", index, "filters", i),
            )
        )
    return out


def _filter_notes(doc: Document, index: int, entry: dict[str, Any]) -> list[Note]:
    notes = []
    for i, raw in enumerate(_get(entry, "filters") or []):
        action = str(_get(raw, "action") or "")
        if action.strip().lower() not in ("include", "exclude"):
            notes.append(
                Note(
                    f"filter {i} has action '{action}', which ClaraVerse refused (its sync "
                    "stopped there, and skipped such a filter when applying): left out",
                    doc.line("providers", index, "filters", i),
                )
            )
    return notes


def _comments(entry: dict[str, Any]) -> list[str]:
    """The entry's filters, kept as comments for the reader (the rules above them are
    written in another syntax)."""
    out = []
    raw_filters = _get(entry, "filters") or []
    if raw_filters:
        out.append("ClaraVerse filters (the lowest priority that matches decides):")
        for f in raw_filters:
            out.append(
                f"  {_get(f, 'action')} '{_get(f, 'pattern')}' priority {_get(f, 'priority') or 0}"
            )
    return out
