"""The test suite's own guards hold: no real store, no network beyond loopback, and a CLI
run in-process leaves nothing behind for the next test."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.inprocess import run


def test_tests_cannot_reach_beyond_loopback() -> None:
    with pytest.raises(httpx.ConnectError, match="loopback only"):
        httpx.get("http://192.0.2.1/", timeout=2, trust_env=False)


def test_each_test_runs_in_its_own_directory(tmp_path: Path) -> None:
    assert Path.cwd() == tmp_path
    assert not any(name.startswith("RECONCILE_") for name in os.environ)


def test_an_in_process_run_leaves_env_directory_and_streams_as_it_found_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "elsewhere").mkdir()
    before = (dict(os.environ), Path.cwd(), sys.stdin, sys.stdout, sys.stderr)
    result = run("validate", env={"RECONCILE_VALIDATE_FORMAT": "json"}, cwd=tmp_path / "elsewhere")
    # It ran with that environment and directory: json, and no providers.yaml there.
    assert result.returncode == 1
    assert json.loads(result.stdout)["valid"] is False
    assert (dict(os.environ), Path.cwd(), sys.stdin, sys.stdout, sys.stderr) == before
