"""Providers a real ClaraVerse server creates by itself ("Ollama" and "LM Studio", when it
finds local engines) are never pruned: deleted, they would only come back. The CLI runs
against the double of a real server (tests/realserver.py), as users run it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realserver import RealServer, running_real_server
from tests.sandbox import KEYS, reconcile, write

FILE = """\
version: 1
providers:
  - name: Team
    type: openai
    base_url: http://127.0.0.1:9/v1
    fetch_models: false
"""


@pytest.fixture
def real() -> Iterator[RealServer]:
    with running_real_server() as server:
        server.state.register_local_engines(models={"Ollama": ["llama3.2"]})
        yield server


def run(real: RealServer, *args: str) -> tuple[int, str, str]:
    done = reconcile(*args, RECONCILE_TARGET=real.url, CLARAVERSE_TOKEN=real.state.admin_token)
    for text in (done.stdout, done.stderr):
        assert all(key not in text for key in KEYS.values())
        assert "Traceback" not in text
    return done.returncode, done.stdout, done.stderr


def names(real: RealServer) -> list[str]:
    return sorted(p.name for p in real.state.providers())


def test_prune_keeps_the_providers_the_server_creates_and_says_why(real: RealServer) -> None:
    write(Path("providers.yaml"), FILE)
    code, out, err = run(real, "plan", "--prune", "--allow-delete-enabled")
    assert code == 0, err
    assert "  - delete" not in out
    assert (
        "Unmanaged (ignored by prune; --prune never deletes them):\n  LM Studio: the server" in out
    )
    assert "  Ollama: the server creates it by itself when it finds a local engine" in out
    code, out, err = run(real, "plan", "--prune", "--format", "json")
    assert [k["name"] for k in json.loads(out)["kept"]] == ["LM Studio", "Ollama"]
    code, out, err = run(real, "apply", "--prune", "--allow-delete-enabled", "--yes")
    assert code == 0, err
    assert names(real) == ["LM Studio", "Ollama", "Team"]


def test_ensure_absent_deletes_a_provider_the_server_created(real: RealServer) -> None:
    write(Path("providers.yaml"), FILE + "  - {name: LM Studio, ensure: absent}\n")
    code, out, err = run(real, "apply", "--prune", "--allow-delete-enabled", "--yes")
    assert code == 0, err
    assert "- delete LM Studio and its 0 models (ensure: absent)" in out
    assert names(real) == ["Ollama", "Team"]
