"""schemas/providers.schema.json: the one definition of the format, shipped in the package."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler import config
from reconciler.config import schema_check
from reconciler.core.model import SETTING_NAMES

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schemas/providers.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return result


def test_the_packaged_schema_equals_the_one_in_schemas() -> None:
    packaged = resources.files("reconciler").joinpath("schemas/providers.schema.json")
    assert packaged.read_bytes() == SCHEMA_FILE.read_bytes()


def test_the_packaged_plan_schema_equals_the_one_in_schemas() -> None:
    packaged = resources.files("reconciler").joinpath("schemas/plan.schema.json")
    assert packaged.read_bytes() == (ROOT / "schemas/plan.schema.json").read_bytes()


def test_validation_uses_the_packaged_schema(schema: dict[str, Any]) -> None:
    assert config.schema() == schema


def test_the_schema_is_valid_json_schema_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_schema_defines_exactly_the_documented_fields(schema: dict[str, Any]) -> None:
    provider = schema["$defs"]["provider"]
    assert set(schema["properties"]) == {"version", "providers", "environments", "prune", "tiers"}
    assert set(provider["properties"]) == {
        "name",
        "type",
        "base_url",
        "api_key",
        "enabled",
        "ensure",
        "renamed_from",
        "fetch_models",
        "models",
        "audio_only",
        "image_only",
        "image_edit_only",
        "default_model",
        "system_prompt",
        "favicon",
        "environments",
        "only_in",
    }
    assert provider["properties"]["type"]["enum"] == ["openai", "anthropic", "google"]
    assert provider["properties"]["ensure"]["enum"] == ["present", "absent"]
    # Unknown keys are rejected at every level.
    assert schema["additionalProperties"] is False
    assert provider["additionalProperties"] is False
    assert provider["properties"]["models"]["additionalProperties"] is False


def test_the_provider_settings_are_claraverses_six_with_their_types(
    schema: dict[str, Any],
) -> None:
    fields = schema["$defs"]["provider"]["properties"]
    types = {name: fields[name]["type"] for name in SETTING_NAMES}
    assert types == {
        "audio_only": "boolean",
        "image_only": "boolean",
        "image_edit_only": "boolean",
        "default_model": "string",
        "system_prompt": "string",
        "favicon": "string",
    }
    for flag in ("audio_only", "image_only", "image_edit_only"):
        # Editors show the description: the one-kind rule must be visible there.
        assert "At most one of" in fields[flag]["description"]
    assert "image generation; left out of chat lists" in fields["image_only"]["description"]


def test_every_field_is_described_for_editors(schema: dict[str, Any]) -> None:
    provider = schema["$defs"]["provider"]
    fields = [*schema["properties"].values(), *provider["properties"].values()]
    fields += provider["properties"]["models"]["properties"].values()
    assert all(field.get("description") for field in fields)


def test_the_example_satisfies_the_schema_alone(schema: dict[str, Any]) -> None:
    example = yaml.safe_load((ROOT / "examples/providers.yaml").read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema).iter_errors(example)) == []


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"version": 1, "providers": [{"name": "Gone", "ensure": "absent"}]}, True),
        ({"version": 1, "providers": [{"name": "A"}]}, False),  # type needed unless absent
        ({"version": 1, "providers": [{"name": "A", "ensure": "present"}]}, False),
        ({"version": 1, "providers": None}, True),
        ({"version": 1, "providers": [{"name": " ", "type": "google"}]}, False),
        ({"version": 1, "providers": [{"name": "A", "type": "google", "x": 1}]}, False),
        ({"version": 1, "providers": [], "extra": 1}, False),
        ({"version": 2, "providers": []}, False),
        ({"version": 1, "providers": [{"name": "I", "type": "openai", "image_only": True}]}, True),
        ({"version": 1, "providers": [{"name": "I", "type": "openai", "favicon": ""}]}, True),
        ({"version": 1, "providers": [{"name": "I", "type": "openai", "audio_only": "no"}]}, False),
        ({"version": 1, "providers": [{"name": "I", "type": "openai", "default_model": 3}]}, False),
    ],
)
def test_schema_rules(schema: dict[str, Any], document: dict[str, Any], valid: bool) -> None:
    assert Draft202012Validator(schema).is_valid(document) is valid


# --- the fast validator agrees with jsonschema ------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=3),
    st.sampled_from(
        [
            "",
            " ",
            "x",
            "openai",
            "anthropic",
            "google",
            "present",
            "absent",
            "https://a.example/v1",
            "gpt-4o*",
        ]
    ),
)
_FIELDS = st.sampled_from(
    [
        "name",
        "type",
        "base_url",
        "api_key",
        "enabled",
        "ensure",
        "renamed_from",
        "fetch_models",
        "models",
        "image_only",
        "default_model",
        "nmae",
        "visible",
        "hidden",
        "only_listed",
    ]
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_FIELDS, inner, max_size=4)
    ),
    max_leaves=8,
)
_PROVIDER = st.dictionaries(_FIELDS, _VALUES, max_size=6)
_DOCUMENT = st.fixed_dictionaries(
    {},
    optional={
        "version": st.one_of(st.just(1), _SCALARS),
        "providers": st.one_of(st.lists(_PROVIDER, max_size=3), _SCALARS),
        "extra": _SCALARS,
    },
)


@settings(max_examples=400, derandomize=True)
@given(_DOCUMENT)
def test_the_fast_validator_agrees_with_jsonschema(document: dict[str, object]) -> None:
    from jsonschema import Draft202012Validator

    expected = Draft202012Validator(config.schema()).is_valid(document)
    assert schema_check.is_valid_fast(document) is expected


_TEXT = st.sampled_from(["", " ", "a", "OpenAI", "https://a.example/v1", "${KEY}"])
_GOOD_PROVIDER = st.fixed_dictionaries(
    {"name": _TEXT},
    optional={
        "type": st.sampled_from(["openai", "anthropic", "google", "azure"]),
        "base_url": _TEXT,
        "api_key": _TEXT,
        "enabled": st.one_of(st.booleans(), st.just("yes")),
        "ensure": st.sampled_from(["present", "absent", "gone"]),
        "fetch_models": st.booleans(),
        "audio_only": st.one_of(st.booleans(), st.just("true")),
        "image_only": st.booleans(),
        "image_edit_only": st.booleans(),
        "default_model": st.one_of(_TEXT, st.just(3)),
        "system_prompt": _TEXT,
        "favicon": st.one_of(_TEXT, st.none()),
        "renamed_from": st.lists(_TEXT, max_size=3),
        "models": st.fixed_dictionaries(
            {},
            optional={
                "visible": st.lists(_TEXT, max_size=2),
                "hidden": st.lists(_TEXT, max_size=2),
                "only_listed": st.booleans(),
            },
        ),
    },
)


@settings(max_examples=400, derandomize=True)
@given(st.lists(_GOOD_PROVIDER, max_size=4))
def test_the_fast_validator_agrees_with_jsonschema_on_near_valid_files(
    providers: list[dict[str, object]],
) -> None:
    from jsonschema import Draft202012Validator

    document = {"version": 1, "providers": providers}
    expected = Draft202012Validator(config.schema()).is_valid(document)
    assert schema_check.is_valid_fast(document) is expected


# --- names: plain text on one line --------------------------------------------------------

import functools  # noqa: E402

from reconciler.config.document import UNPRINTABLE  # noqa: E402


@functools.cache
def _slow_validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(config.schema())


def _name_valid(name: str) -> tuple[bool, bool]:
    document = {"version": 1, "providers": [{"name": name, "type": "google"}]}
    return _slow_validator().is_valid(document), schema_check.is_valid_fast(document)


def _renamed_from_valid(old: str) -> tuple[bool, bool]:
    provider = {"name": "A", "type": "google", "renamed_from": [old]}
    document = {"version": 1, "providers": [provider]}
    return _slow_validator().is_valid(document), schema_check.is_valid_fast(document)


def test_the_schema_refuses_in_names_exactly_the_characters_messages_escape() -> None:
    # The schema's pattern (read by both validators, and by editors) and UNPRINTABLE agree
    # on every character around the ranges they list, with text on both sides.
    for code in [*range(0x250), *range(0x2000, 0x2070), 0xFEFF, 0x3000]:
        char = chr(code)
        allowed = not UNPRINTABLE.match(char)
        assert _name_valid(f"A{char}B") == (allowed, allowed), hex(code)
        assert _renamed_from_valid(f"A{char}B") == (allowed, allowed), hex(code)


@pytest.mark.parametrize(
    "name",
    ["A\n", "\nA", "A\r\nB", "A\tB", "A\x1bB", "A\x7f", "A\x85", "A\u202eB", "\u2066A\u2069"],
)
def test_a_name_with_a_control_or_bidi_character_is_refused_wherever_it_is(name: str) -> None:
    assert _name_valid(name) == (False, False)
    assert _renamed_from_valid(name) == (False, False)


@pytest.mark.parametrize("name", ["OpenAI", "Café ☕", "日本語", "x" * 200, "A B", " A "])
def test_names_of_printable_text_in_any_script_stay_valid(name: str) -> None:
    assert _name_valid(name) == (True, True)
    assert _renamed_from_valid(name) == (True, True)


def test_blank_names_stay_refused_and_blank_former_names_stay_allowed() -> None:
    assert _name_valid("  ") == (False, False)
    assert _renamed_from_valid("  ") == (True, True)
