"""export: an observed target as providers.yaml, with keys as references, never values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler import config
from reconciler.core.diff import make_plan
from reconciler.core.model import (
    Capabilities,
    ModelRules,
    ModelState,
    Observed,
    ProviderSettings,
    ProviderState,
)
from reconciler.core.plan import Plan
from reconciler.core.visibility import wanted_visibility
from reconciler.errors import ConfigError
from reconciler.output.export import env_name, export, guess_type, holds_key, literal_pattern
from reconciler.secrets import Secret, scrubbing_run
from tests.factories import BLIND, FULL, LOCAL_URL, state
from tests.sandbox import write

BLIND_SETTINGS = Capabilities(
    observes=frozenset({"base_url", "enabled", "models", "audio_only", "favicon"}),
    lists_models=True,
    visibility_by_id=True,
)


def exported(observed: Observed) -> tuple[dict[str, object], list[str]]:
    text, warnings = export(observed, target="sqlite:///state.db")
    assert text.startswith("# Exported by `reconcile export` from sqlite:///state.db.")
    return yaml.safe_load(text), warnings


def test_env_names_are_shell_variables_derived_from_the_name() -> None:
    assert env_name("Google AI") == "GOOGLE_AI_API_KEY"
    assert env_name("3rd party") == "P_3RD_PARTY_API_KEY"
    assert env_name("---") == "PROVIDER_API_KEY"


def test_type_is_guessed_from_the_url_where_the_target_does_not_report_it() -> None:
    assert guess_type("https://api.anthropic.com") == "anthropic"
    assert guess_type("https://generativelanguage.googleapis.com/v1beta") == "google"
    assert guess_type("http://localhost:11434/v1") == "openai"


def test_a_stored_key_becomes_a_reference_and_two_names_never_share_a_variable() -> None:
    data, _ = exported(
        Observed(
            providers=(state("Open AI", key="sk-1-abcdefgh"), state("open-ai", key="sk-2")),
            capabilities=FULL,
        )
    )
    refs = [p["api_key"] for p in data["providers"]]  # type: ignore[index]
    assert refs == ["${OPEN_AI_API_KEY}", "${OPEN_AI_2_API_KEY}"]


def test_a_target_that_cannot_report_keys_gets_a_required_reference_local_engines_too(
    tmp_path: Path,
) -> None:
    observed = Observed(
        providers=(
            state("Cloud", type=None, key_known=False),
            state("Claude", type="anthropic", base_url=LOCAL_URL, key_known=False),
            state("Local", type=None, base_url=LOCAL_URL, key_known=False),
            state("Six", type=None, base_url="http://[::1]:8080/v1", key_known=False),
        ),
        capabilities=BLIND,
    )
    data, warnings = exported(observed)
    entries = {e["name"]: e for e in data["providers"]}  # type: ignore[attr-defined]
    # Required, never ${VAR:-} nor left out: applying no key would clear the server's. A
    # local engine (a LiteLLM proxy, vLLM with --api-key) may hold one too.
    assert entries["Cloud"]["api_key"] == "${CLOUD_API_KEY}"
    assert entries["Claude"]["api_key"] == "${CLAUDE_API_KEY}"
    assert entries["Local"]["api_key"] == "${LOCAL_API_KEY}"
    assert entries["Six"]["api_key"] == "${SIX_API_KEY}"
    assert (
        "2 providers on a loopback address (Local, Six) exported with a required api_key "
        "reference too"
    ) in "\n".join(warnings)
    keys = {"CLAUDE_API_KEY": "sk-export-5", "LOCAL_API_KEY": "", "SIX_API_KEY": "x"}
    with pytest.raises(ConfigError, match="CLOUD_API_KEY is not set"):
        plan_of(yaml.safe_dump(data), observed, tmp_path, **keys)
    plan = plan_of(
        yaml.safe_dump(data).replace("${LOCAL_API_KEY}", "${LOCAL_API_KEY:-}"),
        observed,
        tmp_path,
        CLOUD_API_KEY="sk-export-6",
        CLAUDE_API_KEY="sk-export-5",
        SIX_API_KEY="sk-export-7",
    )
    assert plan.is_empty, plan.changes


def test_a_target_that_reports_keys_gets_a_reference_where_one_is_stored() -> None:
    observed = Observed(
        providers=(state("Keyed", key="sk-export-3"), state("Keyless", key=None)),
        capabilities=FULL,
    )
    data, warnings = exported(observed)
    keyed, keyless = data["providers"]  # type: ignore[misc]
    assert keyed["api_key"] == "${KEYED_API_KEY}" and "api_key" not in keyless
    assert not any("loopback" in w for w in warnings)


def test_reported_settings_are_written_when_they_differ_from_the_defaults() -> None:
    images = ProviderSettings(image_only=True, default_model="dall-e-3")
    data, warnings = exported(
        Observed(providers=(state("Images", settings=images),), capabilities=FULL)
    )
    (entry,) = data["providers"]  # type: ignore[index]
    assert entry["image_only"] is True and entry["default_model"] == "dall-e-3"
    assert "audio_only" not in entry and warnings == []


def test_settings_a_target_cannot_report_are_left_out_with_a_warning() -> None:
    observed = Observed(
        providers=(state("P", type=None, key_known=False, settings=ProviderSettings(favicon="f")),),
        capabilities=BLIND_SETTINGS,
    )
    data, warnings = exported(observed)
    (entry,) = data["providers"]  # type: ignore[index]
    assert entry["favicon"] == "f" and "image_only" not in entry
    assert entry["api_key"] == "${P_API_KEY}"
    (warning,) = warnings
    assert warning.startswith("this target does not report image_only, image_edit_only")


def test_the_export_of_a_target_plans_no_change_against_it(tmp_path: Path) -> None:
    observed = Observed(
        providers=(
            state(
                "Images",
                enabled=False,
                settings=ProviderSettings(image_only=True, system_prompt="Draw."),
                models=(),
            ),
            state("Chat", models=("gpt-4o", "o3"), visible=("o3",)),
        ),
        capabilities=FULL,
    )
    text, _ = export(observed, target="t")
    path = tmp_path / "exported.yaml"
    path.write_text(text, encoding="utf-8")
    desired = config.load([str(path)])
    plan = make_plan(desired, observed)
    assert [a.kind for a in plan.actions] == []


def test_model_visibility_is_exported_as_the_visible_ids() -> None:
    observed = Observed(
        providers=(
            state("P").__class__(
                id="1",
                name="P",
                base_url="https://x/v1",
                models=(ModelState(id="a", visible=True), ModelState(id="b")),
                model_count=2,
            ),
        ),
        capabilities=FULL,
    )
    data, _ = exported(observed)
    assert data["providers"][0]["models"] == {"visible": ["a"]}  # type: ignore[index]


def plan_of(text: str, observed: Observed, tmp_path: Path, **env: str) -> Plan:
    """The plan of an exported file against the target it came from."""
    path = tmp_path / "exported.yaml"
    path.write_text(text, encoding="utf-8")
    return make_plan(config.load([str(path)], env=env), observed)


@pytest.mark.parametrize(
    ("provider", "capabilities", "flagged"),
    [
        (state("Local", base_url=LOCAL_URL, models=(), fetched=False), FULL, True),
        (state("Keyed", key="sk-export-1", models=(), fetched=False), FULL, True),
        (state("Blind", type=None, key_known=False, models=(), fetched=None), BLIND, True),
        (state("Paused", base_url=LOCAL_URL, enabled=False, models=(), fetched=False), FULL, False),
        # No key where the type needs one: no plan fetches; nothing to stop.
        (state("Keyless", models=(), fetched=False), FULL, False),
        # A failed fetch is retried, which is not a change: left as it was.
        (
            state("Failed", key="sk-export-2", models=(), fetched=False, last_fetch_error="503"),
            FULL,
            False,
        ),
        (state("Fetched", base_url=LOCAL_URL, models=(), fetched=True), FULL, False),
    ],
    ids=lambda v: v.name if isinstance(v, ProviderState) else None,
)
def test_a_provider_without_models_is_exported_so_that_its_plan_fetches_nothing(
    provider: ProviderState, capabilities: Capabilities, flagged: bool, tmp_path: Path
) -> None:
    observed = Observed(providers=(provider,), capabilities=capabilities)
    text, warnings = export(observed, target="t")
    (entry,) = yaml.safe_load(text)["providers"]
    assert ("fetch_models" in entry) is flagged and entry.get("fetch_models", False) is False
    assert any("fetch_models: false" in w for w in warnings) is flagged
    keys = {
        "KEYED_API_KEY": "sk-export-1",
        "FAILED_API_KEY": "sk-export-2",
        "BLIND_API_KEY": "sk-export-4",
    }
    plan = plan_of(text, observed, tmp_path, **keys)
    assert plan.is_empty, plan.changes


def test_the_warning_names_the_providers_exported_not_to_fetch() -> None:
    observed = Observed(
        providers=(
            state("A", base_url=LOCAL_URL, models=(), fetched=False),
            state("B", base_url=LOCAL_URL, models=(), fetched=False),
        ),
        capabilities=FULL,
    )
    assert export(observed, target="t")[1] == [
        "2 providers with no models (A, B) exported with fetch_models: false, so that a "
        "plan of this file changes nothing; remove that line to have apply fetch their models"
    ]


GLOB_IDS = ("gpt-4*", "o[1]", "what?", "a[!b]", "[", "x]y", "*", "?", "[*]", "a\\*")
NEIGHBOURS = ("gpt-4", "gpt-4o", "o1", "o[1", "whatx", "ab", "a", "x]", "b", "a\\b", "a*")


def test_model_ids_with_glob_characters_are_patterns_that_match_only_themselves() -> None:
    for model_id in GLOB_IDS:
        pattern = literal_pattern(model_id)
        rules = ModelRules(visible=(pattern,))
        matched = [i for i in (*GLOB_IDS, *NEIGHBOURS) if wanted_visibility(rules, i)]
        assert matched == [model_id], pattern


def test_hostile_values_round_trip_and_plan_empty(tmp_path: Path) -> None:
    ids = (*GLOB_IDS, "m-${HOME}", "new\nline", "tab\there", "\u202eevil", "'quoted\"", "yes")
    observed = Observed(
        providers=(
            state(
                "Costs ${USD}",
                models=ids,
                visible=ids,
                settings=ProviderSettings(
                    system_prompt="Hello ${user}, $${not} a reference\nsecond line",
                    default_model="- yes",
                ),
            ),
            state("no", models=("gpt-4o", "gpt-4*"), visible=("gpt-4*",)),
            # Names with line breaks or bidi controls are refused by validation (see
            # test_hostile_values): the hostile name here is one a file may hold.
            state("Break: yes # not a comment", models=()),
        ),
        capabilities=FULL,
    )
    text, _ = export(observed, target="t")
    loaded = config.load([str(write(tmp_path / "e.yaml", text))], env={})
    assert [s.name for s in loaded.providers] == sorted(
        (p.name for p in observed.providers), key=str.casefold
    )
    costs = next(s for s in loaded.providers if s.name == "Costs ${USD}")
    assert costs.settings.system_prompt == "Hello ${user}, $${not} a reference\nsecond line"
    assert costs.models is not None
    shown = [i for i in (*ids, *NEIGHBOURS) if wanted_visibility(costs.models, i)]
    assert sorted(shown) == sorted(ids)
    assert plan_of(text, observed, tmp_path).actions == ()


def test_a_model_id_that_holds_a_key_is_left_out_with_a_warning(tmp_path: Path) -> None:
    key = "sk-export-echoed-SECRET-42"
    with scrubbing_run():
        Secret(key)  # a key this run knows: the embedded store reads every stored key
        observed = Observed(
            providers=(
                state(
                    "Echo",
                    key=key,
                    models=("gpt-4o", f"{key}-model"),
                    visible=("gpt-4o", f"{key}-model"),
                ),
            ),
            capabilities=FULL,
        )
        text, warnings = export(observed, target="t")
        assert key not in text and "***" not in text
        assert yaml.safe_load(text)["providers"][0]["models"] == {"visible": ["gpt-4o"]}
        assert warnings == [
            "provider 'Echo': 1 visible model id holding a key left out of models.visible "
            "(the target is left as it is); ask the upstream's owner why its model list "
            "holds a key"
        ]
        assert plan_of(text, observed, tmp_path, ECHO_API_KEY=key).is_empty


def test_ids_of_a_well_known_key_shape_are_keys_and_model_ids_are_not() -> None:
    keys = ("sk-proj-" + "aB3" * 14, "sk-ant-api03-" + "x9Z" * 20, "AIza" + "Sy1" * 11 + "ab")
    assert all(holds_key(f"echo-{k}") for k in keys)
    models = (
        "gpt-4o",
        "sk-llama-3-70b-instruct-awq",
        "claude-3-5-haiku-20241022",
        "ft:gpt-4o-mini-2024-07-18:my-org:custom-suffix:9abcdEFG",
        "models/gemini-1.5-pro-latest",
    )
    assert not any(holds_key(m) for m in models)
