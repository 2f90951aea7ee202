"""Request bodies in the sandbox over real HTTP: a size limit checked after authentication
(413, from Content-Length or while a chunked body streams), bounded JSON nesting, and no
unpaired surrogate: each a 4xx, never a 500."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from reconciler.sandbox.bodies import DEPTH_LIMIT
from reconciler.sandbox.context import AUTH_BODY_LIMIT, BODY_LIMIT
from tests.sandbox_api import PASSWORD, Sandbox

_HUGE = 150 * 1024 * 1024


def _announce_only(sandbox: Sandbox, path: str, length: int, token: str | None) -> Any:
    """Send a request's head announcing ``length`` body bytes, send none, and read the
    answer: only a server that answers without reading the body answers at all."""
    url = urlsplit(str(sandbox.http.base_url))
    assert url.hostname and url.port
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {url.hostname}\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode())
        received = b""
        # The answer closes the connection: the body it did not read is not wanted.
        while chunk := sock.recv(65536):
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    return int(status_line.split()[1]), json.loads(body)


def test_an_admin_route_answers_401_without_reading_the_body(sandbox: Sandbox) -> None:
    status, body = _announce_only(sandbox, "/api/admin/providers", _HUGE, None)
    assert (status, body) == (401, {"error": "Authorization header required"})


def test_a_user_token_on_an_admin_route_is_403_without_reading_the_body(
    sandbox: Sandbox,
) -> None:
    status, _ = _announce_only(sandbox, "/api/admin/providers", _HUGE, sandbox.user_token)
    assert status == 403


def test_a_body_announced_too_large_is_413_before_it_is_read(sandbox: Sandbox) -> None:
    status, body = _announce_only(sandbox, "/api/admin/providers", _HUGE, sandbox.admin_token)
    assert status == 413
    assert body == {"error": f"Request body too large: at most {BODY_LIMIT} bytes"}


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/refresh"])
def test_a_large_login_body_is_413_before_it_is_read(sandbox: Sandbox, path: str) -> None:
    status, body = _announce_only(sandbox, path, 200 * 1024 * 1024, None)
    assert status == 413
    assert body == {"error": f"Request body too large: at most {AUTH_BODY_LIMIT} bytes"}


@pytest.mark.parametrize(
    ("path", "status"), [("/api/admin/nothing-here", 404), ("/api/providers/1", 404)]
)
def test_an_unknown_route_answers_without_reading_the_body(
    sandbox: Sandbox, path: str, status: int
) -> None:
    assert _announce_only(sandbox, path, _HUGE, None)[0] == status


def test_a_wrong_method_answers_without_reading_the_body(sandbox: Sandbox) -> None:
    assert _announce_only(sandbox, "/api/admin/models", _HUGE, None)[0] == 405


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes of a JSON object, streamed: httpx sends it chunked (no length)."""
    yield b'{"system_prompt": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


def test_a_chunked_body_is_413_once_past_the_limit(sandbox: Sandbox) -> None:
    with sandbox.admin() as client:
        response = client.post("/api/admin/providers", content=_chunks(BODY_LIMIT))
    assert response.status_code == 413
    assert response.json() == {"error": f"Request body too large: at most {BODY_LIMIT} bytes"}
    assert response.headers["connection"] == "close"


def test_a_chunked_login_body_is_413_once_past_the_small_limit(sandbox: Sandbox) -> None:
    with sandbox.anonymous() as client:
        response = client.post("/api/auth/login", content=_chunks(AUTH_BODY_LIMIT, 1024))
    assert response.status_code == 413


def test_a_body_just_under_the_limit_is_read(sandbox: Sandbox) -> None:
    body = {"name": "Big", "base_url": "https://api.openai.com/v1", "api_key": "k"}
    body["system_prompt"] = "x" * (
        BODY_LIMIT - len(json.dumps(body)) - len(', "system_prompt": ""')
    )
    content = json.dumps(body).encode()
    assert len(content) == BODY_LIMIT
    with sandbox.admin() as client:
        response = client.post("/api/admin/providers", content=content)
    assert response.status_code == 201
    assert "connection" not in response.headers or response.headers["connection"] != "close"


def test_a_small_login_still_works(sandbox: Sandbox) -> None:
    sandbox.set_password()
    with sandbox.anonymous() as client:
        response = client.post(
            "/api/auth/login", json={"email": "user@example.com", "password": PASSWORD}
        )
    assert response.status_code == 200


def _nested(depth: int, kind: str) -> bytes:
    if kind == "arrays":
        inner = "[" * (depth - 1) + "]" * (depth - 1)
    else:
        inner = '{"a":' * (depth - 1) + "1" + "}" * (depth - 1)
    return f'{{"model_ids": {inner}}}'.encode()


@pytest.mark.parametrize("kind", ["arrays", "objects"])
@pytest.mark.parametrize("depth", [DEPTH_LIMIT + 1, 1_000, 100_000])
def test_a_body_nested_too_deep_is_400(sandbox: Sandbox, kind: str, depth: int) -> None:
    with sandbox.admin() as client:
        response = client.put("/api/admin/models/bulk/visibility", content=_nested(depth, kind))
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Invalid request body: nested more than {DEPTH_LIMIT} levels deep"
    }


@pytest.mark.parametrize("kind", ["arrays", "objects"])
def test_a_body_nested_to_the_limit_reaches_the_handler(sandbox: Sandbox, kind: str) -> None:
    with sandbox.admin() as client:
        response = client.put(
            "/api/admin/models/bulk/visibility", content=_nested(DEPTH_LIMIT, kind)
        )
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid request body: model_ids must be a list of strings"}


def test_brackets_inside_strings_are_not_nesting(sandbox: Sandbox) -> None:
    created = sandbox.create("OpenAI", system_prompt="[" * 1000 + "{" * 1000)
    assert created["system_prompt"] == "[" * 1000 + "{" * 1000


_LONE = '"\\ud800"'


@pytest.mark.parametrize(
    ("method", "path", "content", "who"),
    [
        ("POST", "/api/admin/providers", f'{{"name": {_LONE}}}', "admin"),
        ("PUT", "/api/admin/models/bulk/visibility", f'{{"model_ids": [{_LONE}]}}', "admin"),
        ("POST", "/api/auth/login", f'{{"email": {_LONE}, "password": "x"}}', "anonymous"),
        ("POST", "/api/auth/login", f'{{"email": "a@b.c", "password": {_LONE}}}', "anonymous"),
        ("POST", "/api/auth/refresh", f'{{"refresh_token": {_LONE}}}', "anonymous"),
    ],
)
def test_a_lone_surrogate_in_a_string_is_400(
    sandbox: Sandbox, method: str, path: str, content: str, who: str
) -> None:
    caller = sandbox.admin() if who == "admin" else sandbox.anonymous()
    with caller as client:
        response = client.request(method, path, content=content.encode())
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid request body: a string holds a lone surrogate"}


def test_a_user_key_with_a_lone_surrogate_is_400(sandbox: Sandbox) -> None:
    created = sandbox.create("OpenAI")
    with sandbox.user() as client:
        response = client.put(
            f"/api/user/providers/{created['id']}/key",
            content=f'{{"api_key": {_LONE}}}'.encode(),
        )
    assert response.status_code == 400


def test_an_escaped_surrogate_pair_is_one_character(sandbox: Sandbox) -> None:
    with sandbox.admin() as client:
        response = client.post(
            "/api/admin/providers",
            content=b'{"name": "Smile \\ud83d\\ude00", "base_url": "https://a.example/v1",'
            b' "api_key": "k"}',
        )
    assert response.status_code == 201
    assert response.json()["name"] == "Smile \U0001f600"
