"""The sandbox's user side over real HTTP: enabled providers only, visible models only, which
key a user's requests use, and users' own keys."""

from __future__ import annotations

from typing import Any

from tests.sandbox_api import (
    ADMIN_KEY,
    USER_KEY,
    Sandbox,
)

# --- the user side -------------------------------------------------------------------


def _user_view(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    with sandbox.user() as client:
        response = client.get("/api/providers")
    assert response.status_code == 200
    assert ADMIN_KEY not in response.text and USER_KEY not in response.text
    return {p["name"]: p for p in response.json()["providers"]}


def test_user_view_hides_disabled_providers_and_hidden_models(sandbox: Sandbox) -> None:
    on = sandbox.create("On")["id"]
    off = sandbox.create("Off", enabled=False)["id"]
    sandbox.add_models(on, "gpt-4o", "gpt-4o-mini", "o3", visible=("gpt-4o", "o3"))
    sandbox.add_models(off, "secret-model", visible=("secret-model",))
    view = _user_view(sandbox)
    assert set(view) == {"On"}
    assert [m["id"] for m in view["On"]["models"]] == ["gpt-4o", "o3"]
    assert view["On"]["models"][0] == {"id": "gpt-4o", "name": "gpt-4o", "display_name": "gpt-4o"}


def test_user_view_says_which_key_requests_use(sandbox: Sandbox) -> None:
    sandbox.create("Shared")
    keyless = sandbox.create("Keyless")
    sandbox.store.update_provider(keyless["id"], api_key=None)
    view = _user_view(sandbox)
    assert view["Shared"]["key_source"] == "admin"
    assert view["Keyless"]["key_source"] == "none"
    assert "fail" in view["Keyless"]["key_status"]


def test_a_user_key_overrides_the_admin_key_until_deleted(sandbox: Sandbox) -> None:
    created = sandbox.create("Shared")
    path = f"/api/user/providers/{created['id']}/key"
    with sandbox.user() as client:
        put = client.put(path, json={"api_key": USER_KEY})
        assert put.status_code == 200 and USER_KEY not in put.text
        assert _user_view(sandbox)["Shared"]["key_source"] == "user"
        deleted = client.delete(path)
    assert deleted.status_code == 200 and deleted.json()["key_source"] == "admin"
    assert _user_view(sandbox)["Shared"]["key_source"] == "admin"


def test_a_user_key_makes_a_keyless_provider_usable_for_that_user_only(
    sandbox: Sandbox,
) -> None:
    created = sandbox.create("Keyless")
    sandbox.store.update_provider(created["id"], api_key=None)
    with sandbox.user() as client:
        client.put(f"/api/user/providers/{created['id']}/key", json={"api_key": USER_KEY})
    assert _user_view(sandbox)["Keyless"]["key_source"] == "user"
    with sandbox.admin() as client:
        admins = {p["name"]: p for p in client.get("/api/providers").json()["providers"]}
    assert admins["Keyless"]["key_source"] == "none"


def test_user_keys_are_only_for_enabled_providers(sandbox: Sandbox) -> None:
    off = sandbox.create("Off", enabled=False)
    with sandbox.user() as client:
        put = client.put(f"/api/user/providers/{off['id']}/key", json={"api_key": USER_KEY})
        unknown = client.put("/api/user/providers/424242/key", json={"api_key": USER_KEY})
        empty = client.put(
            f"/api/user/providers/{sandbox.create('On')['id']}/key", json={"api_key": ""}
        )
    assert put.status_code == 404 and unknown.status_code == 404
    assert put.json() == {"error": "Provider not found"}
    assert empty.status_code == 400
