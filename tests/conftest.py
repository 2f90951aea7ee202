"""Shared fixtures. Every test runs in its own temporary working directory, with no
RECONCILE_* / CLARAVERSE_* variables inherited, so that nothing can touch a real store,
and with connections allowed to loopback addresses only, so that no test can reach a
real upstream by mistake (a key rotation plans a fetch; an example names api.openai.com)."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from reconciler.secrets import scrubbing_run
from reconciler.targets.claraverse import ClaraVerseTarget
from tests.catalog_example import target_for
from tests.realserver import RealServer, running_real_server
from tests.sandbox import OPENAI_KEY
from tests.sandbox_api import Sandbox, Served, fresh, serving
from tests.upstreams import Upstream, running_upstream

# The property tests check what is generated, never how fast: on a loaded machine (CI, or
# the suite run in parallel) hypothesis's 200 ms deadline and its too-slow health check
# would fail them for the machine's sake. The tests' own settings keep everything else.
settings.register_profile("reconciler", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("reconciler")


@pytest.fixture(autouse=True)
def _own_secrets() -> Iterator[None]:
    """Each test scrubs the secrets it made, not every one the process ever saw (a short
    test key such as "show" would otherwise mask a JSON field of a later test)."""
    with scrubbing_run():
        yield


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("RECONCILE_", "CLARAVERSE_")) or name == "NO_COLOR":
            monkeypatch.delenv(name)


def _loopback_only(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        try:
            if ipaddress.ip_address(host.split("%")[0]).is_loopback:
                return
        except ValueError:
            if host == "localhost":
                return
        raise ConnectionRefusedError(f"tests may connect to loopback only, not {host}")


@pytest.fixture(autouse=True)
def _loopback_network(monkeypatch: pytest.MonkeyPatch) -> None:
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _loopback_only(address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _loopback_only(address)
        return connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


# The sandbox server's API tests (tests/test_sandbox_*.py): one server and one fake upstream
# per module, a fresh store and accounts per test. A module that needs another sandbox
# declares its own fixture of that name.
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory) as s:
        yield s


@pytest.fixture
def sandbox(served: Served) -> Sandbox:
    return fresh(served)


# The ClaraVerse target's tests against the real-server double (tests/realserver.py): a
# fake upstream that takes OpenAI's test key, a fresh double and the target on it, per
# test. A module that needs another upstream, double or target declares its own fixture of
# that name.
@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with running_upstream() as up:
        up.state.api_keys = {"openai": OPENAI_KEY}
        yield up


@pytest.fixture
def real() -> Iterator[RealServer]:
    with running_real_server() as server:
        yield server


@pytest.fixture
def target(real: RealServer) -> Iterator[ClaraVerseTarget]:
    t = target_for(real.url, real)
    yield t
    t.close()
