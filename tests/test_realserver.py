"""The real-server double (tests/realserver.py), over real HTTP: one test per behaviour a
real ClaraVerse server shows, traps included.

One double and one fake upstream serve the whole module; each test starts from a reset
state (no providers, no models, the two default accounts, the default rate limit).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse, Response

from tests.realserver import RealServer, RealServerState, running_real_server
from tests.upstreams import Upstream, running_upstream

KEY = "sk-stored-key-0123456789"
UPSTREAM_KEY = "sk-upstream-key-abcdef"


@dataclass
class Env:
    """The running double, the fake upstream and a client for both."""

    server: RealServer
    upstream: Upstream
    http: httpx.Client

    @property
    def state(self) -> RealServerState:
        return self.server.state

    def call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A request as the admin, or with ``token`` ("" for none)."""
        token = self.state.admin_token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(method, path, headers=headers, **kwargs)

    def create(self, name: str = "OpenAI", **fields: Any) -> dict[str, Any]:
        body = {"name": name, "base_url": self.upstream.base_url("openai"), "api_key": KEY}
        body.update(fields)
        response = self.call("POST", "/api/admin/providers", json=body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def listed(self) -> list[dict[str, Any]]:
        response = self.call("GET", "/api/admin/providers")
        assert response.status_code == 200, response.text
        providers: list[dict[str, Any]] = response.json()["providers"] or []
        return providers

    def fetch(self, provider_id: int) -> httpx.Response:
        return self.call("POST", f"/api/admin/providers/{provider_id}/fetch")


@pytest.fixture(scope="module")
def _served() -> Iterator[tuple[RealServer, Upstream, httpx.Client]]:
    with (
        running_upstream() as upstream,
        running_real_server() as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield server, upstream, http


@pytest.fixture
def env(_served: tuple[RealServer, Upstream, httpx.Client]) -> Env:
    server, upstream, http = _served
    server.state.reset()
    upstream.state.reset()
    return Env(server, upstream, http)


def _free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- authentication -----------------------------------------------------------------------


def test_login_answers_tokens_that_work(env: Env) -> None:
    admin = env.state.admin
    response = env.call(
        "POST",
        "/api/auth/login",
        token="",
        json={"email": admin.email, "password": admin.password},
    )
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"access_token", "refresh_token", "user", "expires_in"}
    assert answer["expires_in"] == 900
    assert answer["user"] == {"email": admin.email, "id": admin.id, "role": "admin"}
    listed = env.call("GET", "/api/admin/providers", token=answer["access_token"])
    assert listed.status_code == 200

    refreshed = env.call(
        "POST", "/api/auth/refresh", token="", json={"refresh_token": answer["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert set(refreshed.json()) == {"access_token", "expires_in"}
    again = env.call("GET", "/api/admin/providers", token=refreshed.json()["access_token"])
    assert again.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"email": "admin@example.com", "password": "wrong"},
        {"email": "nobody@example.com", "password": "admin-password"},
        {},
    ],
)
def test_login_with_wrong_credentials_is_401(env: Env, body: dict[str, str]) -> None:
    response = env.call("POST", "/api/auth/login", token="", json=body)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid email or password"}


def test_added_user_logs_in_and_bad_refresh_is_401(env: Env) -> None:
    env.state.add_user("ops@example.com", "s3cret", role="admin")
    response = env.call(
        "POST", "/api/auth/login", token="", json={"email": "ops@example.com", "password": "s3cret"}
    )
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "admin"
    access = response.json()["access_token"]
    refused = env.call("POST", "/api/auth/refresh", token="", json={"refresh_token": access})
    assert refused.status_code == 401
    assert refused.json() == {"error": "Invalid or expired refresh token"}


def test_admin_routes_without_a_token_are_401(env: Env) -> None:
    for method, path in [
        ("GET", "/api/admin/providers"),
        ("POST", "/api/admin/providers"),
        ("PUT", "/api/admin/providers/1/toggle"),
        ("GET", "/api/admin/models"),
        ("GET", "/api/admin/no-such-route"),
    ]:
        response = env.call(method, path, token="")
        assert response.status_code == 401, (method, path)
        assert response.json() == {"error": "Missing or invalid authorization token"}
    basic = env.call("GET", "/api/admin/providers", token="", headers={"Authorization": "Basic x"})
    assert basic.json() == {"error": "Missing or invalid authorization token"}


def test_bad_expired_and_refresh_tokens_are_401(env: Env) -> None:
    stale = env.state.admin_token
    refresh = env.state.token_for("admin@example.com", kind="refresh")
    forged = RealServerState(jwt_secret="another-secret").admin_token
    env.state.expire_tokens()
    for token in ["not-a-jwt", forged, stale, refresh]:
        response = env.call("GET", "/api/admin/providers", token=token)
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid or expired token"}
    # Refresh tokens outlive access tokens: the expired session can be renewed.
    renewed = env.call("POST", "/api/auth/refresh", token="", json={"refresh_token": refresh})
    assert renewed.status_code == 200
    assert env.call("GET", "/api/admin/providers").status_code == 200  # a fresh token works
    env.state.expire_tokens(refresh=True)
    dead = env.call("POST", "/api/auth/refresh", token="", json={"refresh_token": refresh})
    assert dead.status_code == 401


def test_non_admin_is_403_unless_listed_as_superadmin(env: Env) -> None:
    response = env.call("GET", "/api/admin/providers", token=env.state.user_token)
    assert response.status_code == 403
    assert response.json() == {"error": "Superadmin access required"}
    env.state.superadmin_user_ids.add(env.state.user.id)
    assert env.call("GET", "/api/admin/providers", token=env.state.user_token).status_code == 200


def test_token_in_the_query_and_scheme_in_any_case(env: Env) -> None:
    token = env.state.admin_token
    assert env.http.get("/api/admin/providers", params={"token": token}).status_code == 200
    lower = env.http.get("/api/admin/providers", headers={"Authorization": f"bearer {token}"})
    assert lower.status_code == 200


# -- the provider list --------------------------------------------------------------------


def test_no_providers_is_a_null_list(env: Env) -> None:
    response = env.call("GET", "/api/admin/providers")
    assert response.status_code == 200
    assert response.text == '{"providers":null}'


def test_list_carries_exactly_its_fields_sorted_by_name(env: Env) -> None:
    zeta = env.create(
        "zeta",
        type="openai",
        enabled=True,
        image_only=True,
        default_model="dall-e-3",
        system_prompt="be brief",
        favicon="https://z.example/icon.png",
    )
    env.create("Alpha")
    env.state.add_models(zeta["id"], ["m1", "m2"])  # hidden ones count too
    listed = env.listed()
    assert [p["name"] for p in listed] == ["Alpha", "zeta"]
    assert listed[1] == {
        "audio_only": False,
        "base_url": env.upstream.base_url("openai"),
        "enabled": True,
        "favicon": "https://z.example/icon.png",
        "filters": None,
        "id": zeta["id"],
        "model_aliases": {},
        "model_count": 2,
        "name": "zeta",
        "recommended_models": None,
    }
    assert listed[0]["favicon"] == ""
    assert isinstance(listed[0]["id"], int)


# -- create -------------------------------------------------------------------------------


def test_create_answers_the_whole_row_with_the_key_in_clear(env: Env) -> None:
    answer = env.create(
        enabled=True,
        type="openai",
        image_only=True,
        image_edit_only=True,
        secure=True,
        default_model="gpt-image-1",
        system_prompt="hi",
        favicon="f.png",
    )
    assert list(answer) == [
        "id",
        "name",
        "base_url",
        "api_key",
        "enabled",
        "image_only",
        "image_edit_only",
        "default_model",
        "system_prompt",
        "favicon",
        "created_at",
        "updated_at",
    ]
    assert answer["api_key"] == KEY
    assert answer["image_only"] is True
    assert answer["default_model"] == "gpt-image-1"
    stored = env.state.provider("OpenAI")
    assert stored is not None
    assert stored.secure is False  # accepted, never written
    assert not hasattr(stored, "type")  # no such column: the type sent is dropped


def test_create_without_enabled_creates_a_disabled_provider(env: Env) -> None:
    answer = env.create()
    assert answer["enabled"] is False
    assert env.listed()[0]["enabled"] is False
    # Falsy settings are left out of the answer, as Go's omitempty does.
    assert "image_only" not in answer
    assert "audio_only" not in answer


@pytest.mark.parametrize(
    "missing",
    [
        {"name": ""},
        {"base_url": ""},
        {"api_key": ""},
        {"name": None},
        {"api_key": None},
    ],
)
def test_create_requires_name_base_url_and_api_key(env: Env, missing: dict[str, Any]) -> None:
    body: dict[str, Any] = {"name": "Ollama", "base_url": "http://localhost:11434/v1"}
    body["api_key"] = "placeholder"
    body.update(missing)
    body = {k: v for k, v in body.items() if v is not None}
    response = env.call("POST", "/api/admin/providers", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": "Name, base_url, and api_key are required"}
    assert env.state.providers() == []


def test_create_with_an_existing_name_is_500(env: Env) -> None:
    env.create("OpenAI")
    for name in ["OpenAI", "openai", "OpenAI  "]:
        response = env.call(
            "POST",
            "/api/admin/providers",
            json={"name": name, "base_url": "https://x.example/v1", "api_key": "k"},
        )
        assert response.status_code == 500
        assert response.json() == {
            "error": "Failed to create provider: failed to create provider: "
            f"Error 1062 (23000): Duplicate entry '{name}' for key 'name'"
        }
    assert len(env.state.providers()) == 1


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": "A", "base_url": "u", "api_key": "k"}', "text/plain"),
        (b'{"name": "A", "base_url": "u", "api_key": "k", "enabled": "yes"}', "application/json"),
        (b'[{"name": "A"}]', "application/json"),
        (b"{not json", "application/json"),
        (b"", "application/json"),
    ],
)
def test_bodies_that_do_not_decode_are_400(env: Env, content: bytes, content_type: str) -> None:
    response = env.call(
        "POST", "/api/admin/providers", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid request body"}


def test_keys_match_case_insensitively_and_null_is_left_out(env: Env) -> None:
    response = env.call(
        "POST",
        "/api/admin/providers",
        json={"Name": "A", "BASE_URL": "http://a/v1", "api_key": "k", "enabled": None},
    )
    assert response.status_code == 201
    assert response.json()["name"] == "A"
    assert response.json()["enabled"] is False


# -- update and toggle --------------------------------------------------------------------


def _image_provider(env: Env) -> dict[str, Any]:
    return env.create(
        "Images", enabled=True, image_only=True, image_edit_only=True, default_model="dall-e-3"
    )


def test_update_resets_the_image_settings_it_does_not_carry(env: Env) -> None:
    created = _image_provider(env)
    response = env.call(
        "PUT", f"/api/admin/providers/{created['id']}", json={"base_url": "http://new/v1"}
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["base_url"] == "http://new/v1"
    assert "image_only" not in answer and "default_model" not in answer
    stored = env.state.provider("Images")
    assert stored is not None
    assert (stored.image_only, stored.image_edit_only, stored.default_model) == (False, False, "")
    assert stored.enabled is True and stored.api_key == KEY  # these survive


def test_update_keeps_the_image_settings_it_carries(env: Env) -> None:
    created = _image_provider(env)
    body = {"enabled": False, "image_only": True, "image_edit_only": True, "default_model": "m"}
    answer = env.call("PUT", f"/api/admin/providers/{created['id']}", json=body).json()
    assert answer["image_only"] is True and answer["default_model"] == "m"
    assert answer["enabled"] is False
    assert answer["api_key"] == KEY


def test_update_ignores_a_rename(env: Env) -> None:
    created = env.create("Old")
    response = env.call(
        "PUT", f"/api/admin/providers/{created['id']}", json={"name": "New", "favicon": "x.png"}
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Old"
    assert response.json()["favicon"] == "x.png"
    assert [p["name"] for p in env.listed()] == ["Old"]


def test_update_with_an_empty_key_clears_it(env: Env) -> None:
    created = env.create()
    response = env.call("PUT", f"/api/admin/providers/{created['id']}", json={"api_key": ""})
    assert response.status_code == 200
    assert "api_key" not in response.json()
    stored = env.state.provider("OpenAI")
    assert stored is not None and stored.api_key == ""


def test_update_cannot_set_secure(env: Env) -> None:
    created = env.create()
    answer = env.call("PUT", f"/api/admin/providers/{created['id']}", json={"secure": True}).json()
    assert "secure" not in answer


def test_toggle_resets_the_image_settings_and_echoes_the_key(env: Env) -> None:
    created = _image_provider(env)
    response = env.call(
        "PUT", f"/api/admin/providers/{created['id']}/toggle", json={"enabled": True}
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["api_key"] == KEY
    assert answer["enabled"] is True
    assert "image_only" not in answer and "image_edit_only" not in answer
    stored = env.state.provider("Images")
    assert stored is not None
    assert (stored.image_only, stored.image_edit_only, stored.default_model) == (False, False, "")


def test_toggle_without_enabled_disables(env: Env) -> None:
    created = env.create(enabled=True)
    answer = env.call("PUT", f"/api/admin/providers/{created['id']}/toggle", json={}).json()
    assert answer["enabled"] is False


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("PUT", "", {"enabled": True}), ("PUT", "/toggle", {"enabled": True}), ("DELETE", "", None)],
)
def test_unknown_provider_is_404(env: Env, method: str, suffix: str, body: Any) -> None:
    response = env.call(method, f"/api/admin/providers/999{suffix}", json=body)
    assert response.status_code == 404
    assert response.json() == {"error": "Provider not found"}


@pytest.mark.parametrize("provider_id", ["abc", "1.5", "99999999999999999999"])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("PUT", ""), ("DELETE", ""), ("PUT", "/toggle"), ("POST", "/fetch")],
)
def test_non_integer_id_is_400(env: Env, provider_id: str, method: str, suffix: str) -> None:
    response = env.call(method, f"/api/admin/providers/{provider_id}{suffix}", json={})
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid provider ID"}


def test_id_is_checked_before_the_body_and_the_body_before_the_row(env: Env) -> None:
    bad_body: dict[str, Any] = {"content": b"nope", "headers": {"Content-Type": "application/json"}}
    assert env.call("PUT", "/api/admin/providers/x", **bad_body).status_code == 400
    response = env.call("PUT", "/api/admin/providers/999/toggle", **bad_body)
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid request body"}


# -- delete -------------------------------------------------------------------------------


def test_delete_takes_the_models_along(env: Env) -> None:
    created = env.create()
    env.state.add_models(created["id"], ["gpt-4o", "gpt-4o-mini"], visible=True)
    response = env.call("DELETE", f"/api/admin/providers/{created['id']}")
    assert response.status_code == 200
    assert response.json() == {"message": "Provider deleted successfully"}
    assert env.state.models() == []
    assert env.call("GET", "/api/admin/models").json() is None
    assert env.call("DELETE", f"/api/admin/providers/{created['id']}").status_code == 404


# -- fetch --------------------------------------------------------------------------------


def test_fetch_stores_hidden_models_named_by_their_id(env: Env) -> None:
    env.upstream.state.api_key = UPSTREAM_KEY
    created = env.create(api_key=UPSTREAM_KEY)
    response = env.fetch(created["id"])
    assert response.status_code == 200
    assert response.json() == {
        "message": "Models fetched and stored successfully",
        "models_fetched": 3,
        "success": True,
    }
    sent = env.upstream.state.requests_to("openai")
    assert [r.headers["authorization"] for r in sent] == [f"Bearer {UPSTREAM_KEY}"]
    listed = env.call("GET", "/api/admin/models").json()
    assert [m["id"] for m in listed] == ["gpt-4o", "gpt-4o-mini", "o3-mini"]
    first = listed[0]
    assert set(first) == {
        "id",
        "provider_id",
        "provider_name",
        "name",
        "display_name",
        "supports_tools",
        "supports_streaming",
        "supports_vision",
        "smart_tool_router",
        "agents_enabled",
        "is_visible",
        "fetched_at",
    }
    assert first["is_visible"] is False
    assert first["display_name"] == first["name"] == "gpt-4o"
    assert first["provider_id"] == created["id"] and first["provider_name"] == "OpenAI"
    assert first["fetched_at"].endswith("Z")


def test_fetch_of_a_keyless_provider_sends_an_empty_bearer(env: Env) -> None:
    row = env.state.add_provider("Local", env.upstream.base_url("openai"), "")
    response = env.fetch(row.id)
    assert response.status_code == 200
    assert env.state.fetches[-1].headers["Authorization"] == "Bearer "
    assert env.state.fetches[-1].url == env.upstream.base_url("openai") + "/models"
    # HTTP strips the trailing space: the upstream sees the header, but as "Bearer".
    assert env.upstream.state.requests[-1].headers["authorization"] == "Bearer"


def test_model_ids_are_global_yet_counted_by_every_fetch(env: Env) -> None:
    first = env.create("First")
    second = env.create("Second")
    env.state.add_models(first["id"], ["gpt-4o"], visible=True)
    response = env.fetch(second["id"])
    assert response.json()["models_fetched"] == 3
    owners = {m.id: m.provider_id for m in env.state.models()}
    assert owners["gpt-4o"] == first["id"]  # stays with its first provider
    assert owners["o3-mini"] == second["id"]
    gpt = env.state.model("GPT-4O")  # ids compare case-insensitively
    assert gpt is not None and gpt.is_visible is True  # a re-fetch keeps visibility
    counts = {p["name"]: p["model_count"] for p in env.listed()}
    assert counts == {"First": 1, "Second": 2}


def test_fetch_counts_duplicates_and_case_variants(env: Env) -> None:
    env.upstream.state.set_models("openai", ["a", "A", "a", "b"])
    created = env.create()
    assert env.fetch(created["id"]).json()["models_fetched"] == 4
    assert sorted(m.id for m in env.state.models()) == ["a", "b"]


def test_fetch_of_an_unknown_provider_is_500(env: Env) -> None:
    response = env.fetch(999)
    assert response.status_code == 500
    assert response.json() == {
        "error": "Failed to fetch models: failed to get provider: provider not found"
    }


def test_upstream_refusal_reaches_the_error_with_status_and_body(env: Env) -> None:
    created = env.create()
    env.upstream.state.then("401")
    response = env.fetch(created["id"])
    assert response.status_code == 500
    error = response.json()["error"]
    assert error.startswith("Failed to fetch models: API error (status 401): {")
    assert "scripted 401" in error


def test_an_echoing_upstream_puts_the_key_in_the_error(env: Env) -> None:
    created = env.create()
    env.upstream.state.then("echo-400")
    response = env.fetch(created["id"])
    assert response.status_code == 500
    assert "API error (status 400)" in response.json()["error"]
    assert KEY in response.json()["error"]


def test_any_status_but_200_is_a_failure(env: Env) -> None:
    created = env.create()
    env.upstream.state.then(JSONResponse({"data": [{"id": "x"}]}, status_code=201))
    response = env.fetch(created["id"])
    assert response.status_code == 500
    assert "API error (status 201)" in response.json()["error"]
    assert env.state.models() == []


def test_connection_refused_is_500_in_go_words(env: Env) -> None:
    port = _free_port()
    row = env.state.add_provider("Gone", f"http://127.0.0.1:{port}/v1", "k")
    response = env.fetch(row.id)
    assert response.status_code == 500
    assert response.json() == {
        "error": "Failed to fetch models: failed to fetch models: "
        f'Get "http://127.0.0.1:{port}/v1/models": '
        f"dial tcp 127.0.0.1:{port}: connect: connection refused"
    }


def test_a_slow_upstream_times_out(env: Env) -> None:
    env.state.fetch_timeout = 0.1
    env.upstream.state.then("slow")
    created = env.create()
    response = env.fetch(created["id"])
    assert response.status_code == 500
    assert response.json()["error"].endswith(
        "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    )


def test_a_listing_that_is_not_json_is_500(env: Env) -> None:
    created = env.create()
    env.upstream.state.then("invalid-json")
    response = env.fetch(created["id"])
    assert response.status_code == 500
    assert response.json() == {
        "error": "Failed to fetch models: failed to parse models response: "
        "invalid character '<' looking for beginning of value"
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "unexpected end of JSON input"),
        (b"NaN", "invalid character 'N' looking for beginning of value"),
        (b"[]", "json: cannot unmarshal array into Go value of type models.OpenAIModelsResponse"),
        (
            b'{"data": "gpt-4o"}',
            "json: cannot unmarshal string into Go struct field OpenAIModelsResponse.data "
            "of type []models.OpenAIModel",
        ),
        (
            b'{"data": [{"id": 5}]}',
            "json: cannot unmarshal number into Go struct field OpenAIModel.data.id of type string",
        ),
    ],
)
def test_a_listing_go_cannot_decode_is_500(env: Env, body: bytes, reason: str) -> None:
    created = env.create()
    env.upstream.state.then(Response(body, media_type="application/json"))
    response = env.fetch(created["id"])
    assert response.status_code == 500
    assert response.json() == {
        "error": f"Failed to fetch models: failed to parse models response: {reason}"
    }
    assert env.state.models() == []


def test_a_listing_without_data_is_a_success_with_no_model(env: Env) -> None:
    created = env.create()
    env.upstream.state.then("wrong-shape")
    response = env.fetch(created["id"])
    assert response.status_code == 200
    assert response.json()["models_fetched"] == 0


# -- models -------------------------------------------------------------------------------


def test_models_list_is_null_when_empty_and_leaves_out_audio_only(env: Env) -> None:
    response = env.call("GET", "/api/admin/models")
    assert response.status_code == 200
    assert response.text == "null"
    audio = env.state.add_provider("Whisper", "http://w/v1", "k", audio_only=True)
    env.state.add_models(audio.id, ["whisper-large-v3"], visible=True)
    assert env.call("GET", "/api/admin/models").json() is None
    chat = env.state.add_provider("Chat", "http://c/v1", "k", enabled=False)
    env.state.add_models(chat.id, ["b-model", "a-model"])
    listed = env.call("GET", "/api/admin/models").json()
    assert isinstance(listed, list)
    assert [m["id"] for m in listed] == ["a-model", "b-model"]  # disabled provider included


def test_bulk_visibility_ignores_provider_id_and_counts_the_ids_sent(env: Env) -> None:
    first = env.create("First")
    second = env.create("Second")
    env.state.add_models(first["id"], ["gpt-4o", "gpt-4o-mini"])
    body = {"provider_id": second["id"], "model_ids": ["gpt-4o", "nope", "nope"], "visible": True}
    response = env.call("PUT", "/api/admin/models/bulk/visibility", json=body)
    assert response.status_code == 200
    assert response.json() == {"message": "Updated is_visible=true for 3 models"}
    visible = {m.id: m.is_visible for m in env.state.models()}
    assert visible == {"gpt-4o": True, "gpt-4o-mini": False}  # first's model, by id

    hide = env.call("PUT", "/api/admin/models/bulk/visibility", json={"model_ids": ["GPT-4O"]})
    assert hide.json() == {"message": "Updated is_visible=false for 1 models"}
    model = env.state.model("gpt-4o")
    assert model is not None and model.is_visible is False


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"visible": True}, "model_ids array is required"),
        ({"model_ids": [], "visible": True}, "model_ids array is required"),
        ({"model_ids": ["gpt-4o"], "visible": "true"}, "Invalid request body"),
        ({"model_ids": "gpt-4o", "visible": True}, "Invalid request body"),
    ],
)
def test_bulk_visibility_errors(env: Env, body: dict[str, Any], error: str) -> None:
    response = env.call("PUT", "/api/admin/models/bulk/visibility", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": error}


# -- rate limit ---------------------------------------------------------------------------


def _limit(env: Env, *, limit: int, window: float, headers: bool = False) -> None:
    env.state.rate_limit = limit
    env.state.rate_window = window
    env.state.rate_retry_after = 1
    env.state.limiter_headers = headers


def test_rate_limit_answers_429_with_retry_after_in_the_body_only(env: Env) -> None:
    _limit(env, limit=20, window=30.0)
    statuses = [env.call("GET", "/api/admin/providers").status_code for _ in range(20)]
    assert statuses == [200] * 20
    refused = env.call("GET", "/api/admin/providers")
    assert refused.status_code == 429
    assert refused.json() == {"error": "Too many requests. Please slow down.", "retry_after": 1}
    assert "retry-after" not in refused.headers
    # Every route under /api counts, auth included, whatever the token.
    assert env.call("POST", "/api/auth/login", token="", json={}).status_code == 429
    assert env.call("GET", "/api/admin/models", token="").status_code == 429
    env.state.clear_rate_limit()
    assert env.call("GET", "/api/admin/providers").status_code == 200


def test_rate_limit_window_passes(env: Env) -> None:
    _limit(env, limit=2, window=0.5)
    assert env.call("GET", "/api/admin/models").status_code == 200
    window_started_by = time.monotonic()  # the server opened the window before this
    assert env.call("GET", "/api/admin/models").status_code == 200
    assert env.call("GET", "/api/admin/models").status_code == 429
    time.sleep(max(0.0, window_started_by + 0.5 - time.monotonic()) + 0.02)
    assert env.call("GET", "/api/admin/models").status_code == 200


def test_rate_limit_with_the_limiter_headers(env: Env) -> None:
    _limit(env, limit=3, window=30.0, headers=True)
    first = env.call("GET", "/api/admin/providers")
    assert first.headers["x-ratelimit-limit"] == "3"
    assert first.headers["x-ratelimit-remaining"] == "2"
    assert 1 <= int(first.headers["x-ratelimit-reset"]) <= 30
    for _ in range(2):
        env.call("GET", "/api/admin/providers")
    refused = env.call("GET", "/api/admin/providers")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 30  # seconds left, not the body's 1
    assert refused.json()["retry_after"] == 1


def test_rate_limit_off_and_default(env: Env) -> None:
    assert (env.state.rate_limit, env.state.rate_window, env.state.rate_retry_after) == (
        200,
        60.0,
        60,
    )
    env.state.rate_limit = None
    statuses = {env.call("GET", "/api/admin/models").status_code for _ in range(30)}
    assert statuses == {200}


# -- what the server does by itself, and what it records ----------------------------------


def test_the_server_registers_local_engines(env: Env) -> None:
    created = env.state.register_local_engines(models={"Ollama": ["llama3.2"]})
    assert [p.name for p in created] == ["Ollama", "LM Studio"]
    listed = {p["name"]: p for p in env.listed()}
    assert set(listed) == {"Ollama", "LM Studio"}
    assert listed["Ollama"]["enabled"] is True and listed["LM Studio"]["enabled"] is True
    assert listed["Ollama"]["model_count"] == 1
    model = env.state.model("llama3.2")
    assert model is not None and model.is_visible is True
    assert env.state.register_local_engines() == []  # already there


def test_requests_are_recorded_with_their_bodies(env: Env) -> None:
    created = env.create(image_only=True)
    env.call("PUT", f"/api/admin/providers/{created['id']}", json={"image_only": True})
    env.call("GET", "/api/admin/providers", token="")
    puts = env.state.requests_to("PUT", r"^/api/admin/providers/\d+$")
    assert len(puts) == 1
    assert puts[0].body == {"image_only": True}
    assert puts[0].status == 200
    posts = env.state.requests_to("POST", r"^/api/admin/providers$")
    assert posts[0].body["api_key"] == KEY  # kept as sent
    assert posts[0].status == 201
    assert [r.status for r in env.state.requests] == [201, 200, 401]
    assert len(env.state.writes()) == 2


# -- wire details -------------------------------------------------------------------------


def test_routing_is_fibers(env: Env) -> None:
    assert env.call("GET", "/API/Admin/Providers/").status_code == 200
    missing = env.call("GET", "/api/admin/nope")
    assert missing.status_code == 404
    assert missing.text == "Cannot GET /api/admin/nope"
    assert missing.headers["content-type"].startswith("text/plain")
    wrong = env.call("PATCH", "/api/admin/providers/1")
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].split(", ")) == {"PUT", "DELETE"}


def test_json_is_gos(env: Env) -> None:
    env.create("<b>&co</b>")
    response = env.call("GET", "/api/admin/providers")
    assert "\\u003cb\\u003e\\u0026co\\u003c/b\\u003e" in response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["providers"][0]["name"] == "<b>&co</b>"
