"""Which files are read: regular files only, of a fair size, never a FIFO or a device."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler import config
from reconciler.config import files
from reconciler.errors import ConfigError

VALID = "version: 1\nproviders:\n  - name: A\n    type: google\n"


def problems_of(paths: list[str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.load(paths, {})
    return [str(p) for p in info.value.problems]


def finishes(work: Callable[[], object]) -> object:
    """What ``work`` returns or raises; a hang fails the test instead of stopping the suite."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the test to look at
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert outcome, "still running after a minute: it blocks"
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_refused_without_waiting_for_a_writer() -> None:
    os.mkfifo("pipe.yaml")
    outcome = finishes(lambda: config.load(["pipe.yaml"], {}))
    assert isinstance(outcome, ConfigError)
    assert [str(p) for p in outcome.problems] == [
        "pipe.yaml: is a named pipe (FIFO), not a regular file: pass the providers file itself"
    ]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_refused_without_reading_it() -> None:
    outcome = finishes(lambda: config.load(["/dev/zero"], {}))
    assert isinstance(outcome, ConfigError)
    assert [str(p) for p in outcome.problems] == [
        "/dev/zero: is a device, not a regular file: pass the providers file itself"
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_file_replaced_by_a_fifo_after_the_check_is_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The check before opening passes (as if a regular file had been there); what is then
    # opened, without blocking, is checked again.
    os.mkfifo("pipe.yaml")
    checks: list[os.stat_result] = []
    refused = files._refused

    def first_passes(info: os.stat_result) -> str | None:
        checks.append(info)
        return None if len(checks) == 1 else refused(info)

    monkeypatch.setattr(files, "_refused", first_passes)
    outcome = finishes(lambda: config.load(["pipe.yaml"], {}))
    assert isinstance(outcome, ConfigError)
    assert "is a named pipe (FIFO), not a regular file" in str(outcome)
    assert len(checks) == 2


def test_a_folder_read_as_a_file_is_refused() -> None:
    Path("d.yaml").mkdir()
    assert [str(p) for p in files.read("d.yaml", named=True)[1]] == [
        "d.yaml: is a folder, not a regular file: pass the providers file itself"
    ]


def sparse(name: str, size: int) -> None:
    with open(name, "wb") as f:
        f.truncate(size)


def test_a_file_larger_than_the_bound_is_refused_before_it_is_read() -> None:
    assert files.MAX_BYTES == 10 * 1024 * 1024
    sparse("big.yaml", files.MAX_BYTES + 1)
    sparse("huge.yaml", 1 << 40)  # a terabyte of nothing: read, it would never end
    assert problems_of(["big.yaml", "huge.yaml"]) == [
        f"{name}: is larger than 10 MB, far more than a providers file needs; split it into "
        "several files (pass them all with -f, or pass their folder)"
        for name in ("big.yaml", "huge.yaml")
    ]


def test_a_file_longer_than_its_reported_size_is_cut_at_the_bound_and_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # /proc files report a size of 0 and still have content: what is read counts too.
    Path("grows.yaml").write_text(VALID)
    monkeypatch.setattr(files, "MAX_BYTES", 40)
    monkeypatch.setattr(files, "_refused", lambda _: None)
    assert problems_of(["grows.yaml"])[0].startswith("grows.yaml: is larger than ")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_a_symlink_loop_is_reported_not_raised() -> None:
    os.symlink("loop.yaml", "loop.yaml")
    (message,) = problems_of(["loop.yaml"])
    assert message.startswith("loop.yaml: cannot be read: ")


def test_line_breaks_are_read_as_before_crlf_included() -> None:
    Path("crlf.yaml").write_bytes(VALID.replace("\n", "\r\n").encode())
    Path("cr.yaml").write_bytes(VALID.replace("\n", "\r").encode())
    for name in ("crlf.yaml", "cr.yaml"):
        (spec,) = config.load([name], {}).providers
        assert spec.name == "A"
        assert spec.location.line == 3


def test_a_folder_that_cannot_be_listed_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # As root, permissions do not stop a listing: the refusal is simulated.
    Path("locked").mkdir()

    def refuse(self: Path) -> Iterator[Path]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refuse)
    assert problems_of(["locked"]) == ["locked: the folder cannot be read: Permission denied"]


def test_a_path_with_a_nul_character_is_no_such_file() -> None:
    assert problems_of(["a\0b.yaml"]) == [
        "a\0b.yaml: no such file (the path holds a NUL character)"
    ]


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_file_name_is_refused_rather_than_read_as_the_working_folder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `-f "$FILE"` with FILE unset: the folder's own files must not be planned instead.
    (tmp_path / "other.yaml").write_text("version: 1\nproviders: []\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"an empty file name was given \(-f ''\)"):
        config.load([name])
