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
    }
    assert provider["properties"]["type"]["enum"] == ["openai", "anthropic", "google"]
    assert provider["properties"]["ensure"]["enum"] == ["present", "absent"]
    # Unknown keys are rejected at every level.
    assert schema["additionalProperties"] is False
    assert provider["additionalProperties"] is False
    assert provider["properties"]["models"]["additionalProperties"] is False


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
    ],
)
def test_schema_rules(schema: dict[str, Any], document: dict[str, Any], valid: bool) -> None:
    assert Draft202012Validator(schema).is_valid(document) is valid
