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


def test_validation_uses_the_packaged_schema(schema: dict[str, Any]) -> None:
    assert config.schema() == schema


def test_the_schema_is_valid_json_schema_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_schema_defines_exactly_the_documented_fields(schema: dict[str, Any]) -> None:
    provider = schema["$defs"]["provider"]
    assert set(schema["properties"]) == {"version", "providers"}
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


# --- the check itself ---------------------------------------------------------------------


def _check(data: dict[str, Any], reported: Any = frozenset()) -> list[str]:
    from reconciler.config.document import Document

    doc = Document(file="f.yaml", data=data, marks={})
    problems, _ = schema_check.check(doc, data, reported)
    return [str(p) for p in problems]


def test_two_missing_required_fields_are_reported_once_each() -> None:
    assert _check({}) == [
        "f.yaml: missing required field 'providers'; add a 'providers:' list",
        "f.yaml: missing required field 'version'; add 'version: 1' at the top",
    ]


def test_repeated_items_are_found_by_hashing_not_by_comparing_every_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # jsonschema's own check compares every pair of a list it cannot sort: minutes for a
    # list of 20,000 mixed items.
    import jsonschema._keywords

    def pairwise(_: object) -> bool:
        raise AssertionError("compared pairwise")

    monkeypatch.setattr(jsonschema._keywords, "uniq", pairwise)
    repeated = (
        "f.yaml: providers[0].renamed_from: lists the same value twice: remove the repeated one"
    )
    for items, unique in [
        ([1, "1"], True),
        ([1, 1.0], False),
        ([True, 1], True),
        ([{"a": [1]}, {"a": [1]}], False),
        ([{"a": [1]}, {"a": [True]}], True),
        ([[1, 2], [2, 1]], True),
        ([*range(20_000), "x"], True),
    ]:
        data = {"version": 1, "providers": [{"name": "A", "type": "google", "renamed_from": items}]}
        assert (repeated in _check(data)) is not unique, items


class _CountedScans(frozenset):  # type: ignore[type-arg]
    scans = 0

    def __iter__(self) -> Any:
        type(self).scans += 1
        return super().__iter__()


def test_paths_already_reported_are_looked_up_not_scanned_for_each_error() -> None:
    # Scanning every reported path for every error is quadratic: minutes for a file with
    # tens of thousands of missing variables and schema errors.
    data = {"version": 1, "providers": [{"name": "A", "type": "gogle"}, {"name": 1, "x": 2}]}
    reported = _CountedScans({("providers", 0, "type")})
    assert _check(data, reported) == [
        "f.yaml: providers[1].name: expected a string, got a number (put it in quotes)",
        "f.yaml: providers[1]: missing required field 'type' (openai, anthropic or google; "
        "Ollama and other local engines are openai)",
        "f.yaml: providers[1].x: unknown field 'x'; the known fields are api_key, audio_only, "
        "base_url, default_model, enabled, ensure, favicon, fetch_models, image_edit_only, "
        "image_only, models, name, renamed_from, system_prompt, type",
    ]
    assert _CountedScans.scans == 1  # once, to find the broken providers


def test_a_long_value_is_not_compared_for_a_close_match(monkeypatch: pytest.MonkeyPatch) -> None:
    # Comparing costs time in proportion to the length: seconds for 95 values of 100,000
    # characters, for a hint that cannot match names of a few letters anyway.
    import difflib

    compared: list[str] = []
    close_matches = difflib.get_close_matches

    def recorded(word: str, *args: Any, **kwargs: Any) -> list[str]:
        compared.append(word)
        return close_matches(word, *args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", recorded)
    long = "y" * 101
    data = {"version": 1, "providers": [{"name": "A", "type": long, long: 1, "tpye": "x"}]}
    problems = _check(data)
    assert compared == ["tpye"]  # the short unknown key only
    assert f"'{long[:80]}…' is not one of: openai, anthropic, google" in "\n".join(problems)


def test_only_the_providers_the_fast_validator_refuses_are_explained_one_by_one() -> None:
    providers: list[Any] = [{"name": f"P{i}", "type": "google"} for i in range(50)]
    providers[7] = {"name": "Seven", "type": "gogle"}
    providers[42] = "Forty-two"
    data = {"version": 2, "providers": providers}
    assert _check(data) == [
        "f.yaml: providers[7].type: 'gogle' is not one of: openai, anthropic, google; did you "
        "mean 'google'?",
        "f.yaml: providers[42]: a provider must be a mapping of fields (name:, type:, "
        "base_url:...), got a string: write '- name: Forty-two', with its other fields "
        "indented below it",
        "f.yaml: version: must be 1, not 2: 1 is the only format version this reconciler reads",
    ]


def test_past_a_bound_providers_are_not_checked_but_marked_broken_and_summed_up_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # jsonschema takes about 0.1 ms a provider: a million broken entries would take minutes.
    from reconciler.config.document import Document

    monkeypatch.setattr(schema_check, "EXPLAINED", 2)
    data = {"version": 1, "providers": ["a", {"name": "B", "type": "google"}, "c", "d", "e"]}
    problems, broken = schema_check.check(Document("f.yaml", data, {}), data, frozenset())
    assert [(p.path, p.message[:40]) for p in problems] == [
        ("providers[0]", "a provider must be a mapping of fields ("),
        ("providers[2]", "a provider must be a mapping of fields ("),
        ("providers[3]", "this provider and the ones after it are "),
    ]
    # What is not checked is not built either: the file is refused anyway.
    assert broken == {0, 2, 3, 4}
