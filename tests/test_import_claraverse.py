"""Importing ClaraVerse's providers.json: every field, and the same visible models.

The sample (tests/data/import/claraverse-providers.json) is the documented example file
grown with the edge cases: the documented replay of filters, an action ClaraVerse refused,
a reference as the key, two kinds at once, a missing ``enabled``, an entry without a URL.
Applied to the embedded store against a loopback upstream, each provider shows what the
reference implementation of ClaraVerse's filters (tests/importing.py) shows over the same
models, except what import reported it cannot express.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reconciler import config
from tests.importing import (
    DATA,
    UPSTREAM_MODELS,
    apply_and_observe,
    clara_visible,
    env_with,
    run_import,
    sample,
    serve_models,
    variables,
)
from tests.upstreams import running_upstream

SAMPLE = "claraverse-providers.json"
REAL_URLS = (
    "https://api.openai.com/v1",
    "https://api.anthropic.com/v1",
    "https://llm.chutes.ai/v1",
    "https://api.z.ai/api/coding/paas/v4",
    "https://your-custom-openai-compatible-api.com/v1",
    "https://api.groq.com/openai/v1",
    "http://localhost:11434/v1",
)


def entries(text: str) -> dict[str, dict[str, object]]:
    return {p["name"]: p for p in yaml.safe_load(text)["providers"]}


def source_providers() -> list[dict[str, object]]:
    return json.loads((DATA / SAMPLE).read_text(encoding="utf-8"))["providers"]


def test_every_field_of_the_sample_is_carried_or_reported(tmp_path: Path) -> None:
    done = run_import(str(DATA / SAMPLE))
    assert done.code == 0, done.err
    got = entries(done.text)
    assert list(got) == [
        "OpenAI", "Anthropic", "Chutes", "Z.AI", "Custom Provider", "Groq", "Images", "Local"
    ]  # fmt: skip
    assert got["Anthropic"] == {
        "name": "Anthropic",
        "type": "anthropic",  # from the host; its base URL is the type's default
        "api_key": "${ANTHROPIC_API_KEY}",
        "models": {"visible": ["[cC][lL][aA][uU][dD][eE]-3-*"], "only_listed": True},
    }
    assert got["Chutes"]["api_key"] == "${CHUTES_TOKEN}"  # a reference keeps its name
    assert got["OpenAI"]["api_key"] == got["Images"]["api_key"] == "${OPENAI_API_KEY}"
    assert got["Custom Provider"]["enabled"] is False
    assert got["Local"]["enabled"] is False and "api_key" not in got["Local"]
    assert got["Groq"]["audio_only"] is True and got["Groq"]["models"] == {"visible": ["*"]}
    images = got["Images"]
    assert images["image_only"] is True and "image_edit_only" not in images
    assert images["default_model"] == "dall-e-3"
    assert images["system_prompt"] == "Draw what is asked. Never draw $${secrets}."
    assert images["favicon"] == "https://cdn.example.com/icons/images.png"
    assert sorted(variables(done.err)) == sorted(
        ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CHUTES_TOKEN", "Z_AI_API_KEY",
         "CUSTOM_PROVIDER_API_KEY", "GROQ_API_KEY"]
    )  # fmt: skip
    for reported in (
        ":84: provider 'Broken' has no http(s) base_url: not imported",
        ":3: provider 'OpenAI': 'model_aliases' is written as models.aliases (2)",
        ":3: provider 'OpenAI': 'recommended_models' is not carried",
        ":26: provider 'Chutes': 'secure' is not carried",
        ":49: provider 'Z.AI': filter 3 has action 'allow'",
        ":67: provider 'Images': 'image_edit_only' is not carried",
        ":79: provider 'Local': 'enabled' is missing, which ClaraVerse read as false",
        "provider 'Chutes': ClaraVerse showed models that match both include "
        "'GPT-4O-MINI-UPPER' (priority 5) and exclude '*mini*' (priority 10)",
    ):
        assert reported in done.err
    # Aliases are carried; the alias keyed by its model's id also set that model's settings.
    assert got["OpenAI"]["models"]["aliases"] == {
        "gpt-4o": {"model": "gpt-4o", "display_name": "GPT-4o", "agents": True,
                   "supports_vision": True},
        "fast": {"model": "gpt-4o-mini", "display_name": "Fast", "description": "Quick answers"},
    }  # fmt: skip
    assert got["OpenAI"]["models"]["settings"] == {
        "gpt-4o": {"display_name": "GPT-4o", "supports_vision": True}
    }
    # Recommended models stay next to their provider, as a comment saying how to write tiers.
    before_openai = done.text.split("  - name: OpenAI")[0]
    assert (
        "# recommended_models (ClaraVerse's per-provider slots; not carried): "
        "top=gpt-4o, fastest=fast" in before_openai
    )
    assert "#     tier1: {provider: OpenAI, model: gpt-4o}" in before_openai
    # With its variables set, the file is valid.
    path = tmp_path / "providers.yaml"
    path.write_text(done.text, encoding="utf-8")
    desired = config.load([str(path)], env_with(variables(done.err)))
    assert len(desired.providers) == 8


def test_applied_it_shows_what_claraverse_showed(tmp_path: Path) -> None:
    with running_upstream() as up:
        serve_models(up)
        source = sample(SAMPLE, tmp_path, dict.fromkeys(REAL_URLS, up.base_url("openai")))
        done = run_import(str(source))
        assert done.code == 0, done.err
        stored = apply_and_observe(done.text, tmp_path, env_with(variables(done.err)))
    wanted = {p["name"]: p for p in source_providers() if p.get("base_url")}
    assert set(stored) == set(wanted)
    for name, (enabled, visible) in stored.items():
        assert enabled is (wanted[name].get("enabled") is True)
        if not enabled:
            continue  # ClaraVerse did not fetch or filter a disabled provider, nor do we
        expected = clara_visible(wanted[name].get("filters") or [], UPSTREAM_MODELS)
        if name == "Chutes":
            # What import reported: re-included by a low priority over '*mini*'.
            assert expected - visible == {"GPT-4O-MINI-Upper"} and visible <= expected
        else:
            assert visible == expected, name


# Filter lists with the corners of ClaraVerse's rules: ties in file order, wildcards in
# LIKE's own syntax, case, an exclude at the lowest priority, an escape.
FILTER_LISTS = {
    "ties": [
        {"pattern": "gpt-*", "action": "exclude", "priority": 1},
        {"pattern": "gpt-4o*", "action": "include", "priority": 1},
    ],
    "like": [
        {"pattern": "%-mini", "action": "include", "priority": 2},
        {"pattern": "claude-3-_____", "action": "include", "priority": 2},
        {"pattern": "50\\%off", "action": "include", "priority": 2},
    ],
    "case": [
        {"pattern": "CLAUDE-*", "action": "include", "priority": 9},
        {"pattern": "qwen/*", "action": "include", "priority": 9},
    ],
    "exclude last": [
        {"pattern": "*", "action": "include", "priority": 10},
        {"pattern": "*-preview", "action": "exclude", "priority": 0},
        {"pattern": "*embedding*", "action": "exclude", "priority": 0},
    ],
    "only excludes": [{"pattern": "gpt-*", "action": "exclude", "priority": 3}],
}


def test_several_filter_lists_applied_show_what_claraverse_showed(tmp_path: Path) -> None:
    with running_upstream() as up:
        serve_models(up)
        providers = [
            {"name": name, "base_url": up.base_url("openai"), "api_key": "", "enabled": True,
             "filters": rows}
            for name, rows in FILTER_LISTS.items()
        ]  # fmt: skip
        source = tmp_path / "providers.json"
        source.write_text(json.dumps({"providers": providers}), encoding="utf-8")
        done = run_import(str(source))
        assert done.code == 0 and "showed models" not in done.err, done.err
        stored = apply_and_observe(done.text, tmp_path, env_with([]))
    for name, rows in FILTER_LISTS.items():
        assert stored[name][1] == clara_visible(rows, UPSTREAM_MODELS), name
    assert stored["like"][1] == {
        "gpt-4o-mini",
        "o3-mini",
        "claude-3-haiku",
        "50%off",
    }


def write_json(tmp_path: Path, providers: list[dict[str, object]]) -> str:
    path = tmp_path / "providers.json"
    path.write_text(json.dumps({"providers": providers}, indent=1), encoding="utf-8")
    return str(path)


def test_a_name_repeated_in_another_case_is_one_provider_with_the_later_values(
    tmp_path: Path,
) -> None:
    done = run_import(
        write_json(
            tmp_path,
            [
                {"name": "OpenAI", "base_url": "https://api.openai.com/v1", "enabled": True},
                {"name": "openai", "base_url": "https://proxy.example.com/v1", "enabled": False},
            ],
        )
    )
    (only,) = yaml.safe_load(done.text)["providers"]
    assert only["name"] == "OpenAI" and only["base_url"] == "https://proxy.example.com/v1"
    assert only["enabled"] is False
    assert "ClaraVerse updated this provider with the later entry's values" in done.err


def test_a_file_claraverse_could_not_read_is_an_error_naming_each_value(tmp_path: Path) -> None:
    done = run_import(
        write_json(
            tmp_path,
            [
                {"name": "A", "base_url": "https://a.example/v1", "enabled": "yes"},
                {"name": "B", "base_url": "https://b.example/v1", "filters": [{"priority": 1.5}]},
            ],
        )
    )
    assert done.code == 1 and done.text == ""
    assert "providers[0].enabled: not true or false" in done.err
    assert "providers[1].filters[0]: needs a string pattern and action" in done.err


def test_google_and_keys_case_insensitive_keys_and_go_zero_values(tmp_path: Path) -> None:
    done = run_import(
        write_json(
            tmp_path,
            [
                {
                    "Name": "Gemini",
                    "BASE_URL": "https://generativelanguage.googleapis.com/v1beta/openai/",
                    "api_key": "${GEMINI_KEY}",
                    "Enabled": True,
                }
            ],
        )
    )
    (entry,) = yaml.safe_load(done.text)["providers"]
    assert entry == {
        "name": "Gemini",
        "type": "google",
        "api_key": "${GEMINI_KEY}",
        "models": {"visible": ["*"]},
    }
    assert "ids without 'models/'" in done.err


@pytest.mark.parametrize("text", ['{"providers": "x"}', "[1, 2]", "providers: {a: 1}"])
def test_files_that_are_not_providers_json_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text, encoding="utf-8")
    done = run_import(str(path), "--from", "claraverse")
    assert done.code == 1 and "not a ClaraVerse providers.json" in done.err
