"""LibreChat's ``librechat.yaml``: its ``endpoints.custom`` entries as providers.

An entry: ``name``, ``apiKey``, ``baseURL`` (``${VAR}`` references allowed in both;
``user_provided`` means each user gives their own), ``models: {default: [...], fetch}``,
``iconURL``, and display and request options. LibreChat loaded an entry only with all
four of name, apiKey, baseURL and models. Its model list for an entry was what the
endpoint lists when ``fetch`` is true and the admin gives key and URL (``default`` only if
that listing came back empty), and ``default`` otherwise.

Here: ``fetch`` true (with an admin key) shows every model (``visible: ["*"]``); otherwise
``default`` becomes ``models.visible`` with ``only_listed``. ClaraVerse learns a
provider's models only by fetching them with the admin key, so an entry without one lists
no model until a key is set, and ``fetch: false`` cannot keep ClaraVerse from fetching:
both are reported. The built-in endpoints (``openAI``, ``anthropic``, ``google``...) take
their keys and models from LibreChat's ``.env``, so there is nothing to import from them.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.model import ModelRules, ProviderSettings
from reconciler.errors import ReconcilerError
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
from reconciler.importers.sourcefile import Document, mapping_items
from reconciler.output.export_catalog import exact_glob

_CARRIED = frozenset({"name", "apiKey", "baseURL", "models", "iconURL"})
_USER = "user_provided"


def detect(data: Any) -> bool:
    """A document with an ``endpoints`` mapping."""
    return isinstance(data, dict) and isinstance(data.get("endpoints"), dict)


def parse(doc: Document, file: str) -> Source:
    """The providers of a librechat.yaml."""
    if not detect(doc.data):
        raise ReconcilerError(f"{file}: not a librechat.yaml (no 'endpoints' mapping)")
    notes = _file_notes(doc)
    custom = doc.data["endpoints"].get("custom") or []
    providers = []
    for index, raw in enumerate(custom if isinstance(custom, list) else []):
        result = _provider(doc, index, raw)
        if isinstance(result, Note):
            notes.append(result)
        else:
            providers.append(result)
    return Source(format="librechat", file=file, providers=tuple(providers), notes=tuple(notes))


def _file_notes(doc: Document) -> list[Note]:
    notes = []
    others = [k for k, _ in mapping_items(doc.data) if k not in ("version", "endpoints")]
    if others:
        notes.append(
            Note(f"{quoted(others)}: LibreChat's own settings, not carried", doc.line(others[0]))
        )
    for key, _ in mapping_items(doc.data["endpoints"]):
        if key != "custom":
            notes.append(
                Note(
                    f"endpoints.{key}: a built-in endpoint whose key and models live in "
                    "LibreChat's .env: not carried (declare it by hand)",
                    doc.line("endpoints", key),
                )
            )
    return notes


def _provider(doc: Document, index: int, raw: Any) -> Imported | Note:
    """One custom endpoint as a provider, or why it is not imported."""
    line = doc.line("endpoints", "custom", index)
    if not isinstance(raw, dict):
        return Note(f"endpoints.custom[{index}] is not a mapping: not imported", line)
    name, api_key, url, models = (raw.get(k) for k in ("name", "apiKey", "baseURL", "models"))
    if not all(isinstance(v, str) and v.strip() for v in (name, api_key, url)) or not (
        isinstance(models, dict) and (models.get("fetch") or models.get("default") is not None)
    ):
        label = f"'{name}'" if isinstance(name, str) else f"endpoints.custom[{index}]"
        return Note(
            f"{label} lacks one of name, apiKey, baseURL and models (default or fetch), so "
            "LibreChat did not load it: not imported",
            line,
        )
    assert isinstance(name, str) and isinstance(url, str) and isinstance(api_key, str)
    if url.strip() == _USER or not is_http_url(url_from(url)):
        return Note(
            f"'{name}': baseURL is '{url}'; each provider here has one URL: not imported", line
        )
    base = url_from(url)
    ptype = infer_type(base)
    user_keys = api_key.strip() == _USER
    rules, notes = _models(models, user_keys, doc.line("endpoints", "custom", index, "models"))
    notes.extend(_extra_notes(doc, index, raw))
    icon = raw.get("iconURL")
    return Imported(
        name=name.strip(),
        type=ptype,
        base_url=native_base_url(ptype, base),
        key=None if user_keys else key_from(api_key),
        settings=ProviderSettings(favicon=icon if isinstance(icon, str) else ""),
        models=rules,
        notes=tuple(notes),
        line=line,
    )


def _models(
    models: dict[str, Any], user_keys: bool, line: int | None
) -> tuple[ModelRules, list[Note]]:
    """The ``models:`` rules that show what LibreChat listed for the entry."""
    default = [m if isinstance(m, str) else str(m.get("name", "")) for m in _list(models)]
    default = [m for m in default if m]
    notes = []
    if models.get("fetch") and not user_keys:
        return ModelRules(visible=("*",)), [
            Note(
                f"LibreChat listed every model the endpoint lists (models.fetch: true); its "
                f"default list ({quoted(default) or 'empty'}) was a fallback only: not carried",
                line,
            )
        ] if default else []
    if user_keys:
        notes.append(
            Note(
                "apiKey is user_provided: no admin key here, so users bring their own; "
                "ClaraVerse fetches a provider's models with the admin key, so it lists none "
                "of the default models until one is set",
                line,
            )
        )
    elif not models.get("fetch"):
        notes.append(
            Note(
                "LibreChat did not fetch this endpoint's models (models.fetch is not true) and "
                "listed its default list as given; ClaraVerse knows a provider's models only "
                "by fetching them, so fetching stays on and the default list selects what it "
                "shows (set fetch_models: false if the endpoint cannot list models: then it "
                "shows none)",
                line,
            )
        )
    visible = tuple(exact_glob(m) for m in default)
    return ModelRules(visible=visible, only_listed=True), notes


def _list(models: dict[str, Any]) -> list[Any]:
    default = models.get("default")
    if not isinstance(default, list):
        return []
    return [m for m in default if isinstance(m, (str, dict))]


def _extra_notes(doc: Document, index: int, raw: dict[str, Any]) -> list[Note]:
    """Display and request options of the entry: ClaraVerse has no place for them."""
    extra = sorted(k for k in raw if isinstance(k, str) and k not in _CARRIED)
    models = raw.get("models") or {}
    extra += [f"models.{k}" for k in sorted(models) if k not in ("default", "fetch")]
    if not extra:
        return []
    first = extra[0].removeprefix("models.")
    line = doc.line("endpoints", "custom", index, first) or doc.line(
        "endpoints", "custom", index, "models", first
    )
    return [Note(f"{', '.join(extra)}: LibreChat's options for this endpoint, not carried", line)]
