"""The real-server double's model catalog answers as ClaraVerse's backend does: the traps
the ClaraVerse target relies on, checked over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.realserver import RealServer, running_real_server


@pytest.fixture(scope="module")
def _server() -> Iterator[RealServer]:
    with running_real_server() as server:
        yield server


@pytest.fixture
def real(_server: RealServer) -> RealServer:
    _server.state.reset()
    local = _server.state.add_provider("Local", "http://127.0.0.1:9/v1")
    _server.state.add_models(local.id, ["gpt-4o", "a+b", "50%off", "moonshotai/Kimi-K2.5-TEE"])
    _server.state.add_provider("Other", "http://127.0.0.1:9/v1")
    return _server


def call(real: RealServer, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(
        method, real.url + path, headers=real.admin_headers(), json=body, timeout=10
    )


def error(response: httpx.Response) -> str:
    text: str = response.json()["error"]
    return text


# -- PUT /models/by-id ----------------------------------------------------------------------


def test_update_ignores_snake_case_strings_but_binds_camel_case_and_snake_booleans(
    real: RealServer,
) -> None:
    snake = call(
        real,
        "PUT",
        "/api/admin/models/by-id?model_id=gpt-4o",
        {
            "display_name": "ignored",
            "context_length": 1000,
            "system_prompt": "ignored",
            "description": "works",
            "supports_tools": True,
        },
    )
    assert snake.status_code == 200
    row = real.state.model("gpt-4o")
    assert row is not None
    assert (row.display_name, row.context_length, row.system_prompt) == ("gpt-4o", 0, "")
    assert (row.description, row.supports_tools) == ("works", True)

    camel = call(
        real,
        "PUT",
        "/api/admin/models/by-id?model_id=GPT-4O",
        {"displayName": "GPT-4o", "contextLength": 128000, "systemPrompt": "be brief"},
    )
    assert camel.status_code == 200
    assert camel.json()["id"] == "gpt-4o"
    assert camel.json()["display_name"] == "GPT-4o"
    assert camel.json()["context_length"] == 128000


def test_free_tier_fails_the_whole_model_update(real: RealServer) -> None:
    answer = call(
        real,
        "PUT",
        "/api/admin/models/by-id?model_id=gpt-4o",
        {"displayName": "changed", "free_tier": True},
    )
    assert answer.status_code == 500
    assert "Unknown column 'free_tier'" in error(answer)
    row = real.state.model("gpt-4o")
    assert row is not None and row.display_name == "gpt-4o"


@pytest.mark.parametrize(
    ("query", "status", "found"),
    [
        ("a%2Bb", 500, "model not found: a b"),
        ("a%252Bb", 200, "a+b"),
        ("50%25off", 400, "Invalid model ID encoding"),
        ("50%2525off", 200, "50%off"),
        ("moonshotai%2FKimi-K2.5-TEE", 200, "moonshotai/Kimi-K2.5-TEE"),
        ("moonshotai/Kimi-K2.5-TEE", 200, "moonshotai/Kimi-K2.5-TEE"),
    ],
)
def test_update_decodes_the_model_id_twice(
    real: RealServer, query: str, status: int, found: str
) -> None:
    answer = call(real, "PUT", f"/api/admin/models/by-id?model_id={query}", {})
    assert answer.status_code == status
    assert found in (answer.json()["id"] if status == 200 else error(answer))


def test_the_agents_flag_is_stored_and_never_reported(real: RealServer) -> None:
    answer = call(
        real,
        "PUT",
        "/api/admin/models/bulk/agents-enabled",
        {"model_ids": ["GPT-4o", "nope"], "enabled": True},
    )
    assert answer.json() == {"message": "Updated agents_enabled=true for 2 models"}
    row = real.state.model("gpt-4o")
    assert row is not None and row.agents_enabled
    listed = call(real, "GET", "/api/admin/models").json()
    assert {m["agents_enabled"] for m in listed} == {False}


def test_the_provider_a_model_update_names_is_ignored_a_model_id_being_one_row(
    real: RealServer,
) -> None:
    other = next(p for p in real.state.providers() if p.name == "Other")
    # An unknown query parameter and an unknown body field, naming a provider that does
    # not serve gpt-4o: real servers ignore both and change the one gpt-4o there is.
    updated = call(
        real,
        "PUT",
        f"/api/admin/models/by-id?model_id=gpt-4o&provider_id={other.id}",
        {"displayName": "Named"},
    )
    agents = call(
        real,
        "PUT",
        "/api/admin/models/bulk/agents-enabled",
        {"model_ids": ["gpt-4o"], "enabled": True, "provider_id": other.id},
    )
    assert updated.status_code == 200 and agents.status_code == 200
    row = real.state.model("gpt-4o")
    assert row is not None and (row.display_name, row.agents_enabled) == ("Named", True)


# -- aliases --------------------------------------------------------------------------------


def test_aliases_are_null_when_none_and_leave_out_what_was_not_set(real: RealServer) -> None:
    assert call(real, "GET", "/api/admin/models/by-id/aliases?model_id=gpt-4o").json() is None
    created = call(
        real,
        "POST",
        "/api/admin/models/by-id/aliases?model_id=gpt-4o",
        {"alias_name": "fast", "provider_id": 1, "description": "", "agents_enabled": True},
    )
    assert created.status_code == 201
    (entry,) = call(real, "GET", "/api/admin/models/by-id/aliases?model_id=GPT-4O").json()
    assert entry["alias_name"] == "fast" and entry["display_name"] == ""
    assert entry["agents_enabled"] is True
    assert "description" not in entry and "supports_vision" not in entry


def test_alias_get_and_post_decode_the_model_id_three_times(real: RealServer) -> None:
    body = {"alias_name": "ab", "provider_id": 1}
    twice = call(real, "POST", "/api/admin/models/by-id/aliases?model_id=a%252Bb", body)
    assert twice.status_code == 500 and "1452" in error(twice)
    thrice = call(real, "POST", "/api/admin/models/by-id/aliases?model_id=a%25252Bb", body)
    assert thrice.status_code == 201
    assert real.state.aliases()[0].model_id == "a+b"


@pytest.mark.parametrize(
    ("body", "number"),
    [
        ({"alias_name": "FAST", "provider_id": 1}, "1062"),
        ({"alias_name": "y", "provider_id": 99}, "1452"),
        ({"alias_name": "y", "provider_id": 1, "structured_output_support": "great"}, "1265"),
    ],
)
def test_alias_insert_errors_are_500s_with_the_mysql_number(
    real: RealServer, body: dict[str, Any], number: str
) -> None:
    real.state.add_alias("fast", "gpt-4o", 1)
    answer = call(real, "POST", "/api/admin/models/by-id/aliases?model_id=gpt-4o", body)
    assert answer.status_code == 500
    assert error(answer).startswith(
        f"Failed to create alias: failed to insert alias: Error {number}"
    )


def test_alias_put_is_a_stub_and_delete_needs_the_provider(real: RealServer) -> None:
    real.state.add_alias("Fast", "gpt-4o", 1, display_name="Fast")
    stub = call(real, "PUT", "/api/admin/models/by-id/aliases/Fast?model_id=gpt-4o", {})
    assert stub.json() == {"message": "Alias update not yet implemented"}
    base = "/api/admin/models/by-id/aliases/fAST?model_id=unrelated"
    assert error(call(real, "DELETE", base)) == "provider_id query parameter is required"
    assert "alias not found" in error(call(real, "DELETE", base + "&provider_id=2"))
    assert call(real, "DELETE", base + "&provider_id=1").status_code == 200
    assert real.state.aliases() == []


def test_an_alias_holding_a_slash_cannot_be_deleted(real: RealServer) -> None:
    real.state.add_alias("vendor/alias", "gpt-4o", 1)
    path = "/api/admin/models/by-id/aliases/vendor%2Falias?model_id=gpt-4o&provider_id=1"
    assert call(real, "DELETE", path).status_code == 404
    literal = call(real, "DELETE", path.replace("%2F", "%252F"))
    assert "alias not found: vendor%2Falias" in error(literal)
    assert len(real.state.aliases()) == 1


# -- tiers ----------------------------------------------------------------------------------


def set_tier(real: RealServer, model: str, tier: str, provider_id: int = 1) -> httpx.Response:
    return call(
        real,
        "POST",
        f"/api/admin/models/by-id/tier?model_id={model}",
        {"provider_id": provider_id, "tier": tier},
    )


def test_a_tier_is_stored_by_display_name_and_vanishes_when_it_changes(real: RealServer) -> None:
    model = "moonshotai%2FKimi-K2.5-TEE"
    real.state.set_model("moonshotai/Kimi-K2.5-TEE", display_name="Kimi K2.5")
    assert set_tier(real, model, "tier1").json() == {"message": "Model assigned to tier1"}
    assert real.state.tier_rows()["tier1"].model_alias == "Kimi K2.5"
    shown = call(real, "GET", "/api/admin/tiers").json()["tiers"]
    assert shown["tier1"]["model_id"] == "moonshotai/Kimi-K2.5-TEE"
    # A fetch (here: the upsert it runs) resets the display name to the id: the slot dangles.
    real.state.add_models(1, ["moonshotai/Kimi-K2.5-TEE"])
    assert call(real, "GET", "/api/admin/tiers").json() == {"tiers": {}}
    assert "tier1" in real.state.tier_rows()
    assert set_tier(real, model, "tier1").status_code == 200
    assert "tier1" in call(real, "GET", "/api/admin/tiers").json()["tiers"]


def test_a_deleted_models_tier_dangles_and_comes_back_with_the_model(real: RealServer) -> None:
    set_tier(real, "gpt-4o", "tier5")
    assert call(real, "DELETE", "/api/admin/models/by-id?model_id=gpt-4o").status_code == 200
    assert call(real, "GET", "/api/admin/tiers").json() == {"tiers": {}}
    real.state.add_models(1, ["gpt-4o"])
    assert "tier5" in call(real, "GET", "/api/admin/tiers").json()["tiers"]


def test_every_tier_error_is_a_400(real: RealServer) -> None:
    assert "model not found: gpt-4o" in error(set_tier(real, "gpt-4o", "tier1", provider_id=2))
    assert "invalid tier: top" in error(set_tier(real, "gpt-4o", "top"))
    cleared = httpx.request(
        "DELETE",
        real.url + "/api/admin/models/by-id/tier",
        headers=real.admin_headers(),
        json={"tier": "tier2"},
    )
    assert (cleared.status_code, error(cleared)) == (
        400,
        "Failed to clear tier: tier tier2 is already empty",
    )


def test_without_the_tier_migration_every_tier_set_fails(real: RealServer) -> None:
    real.state.tier_migration = False
    answer = set_tier(real, "gpt-4o", "tier1")
    assert answer.status_code == 400
    assert "Data truncated for column 'tier'" in error(answer)
    assert real.state.tier_rows() == {}


def test_deleting_a_provider_takes_its_aliases_and_tiers(real: RealServer) -> None:
    real.state.add_alias("kimi", "moonshotai/Kimi-K2.5-TEE", 2)
    real.state.add_alias("fast", "gpt-4o", 1)
    set_tier(real, "gpt-4o", "tier1")
    assert call(real, "DELETE", "/api/admin/providers/2").status_code == 200
    assert [a.alias_name for a in real.state.aliases()] == ["fast"]
    assert call(real, "DELETE", "/api/admin/providers/1").status_code == 200
    assert real.state.aliases() == [] and real.state.tier_rows() == {}
