"""The sandbox's admin provider routes over real HTTP: real servers' shapes (traps included),
the documented behaviour done right (no resets, renames in place), errors as JSON."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from reconciler.core.model import DEFAULT_SETTINGS, SETTING_NAMES
from reconciler.secrets import Secret
from tests.sandbox_api import (
    ADMIN_KEY,
    Sandbox,
)

SETTINGS: dict[str, Any] = {
    "audio_only": True,
    "image_only": True,
    "image_edit_only": True,
    "default_model": "claude-sonnet-4-5",
    "system_prompt": "Be brief.",
    "favicon": "https://anthropic.example/favicon.ico",
}


def test_provider_list_is_null_when_empty(sandbox: Sandbox) -> None:
    with sandbox.admin() as client:
        response = client.get("/api/admin/providers")
    assert response.status_code == 200
    assert response.json() == {"providers": None}


def test_provider_list_carries_exactly_the_fields_real_servers_list(sandbox: Sandbox) -> None:
    created = sandbox.create(
        "Anthropic", type="anthropic", base_url="https://api.anthropic.com", **SETTINGS
    )
    sandbox.add_models(created["id"], "claude-a", "claude-b")
    with sandbox.admin() as client:
        response = client.get("/api/admin/providers")
    # No key, no type, none of the settings real lists leave out.
    assert ADMIN_KEY not in response.text
    assert response.json() == {
        "providers": [
            {
                "id": created["id"],
                "name": "Anthropic",
                "base_url": "https://api.anthropic.com",
                "enabled": True,
                "audio_only": True,
                "favicon": "https://anthropic.example/favicon.ico",
                "model_count": 2,
                "model_aliases": {},
                "filters": None,
                "recommended_models": None,
            }
        ]
    }


def test_create_answers_201_with_the_whole_provider_and_its_key_like_real_servers(
    sandbox: Sandbox,
) -> None:
    # The trap a client must survive: never print or log a raw answer.
    created = sandbox.create("OpenAI", enabled=False)
    assert isinstance(created["id"], int)
    assert created == {
        "id": created["id"],
        "name": "OpenAI",
        "base_url": "https://api.openai.com/v1",
        "api_key": ADMIN_KEY,
        "enabled": False,
        "audio_only": False,
        "image_only": False,
        "image_edit_only": False,
        "default_model": "",
        "system_prompt": "",
        "favicon": "",
        "model_count": 0,
        "model_aliases": {},
        "filters": None,
        "recommended_models": None,
    }
    row = sandbox.store.provider(created["id"])
    assert row is not None and row.type == "openai" and row.api_key == Secret(ADMIN_KEY)


def test_create_without_enabled_makes_it_enabled(sandbox: Sandbox) -> None:
    # Real servers create it disabled; the sandbox keeps the documented, friendlier default.
    created = sandbox.create("OpenAI")
    assert created["enabled"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Local Ollama", "base_url": "http://localhost:11434/v1", "api_key": ""},
        {"name": "Local Ollama", "base_url": "http://localhost:11434/v1"},
        {"base_url": "http://localhost:11434/v1", "api_key": "x"},
        {"name": "Local Ollama", "api_key": "x"},
    ],
)
def test_create_without_a_required_field_is_400_with_the_real_message(
    sandbox: Sandbox, body: dict[str, str]
) -> None:
    with sandbox.admin() as client:
        response = client.post("/api/admin/providers", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": "Name, base_url, and api_key are required"}


def test_create_with_a_taken_name_is_409(sandbox: Sandbox) -> None:
    sandbox.create("OpenAI")
    with sandbox.admin() as client:
        response = client.post(
            "/api/admin/providers",
            json={"name": "OpenAI", "base_url": "https://x.example/v1", "api_key": "k"},
        )
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [{"name": "A", "base_url": "u", "api_key": "k", "type": "mistral"}, {"name": 3}],
)
def test_create_with_wrong_field_types_is_400(sandbox: Sandbox, body: dict[str, Any]) -> None:
    with sandbox.admin() as client:
        response = client.post("/api/admin/providers", json=body)
    assert response.status_code == 400


def test_update_changes_only_the_fields_given(sandbox: Sandbox) -> None:
    created = sandbox.create("OpenAI")
    with sandbox.admin() as client:
        response = client.put(
            f"/api/admin/providers/{created['id']}", json={"base_url": "https://proxy.example/v1"}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "OpenAI" and body["base_url"] == "https://proxy.example/v1"
    assert body["api_key"] == ADMIN_KEY  # echoed, as real servers do
    row = sandbox.store.provider(created["id"])
    assert row is not None
    assert (row.name, row.type, row.enabled) == ("OpenAI", "openai", True)
    assert row.api_key == Secret(ADMIN_KEY)


def test_update_renames_retypes_and_rekeys(sandbox: Sandbox) -> None:
    created = sandbox.create("Old")
    with sandbox.admin() as client:
        response = client.put(
            f"/api/admin/providers/{created['id']}",
            json={"name": "New", "type": "anthropic", "api_key": "sk-new-key", "enabled": False},
        )
    assert response.status_code == 200
    assert response.json()["name"] == "New" and response.json()["api_key"] == "sk-new-key"
    row = sandbox.store.provider(created["id"])
    assert row is not None
    assert (row.id, row.name, row.type, row.enabled) == (created["id"], "New", "anthropic", False)
    assert row.api_key == Secret("sk-new-key")


def test_update_with_an_empty_key_clears_it(sandbox: Sandbox) -> None:
    created = sandbox.create("OpenAI")
    with sandbox.admin() as client:
        response = client.put(f"/api/admin/providers/{created['id']}", json={"api_key": ""})
    assert "api_key" not in response.json()  # an empty key is left out of answers
    row = sandbox.store.provider(created["id"])
    assert row is not None and not row.api_key and row.key_fingerprint is None


def test_update_to_a_taken_name_is_409(sandbox: Sandbox) -> None:
    sandbox.create("A")
    b = sandbox.create("B")
    with sandbox.admin() as client:
        response = client.put(f"/api/admin/providers/{b['id']}", json={"name": "A"})
    assert response.status_code == 409


def test_toggle_flips_enabled_and_echoes_the_key(sandbox: Sandbox) -> None:
    created = sandbox.create("OpenAI")
    with sandbox.admin() as client:
        response = client.put(
            f"/api/admin/providers/{created['id']}/toggle", json={"enabled": False}
        )
        assert response.status_code == 200
        assert response.json()["enabled"] is False
        assert response.json()["api_key"] == ADMIN_KEY  # the real servers' trap
        listed = client.get("/api/admin/providers").json()["providers"]
        assert listed[0]["enabled"] is False
        bad = client.put(f"/api/admin/providers/{created['id']}/toggle", json={"enabled": "no"})
    assert bad.status_code == 400


def test_delete_removes_the_provider_and_its_models(sandbox: Sandbox) -> None:
    created = sandbox.create("OpenAI")
    sandbox.add_models(created["id"], "gpt-4o", "gpt-4o-mini")
    with sandbox.admin() as client:
        response = client.delete(f"/api/admin/providers/{created['id']}")
        assert response.status_code == 200
        assert response.json() == {"message": "Provider deleted successfully"}
        assert client.get("/api/admin/models").json() is None
        assert client.get("/api/admin/providers").json() == {"providers": None}
    assert sandbox.store.models(created["id"]) == []


# --- provider settings -----------------------------------------------------------------


def _stored_settings(sandbox: Sandbox, provider_id: int) -> dict[str, Any]:
    row = sandbox.store.provider(provider_id)
    assert row is not None
    return {name: row.settings.value(name) for name in SETTING_NAMES}


def test_create_stores_the_six_settings_and_answers_them(sandbox: Sandbox) -> None:
    created = sandbox.create("Images", **SETTINGS)
    assert {k: created[k] for k in SETTINGS} == SETTINGS
    assert _stored_settings(sandbox, created["id"]) == SETTINGS


def test_create_without_settings_stores_the_defaults(sandbox: Sandbox) -> None:
    created = sandbox.create("Plain")
    assert _stored_settings(sandbox, created["id"]) == {
        name: DEFAULT_SETTINGS.value(name) for name in SETTING_NAMES
    }


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Renamed"},
        {"base_url": "https://proxy.example/v1"},
        {"api_key": "sk-other-key"},
        {"api_key": ""},
        {"enabled": False},
        {"type": "openai"},
        {"image_only": False},
        {"default_model": ""},
        {"system_prompt": "Be thorough.", "favicon": ""},
        {"audio_only": None, "favicon": None},  # null is not a value: nothing is reset
        {},
    ],
)
def test_update_sets_only_what_the_body_carries(sandbox: Sandbox, body: dict[str, Any]) -> None:
    created = sandbox.create("Images", **SETTINGS)
    with sandbox.admin() as client:
        response = client.put(f"/api/admin/providers/{created['id']}", json=body)
    assert response.status_code == 200, response.text
    carried = {k: v for k, v in body.items() if k in SETTINGS and v is not None}
    expected = {**SETTINGS, **carried}
    assert _stored_settings(sandbox, created["id"]) == expected
    assert {k: response.json()[k] for k in SETTINGS} == expected
    row = sandbox.store.provider(created["id"])
    assert row is not None
    assert row.name == body.get("name", "Images")
    assert row.enabled is body.get("enabled", True)


def test_toggle_changes_enabled_and_nothing_else(sandbox: Sandbox) -> None:
    created = sandbox.create("Images", **SETTINGS)
    before = sandbox.store.provider(created["id"])
    with sandbox.admin() as client:
        off = client.put(f"/api/admin/providers/{created['id']}/toggle", json={"enabled": False})
        middle = sandbox.store.provider(created["id"])
        on = client.put(f"/api/admin/providers/{created['id']}/toggle", json={"enabled": True})
    after = sandbox.store.provider(created["id"])
    assert before is not None and middle is not None and after is not None
    assert middle == replace(before, enabled=False)
    assert after == before
    assert {k: off.json()[k] for k in SETTINGS} == SETTINGS
    assert {k: on.json()[k] for k in SETTINGS} == SETTINGS


@pytest.mark.parametrize(
    "setting",
    [{"audio_only": "yes"}, {"image_only": 1}, {"default_model": 3}, {"favicon": False}],
)
def test_a_setting_of_the_wrong_type_is_400_and_changes_nothing(
    sandbox: Sandbox, setting: dict[str, Any]
) -> None:
    created = sandbox.create("Images", **SETTINGS)
    body = {"name": "Other", "base_url": "https://x.example/v1", "api_key": "k", **setting}
    with sandbox.admin() as client:
        create = client.post("/api/admin/providers", json=body)
        update = client.put(f"/api/admin/providers/{created['id']}", json={"name": "N", **setting})
    assert create.status_code == 400 and update.status_code == 400
    (name,) = setting
    assert name in create.json()["error"]
    assert [p.name for p in sandbox.store.providers()] == ["Images"]
    assert _stored_settings(sandbox, created["id"]) == SETTINGS


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example/v1",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "localhost:11434/v1",
        "api.openai.com/v1",
        "http://",
        "https://[::1/v1",
        "http://127.0.0.1:99999/v1",
    ],
)
def test_base_url_must_stay_http_or_https(sandbox: Sandbox, url: str) -> None:
    created = sandbox.create("OpenAI")
    message = {"error": "Invalid request body: base_url must be an http(s) URL"}
    with sandbox.admin() as client:
        create = client.post(
            "/api/admin/providers", json={"name": "Other", "base_url": url, "api_key": "k"}
        )
        update = client.put(f"/api/admin/providers/{created['id']}", json={"base_url": url})
    assert (create.status_code, create.json()) == (400, message)
    assert (update.status_code, update.json()) == (400, message)
    row = sandbox.store.provider(created["id"])
    assert row is not None and row.base_url == "https://api.openai.com/v1"


def test_keys_echoed_in_answers_never_reach_the_logs(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        created = sandbox.create("OpenAI", **SETTINGS)
        path = f"/api/admin/providers/{created['id']}"
        with sandbox.admin() as client:
            echoed = [
                client.put(path, json={"api_key": "sk-rotated-key-0123"}),
                client.put(path + "/toggle", json={"enabled": False}),
                client.post(  # refused: the duplicate's key is in the body
                    "/api/admin/providers",
                    json={
                        "name": "OpenAI",
                        "base_url": "https://x.example/v1",
                        "api_key": ADMIN_KEY,
                    },
                ),
            ]

            def broken(provider_id: int, **fields: Any) -> None:
                raise RuntimeError(f"disk full while writing {fields}")

            monkeypatch.setattr(sandbox.store, "update_provider", broken)
            failed = client.put(path, json={"api_key": ADMIN_KEY})
    assert echoed[0].json()["api_key"] == "sk-rotated-key-0123"
    assert echoed[1].json()["api_key"] == "sk-rotated-key-0123"
    assert echoed[2].status_code == 409 and ADMIN_KEY not in echoed[2].text
    assert failed.status_code == 500 and "RuntimeError" in caplog.text
    for key in (ADMIN_KEY, "sk-rotated-key-0123"):
        assert key not in caplog.text
