"""Importing librechat.yaml: one provider per custom endpoint; the models LibreChat listed
(all the endpoint lists with ``fetch: true``, else ``default``); references kept; its
display options and built-in endpoints reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reconciler import config
from tests.importing import (
    DATA,
    UPSTREAM_MODELS,
    apply_and_observe,
    env_with,
    run_import,
    sample,
    serve_models,
    variables,
)
from tests.upstreams import running_upstream

SAMPLE = "librechat.yaml"


def entries(text: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in yaml.safe_load(text)["providers"]}


def test_the_sample_becomes_one_provider_per_custom_endpoint(tmp_path: Path) -> None:
    done = run_import(str(DATA / SAMPLE))
    assert done.code == 0, done.err
    got = entries(done.text)
    assert list(got) == ["Mistral", "OpenRouter", "groq", "Ollama", "Portkey", "Anthropic Direct"]
    assert got["Mistral"] == {
        "name": "Mistral",
        "type": "openai",
        "base_url": "https://api.mistral.ai/v1",
        "api_key": "${MISTRAL_API_KEY}",
        "models": {"visible": ["*"]},  # fetch: true: every model the endpoint lists
    }
    assert got["OpenRouter"]["models"] == {
        "visible": ["meta-llama/llama-3-70b-instruct", "mistralai/mistral-7b-instruct:free"],
        "only_listed": True,
    }
    assert got["OpenRouter"]["api_key"] == "${OPENROUTER_KEY}"
    assert got["OpenRouter"]["favicon"] == "https://openrouter.ai/favicon.ico"
    assert "api_key" not in got["groq"]  # user_provided: users bring their own keys
    assert got["groq"]["base_url"] == "https://api.groq.com/openai/v1"
    assert got["Ollama"]["models"]["visible"] == ["llama3:latest", "command-r", "qwen2.5:7b"]
    assert got["Portkey"]["base_url"] == "${PORTKEY_GATEWAY_URL}"
    # The header names PORTKEY_API_KEY for something else: the key's variable avoids it.
    assert got["Portkey"]["api_key"] == "${PORTKEY_2_API_KEY}"
    assert got["Anthropic Direct"]["type"] == "anthropic"
    assert "base_url" not in got["Anthropic Direct"]
    for reported in (
        ":2: 'cache', 'interface', 'registration': LibreChat's own settings, not carried",
        ":11: endpoints.openAI: a built-in endpoint",
        ":65: 'Incomplete' lacks one of name, apiKey, baseURL and models",
        ":19: provider 'Mistral': LibreChat listed every model the endpoint lists",
        ":24: provider 'Mistral': dropParams, modelDisplayLabel, titleConvo, titleModel",
        ":40: provider 'groq': apiKey is user_provided",
        ":29: provider 'OpenRouter': LibreChat did not fetch this endpoint's models",
        ":57: provider 'Portkey': headers: LibreChat's options",
    ):
        assert reported in done.err
    path = tmp_path / "providers.yaml"
    path.write_text(done.text, encoding="utf-8")
    env = env_with(variables(done.err)) | {"PORTKEY_GATEWAY_URL": "https://portkey.example/v1"}
    assert len(config.load([str(path)], env).providers) == 6


def librechat_listed(endpoint: dict[str, Any], listed: tuple[str, ...]) -> set[str]:
    """What LibreChat's loadConfigModels listed for a custom endpoint."""
    models = endpoint["models"]
    default = [m if isinstance(m, str) else m["name"] for m in models.get("default", [])]
    admin = "user_provided" not in (endpoint["apiKey"], endpoint["baseURL"])
    if models.get("fetch") and admin:
        return set(listed) or set(default)
    return set(default)


def test_applied_each_endpoint_shows_what_librechat_listed(tmp_path: Path) -> None:
    with running_upstream() as up:
        serve_models(up)
        urls = {
            "https://api.mistral.ai/v1": up.base_url("openai"),
            "https://openrouter.ai/api/v1": up.base_url("openai"),
            "https://api.groq.com/openai/v1/": up.base_url("openai"),
            "http://host.docker.internal:11434/v1/": up.base_url("openai"),
            "https://api.anthropic.com/v1": up.base_url("openai"),
        }
        done = run_import(str(sample(SAMPLE, tmp_path, urls)))
        assert done.code == 0, done.err
        env = env_with(variables(done.err)) | {"PORTKEY_GATEWAY_URL": up.base_url("openai")}
        stored = apply_and_observe(done.text, tmp_path, env)
    source = yaml.safe_load((DATA / SAMPLE).read_text(encoding="utf-8"))
    loaded = [e for e in source["endpoints"]["custom"] if "apiKey" in e]
    assert set(stored) == {e["name"] for e in loaded}
    for endpoint in loaded:
        shown = librechat_listed(endpoint, UPSTREAM_MODELS) & set(UPSTREAM_MODELS)
        if endpoint["apiKey"] == "user_provided":
            # LibreChat listed its default models; that difference is what import reported.
            assert "provider 'groq': apiKey is user_provided" in done.err
            continue
        assert stored[endpoint["name"]][1] == shown, endpoint["name"]
    assert stored["Ollama"][1] == {"llama3:latest", "command-r"}
