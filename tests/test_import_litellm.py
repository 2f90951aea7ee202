"""Importing a LiteLLM proxy config: deployments grouped by provider, base URL and key;
their models visible and nothing else; aliases, limits and LiteLLM's own settings
reported; applied, each provider shows its deployments' models."""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler import config
from tests.importing import DATA, apply_and_observe, env_with, run_import, serve_models, variables
from tests.upstreams import running_upstream

SAMPLE = str(DATA / "litellm-config.yaml")
KEY = "sk-e2e-0123456789"


def entries(text: str) -> dict[str, dict[str, object]]:
    return {p["name"]: p for p in yaml.safe_load(text)["providers"]}


def test_the_sample_becomes_one_provider_per_provider_url_and_key(tmp_path: Path) -> None:
    done = run_import(SAMPLE)
    assert done.code == 0, done.err
    got = entries(done.text)
    assert list(got) == [
        "OpenAI", "Anthropic", "Google AI", "Ollama", "vllm.internal:8000",
        "eu.proxy.example.com", "OpenRouter",
    ]  # fmt: skip
    assert got["OpenAI"] == {
        "name": "OpenAI",
        "type": "openai",
        "base_url": "https://api.openai.com/v1",
        "api_key": "${OPENAI_API_KEY}",
        "models": {"visible": ["gpt-4o", "gpt-4o-mini"], "only_listed": True},
    }
    # One literal key shared by two deployments: one provider, one variable.
    assert got["Anthropic"]["api_key"] == "${ANTHROPIC_API_KEY}"
    assert got["Anthropic"]["models"]["visible"] == ["claude-sonnet-4-5", "claude-opus-4-1"]
    # No api_key: LiteLLM read the provider's usual variable, and so does the file.
    assert (
        got["Google AI"]["type"] == "google" and got["Google AI"]["api_key"] == "${GEMINI_API_KEY}"
    )
    assert "base_url" not in got["Google AI"]
    # Ollama is reached through its OpenAI-compatible /v1, where an untagged name is :latest.
    assert (
        got["Ollama"]["base_url"] == "http://localhost:11434/v1" and "api_key" not in got["Ollama"]
    )
    assert got["Ollama"]["models"]["visible"] == ["llama3", "llama3:latest"]
    assert got["vllm.internal:8000"]["api_key"] == "${VLLM_INTERNAL_8000_API_KEY}"
    assert got["eu.proxy.example.com"]["api_key"] == "${EU_PROXY_KEY}"
    assert got["OpenRouter"]["models"]["visible"] == ["*"]
    for reported in (
        ":40: 'azure/gpt-4o-eu' goes to LiteLLM's 'azure' provider",
        ":3: model_name 'gpt-4o' is balanced over 2 deployments (lines 3, 34)",
        ":8: provider 'OpenAI': model_name 'fast' is an alias of 'gpt-4o-mini'",
        ":7: provider 'OpenAI': litellm_params rpm of 'gpt-4o'",
        ":13: provider 'OpenAI': model_info of 'gpt-4o-mini': not carried",
        ":39: provider 'eu.proxy.example.com': litellm_params timeout of 'gpt-4o'",
        ":59: 'general_settings' (the proxy's own settings",
        ":63: environment_variables holds values for 'EU_PROXY_KEY'",
    ):
        assert reported in done.err
    assert "# LiteLLM's clients asked for 'fast' to get 'gpt-4o-mini'" in done.text
    path = tmp_path / "providers.yaml"
    path.write_text(done.text, encoding="utf-8")
    assert len(config.load([str(path)], env_with(variables(done.err))).providers) == 7


E2E_CONFIG = """\
model_list:
  - model_name: gpt-4o
    litellm_params: {{model: openai/gpt-4o, api_base: "{openai}", api_key: os.environ/OPENAI_KEY}}
  - model_name: fast
    litellm_params:
      {{model: openai/gpt-4o-mini, api_base: "{openai}", api_key: os.environ/OPENAI_KEY}}
  - model_name: gone
    litellm_params: {{model: openai/gpt-9, api_base: "{openai}", api_key: os.environ/OPENAI_KEY}}
  - model_name: gpt-4o
    litellm_params: {{model: openai/gpt-4o, api_base: "{local}", api_key: sk-second-0123456789}}
  - model_name: sonnet
    litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: "{anthropic}"}}
  - model_name: gemini-2.5-pro
    litellm_params: {{model: gemini/gemini-2.5-pro, api_base: "{google}"}}
  - model_name: llama3
    litellm_params: {{model: ollama/llama3, api_base: "{ollama}"}}
  - model_name: "*"
    litellm_params: {{model: "openai/*", api_base: "{openai}", api_key: sk-wild-0123456789}}
"""


def test_applied_each_provider_shows_its_deployments_models(tmp_path: Path) -> None:
    with running_upstream() as up:
        serve_models(up)
        up.state.api_keys = {"openai": None, "anthropic": KEY, "google": KEY}
        source = tmp_path / "config.yaml"
        urls = {
            "openai": up.base_url("openai"),
            "local": up.base_url("openai").replace("127.0.0.1", "localhost"),
            "anthropic": up.base_url("anthropic"),
            "google": up.base_url("google"),
            "ollama": up.url + "/openai",  # import adds Ollama's /v1
        }
        source.write_text(E2E_CONFIG.format(**urls), encoding="utf-8")
        done = run_import(str(source))
        assert done.code == 0, done.err
        stored = apply_and_observe(done.text, tmp_path, env_with(variables(done.err), KEY))
        listed = frozenset(m.id for m in up.state.models["openai"])
    by_models = {name: visible for name, (_, visible) in stored.items()}
    assert sorted(by_models.values(), key=sorted) == sorted(
        [
            frozenset({"gpt-4o", "gpt-4o-mini"}),  # gpt-9 is not listed upstream
            frozenset({"gpt-4o"}),  # the second deployment of the balanced gpt-4o
            frozenset({"claude-sonnet-4-5"}),
            frozenset({"gemini-2.5-pro"}),
            frozenset({"llama3:latest"}),  # Ollama lists an untagged name as :latest
            listed,  # openai/* shows everything its endpoint lists
        ],
        key=sorted,
    )
    assert by_models["Anthropic"] == {"claude-sonnet-4-5"}
    assert by_models["Google AI"] == {"gemini-2.5-pro"}
    assert "model_name 'sonnet' is an alias of 'claude-sonnet-4-5'" in done.err
    assert "model_name 'gpt-4o' is balanced over 2 deployments" in done.err
