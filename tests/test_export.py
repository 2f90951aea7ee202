"""export: an observed target as providers.yaml, with keys as references, never values."""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler import config
from reconciler.core.diff import make_plan
from reconciler.core.model import Capabilities, ModelState, Observed, ProviderSettings
from reconciler.output.export import env_name, export, guess_type
from tests.factories import FULL, state

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
    assert entry["api_key"] == "${P_API_KEY:-}"
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
