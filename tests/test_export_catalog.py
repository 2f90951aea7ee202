"""export writes the model catalog back: models.settings (what differs from a fresh
fetch, and only what the target reports), models.aliases (whole) and the tiers; a plan of
the export against its target shows no change, and no key is ever written."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import config
from reconciler.core.catalog import (
    MODEL_SETTING_NAMES,
    Alias,
    ModelSettings,
    StructuredOutput,
    TierState,
)
from reconciler.core.diff import make_plan
from reconciler.core.model import Capabilities, Desired, ModelState, Observed
from reconciler.core.plan import Plan
from reconciler.output.export import export
from reconciler.secrets import Secret, scrubbing_run
from tests.catalog_plans import CATALOG
from tests.factories import FULL, state

ROOT = Path(__file__).resolve().parent.parent
EVERY_SETTING = replace(FULL, model_settings=frozenset(MODEL_SETTING_NAMES))


# Whether the file format reads the catalog yet; until it does, the plan below is made
# from the exported YAML's catalog keys read here, the rest by the real loader.
def catalog_target(capabilities: Capabilities = CATALOG) -> Observed:
    """A target with set and fresh models, aliases, and three tiers."""
    flagship = ModelSettings(
        display_name="GPT-4o",
        description="Flagship ${not a reference}",
        context_length=128000,
        system_prompt="",
        supports_tools=True,
        supports_vision=False,
        supports_streaming=True,
        smart_tool_router=False,
        agents=True,
    )
    fresh = ModelSettings(display_name="gpt-4o-mini", description="", context_length=0)
    openai = replace(
        state("OpenAI", key="sk-export-catalog-1"),
        models=(
            ModelState(id="gpt-4o", visible=True, settings=flagship),
            ModelState(id="gpt-4o-mini", visible=True, settings=fresh),
            ModelState(id="odd*[id]?", settings=ModelSettings(display_name="Odd")),
        ),
        aliases=(
            Alias(
                name="fast",
                model="gpt-4o-mini",
                display_name="Fast",
                description="Quick answers",
                agents=True,
                free_tier=False,
                structured_output=StructuredOutput(support="good", compliance=92, badge="FAST"),
                memory_selector=True,
            ),
            Alias(name="Plain", model="gpt-4o"),
        ),
    )
    other = state("Other", models=("m1",))
    return Observed(
        providers=(openai, other),
        capabilities=capabilities,
        tiers=(
            TierState(tier="tier1", provider_id="id-OpenAI", model_id="gpt-4o"),
            TierState(tier="tier4", provider_id="id-OpenAI", model_id="gpt-4o-mini"),
            TierState(tier="tier5", provider_id="id-Other", model_id="m1"),
        ),
    )


def exported(observed: Observed) -> tuple[dict[str, Any], list[str], str]:
    text, warnings = export(observed, target="t")
    return yaml.safe_load(text), warnings, text


def entry(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The exported provider called ``name``."""
    found: dict[str, Any] = next(p for p in data["providers"] if p["name"] == name)
    return found


def desired_of(text: str, tmp_path: Path, **env: str) -> Desired:
    """The Desired of an exported file, as plan reads it."""
    path = tmp_path / "exported.yaml"
    path.write_text(text, encoding="utf-8")
    return config.load([str(path)], env=env)


def plan_of(text: str, observed: Observed, tmp_path: Path) -> Plan:
    return make_plan(
        desired_of(text, tmp_path, OPENAI_API_KEY="sk-export-catalog-1"),
        observed,
    )


def test_settings_are_what_differs_from_a_fresh_fetch_and_what_the_target_reports() -> None:
    data, _, _ = exported(catalog_target())
    assert entry(data, "OpenAI")["models"]["settings"] == {
        "gpt-4o": {
            "display_name": "GPT-4o",
            "description": "Flagship $${not a reference}",
            "context_length": 128000,
            "supports_tools": True,
            "supports_streaming": True,
        },
        # A key naming the id alone: its glob characters are classes.
        "odd[*][[]id][?]": {"display_name": "Odd"},
    }


def test_a_setting_the_target_reports_is_exported_and_agents_where_it_reports_them() -> None:
    data, _, _ = exported(catalog_target(EVERY_SETTING))
    assert entry(data, "OpenAI")["models"]["settings"]["gpt-4o"]["agents"] is True


def test_the_settings_the_target_cannot_report_are_named_in_a_warning() -> None:
    _, warnings, _ = exported(catalog_target())
    assert (
        "this target does not report model agents: the exported file leaves them out, and "
        "applying it leaves them as they are; declare them under models.settings to have "
        "apply send them"
    ) in warnings
    _, warnings, _ = exported(catalog_target(EVERY_SETTING))
    assert not any("does not report model" in w for w in warnings)


def test_aliases_are_exported_whole_by_name() -> None:
    data, _, _ = exported(catalog_target())
    assert entry(data, "OpenAI")["models"]["aliases"] == {
        "fast": {
            "model": "gpt-4o-mini",
            "display_name": "Fast",
            "description": "Quick answers",
            "agents": True,
            "free_tier": False,
            "structured_output": {"support": "good", "compliance": 92, "badge": "FAST"},
            "memory_selector": True,
        },
        "Plain": {"model": "gpt-4o", "display_name": ""},
    }
    assert "aliases" not in entry(data, "Other").get("models", {})


def test_tiers_are_exported_by_provider_name_and_model_id() -> None:
    data, _, text = exported(catalog_target())
    assert data["tiers"] == {
        "tier1": {"provider": "OpenAI", "model": "gpt-4o"},
        "tier4": {"provider": "OpenAI", "model": "gpt-4o-mini"},
        "tier5": {"provider": "Other", "model": "m1"},
    }
    assert text.rstrip().splitlines()[-1] == "    model: m1"  # after the providers


@pytest.mark.parametrize("capabilities", [CATALOG, EVERY_SETTING], ids=["no agents", "all"])
def test_a_plan_of_the_export_shows_no_change(capabilities: Capabilities, tmp_path: Path) -> None:
    observed = catalog_target(capabilities)
    _, _, text = exported(observed)
    plan = plan_of(text, observed, tmp_path)
    assert plan.actions == ()
    assert plan.notes == ()


def test_the_export_without_catalog_writes_no_catalog_keys() -> None:
    data, _, _ = exported(Observed(providers=(state("P"),), capabilities=CATALOG))
    assert "tiers" not in data
    assert "models" not in data["providers"][0] or set(data["providers"][0]["models"]) == {
        "visible"
    }


def test_the_providers_part_of_the_export_is_a_valid_file() -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads((ROOT / "schemas/providers.schema.json").read_text())
    data, _, _ = exported(catalog_target())
    assert sorted(e.message for e in Draft202012Validator(schema).iter_errors(data)) == []


def test_a_tier_that_cannot_be_written_is_left_out_with_a_warning(tmp_path: Path) -> None:
    observed = catalog_target()
    openai = replace(
        observed.providers[0],
        # An alias named like a model id, pointing elsewhere: "gpt-4o" in the file would
        # mean the alias's model.
        aliases=(Alias(name="GPT-4o", model="gpt-4o-mini", display_name="Mini"),),
    )
    odd = replace(
        observed,
        providers=(openai, observed.providers[1]),
        tiers=(
            *observed.tiers,
            TierState(tier="tier2", provider_id="id-Gone", model_id="x"),
        ),
    )
    data, warnings, text = exported(odd)
    assert set(data["tiers"]) == {"tier4", "tier5"}
    assert (
        "tier tier1: model 'gpt-4o' of provider 'OpenAI' is also the name of an alias of "
        "'gpt-4o-mini', so the file cannot name it; left out (the target is left as it is)"
    ) in warnings
    assert (
        "tier tier2: its provider is not on the target; left out (the target is left as it is)"
    ) in warnings
    assert plan_of(text, odd, tmp_path).is_empty


def test_catalog_values_that_hold_a_key_are_left_out(tmp_path: Path) -> None:
    key = "sk-export-catalog-SECRET-77"
    with scrubbing_run():
        Secret(key)  # a key this run knows
        observed = catalog_target()
        openai = observed.providers[0]
        leaky = replace(
            openai,
            models=(
                *openai.models,
                ModelState(id=f"{key}-model", settings=ModelSettings(display_name="Echo")),
                ModelState(id="quiet", settings=ModelSettings(description=f"uses {key}")),
            ),
            aliases=(*openai.aliases, Alias(name="leak", model="gpt-4o", description=key)),
        )
        observed = replace(
            observed,
            providers=(leaky, observed.providers[1]),
            tiers=(
                *observed.tiers,
                TierState(tier="tier3", provider_id="id-OpenAI", model_id=f"{key}-model"),
            ),
        )
        text, warnings = export(observed, target="t")
        assert key not in text and "***" not in text
        assert (
            "provider 'OpenAI': the settings of 2 models holding a key left out of "
            "models.settings (the target is left as it is)"
        ) in warnings
        assert (
            "provider 'OpenAI': 1 alias holding a key, so models.aliases is left out (a plan "
            "of the file leaves its aliases as they are)"
        ) in warnings
        assert "aliases" not in yaml.safe_load(text)["providers"][0]["models"]
        assert "tier tier3: its model id holds a key; left out (the target is left as it is)" in (
            warnings
        )
        assert key not in "\n".join(warnings)
        assert plan_of(text, observed, tmp_path).is_empty


@pytest.mark.parametrize(
    ("alias", "why"),
    [
        (Alias(name="team/fast", model="gpt-4o"), "its name contains '/'"),
        (Alias(name="..  ", model="gpt-4o"), "its name is '..'"),
        (Alias(name=".", model="gpt-4o"), "its name is '.'"),
        # ClaraVerse keeps an alias of another provider's model; the file cannot.
        (Alias(name="borrowed", model="m1"), "its model 'm1' is not one of the provider's models"),
    ],
    ids=["slash", "dot-dot-and-spaces", "dot", "another-providers-model"],
)
def test_aliases_the_file_cannot_hold_leave_the_providers_aliases_out(
    alias: Alias, why: str, tmp_path: Path
) -> None:
    observed = catalog_target()
    openai = replace(observed.providers[0], aliases=(*observed.providers[0].aliases, alias))
    observed = replace(observed, providers=(openai, observed.providers[1]))
    data, warnings, text = exported(observed)
    # The list is authoritative: the others left without it would be deleted.
    assert "aliases" not in entry(data, "OpenAI")["models"]
    assert (
        f"provider 'OpenAI': the file cannot hold 1 of its aliases ('{alias.name}': {why}), so "
        "models.aliases is left out (a plan of the file leaves its aliases as they are)"
    ) in warnings
    assert plan_of(text, observed, tmp_path).is_empty
