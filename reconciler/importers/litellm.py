"""LiteLLM proxy ``config.yaml``: its ``model_list`` deployments as providers.

A deployment is ``{model_name, litellm_params: {model, api_base, api_key, ...},
model_info}``. ``model`` is ``<provider>/<model id>`` (``openai/gpt-4o``,
``anthropic/claude-...``, ``gemini/...``, ``ollama/llama3``...); ``model_name`` is what
LiteLLM's clients ask for, often an alias. ``os.environ/NAME`` reads a variable; without
``api_key``, LiteLLM reads the provider's usual variable (``OPENAI_API_KEY``...).

Deployments that share provider, base URL and key become one provider, whose
``models.visible`` lists their model ids (``only_listed``: nothing else shows). What
ClaraVerse has no place for is reported: aliases (``model_name`` differing from the id),
load balancing over several deployments of one name, per-deployment parameters (limits,
timeouts, ``api_version``...), ``model_info``, and LiteLLM's own settings sections.
Providers without an OpenAI-compatible model listing (Azure, Bedrock, Vertex AI...) are
not imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.core.model import ModelRules, ProviderType, is_loopback
from reconciler.errors import ReconcilerError
from reconciler.importers.common import (
    SECRET_NAME,
    Imported,
    Key,
    Note,
    Source,
    host_of,
    infer_type,
    key_from,
    name_from_url,
    native_base_url,
    plural,
    quoted,
    reference,
    url_from,
)
from reconciler.importers.sourcefile import Document, mapping_items
from reconciler.output.export_catalog import exact_glob
from reconciler.secrets import Secret


@dataclass(frozen=True)
class _Vendor:
    """A LiteLLM provider prefix this tool can carry."""

    type: ProviderType
    label: str
    base_url: str | None  # None: the type's default (anthropic, google) or api_base needed
    key_variable: str | None  # what LiteLLM reads without api_key; None: keyless (local)


_OPENAI = _Vendor("openai", "OpenAI", "https://api.openai.com/v1", "OPENAI_API_KEY")
_OLLAMA = _Vendor("openai", "Ollama", "http://localhost:11434/v1", None)
VENDORS: dict[str, _Vendor] = {
    "openai": _OPENAI,
    "text-completion-openai": _OPENAI,
    "anthropic": _Vendor("anthropic", "Anthropic", None, "ANTHROPIC_API_KEY"),
    "gemini": _Vendor("google", "Google AI", None, "GEMINI_API_KEY"),
    "groq": _Vendor("openai", "Groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "mistral": _Vendor("openai", "Mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "deepseek": _Vendor("openai", "DeepSeek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "together_ai": _Vendor(
        "openai", "Together AI", "https://api.together.xyz/v1", "TOGETHERAI_API_KEY"
    ),
    "openrouter": _Vendor(
        "openai", "OpenRouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"
    ),
    "fireworks_ai": _Vendor(
        "openai", "Fireworks AI", "https://api.fireworks.ai/inference/v1", "FIREWORKS_AI_API_KEY"
    ),
    "xai": _Vendor("openai", "xAI", "https://api.x.ai/v1", "XAI_API_KEY"),
    "perplexity": _Vendor(
        "openai", "Perplexity", "https://api.perplexity.ai", "PERPLEXITYAI_API_KEY"
    ),
    "cerebras": _Vendor("openai", "Cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
    "ollama": _OLLAMA,
    "ollama_chat": _OLLAMA,
    "hosted_vllm": _Vendor("openai", "vLLM", None, None),
    "lm_studio": _Vendor("openai", "LM Studio", "http://localhost:1234/v1", None),
    "litellm_proxy": _Vendor("openai", "LiteLLM", None, "LITELLM_PROXY_API_KEY"),
}
# Prefixes LiteLLM routes to APIs without an OpenAI-compatible model listing.
UNSUPPORTED = frozenset(
    [
        "azure",
        "azure_ai",
        "vertex_ai",
        "vertex_ai_beta",
        "bedrock",
        "bedrock_converse",
        "sagemaker",
        "cohere",
        "cohere_chat",
        "huggingface",
        "replicate",
        "watsonx",
        "databricks",
        "cloudflare",
        "predibase",
        "ai21",
        "voyage",
        "palm",
        "aleph_alpha",
        "nlp_cloud",
        "petals",
        "baseten",
    ]
)
_CARRIED_PARAMS = frozenset({"model", "api_base", "base_url", "api_key", "custom_llm_provider"})
_SECTIONS = {
    "litellm_settings": "LiteLLM's library settings",
    "router_settings": "LiteLLM's routing settings",
    "general_settings": "the proxy's own settings (master key, database, ...)",
    "environment_variables": "variables LiteLLM sets for itself",
    "include": "other files LiteLLM includes",
}


def detect(data: Any) -> bool:
    """A document with a ``model_list``."""
    return isinstance(data, dict) and "model_list" in data


@dataclass
class _Group:
    """Deployments that become one provider."""

    vendor: _Vendor
    base_url: str | None
    key: Key | None
    line: int | None
    models: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def parse(doc: Document, file: str) -> Source:
    """The providers of a LiteLLM config."""
    if not detect(doc.data) or not isinstance(doc.data["model_list"], list):
        raise ReconcilerError(f"{file}: not a LiteLLM config (no 'model_list' list)")
    groups: dict[tuple[Any, ...], _Group] = {}
    notes = _section_notes(doc)
    served: dict[str, list[int | None]] = {}
    for index, raw in enumerate(doc.data["model_list"]):
        line = doc.line("model_list", index)
        deployment = _deployment(raw, line)
        if isinstance(deployment, Note):
            notes.append(deployment)
            continue
        vendor, base_url, key, model_id = deployment
        group_key = (vendor.type, vendor.label, base_url, _key_identity(key))
        group = groups.setdefault(group_key, _Group(vendor, base_url, key, line))
        _add_deployment(group, raw, index, model_id, doc)
        served.setdefault(str(raw.get("model_name") or model_id), []).append(line)
    notes.extend(_balancing_notes(served))
    return Source(
        format="litellm",
        file=file,
        providers=tuple(_provider(g) for g in groups.values()),
        notes=tuple(notes),
        secrets=_environment_secrets(doc.data),
    )


def _deployment(raw: Any, line: int | None) -> tuple[_Vendor, str | None, Key | None, str] | Note:
    """(vendor, base URL, key, model id) of one model_list entry, or why it is left out."""
    params = raw.get("litellm_params") if isinstance(raw, dict) else None
    model = params.get("model") if isinstance(params, dict) else None
    if not isinstance(model, str) or not model.strip():
        return Note("a model_list entry without litellm_params.model: not imported", line)
    assert isinstance(params, dict)
    prefix, model_id = _route(model.strip(), params)
    if prefix in UNSUPPORTED or prefix not in VENDORS:
        return Note(
            f"'{model}' goes to LiteLLM's '{prefix}' provider, which has no OpenAI-compatible "
            "model listing ClaraVerse could use: not imported",
            line,
        )
    vendor = VENDORS[prefix]
    raw_base = params.get("api_base") or params.get("base_url")
    base_url = url_from(str(raw_base)) if raw_base else vendor.base_url
    if base_url is None and vendor.type == "openai":
        return Note(f"'{model}' has no api_base, which LiteLLM needs for it: not imported", line)
    if vendor is _OLLAMA and raw_base and base_url is not None and not base_url.endswith("/v1"):
        base_url += "/v1"  # Ollama's OpenAI-compatible API
    key = key_from(params.get("api_key"))
    # Without api_key LiteLLM reads the provider's usual variable; a local engine behind
    # an OpenAI-style prefix needs none.
    local = vendor.type == "openai" and is_loopback(host_of(base_url))
    if key is None and vendor.key_variable and not local:
        key = Key(variable=vendor.key_variable)
    return vendor, base_url, key, model_id


def _route(model: str, params: dict[str, Any]) -> tuple[str, str]:
    """(LiteLLM provider, model id) of a ``model`` string."""
    explicit = params.get("custom_llm_provider")
    if isinstance(explicit, str) and explicit:
        return explicit, model.removeprefix(f"{explicit}/")
    head, sep, rest = model.partition("/")
    if sep and (head in VENDORS or head in UNSUPPORTED):
        return head, rest
    return ("anthropic" if model.startswith("claude") else "openai"), model


def _key_identity(key: Key | None) -> Any:
    if key is None:
        return None
    return ("variable", key.variable) if key.variable else key.literal


def _add_deployment(
    group: _Group, raw: dict[str, Any], index: int, model_id: str, doc: Document
) -> None:
    """The deployment's model in the group's list; its alias and parameters as notes."""
    line = doc.line("model_list", index)
    patterns = [exact_glob(model_id, wildcards=True)]
    if group.vendor is _OLLAMA and ":" not in model_id and "*" not in model_id:
        patterns.append(exact_glob(f"{model_id}:latest"))  # how Ollama lists an untagged name
    group.models.extend(p for p in patterns if p not in group.models)
    name = raw.get("model_name")
    if isinstance(name, str) and name not in (model_id, f"{_prefix(raw)}/{model_id}"):
        group.comments.append(f"LiteLLM's clients asked for '{name}' to get '{model_id}'")
        group.notes.append(
            Note(
                f"model_name '{name}' is an alias of '{model_id}': not carried (ClaraVerse "
                f"shows the model as '{model_id}'); kept as a comment",
                line,
            )
        )
    params: dict[str, Any] = raw["litellm_params"]
    extra = sorted(k for k in params if k not in _CARRIED_PARAMS)
    if extra:
        group.notes.append(
            Note(
                f"litellm_params {', '.join(extra)} of '{model_id}' "
                "(per-deployment limits, timeouts, parameters): not carried",
                doc.line("model_list", index, "litellm_params", extra[0]) or line,
            )
        )
    if "model_info" in raw:
        group.notes.append(
            Note(
                f"model_info of '{model_id}': not carried",
                doc.line("model_list", index, "model_info") or line,
            )
        )


def _prefix(raw: dict[str, Any]) -> str:
    return str(raw["litellm_params"]["model"]).partition("/")[0]


def _provider(group: _Group) -> Imported:
    vendor = group.vendor
    by_vendor = group.base_url in (None, vendor.base_url) or vendor.type != "openai"
    name = vendor.label if by_vendor else name_from_url(group.base_url, vendor.label)
    ptype: ProviderType = vendor.type
    if ptype == "openai":
        ptype = infer_type(group.base_url)
    return Imported(
        name=name,
        type=ptype,
        base_url=native_base_url(ptype, group.base_url),
        key=group.key,
        models=ModelRules(visible=tuple(group.models), only_listed=True),
        notes=tuple(group.notes),
        comments=tuple(group.comments),
        line=group.line,
    )


def _balancing_notes(served: dict[str, list[int | None]]) -> list[Note]:
    notes = []
    for name, lines in served.items():
        if len(lines) > 1:
            at = ", ".join(str(n) for n in lines if n is not None)
            notes.append(
                Note(
                    f"model_name '{name}' is balanced over {plural(len(lines), 'deployment')}"
                    f"{f' (lines {at})' if at else ''}: ClaraVerse has no load balancing; "
                    "each deployment's provider shows the model",
                    lines[0],
                )
            )
    return notes


def _section_notes(doc: Document) -> list[Note]:
    notes = []
    for key, _ in mapping_items(doc.data):
        if key == "model_list":
            continue
        what = _SECTIONS.get(key, "not about providers")
        notes.append(Note(f"'{key}' ({what}): not carried", doc.line(key)))
    env = doc.data.get("environment_variables")
    if isinstance(env, dict):
        named = sorted(str(k) for k in env)
        if named:
            notes.append(
                Note(
                    f"environment_variables holds values for {quoted(named)}: set them in CI's "
                    "secrets instead (their values are not in the imported file)",
                    doc.line("environment_variables"),
                )
            )
    return notes


def _environment_secrets(data: dict[str, Any]) -> tuple[Secret, ...]:
    """Secret values a LiteLLM config holds for itself (a master key, a database URL with
    its password): never output, and scrubbed like keys. Only secret-looking names count:
    scrubbing a host name such as 'localhost' would mangle the URLs we write."""
    out = []
    for section in ("environment_variables", "general_settings"):
        for name, value in mapping_items(data.get(section)):
            secret_name = SECRET_NAME.search(name) is not None
            if secret_name and isinstance(value, str) and value and reference(value) is None:
                out.append(Secret(value))
    return tuple(out)
