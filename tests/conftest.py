"""Shared fixtures. Every test runs in its own temporary working directory, with no
RECONCILE_* / CLARAVERSE_* variables inherited, so that nothing can touch a real store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("RECONCILE_", "CLARAVERSE_")) or name == "NO_COLOR":
            monkeypatch.delenv(name)
