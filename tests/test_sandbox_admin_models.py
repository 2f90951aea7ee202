"""The sandbox's model routes over real HTTP: fetch against a fake upstream, the model list in
real servers' shape, and visibility by model id or per provider."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.targets.sqlite import Store
from tests.sandbox_api import (
    UPSTREAM_KEY,
    Sandbox,
)

# --- admin: fetch and models ---------------------------------------------------------


def test_fetch_stores_the_upstream_models_hidden(sandbox: Sandbox) -> None:
    sandbox.upstream.state.api_key = UPSTREAM_KEY
    created = sandbox.create(
        "OpenAI", base_url=sandbox.upstream.base_url("openai"), api_key=UPSTREAM_KEY
    )
    with sandbox.admin() as client:
        response = client.post(f"/api/admin/providers/{created['id']}/fetch")
        assert response.status_code == 200
        body = response.json()
        assert body["success"] is True and body["models_fetched"] == 3 and body["message"]
        models = client.get("/api/admin/models").json()
        listed = client.get("/api/admin/providers").json()["providers"]
    assert [m["id"] for m in models] == ["gpt-4o", "gpt-4o-mini", "o3-mini"]
    assert not any(m["is_visible"] for m in models)
    assert listed[0]["model_count"] == 3
    sent = sandbox.upstream.state.requests_to("openai")[-1]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_fetch_of_an_anthropic_provider_follows_pages(sandbox: Sandbox) -> None:
    created = sandbox.create(
        "Anthropic", type="anthropic", base_url=sandbox.upstream.base_url("anthropic")
    )
    with sandbox.admin() as client:
        response = client.post(f"/api/admin/providers/{created['id']}/fetch")
    assert response.json()["models_fetched"] == 3
    names = {m["model_id"]: m["display_name"] for m in sandbox.store.models(created["id"])}
    assert names["claude-sonnet-4-5"] == "Claude Sonnet 4.5"


@pytest.mark.parametrize("behaviour", ["401", "echo", "500"])
def test_a_failed_fetch_is_500_without_the_key_and_is_recorded(
    sandbox: Sandbox, behaviour: str
) -> None:
    sandbox.upstream.state.then(behaviour)  # "echo" quotes every request header, key included
    created = sandbox.create(
        "OpenAI", base_url=sandbox.upstream.base_url("openai"), api_key=UPSTREAM_KEY
    )
    with sandbox.admin() as client:
        response = client.post(f"/api/admin/providers/{created['id']}/fetch")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error.startswith("Failed to fetch models: ")
    assert UPSTREAM_KEY not in response.text
    row = sandbox.store.provider(created["id"])
    assert row is not None and row.last_fetch_error
    assert UPSTREAM_KEY not in row.last_fetch_error
    assert sandbox.store.models(created["id"]) == []


def test_a_fetch_from_an_unreachable_upstream_says_why(sandbox: Sandbox) -> None:
    created = sandbox.create("OpenAI", base_url=sandbox.upstream.url + "/nowhere/v1")
    with sandbox.admin() as client:
        response = client.post(f"/api/admin/providers/{created['id']}/fetch")
    assert response.status_code == 500
    assert "404" in response.json()["error"] and "base_url" in response.json()["error"]


def test_models_list_is_null_when_there_are_none(sandbox: Sandbox) -> None:
    sandbox.create("OpenAI")  # a provider, but no models yet
    with sandbox.admin() as client:
        response = client.get("/api/admin/models")
    assert response.status_code == 200
    assert response.text == "null"


def test_models_list_is_a_bare_array_ordered_by_provider_name_then_id(sandbox: Sandbox) -> None:
    b, a = sandbox.create("B")["id"], sandbox.create("A")["id"]
    sandbox.add_models(b, "z", "m")
    sandbox.add_models(a, "y")
    with sandbox.admin() as client:
        models = client.get("/api/admin/models").json()
    assert [(m["provider_name"], m["provider_id"], m["id"]) for m in models] == [
        ("A", a, "y"),
        ("B", b, "m"),
        ("B", b, "z"),
    ]


def test_models_list_has_real_servers_shape(sandbox: Sandbox) -> None:
    created = sandbox.create("OpenRouter")
    sandbox.store.replace_models(created["id"], [("openai/gpt-4o", "GPT-4o"), ("x/y", None)])
    sandbox.store.set_visibility(created["id"], ["openai/gpt-4o"], True)
    with sandbox.admin() as client:
        models = client.get("/api/admin/models").json()
    assert models[0] == {
        "id": "openai/gpt-4o",
        "provider_id": created["id"],
        "provider_name": "OpenRouter",
        "name": "openai/gpt-4o",
        "display_name": "GPT-4o",
        "description": "",
        "context_length": 0,
        "supports_tools": False,
        "supports_streaming": False,
        "supports_vision": False,
        "smart_tool_router": False,
        "agents_enabled": False,
        "is_visible": True,
        "system_prompt": None,
        "fetched_at": models[0]["fetched_at"],
    }
    assert models[0]["fetched_at"]
    assert models[1]["display_name"] == "x/y" and models[1]["is_visible"] is False


def _visible(store: Store) -> set[tuple[int, str]]:
    return {(m["provider_id"], m["model_id"]) for m in store.models() if m["visible"]}


def test_bulk_visibility_with_provider_id_changes_that_provider_only(sandbox: Sandbox) -> None:
    a, b = sandbox.create("A")["id"], sandbox.create("B")["id"]
    sandbox.add_models(a, "gpt-4o", "o3")
    sandbox.add_models(b, "gpt-4o")
    with sandbox.admin() as client:
        response = client.put(
            "/api/admin/models/bulk/visibility",
            json={"model_ids": ["gpt-4o", "o3", "unknown"], "visible": True, "provider_id": a},
        )
    assert response.status_code == 200
    assert response.json() == {"success": True, "updated": 2}
    assert _visible(sandbox.store) == {(a, "gpt-4o"), (a, "o3")}


def test_bulk_visibility_without_provider_id_keys_by_model_id_like_real_servers(
    sandbox: Sandbox,
) -> None:
    a, b = sandbox.create("A")["id"], sandbox.create("B")["id"]
    sandbox.add_models(a, "gpt-4o", "o3", visible=("o3",))
    sandbox.add_models(b, "gpt-4o", "o3", visible=("o3",))
    with sandbox.admin() as client:
        shown = client.put(
            "/api/admin/models/bulk/visibility", json={"model_ids": ["gpt-4o"], "visible": True}
        )
        hidden = client.put(
            "/api/admin/models/bulk/visibility", json={"model_ids": ["o3"], "visible": False}
        )
    assert shown.json()["updated"] == 2 and hidden.json()["updated"] == 2
    assert _visible(sandbox.store) == {(a, "gpt-4o"), (b, "gpt-4o")}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model_ids": "gpt-4o", "visible": True}, 400),
        ({"model_ids": [1], "visible": True}, 400),
        ({"model_ids": ["gpt-4o"]}, 400),
        ({"model_ids": ["gpt-4o"], "visible": True, "provider_id": "1"}, 400),
        ({"model_ids": ["gpt-4o"], "visible": True, "provider_id": 424242}, 404),
    ],
)
def test_bulk_visibility_refuses_a_bad_body(
    sandbox: Sandbox, body: dict[str, Any], status: int
) -> None:
    with sandbox.admin() as client:
        response = client.put("/api/admin/models/bulk/visibility", json=body)
    assert response.status_code == status
    assert "error" in response.json()
