"""The test suite's own guards hold: no real store, no network beyond loopback."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest


def test_tests_cannot_reach_beyond_loopback() -> None:
    with pytest.raises(httpx.ConnectError, match="loopback only"):
        httpx.get("http://192.0.2.1/", timeout=2, trust_env=False)


def test_each_test_runs_in_its_own_directory(tmp_path: Path) -> None:
    assert Path.cwd() == tmp_path
    assert not any(name.startswith("RECONCILE_") for name in os.environ)
