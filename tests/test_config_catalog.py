"""The model catalog in the file: models.settings, models.aliases and tiers, read into
Desired with their places in the file, and every mistake reported at once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler import config
from reconciler.config import schema_check
from reconciler.core.catalog import (
    Alias,
    ModelSettingRule,
    ModelSettings,
    StructuredOutput,
    TierSpec,
    settings_for,
)
from reconciler.core.model import Desired, ModelRules
from reconciler.errors import ConfigError
from tests.catalog_example import example_yaml
from tests.inprocess import run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/model-catalog.yaml"
HEADER = "version: 1\nproviders:\n"
OPENAI = "  - name: OpenAI\n    type: openai\n    base_url: https://api.openai.com/v1\n"

# The example of the issue, as written there.
ISSUE = example_yaml("https://api.openai.com/v1")


def load(text: str, env: Mapping[str, str] | None = None, name: str = "p.yaml") -> Desired:
    Path(name).write_text(text, encoding="utf-8")
    return config.load([name], env or {})


def problems(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text, env)
    return [str(p) for p in info.value.problems]


def rules(desired: Desired, index: int = 0) -> ModelRules:
    models = desired.providers[index].models
    assert models is not None
    return models


# --- reading ----------------------------------------------------------------------------


def test_the_issues_example_is_read_whole_with_the_place_of_each_entry() -> None:
    desired = load(ISSUE)
    models = rules(desired)
    assert models.settings == (
        ModelSettingRule(
            pattern="gpt-4o",
            settings=ModelSettings(
                display_name="GPT-4o",
                description="Flagship multimodal model",
                context_length=128000,
                system_prompt="",
                supports_tools=True,
                supports_vision=True,
                supports_streaming=True,
                smart_tool_router=True,
                agents=True,
            ),
        ),
        ModelSettingRule(pattern="*-mini", settings=ModelSettings(agents=False)),
    )
    assert [r.where for r in models.settings] == ["p.yaml:9", "p.yaml:19"]
    assert models.aliases == (
        Alias(
            name="fast",
            model="gpt-4o-mini",
            display_name="Fast",
            description="Quick answers",
            agents=True,
            supports_vision=False,
            free_tier=True,
            # warning: "" is stored as None, as ClaraVerse stores NULL for it.
            structured_output=StructuredOutput(
                support="good", compliance=92, speed_ms=900, badge="FASTEST"
            ),
            memory_extractor=False,
            memory_selector=False,
        ),
    )
    assert models.aliases[0].where == "p.yaml:21"
    assert desired.tiers == (
        TierSpec(tier="tier1", provider="OpenAI", model="gpt-4o"),
        TierSpec(tier="tier4", provider="OpenAI", model="fast"),
    )
    assert [t.where for t in desired.tiers] == ["p.yaml:32", "p.yaml:33"]


def test_an_empty_system_prompt_is_a_declared_value_not_a_missing_one() -> None:
    (gpt4o, _) = rules(load(ISSUE)).settings
    assert gpt4o.settings.system_prompt == ""
    assert "system_prompt" in gpt4o.settings.declared()


def test_settings_keep_file_order_so_that_a_later_glob_wins_and_the_exact_id_beats_all() -> None:
    text = (
        HEADER + OPENAI + "    models:\n      settings:\n"
        '        "gpt-4o": {display_name: Exact}\n'
        '        "gpt-*": {display_name: First glob, agents: true}\n'
        '        "gpt-4o*": {display_name: Later glob}\n'
    )
    settings = rules(load(text)).settings
    assert [r.pattern for r in settings] == ["gpt-4o", "gpt-*", "gpt-4o*"]
    assert settings_for(settings, "gpt-4o") == ModelSettings(display_name="Exact", agents=True)
    assert settings_for(settings, "gpt-4o-mini").display_name == "Later glob"
    assert settings_for(settings, "o3") == ModelSettings()


def test_no_aliases_key_leaves_the_targets_aliases_alone_and_an_empty_one_deletes_them() -> None:
    without = load(HEADER + OPENAI + "    models:\n      visible: ['*']\n")
    assert rules(without).aliases is None
    assert rules(without).settings == ()
    empty = load(HEADER + OPENAI + "    models:\n      aliases: {}\n")
    assert rules(empty).aliases == ()


def test_an_alias_left_almost_empty_is_stored_with_empty_fields() -> None:
    text = HEADER + OPENAI + "    models:\n      aliases:\n        x: {model: m, description: ''}\n"
    (alias,) = rules(load(text)).aliases or ()
    assert alias == Alias(name="x", model="m")
    assert (alias.display_name, alias.description, alias.free_tier) == ("", None, None)


def test_no_tiers_key_declares_no_tier() -> None:
    assert load(HEADER + OPENAI).tiers == ()


def test_variables_are_substituted_in_the_catalogs_strings() -> None:
    text = (
        HEADER + OPENAI + "    models:\n"
        "      settings:\n        m: {description: '${RT_DESC}', system_prompt: '${RT_NONE:-}'}\n"
        "      aliases:\n        a: {model: '${RT_MODEL}', display_name: '${RT_SHOWN:-Fast}'}\n"
        "tiers:\n  tier2: {provider: '${RT_PROVIDER}', model: a}\n"
    )
    env = {"RT_DESC": "Described", "RT_MODEL": "gpt-4o", "RT_PROVIDER": "OpenAI"}
    desired = load(text, env)
    (rule,) = rules(desired).settings
    assert rule.settings == ModelSettings(description="Described", system_prompt="")
    (alias,) = rules(desired).aliases or ()
    assert (alias.model, alias.display_name) == ("gpt-4o", "Fast")
    assert desired.tiers == (TierSpec(tier="tier2", provider="OpenAI", model="a"),)


def test_a_missing_variable_in_a_tier_is_reported_once() -> None:
    text = HEADER + OPENAI + "tiers:\n  tier1: {provider: '${RT_UNSET}', model: m}\n"
    assert problems(text) == [
        "p.yaml:7:11: tiers.tier1.provider: environment variable RT_UNSET is not set; export "
        "it (in CI, from a secret), or write ${RT_UNSET:-} to allow an empty value"
    ]


def test_a_tier_may_name_a_provider_of_another_file() -> None:
    Path("a.yaml").write_text(HEADER + OPENAI)
    Path("b.yaml").write_text(
        "version: 1\nproviders: []\ntiers:\n  tier5: {provider: OpenAI, model: o3}\n"
    )
    desired = config.load(["a.yaml", "b.yaml"], {})
    assert desired.tiers == (TierSpec(tier="tier5", provider="OpenAI", model="o3"),)
    assert desired.tiers[0].where == "b.yaml:4"


# --- mistakes -----------------------------------------------------------------------------


def test_free_tier_on_a_model_setting_says_it_belongs_on_an_alias() -> None:
    text = HEADER + OPENAI + "    models:\n      settings:\n        gpt-4o: {free_tier: true}\n"
    assert problems(text) == [
        "p.yaml:8:18: providers[0].models.settings.gpt-4o.free_tier: unknown field "
        "'free_tier'; free_tier exists only on aliases (ClaraVerse models have no such "
        "column): set it on an alias under models.aliases, or remove it"
    ]


def test_fields_of_the_other_kind_of_entry_are_named_as_such() -> None:
    text = (
        HEADER + OPENAI + "    models:\n"
        "      settings:\n        gpt-4o: {memory_selector: true}\n"
        "      aliases:\n        a: {model: m, context_length: 5, agents_enabled: true}\n"
    )
    assert [p.split(": ", 2)[2] for p in problems(text)] == [
        "unknown field 'memory_selector'; memory_selector exists only on aliases "
        "(models.aliases), not on model settings",
        "unknown field 'context_length'; context_length exists only on model settings "
        "(models.settings), not on aliases",
        "unknown field 'agents_enabled'; did you mean 'agents'?",
    ]


def test_an_alias_name_with_a_slash_is_refused_at_its_key() -> None:
    text = HEADER + OPENAI + "    models:\n      aliases:\n        vendor/fast: {model: m}\n"
    assert problems(text) == [
        "p.yaml:8:9: providers[0].models.aliases.vendor/fast: alias name 'vendor/fast' "
        "contains '/', and ClaraVerse cannot delete such an alias (its admin API takes the "
        "name in the URL path); use another character, e.g. '-'"
    ]


def test_alias_names_a_url_path_resolves_away_are_refused_at_their_key() -> None:
    # DELETE .../aliases/.. would reach the route that deletes the alias' model.
    text = (
        HEADER + OPENAI + "    models:\n      aliases:\n"
        "        '..': {model: m}\n        '. ': {model: m}\n        '...': {model: m}\n"
    )
    found = problems(text)
    assert [p.split(": ", 2)[1] for p in found] == [
        "providers[0].models.aliases...",
        "providers[0].models.aliases.. ",
    ]
    assert found[0].endswith(
        "alias name '..' is a path segment ('.' or '..') that URLs resolve away, so "
        "ClaraVerse's admin API cannot address it (a delete would reach another route); "
        "choose a name with other characters"
    )


def test_alias_names_that_differ_only_in_case_or_trailing_spaces_collide() -> None:
    text = (
        HEADER + OPENAI + "    models:\n      aliases:\n"
        "        fast: {model: m}\n        Fast: {model: m}\n        'FAST ': {model: n}\n"
        "        quick: {model: m}\n"
    )
    assert problems(text) == [
        "p.yaml:9:9: providers[0].models.aliases.Fast: alias 'Fast' and alias 'fast' (at "
        "p.yaml:8) are the same name for ClaraVerse, which ignores case: rename or remove "
        "one of them",
        "p.yaml:10:9: providers[0].models.aliases.FAST : alias 'FAST ' and alias 'fast' (at "
        "p.yaml:8) are the same name for ClaraVerse, which ignores case: rename or remove "
        "one of them",
    ]


def test_the_same_alias_name_under_two_providers_is_fine() -> None:
    other = OPENAI.replace("OpenAI", "Other")
    aliases = "    models:\n      aliases:\n        fast: {model: m}\n"
    desired = load(HEADER + OPENAI + aliases + other + aliases)
    assert [len(p.models.aliases or ()) for p in desired.providers if p.models] == [1, 1]


def test_an_alias_name_that_is_not_plain_text_is_refused_at_its_key() -> None:
    text = (
        HEADER
        + OPENAI
        + '    models:\n      aliases:\n        "a\\tb": {model: m}\n        " ": {model: m}\n'
    )
    assert problems(text) == [
        'p.yaml:8:9: providers[0].models.aliases.a\\tb: contains a tab ("\\t"); a name must '
        "be plain text on one line, shown the same everywhere: remove it",
        "p.yaml:9:9: providers[0].models.aliases. : must not be blank: give it a value",
    ]


def test_an_empty_settings_key_is_refused() -> None:
    text = HEADER + OPENAI + "    models:\n      settings:\n        '': {agents: true}\n"
    assert problems(text) == [
        "p.yaml:8:9: providers[0].models.settings.: a key must not be empty: name it, or "
        "remove the entry"
    ]


def test_values_out_of_bounds_are_explained() -> None:
    text = (
        HEADER + OPENAI + "    models:\n"
        "      settings:\n        m: {context_length: -1}\n"
        "      aliases:\n        a:\n          model: m\n          structured_output:\n"
        "            {support: great, compliance: 101, speed_ms: -5, badge: '" + "B" * 51 + "'}\n"
    )
    assert [p.split(": ", 1)[1] for p in problems(text)] == [
        "providers[0].models.settings.m.context_length: must be at least 0, not -1",
        "providers[0].models.aliases.a.structured_output.support: 'great' is not one of: "
        "excellent, good, fair, poor, unknown",
        "providers[0].models.aliases.a.structured_output.compliance: must be at most 100, not 101",
        "providers[0].models.aliases.a.structured_output.speed_ms: must be at least 0, not -5",
        "providers[0].models.aliases.a.structured_output.badge: is longer than 50 characters",
    ]


def test_an_alias_without_a_model_and_a_tier_without_fields_say_what_to_write() -> None:
    text = (
        HEADER + OPENAI + "    models:\n      aliases:\n        a: {display_name: A}\n"
        "tiers:\n  tier1: {}\n"
    )
    assert problems(text) == [
        "p.yaml:8:9: providers[0].models.aliases.a: missing required field 'model' (the id "
        "of the provider's model this alias stands for)",
        "p.yaml:10:3: tiers.tier1: missing required field 'model' (a model id of the "
        "provider, or the name of one of its aliases)",
        "p.yaml:10:3: tiers.tier1: missing required field 'provider' (the name of a provider "
        "declared in the files)",
    ]


def test_a_sixth_tier_is_refused_with_the_five_named() -> None:
    text = HEADER + OPENAI + "tiers:\n  top: {provider: OpenAI, model: m}\n"
    assert problems(text) == [
        "p.yaml:7:3: tiers.top: unknown field 'top'; ClaraVerse has five tiers: tier1 "
        "(Elite), tier2 (Premium), tier3 (Standard), tier4 (Fast) and tier5 (New)"
    ]


def test_a_tier_naming_an_undeclared_provider_says_how_to_fix_it() -> None:
    renamed = OPENAI + "    renamed_from: [Old AI]\n"
    text = (
        HEADER + renamed + "tiers:\n"
        "  tier1: {provider: Nope, model: m}\n"
        "  tier2: {provider: openai, model: m}\n"
        "  tier3: {provider: Old AI, model: m}\n"
        "  tier4: {provider: ' OpenAI ', model: m}\n"
    )
    start = "tier{} names provider '{}', which is not declared in the files; a tier holds a "
    start += "model of a provider this configuration declares: "
    assert [p.split(": ", 2)[2] for p in problems(text)] == [
        start.format(1, "Nope") + "declare it, or correct the name",
        start.format(2, "openai") + "names are case-sensitive, did you mean 'OpenAI'?",
        start.format(3, "Old AI") + "it is renamed to 'OpenAI', write that name",
    ]


def test_a_tier_naming_a_provider_to_be_deleted_is_refused() -> None:
    text = (
        HEADER + "  - name: Gone\n    ensure: absent\ntiers:\n  tier3: {provider: Gone, model: m}\n"
    )
    assert problems(text) == [
        "p.yaml:6:11: tiers.tier3.provider: tier3 names provider 'Gone', which is to be "
        "deleted (ensure: absent, at p.yaml:3:5); put another provider's model in tier3, "
        "or remove tier3"
    ]


def test_a_tier_naming_a_provider_with_errors_of_its_own_is_not_also_undeclared() -> None:
    text = (
        HEADER
        + "  - name: Broken\n    type: azure\ntiers:\n  tier1: {provider: Broken, model: m}\n"
    )
    (only,) = problems(text)
    assert "providers[0].type" in only


def test_tiers_in_two_files_are_an_error_naming_both() -> None:
    tiers = "tiers:\n  tier1: {provider: OpenAI, model: m}\n"
    Path("a.yaml").write_text(HEADER + OPENAI + tiers)
    Path("b.yaml").write_text("version: 1\nproviders: []\n" + tiers)
    with pytest.raises(ConfigError) as info:
        config.load(["a.yaml", "b.yaml"], {})
    assert [str(p) for p in info.value.problems] == [
        "b.yaml:3:1: tiers: tiers are also declared at a.yaml:6:1; the five tiers are "
        "global: declare them in one file only (move these there, or remove one of the two)"
    ]


def test_every_catalog_problem_of_a_file_is_reported_in_one_run() -> None:
    text = (
        HEADER + "  - name: Broken\n    models:\n      aliases:\n        a/b: {model: m}\n"
        "        A/B: {model: m}\n"
        + OPENAI
        + "    models:\n      settings:\n        m: {free_tier: true}\n"
        "tiers:\n  tier1: {provider: Nowhere, model: m}\n"
    )
    found = [p.split(": ", 2)[1] for p in problems(text)]
    assert found == [
        "providers[0]",  # missing type: the aliases are checked all the same
        "providers[0].models.aliases.a/b",
        "providers[0].models.aliases.A/B",
        "providers[0].models.aliases.A/B",
        "providers[1].models.settings.m.free_tier",
        "tiers.tier1.provider",
    ]


# --- entries to delete ------------------------------------------------------------------


def test_an_absent_entry_may_keep_its_catalog_checked_for_shape_only() -> None:
    catalog = (
        "    models:\n      settings:\n        m: {description: '${RT_GONE}'}\n"
        "      aliases:\n        a/b: {model: m}\n        A/B: {model: m}\n"
    )
    desired = load(HEADER + "  - name: Legacy\n    ensure: absent\n" + catalog)
    (spec,) = desired.providers
    assert (spec.ensure, spec.models) == ("absent", None)
    broken = HEADER + "  - name: Legacy\n    ensure: absent\n    models:\n      aliases:\n"
    assert problems(broken + "        a: {model: 3}\n") == [
        "p.yaml:7:13: providers[0].models.aliases.a.model: expected a string, got a number "
        "(put it in quotes)"
    ]


# --- the schema ------------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    result: dict[str, Any] = json.loads((ROOT / "schemas/providers.schema.json").read_text())
    return result


def test_every_catalog_field_is_described_for_editors() -> None:
    defs = _schema()["$defs"]
    for name in ("modelSettings", "alias", "structuredOutput", "tier"):
        assert defs[name]["description"]
        assert defs[name]["additionalProperties"] is False
        for field, value in defs[name]["properties"].items():
            assert value.get("description") or "$ref" in value, (name, field)
    models = defs["provider"]["properties"]["models"]["properties"]
    assert models["settings"]["description"] and models["aliases"]["description"]
    assert _schema()["properties"]["tiers"]["description"]


def test_model_settings_are_the_nine_of_the_core() -> None:
    from reconciler.core.catalog import MODEL_SETTING_NAMES, STRUCTURED_SUPPORT, TIER_NAMES

    defs = _schema()["$defs"]
    assert tuple(defs["modelSettings"]["properties"]) == MODEL_SETTING_NAMES
    assert tuple(defs["structuredOutput"]["properties"]["support"]["enum"]) == STRUCTURED_SUPPORT
    assert tuple(_schema()["properties"]["tiers"]["properties"]) == TIER_NAMES
    assert "free_tier" in defs["alias"]["properties"]
    assert "free_tier" not in defs["modelSettings"]["properties"]


_PROVIDER = {"name": "A", "type": "google"}


@pytest.mark.parametrize(
    "models",
    [
        {"settings": {"m": {"agents": True}}},
        {"settings": {"m": {"free_tier": True}}},
        {"settings": {"m": {"context_length": -1}}},
        {"settings": {"m": {"context_length": True}}},
        {"settings": {"m": {"context_length": 1.5}}},
        {"settings": {"": {}}},
        {"settings": {"m": None}},
        {"settings": []},
        {"aliases": {}},
        {"aliases": None},
        {"aliases": {"a": {}}},
        {"aliases": {"a": {"model": ""}}},
        {"aliases": {"a\nb": {"model": "m"}}},
        {"aliases": {"a": {"model": "m", "structured_output": {"compliance": 100}}}},
        {"aliases": {"a": {"model": "m", "structured_output": {"compliance": 101}}}},
        {"aliases": {"a": {"model": "m", "structured_output": {"badge": "x" * 50}}}},
        {"aliases": {"a": {"model": "m", "structured_output": {"badge": "x" * 51}}}},
        {"aliases": {"a": {"model": "m", "structured_output": {"support": ""}}}},
        {"aliases": {"a": {"model": "m", "free_tier": "yes"}}},
    ],
)
def test_both_validators_agree_on_the_catalog(models: dict[str, Any]) -> None:
    document = {"version": 1, "providers": [{**_PROVIDER, "models": models}]}
    expected = Draft202012Validator(config.schema()).is_valid(document)
    assert schema_check.is_valid_fast(document) is expected


@pytest.mark.parametrize(
    ("tiers", "valid"),
    [
        ({}, True),
        ({"tier1": {"provider": "A", "model": "m"}}, True),
        ({"tier5": {"provider": "A", "model": "m"}}, True),
        ({"tier6": {"provider": "A", "model": "m"}}, False),
        ({"tier1": {"provider": "A"}}, False),
        ({"tier1": {"provider": "A", "model": "m", "x": 1}}, False),
        ({"tier1": {"provider": "", "model": "m"}}, False),
        (None, False),
    ],
)
def test_both_validators_agree_on_tiers(tiers: Any, valid: bool) -> None:
    document = {"version": 1, "providers": [_PROVIDER], "tiers": tiers}
    assert Draft202012Validator(config.schema()).is_valid(document) is valid
    assert schema_check.is_valid_fast(document) is valid


# --- the example ----------------------------------------------------------------------------


def test_the_catalog_example_satisfies_the_schema_alone() -> None:
    example = yaml.safe_load((ROOT / EXAMPLE).read_text(encoding="utf-8"))
    assert list(Draft202012Validator(_schema()).iter_errors(example)) == []


def test_the_catalog_example_validates_and_loads_as_documented() -> None:
    result = run("validate", "-f", EXAMPLE, env={}, cwd=ROOT)
    assert (result.returncode, result.stdout) == (0, "Valid: 2 providers in 1 file.\n")
    desired = config.load([str(ROOT / EXAMPLE)], {})
    settings = rules(desired).settings
    # As its comments say: the later glob wins over the earlier, the exact id over both.
    assert settings_for(settings, "gpt-4o-mini") == ModelSettings(
        supports_tools=True, supports_streaming=True, agents=False
    )
    assert settings_for(settings, "gpt-4o").agents is True
    assert [a.name for a in rules(desired).aliases or ()] == ["fast", "smart"]
    assert (rules(desired).aliases or ())[1].description == "Best answers"
    assert [(t.tier, t.model) for t in desired.tiers] == [("tier1", "smart"), ("tier4", "fast")]


# Generated catalogs near the valid ones: the compiled validator (draft-07) must judge them
# as jsonschema (2020-12) does, propertyNames and bounds included.
_TEXT = st.sampled_from(["", " ", "m", "gpt-4o*", "a/b", "a\tb", "x" * 51])
_SCALAR = st.one_of(st.booleans(), st.integers(-1, 101), _TEXT, st.none())
_SETTING = st.dictionaries(
    st.sampled_from(["display_name", "context_length", "agents", "free_tier", "system_prompt"]),
    _SCALAR,
    max_size=3,
)
_STRUCTURED = st.dictionaries(
    st.sampled_from(["support", "compliance", "speed_ms", "badge", "warning", "x"]),
    st.one_of(_SCALAR, st.sampled_from(["good", "great"])),
    max_size=3,
)
_ALIAS = st.fixed_dictionaries(
    {},
    optional={
        "model": _SCALAR,
        "display_name": _SCALAR,
        "free_tier": _SCALAR,
        "structured_output": st.one_of(_STRUCTURED, _SCALAR),
        "context_length": _SCALAR,
    },
)
_MODELS = st.fixed_dictionaries(
    {},
    optional={
        "settings": st.dictionaries(_TEXT, st.one_of(_SETTING, _SCALAR), max_size=3),
        "aliases": st.dictionaries(_TEXT, st.one_of(_ALIAS, _SCALAR), max_size=3),
    },
)
_TIERS = st.dictionaries(
    st.sampled_from(["tier1", "tier5", "tier6"]),
    st.one_of(st.dictionaries(st.sampled_from(["provider", "model", "x"]), _SCALAR), _SCALAR),
    max_size=3,
)


@settings(max_examples=300, derandomize=True)
@given(_MODELS, st.one_of(st.none(), _TIERS))
def test_the_fast_validator_agrees_with_jsonschema_on_generated_catalogs(
    models: dict[str, Any], tiers: dict[str, Any] | None
) -> None:
    document: dict[str, Any] = {"version": 1, "providers": [{**_PROVIDER, "models": models}]}
    if tiers is not None:
        document["tiers"] = tiers
    expected = Draft202012Validator(config.schema()).is_valid(document)
    assert schema_check.is_valid_fast(document) is expected
