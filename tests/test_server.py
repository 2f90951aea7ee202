"""The sandbox server (reconciler/server.py), over real HTTP: auth, the admin API in real
servers' shapes (traps included), model fetch against a fake upstream, and the user side.

One server and one fake upstream serve the whole module; each test starts from an empty
store (``sandbox`` wipes it), with a fresh admin and a plain user.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.errors import ReconcilerError
from reconciler.sandbox import server
from reconciler.secrets import Secret
from reconciler.targets.sqlite import Store
from reconciler.upstream.discovery import FetchSettings
from reconciler.upstream.retry import RetryPolicy
from tests.servers import running
from tests.upstreams import Upstream, running_upstream

ADMIN_KEY = "sk-admin-key-0123456789"
USER_KEY = "sk-user-key-9876543210"
UPSTREAM_KEY = "sk-upstream-key-abcdef"
PASSWORD = "user-password"


class Caller:
    """Requests over the module's shared client, with one token (or none)."""

    def __init__(self, http: httpx.Client, token: str | None) -> None:
        self._http = http
        self._headers = {"authorization": f"Bearer {token}"} if token else {}

    def __enter__(self) -> Caller:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers, **kwargs.pop("headers", {})}
        return self._http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@dataclass
class Sandbox:
    """The running server, its store, an admin's and a user's access tokens."""

    http: httpx.Client
    store: Store
    upstream: Upstream
    admin_token: str
    user_token: str
    user_id: int

    def admin(self) -> Caller:
        return Caller(self.http, self.admin_token)

    def user(self) -> Caller:
        return Caller(self.http, self.user_token)

    def anonymous(self) -> Caller:
        return Caller(self.http, None)

    def bearer(self, token: str) -> Caller:
        return Caller(self.http, token)

    def set_password(self) -> None:
        """Give the user a password to log in with (scrypt is slow: only where needed)."""
        server.account_token(self.store, email="user@example.com", password=PASSWORD)

    def create(self, name: str = "OpenAI", **fields: Any) -> dict[str, Any]:
        """Create a provider through the API; its answer."""
        body = {"name": name, "base_url": "https://api.openai.com/v1", "api_key": ADMIN_KEY}
        body.update(fields)
        with self.admin() as client:
            response = client.post("/api/admin/providers", json=body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def add_models(self, provider_id: int, *ids: str, visible: tuple[str, ...] = ()) -> None:
        self.store.replace_models(provider_id, [(i, None) for i in ids])
        self.store.set_visibility(provider_id, visible, True)


@pytest.fixture(scope="module")
def _served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[httpx.Client, Store, Upstream]]:
    store = Store(tmp_path_factory.mktemp("server") / "s.db")
    # One attempt, short timeouts: a failing upstream fails the test fast.
    settings = FetchSettings(connect_timeout=2, read_timeout=5, retry=RetryPolicy(max_attempts=1))
    try:
        with (
            running_upstream() as upstream,
            running(server.create_app(store, fetch_settings=settings)) as url,
            httpx.Client(base_url=url, timeout=10) as http,
        ):
            yield http, store, upstream
    finally:
        store.close()


@pytest.fixture
def sandbox(_served: tuple[httpx.Client, Store, Upstream]) -> Sandbox:
    http, store, upstream = _served
    with store.transaction() as c:  # cascades to models, tokens and user keys
        c.execute("DELETE FROM providers")
        c.execute("DELETE FROM users")
    upstream.state.reset()
    user_id = server.create_user(store, "user@example.com", "user", None)
    return Sandbox(
        http=http,
        store=store,
        upstream=upstream,
        admin_token=server.admin_token(store),
        user_token=server.issue_token(store, user_id),
        user_id=user_id,
    )


# --- authentication ------------------------------------------------------------------


def test_admin_route_without_token_is_401(sandbox: Sandbox) -> None:
    with sandbox.anonymous() as client:
        response = client.get("/api/admin/providers")
    assert response.status_code == 401
    assert "error" in response.json()


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer"])
def test_admin_route_with_wrong_token_is_401(sandbox: Sandbox, header: str) -> None:
    with sandbox.anonymous() as client:
        response = client.get("/api/admin/providers", headers={"authorization": header})
    assert response.status_code == 401
    assert "error" in response.json()


def test_expired_token_is_401(sandbox: Sandbox) -> None:
    admin_id = sandbox.store.query("SELECT id FROM users WHERE role = 'admin'")[0]["id"]
    expired = server.issue_token(sandbox.store, admin_id, ttl=-1)
    with sandbox.bearer(expired) as client:
        response = client.get("/api/admin/providers")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or expired token"}


def test_refresh_token_is_not_an_access_token(sandbox: Sandbox) -> None:
    admin_id = sandbox.store.query("SELECT id FROM users WHERE role = 'admin'")[0]["id"]
    refresh = server.issue_token(sandbox.store, admin_id, "refresh", ttl=60)
    with sandbox.bearer(refresh) as client:
        assert client.get("/api/admin/providers").status_code == 401


def test_user_token_on_admin_route_is_403(sandbox: Sandbox) -> None:
    with sandbox.user() as client:
        response = client.get("/api/admin/providers")
    assert response.status_code == 403
    assert response.json() == {"error": "Superadmin access required"}


def test_user_routes_need_a_token(sandbox: Sandbox) -> None:
    with sandbox.anonymous() as client:
        assert client.get("/api/providers").status_code == 401
        assert client.put("/api/user/providers/1/key", json={"api_key": "x"}).status_code == 401


def test_login_answers_tokens_and_user(sandbox: Sandbox) -> None:
    sandbox.set_password()
    with sandbox.anonymous() as client:
        response = client.post(
            "/api/auth/login", json={"email": "USER@example.com", "password": PASSWORD}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["user"] == {"id": sandbox.user_id, "email": "user@example.com", "role": "user"}
        assert body["expires_in"] == 900
        assert body["access_token"] and body["refresh_token"]
        mine = client.get(
            "/api/providers", headers={"authorization": f"Bearer {body['access_token']}"}
        )
    assert mine.status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "user@example.com", "password": "wrong"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": "admin@localhost", "password": ""},  # an account without a password
        {},
    ],
)
def test_login_with_wrong_credentials_is_401(sandbox: Sandbox, credentials: dict[str, str]) -> None:
    sandbox.set_password()
    with sandbox.anonymous() as client:
        response = client.post("/api/auth/login", json=credentials)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid email or password"}


def test_refresh_issues_a_working_access_token(sandbox: Sandbox) -> None:
    sandbox.set_password()
    with sandbox.anonymous() as client:
        login = client.post(
            "/api/auth/login", json={"email": "user@example.com", "password": PASSWORD}
        ).json()
        response = client.post("/api/auth/refresh", json={"refresh_token": login["refresh_token"]})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"access_token", "expires_in"}
        assert body["access_token"] != login["access_token"]
        headers = {"authorization": f"Bearer {body['access_token']}"}
        assert client.get("/api/providers", headers=headers).status_code == 200


@pytest.mark.parametrize("which", ["garbage", "access", "missing"])
def test_refresh_with_a_bad_token_is_401(sandbox: Sandbox, which: str) -> None:
    body = {"garbage": {"refresh_token": "nope"}, "access": {"refresh_token": sandbox.user_token}}
    with sandbox.anonymous() as client:
        response = client.post("/api/auth/refresh", json=body.get(which, {}))
    assert response.status_code == 401
    assert "error" in response.json()


def test_tokens_and_passwords_are_stored_hashed(sandbox: Sandbox) -> None:
    sandbox.set_password()
    with sandbox.anonymous() as client:
        login = client.post(
            "/api/auth/login", json={"email": "user@example.com", "password": PASSWORD}
        ).json()
    raw = [sandbox.admin_token, sandbox.user_token, login["access_token"], login["refresh_token"]]
    files = sorted(sandbox.store.path.parent.glob(sandbox.store.path.name + "*"))
    assert files  # s.db, and its WAL while the store is open
    data = b"".join(f.read_bytes() for f in files)
    for secret in [*raw, PASSWORD]:
        assert secret.encode() not in data


def test_account_token_refuses_to_change_a_role(sandbox: Sandbox) -> None:
    with pytest.raises(ReconcilerError, match="exists with role 'user'"):
        server.account_token(sandbox.store, email="user@example.com", role="admin")


def test_account_token_sets_a_password_to_log_in_with(sandbox: Sandbox) -> None:
    server.account_token(sandbox.store, email="ops@example.com", password="s3cret-pass")
    with sandbox.anonymous() as client:
        response = client.post(
            "/api/auth/login", json={"email": "ops@example.com", "password": "s3cret-pass"}
        )
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "user"


# --- admin: providers ----------------------------------------------------------------


def test_provider_list_is_null_when_empty(sandbox: Sandbox) -> None:
    with sandbox.admin() as client:
        response = client.get("/api/admin/providers")
    assert response.status_code == 200
    assert response.json() == {"providers": None}


def test_provider_list_carries_no_key_and_no_type(sandbox: Sandbox) -> None:
    created = sandbox.create("Anthropic", type="anthropic", base_url="https://api.anthropic.com")
    sandbox.add_models(created["id"], "claude-a", "claude-b")
    with sandbox.admin() as client:
        response = client.get("/api/admin/providers")
    assert ADMIN_KEY not in response.text
    assert response.json() == {
        "providers": [
            {
                "id": created["id"],
                "name": "Anthropic",
                "base_url": "https://api.anthropic.com",
                "enabled": True,
                "audio_only": False,
                "favicon": "",
                "model_count": 2,
                "model_aliases": {},
                "filters": [],
                "recommended_models": [],
            }
        ]
    }


def test_create_answers_201_and_echoes_the_key_like_real_servers(sandbox: Sandbox) -> None:
    # The trap a client must survive: never print or log a raw answer.
    created = sandbox.create("OpenAI", enabled=False)
    assert isinstance(created["id"], int)
    assert created["api_key"] == ADMIN_KEY
    assert created["enabled"] is False
    assert "type" not in created
    row = sandbox.store.provider(created["id"])
    assert row is not None and row.type == "openai" and row.api_key == Secret(ADMIN_KEY)


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
    "content",
    [b"{not json", b"[1, 2]", b'"text"', b""],
)
def test_a_malformed_body_is_400(sandbox: Sandbox, content: bytes) -> None:
    with sandbox.admin() as client:
        response = client.post(
            "/api/admin/providers", content=content, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid request body")


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
    assert "api_key" not in body  # this server does not echo keys on update
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
    assert "sk-new-key" not in response.text
    row = sandbox.store.provider(created["id"])
    assert row is not None
    assert (row.name, row.type, row.enabled) == ("New", "anthropic", False)
    assert row.api_key == Secret("sk-new-key")


def test_update_with_an_empty_key_clears_it(sandbox: Sandbox) -> None:
    created = sandbox.create("OpenAI")
    with sandbox.admin() as client:
        client.put(f"/api/admin/providers/{created['id']}", json={"api_key": ""})
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
        assert client.get("/api/admin/models").json() == []
        assert client.get("/api/admin/providers").json() == {"providers": None}
    assert sandbox.store.models(created["id"]) == []


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "", {"name": "X"}),
        ("PUT", "/toggle", {"enabled": True}),
        ("DELETE", "", None),
        ("POST", "/fetch", None),
    ],
)
@pytest.mark.parametrize(
    ("ident", "status", "error"),
    [
        ("424242", 404, "Provider not found"),
        ("99999999999999999999999", 404, "Provider not found"),
        ("abc", 400, "Invalid provider ID"),
        ("-1", 400, "Invalid provider ID"),
    ],
)
def test_provider_ids_unknown_404_and_malformed_400(
    sandbox: Sandbox,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
    ident: str,
    status: int,
    error: str,
) -> None:
    with sandbox.admin() as client:
        response = client.request(method, f"/api/admin/providers/{ident}{suffix}", json=body)
    assert response.status_code == status
    assert response.json() == {"error": error}


def test_unknown_route_answers_json(sandbox: Sandbox) -> None:
    with sandbox.admin() as client:
        response = client.get("/api/admin/nothing-here")
    assert response.status_code == 404
    assert "error" in response.json()


def test_an_internal_error_is_a_bare_500(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError(f"database exploded near {ADMIN_KEY}")

    monkeypatch.setattr(sandbox.store, "providers", broken)
    with caplog.at_level(logging.DEBUG), sandbox.admin() as client:
        response = client.get("/api/admin/providers")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert ADMIN_KEY not in caplog.text and "Traceback" not in caplog.text
    assert "RuntimeError" in caplog.text


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
        "is_visible": True,
        "agents_enabled": False,
        "supports_tools": False,
        "supports_streaming": True,
        "supports_vision": False,
        "context_length": 0,
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


# --- running it ----------------------------------------------------------------------


def test_startup_message_says_how_to_get_an_admin_token(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    message = server.startup_message(state, "http://127.0.0.1:8080")
    assert "http://127.0.0.1:8080" in message
    assert f"reconcile token --state {state}" in message
    assert "No admin account yet" in message


def test_serve_answers_on_the_port_it_reports(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    store = Store(state)
    try:
        token = server.admin_token(store)
    finally:
        store.close()
    script = (
        "import sys; from pathlib import Path; from reconciler.sandbox.server import serve; "
        "serve(Path(sys.argv[1]), port=0, log_level='warning', "
        "on_ready=lambda url: print(url, flush=True))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        response = httpx.get(
            f"{url}/api/admin/providers", headers={"authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.json() == {"providers": None}
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
