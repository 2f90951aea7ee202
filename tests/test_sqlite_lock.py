"""The embedded target's apply lock: a second holder waits or fails clearly, and concurrent
applies never interleave."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reconciler.errors import LockError
from reconciler.targets.sqlite import FileLock, SqliteTarget
from tests.factories import write_yaml

# --- the lock -------------------------------------------------------------------------


def test_second_lock_holder_fails_at_once_naming_the_store(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first, second = SqliteTarget(path), SqliteTarget(path)
    try:
        with first.lock(0), pytest.raises(LockError) as caught, second.lock(0):
            pytest.fail("both applies hold the lock")  # pragma: no cover
        assert str(caught.value).startswith(f"another apply holds the lock on {path};")
        with second.lock(0):  # released by the first: free again
            pass
    finally:
        first.close()
        second.close()


def test_lock_waiter_gets_the_lock_once_it_is_released(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "state.db.lock")
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with lock.hold(0):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        with pytest.raises(LockError), FileLock(lock.path).hold(0):
            pass  # pragma: no cover
        release.set()
        with FileLock(lock.path).hold(60):
            pass
    finally:
        release.set()
        thread.join(30)


def _reconcile(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _opened_by(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.fixture
def one_provider_file(tmp_path: Path) -> Path:
    return write_yaml(
        tmp_path / "providers.yaml",
        [{"name": "P", "type": "openai", "base_url": "https://api.example/v1"}],
    )


def test_concurrent_apply_fails_at_once_with_a_clear_message(
    tmp_path: Path, one_provider_file: Path
) -> None:
    path = tmp_path / ".reconcile" / "state.db"
    holder = SqliteTarget(path)
    try:
        with holder.lock(0):
            proc = _reconcile(tmp_path, "apply", "-f", str(one_provider_file), "--yes")
            _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1
        assert err.strip().splitlines()[-1] == (
            "Error: another apply holds the lock on .reconcile/state.db; wait for it to "
            "finish, or pass --lock-timeout SECONDS to wait"
        )
        assert "Traceback" not in err
        assert holder.observe().providers == ()
    finally:
        holder.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the waiter")
def test_concurrent_apply_with_lock_timeout_waits_then_applies(
    tmp_path: Path, one_provider_file: Path
) -> None:
    path = tmp_path / ".reconcile" / "state.db"
    holder = SqliteTarget(path)
    try:
        with holder.lock(0):
            proc = _reconcile(
                tmp_path, "apply", "-f", str(one_provider_file), "--yes", "--lock-timeout", "60"
            )
            # The waiter has opened the lock file: it is polling for the lock we hold.
            lock_file = path.with_name("state.db.lock")
            while proc.poll() is None and not _opened_by(proc.pid, lock_file):
                time.sleep(0.01)
            assert proc.poll() is None, proc.communicate()
            assert holder.observe().providers == ()  # nothing interleaved
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert [p.name for p in holder.observe().providers] == ["P"]
    finally:
        holder.close()


def test_two_concurrent_applies_leave_the_store_consistent(
    tmp_path: Path, one_provider_file: Path
) -> None:
    procs = [_reconcile(tmp_path, "apply", "-f", str(one_provider_file), "--yes") for _ in range(2)]
    results = [(p.wait(timeout=60), p.communicate()) for p in procs]
    codes = sorted(code for code, _ in results)
    # Either they ran one after the other (both 0: the second found nothing to do), or
    # they overlapped and one was turned away by the lock; never an interleaving.
    assert codes in ([0, 0], [0, 1])
    for code, (_, err) in results:
        if code == 1:
            assert "another apply holds the lock on .reconcile/state.db" in err
    target = SqliteTarget(tmp_path / ".reconcile" / "state.db")
    try:
        assert [p.name for p in target.observe().providers] == ["P"]
    finally:
        target.close()
