"""Importing Open WebUI's connections, from a .env file, a docker compose service or its
exported settings: one provider per connection, its key as a reference, the models Open
WebUI listed (every one, ``model_ids`` only, none when disabled; OpenAI's non-chat models
left out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reconciler import config
from reconciler.core.model import ModelRules
from reconciler.core.visibility import wanted_visibility
from reconciler.importers.openwebui import _rules
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

OPENAI_FILTER = ("babbage", "dall-e", "davinci", "embedding", "tts", "whisper")


def entries(text: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in yaml.safe_load(text)["providers"]}


def valid(text: str, err: str, tmp_path: Path) -> int:
    path = tmp_path / "providers.yaml"
    path.write_text(text, encoding="utf-8")
    return len(config.load([str(path)], env_with(variables(err))).providers)


def test_an_env_file_pairs_urls_and_keys_by_position(tmp_path: Path) -> None:
    done = run_import(str(DATA / "openwebui.env"))
    assert done.code == 0, done.err
    got = entries(done.text)
    assert list(got) == ["OpenAI", "Mistral", "localhost:8000", "Ollama"]
    assert got["OpenAI"]["api_key"] == "${OPENAI_API_KEY}"
    assert got["Mistral"]["api_key"] == "${MISTRAL_API_KEY}"
    assert "api_key" not in got["localhost:8000"]  # fewer keys than URLs: no key
    assert got["Ollama"] == {
        "name": "Ollama",
        "type": "openai",
        "base_url": "http://ollama:11434/v1",
        "models": {"visible": ["*"]},
    }
    assert got["OpenAI"]["models"]["hidden"] == [f"*{s}*" for s in OPENAI_FILTER]
    assert ":3: 2 other variables (ENABLE_SIGNUP, WEBUI_SECRET_KEY)" in done.err
    assert valid(done.text, done.err, tmp_path) == 4


def test_a_compose_file_whose_keys_are_one_variable_gets_a_variable_per_provider(
    tmp_path: Path,
) -> None:
    done = run_import(str(DATA / "openwebui-compose.yaml"))
    assert done.code == 0, done.err
    got = entries(done.text)
    assert [(n, p.get("api_key")) for n, p in got.items()] == [
        ("OpenAI", "${OPENAI_API_KEY}"),
        ("Groq", "${GROQ_API_KEY}"),
        ("Ollama", None),
    ]
    assert "the keys come from one variable (OPENAI_API_KEYS) for several URLs" in done.err
    assert ":14: 1 other variable (WEBUI_SECRET_KEY)" in done.err
    assert valid(done.text, done.err, tmp_path) == 3


def test_exported_settings_carry_enable_and_model_ids(tmp_path: Path) -> None:
    done = run_import(str(DATA / "openwebui-config.json"))
    assert done.code == 0, done.err
    got = entries(done.text)
    assert list(got) == ["OpenAI", "OpenRouter", "DeepSeek", "Ollama"]
    assert got["OpenRouter"]["models"] == {
        "visible": ["anthropic/claude-sonnet-4.5", "openai/gpt-4o-mini"],
        "only_listed": True,
    }
    assert got["DeepSeek"]["enabled"] is False and "api_key" not in got["DeepSeek"]
    assert ":11: provider 'OpenRouter': prefix_id 'or'" in done.err
    assert "provider 'OpenRouter': connection settings tags: not carried" in done.err
    assert "provider 'OpenAI'" not in done.err  # empty tags and prefix: nothing lost
    assert valid(done.text, done.err, tmp_path) == 4


def test_openais_non_chat_models_are_hidden_as_open_webui_hid_them() -> None:
    rules: ModelRules = _rules({}, "https://api.openai.com/v1")
    for model in ("gpt-4o", "text-embedding-3-small", "whisper-1", "tts-1-hd", "o3", "Whisper"):
        open_webui = not any(s in model for s in OPENAI_FILTER)  # Python's `in`, with case
        assert (wanted_visibility(rules, model) is True) is open_webui, model


def open_webui_listed(config_: dict[str, Any], listed: tuple[str, ...]) -> set[str]:
    """What Open WebUI's get_all_models listed for one connection (not api.openai.com)."""
    if config_.get("enable", True) is False:
        return set()
    return set(config_.get("model_ids") or listed)


def test_applied_each_connection_shows_what_open_webui_listed(tmp_path: Path) -> None:
    with running_upstream() as up:
        serve_models(up)
        local = up.base_url("openai").replace("127.0.0.1", "localhost")
        urls = {
            "https://api.openai.com/v1": up.base_url("openai"),
            "https://openrouter.ai/api/v1": local,
            "https://api.deepseek.com/v1": local,
            "http://ollama:11434": up.url + "/openai",
            "anthropic/claude-sonnet-4.5": "claude-sonnet-4-5",  # ids the upstream lists
        }
        done = run_import(str(sample("openwebui-config.json", tmp_path, urls)))
        assert done.code == 0, done.err
        stored = apply_and_observe(done.text, tmp_path, env_with(variables(done.err)))
    names = list(entries(done.text))
    everything = set(UPSTREAM_MODELS)
    assert [stored[n][1] for n in names] == [
        open_webui_listed({}, UPSTREAM_MODELS),
        open_webui_listed({"model_ids": ["claude-sonnet-4-5", "openai/gpt-4o-mini"]}, ())
        & everything,
        set(),  # disabled
        everything,  # Ollama
    ]
    assert [stored[n][0] for n in names] == [True, True, False, True]


def test_an_env_file_applied_shows_every_model_of_each_connection(tmp_path: Path) -> None:
    with running_upstream() as up:
        serve_models(up)
        urls = {
            "https://api.openai.com/v1": up.base_url("openai"),
            "https://api.mistral.ai/v1": up.base_url("openai").replace("127.0.0.1", "localhost"),
            "http://localhost:8000/v1": up.base_url("openai"),
            "http://ollama:11434": up.url + "/openai",
        }
        done = run_import(str(sample("openwebui.env", tmp_path, urls)))
        stored = apply_and_observe(done.text, tmp_path, env_with(variables(done.err)))
    assert len(stored) == 4
    assert all(visible == set(UPSTREAM_MODELS) for _, visible in stored.values())


def test_disabled_apis_disable_their_providers_and_a_single_reference_is_kept(
    tmp_path: Path,
) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "export OPENAI_API_BASE_URL=https://llm.example.com/v1/\n"
        "OPENAI_API_KEY=${LLM_KEY}\n"
        "ENABLE_OPENAI_API=False\n"
        "OLLAMA_BASE_URLS='http://gpu-1:11434;http://gpu-2:11434'\n"
        "ENABLE_OLLAMA_API=true  # both GPUs\n",
        encoding="utf-8",
    )
    done = run_import(str(env))
    assert done.code == 0, done.err
    assert [
        (p["name"], p.get("enabled", True), p.get("api_key")) for p in entries(done.text).values()
    ] == [
        ("llm.example.com", False, "${LLM_KEY}"),
        ("Ollama gpu-1:11434", True, None),
        ("Ollama gpu-2:11434", True, None),
    ]
    assert entries(done.text)["llm.example.com"]["base_url"] == "https://llm.example.com/v1"
