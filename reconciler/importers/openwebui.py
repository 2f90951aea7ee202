"""Open WebUI's connections: its environment (a ``.env`` file, or the ``environment`` of a
docker compose service) or its exported settings (``config.json``).

Environment: ``OPENAI_API_BASE_URLS`` and ``OPENAI_API_KEYS``, lists separated by ``;``
and paired by position (``OPENAI_API_BASE_URL`` / ``OPENAI_API_KEY`` when the lists are
unset; an empty URL is ``https://api.openai.com/v1``; missing keys are empty);
``ENABLE_OPENAI_API``; ``OLLAMA_BASE_URLS`` / ``OLLAMA_BASE_URL`` and
``ENABLE_OLLAMA_API``. Exported settings: ``openai.{enable, api_base_urls, api_keys,
api_configs}`` and ``ollama.{enable, base_urls, api_configs}``, where ``api_configs`` holds
per connection (by position, or by URL in older versions) ``enable``, ``model_ids`` (only
these models, not fetched), ``prefix_id``, ``tags``, ``auth_type``, ``headers``.

Open WebUI showed every model a connection lists, but for ``api.openai.com`` it left out
ids containing babbage, dall-e, davinci, embedding, tts or whisper (written here as
``hidden`` globs). One provider per connection, named after its host; an Ollama
connection is reached through Ollama's OpenAI-compatible ``/v1``. Per-model access
control lives in Open WebUI's database, not in its settings, and is not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.core.model import ModelRules
from reconciler.errors import ReconcilerError
from reconciler.importers.common import (
    SECRET_NAME,
    Imported,
    Key,
    Note,
    Source,
    infer_type,
    is_http_url,
    key_from,
    name_from_url,
    native_base_url,
    plural,
    quoted,
    reference,
    url_from,
)
from reconciler.importers.sourcefile import Document, mapping_items, parse_env
from reconciler.output.export_catalog import exact_glob
from reconciler.secrets import Secret

OPENAI_URL = "https://api.openai.com/v1"
_HIDDEN_AT_OPENAI = ("babbage", "dall-e", "davinci", "embedding", "tts", "whisper")
ENV_NAMES = frozenset(
    {
        "OPENAI_API_BASE_URLS",
        "OPENAI_API_BASE_URL",
        "OPENAI_API_KEYS",
        "OPENAI_API_KEY",
        "ENABLE_OPENAI_API",
        "OLLAMA_BASE_URLS",
        "OLLAMA_BASE_URL",
        "ENABLE_OLLAMA_API",
    }
)
_CONFIG_CARRIED = frozenset({"enable", "model_ids", "auth_type", "connection_type", "key"})
_PREFIX_NOTE = (
    "prefix_id '{}': Open WebUI showed this connection's models as '{}.<id>'; here they keep "
    "their own ids: not carried"
)


@dataclass
class _Connections:
    """Open WebUI's connections, whichever way they were given."""

    openai_enabled: bool = True
    urls: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    configs: dict[str, Any] = field(default_factory=dict)
    ollama_enabled: bool = True
    ollama_urls: list[str] = field(default_factory=list)
    ollama_configs: dict[str, Any] = field(default_factory=dict)
    line: dict[str, int | None] = field(default_factory=dict)  # where each setting is
    notes: list[Note] = field(default_factory=list)
    # The keys list was one reference for several URLs: it cannot be split.
    keys_reference: str | None = None
    secrets: list[Secret] = field(default_factory=list)


def detect_structured(data: Any) -> bool:
    """Exported settings, or a docker compose file whose service sets Open WebUI's variables."""
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("openai"), dict) or isinstance(data.get("ollama"), dict):
        return True
    return _compose_service(data) is not None


def _compose_service(data: dict[str, Any]) -> tuple[str, dict[str, tuple[str, str]]] | None:
    """(service name, its environment as name → (value, path key)) of the first service
    that sets one of Open WebUI's variables."""
    for service, spec in mapping_items(data.get("services")):
        env = spec.get("environment") if isinstance(spec, dict) else None
        values: dict[str, tuple[str, str]] = {}
        if isinstance(env, list):
            for i, item in enumerate(env):
                name, sep, value = str(item).partition("=")
                if sep:
                    values[name.strip()] = (value.strip(), str(i))
        for name, value in mapping_items(env):
            values[name] = ("" if value is None else str(value), name)
        if ENV_NAMES & set(values):
            return service, values
    return None


def parse_env_text(text: str, file: str) -> Source:
    """The connections an env file sets."""
    env = parse_env(text)
    values = {k: v for k, (v, _) in env.values.items()}
    lines: dict[str, int | None] = {k: line for k, (_, line) in env.values.items()}
    return _source(_from_environment(values, lines), file)


def parse_structured(doc: Document, file: str) -> Source:
    """The connections of exported settings or of a docker compose service."""
    data = doc.data
    if isinstance(data, dict) and (
        isinstance(data.get("openai"), dict) or isinstance(data.get("ollama"), dict)
    ):
        return _source(_from_export(doc), file)
    found = _compose_service(data) if isinstance(data, dict) else None
    if found is None:
        raise ReconcilerError(
            f"{file}: no Open WebUI connections found (no OPENAI_API_BASE_URLS, "
            "OLLAMA_BASE_URL... and no 'openai' or 'ollama' settings)"
        )
    service, env = found
    values = {k: v for k, (v, _) in env.items()}
    lines = {
        k: doc.line("services", service, "environment", _index(p)) for k, (_, p) in env.items()
    }
    return _source(_from_environment(values, lines), file)


def _index(path_key: str) -> str | int:
    return int(path_key) if path_key.isdigit() else path_key


def _from_environment(values: dict[str, str], lines: dict[str, int | None]) -> _Connections:
    """Connections as Open WebUI reads its variables at start-up."""
    c = _Connections(line=lines)
    given = {k for k in ENV_NAMES if values.get(k)}
    c.openai_enabled = values.get("ENABLE_OPENAI_API", "True").lower() == "true"
    if given & {"OPENAI_API_BASE_URLS", "OPENAI_API_BASE_URL", "OPENAI_API_KEYS", "OPENAI_API_KEY"}:
        urls = values.get("OPENAI_API_BASE_URLS") or values.get("OPENAI_API_BASE_URL") or OPENAI_URL
        keys = values.get("OPENAI_API_KEYS") or values.get("OPENAI_API_KEY") or ""
        c.urls = [u.strip() or OPENAI_URL for u in urls.split(";")]
        c.keys = [k.strip() for k in keys.split(";")]
        if len(c.urls) > 1 and len(c.keys) == 1 and reference(c.keys[0]):
            c.keys_reference = reference(c.keys[0])
    c.ollama_enabled = values.get("ENABLE_OLLAMA_API", "True").lower() == "true"
    ollama = values.get("OLLAMA_BASE_URLS") or values.get("OLLAMA_BASE_URL") or ""
    c.ollama_urls = [u.strip() for u in ollama.split(";") if u.strip()]
    others = sorted(k for k in values if k not in ENV_NAMES)
    if others:
        c.notes.append(
            Note(
                f"{plural(len(others), 'other variable')} ({', '.join(others)}): Open WebUI's "
                "own settings, not about providers: not carried",
                lines.get(others[0]),
            )
        )
    # Values are never written; these are scrubbed from output too, should one slip in.
    c.secrets = [Secret(values[k]) for k in others if SECRET_NAME.search(k) and values[k]]
    return c


def _from_export(doc: Document) -> _Connections:
    """Connections as Open WebUI's exported settings hold them."""
    data = doc.data
    openai = data.get("openai") if isinstance(data.get("openai"), dict) else {}
    ollama = data.get("ollama") if isinstance(data.get("ollama"), dict) else {}
    c = _Connections(
        openai_enabled=openai.get("enable", True) is not False,
        urls=[str(u).strip() or OPENAI_URL for u in openai.get("api_base_urls") or []],
        keys=[str(k or "").strip() for k in openai.get("api_keys") or []],
        configs=_dict(openai.get("api_configs")),
        ollama_enabled=ollama.get("enable", True) is not False,
        ollama_urls=[str(u).strip() for u in ollama.get("base_urls") or [] if str(u).strip()],
        ollama_configs=_dict(ollama.get("api_configs")),
    )
    for section, urls, key in (
        ("openai", c.urls, "api_base_urls"),
        ("ollama", c.ollama_urls, "base_urls"),
    ):
        for idx in range(len(urls)):
            c.line[f"{section}:{idx}"] = doc.line(section, key, idx) or doc.line(section)
    others = [k for k, _ in mapping_items(data) if k not in ("openai", "ollama", "version")]
    if others:
        c.notes.append(
            Note(f"{quoted(others)}: Open WebUI's own settings, not carried", doc.line(others[0]))
        )
    return c


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _source(c: _Connections, file: str) -> Source:
    providers: list[Imported] = []
    notes = list(c.notes)
    line = c.line.get("OPENAI_API_BASE_URLS") or c.line.get("OPENAI_API_BASE_URL")
    for idx, url in enumerate(c.urls):
        key = c.keys[idx] if idx < len(c.keys) else ""
        config = _config(c.configs, idx, url)
        at = c.line.get(f"openai:{idx}", line)
        _collect(_connection(url, key, config, at, c, ollama=False), providers, notes)
    line = c.line.get("OLLAMA_BASE_URLS") or c.line.get("OLLAMA_BASE_URL")
    for idx, url in enumerate(c.ollama_urls):
        config = _config(c.ollama_configs, idx, url)
        at = c.line.get(f"ollama:{idx}", line)
        _collect(_connection(url, "", config, at, c, ollama=True), providers, notes)
    return Source(
        format="openwebui",
        file=file,
        providers=tuple(providers),
        notes=tuple(notes),
        secrets=tuple(c.secrets),
    )


def _collect(result: Imported | Note, providers: list[Imported], notes: list[Note]) -> None:
    if isinstance(result, Note):
        notes.append(result)
    else:
        providers.append(result)


def _config(configs: dict[str, Any], idx: int, url: str) -> dict[str, Any]:
    found = configs.get(str(idx), configs.get(url)) or {}
    return found if isinstance(found, dict) else {}


def _connection(
    url: str,
    raw_key: str,
    config: dict[str, Any],
    line: int | None,
    c: _Connections,
    *,
    ollama: bool,
) -> Imported | Note:
    """One connection as a provider, or why it is not imported."""
    base = url_from(url)
    if ollama and not base.endswith("/v1"):
        base += "/v1"  # Ollama's OpenAI-compatible API
    if not is_http_url(base):
        return Note(f"connection '{url}' is not an http(s) URL: not imported", line)
    if config.get("azure"):
        return Note(f"connection '{url}' is Azure OpenAI: not imported (no such type here)", line)
    notes = _config_notes(config, line)
    key: Key | None
    if c.keys_reference and not ollama:
        key = Key()  # a key we cannot see: it gets a variable of its own
        notes.append(
            Note(
                f"the keys come from one variable ({c.keys_reference}) for several URLs, "
                "which cannot be split: set this provider's own variable",
                line,
            )
        )
    else:
        key = key_from(config.get("key") if ollama else raw_key)
    if config.get("auth_type") not in (None, "bearer"):
        key = None  # none, or a user's session: no admin key either way
    ptype = infer_type(base)
    label = name_from_url(base, "Ollama" if ollama else "OpenAI")
    if ollama:
        label = "Ollama" if len(c.ollama_urls) == 1 else f"Ollama {label}"
    return Imported(
        name=label,
        type=ptype,
        base_url=native_base_url(ptype, base),
        key=key,
        enabled=(c.ollama_enabled if ollama else c.openai_enabled)
        and config.get("enable", True) is not False,
        models=_rules(config, base),
        notes=tuple(notes),
        comments=_comments(base),
        line=line,
    )


def _rules(config: dict[str, Any], base: str) -> ModelRules:
    ids = [str(m) for m in config.get("model_ids") or [] if str(m)]
    hidden = tuple(f"*{s}*" for s in _HIDDEN_AT_OPENAI) if "api.openai.com" in base else ()
    if ids:
        return ModelRules(
            visible=tuple(exact_glob(m) for m in ids), hidden=hidden, only_listed=True
        )
    return ModelRules(visible=("*",), hidden=hidden)


def _comments(base: str) -> tuple[str, ...]:
    if "api.openai.com" not in base:
        return ()
    return ("Open WebUI leaves OpenAI's non-chat models out of its lists; so does `hidden`.",)


def _config_notes(config: dict[str, Any], line: int | None) -> list[Note]:
    notes = []
    prefix = config.get("prefix_id")
    if prefix:
        notes.append(Note(_PREFIX_NOTE.format(prefix, prefix), line))
    extra = sorted(
        k
        for k, v in mapping_items(config)
        if k not in _CONFIG_CARRIED and k != "prefix_id" and v not in (None, "", [], {})
    )
    if extra:
        notes.append(Note(f"connection settings {', '.join(extra)}: not carried", line))
    if config.get("auth_type") not in (None, "bearer", "none"):
        notes.append(
            Note(
                f"auth_type '{config.get('auth_type')}' (each user's own session) has no "
                "admin key here: not carried",
                line,
            )
        )
    return notes
