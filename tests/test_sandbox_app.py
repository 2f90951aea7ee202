"""The sandbox's app over real HTTP: malformed ids and bodies are 400s, unknown ids 404s,
unknown routes JSON, and a failure a bare 500 whose log line quotes no value."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sandbox_api import ADMIN_KEY, Sandbox, Served, fresh, serving


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory) as s:
        yield s


@pytest.fixture
def sandbox(served: Served) -> Sandbox:
    return fresh(served)


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
