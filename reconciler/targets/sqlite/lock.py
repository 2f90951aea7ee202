"""The apply lock of the embedded target: an advisory file lock next to the store.

SQLite serialises single writes, not a whole apply (observe, diff, then many writes); two
applies interleaving would each act on a state the other is changing. ``FileLock`` makes
the second one wait, or fail with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from reconciler.errors import LockError


class FileLock:
    """An exclusive advisory lock on ``<store>.lock``, across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        """Hold the lock; wait up to ``timeout`` seconds, then fail with LockError."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LockError(f"cannot create the lock file {self.path} ({os_reason(exc)})") from None
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        store = str(self.path).removesuffix(".lock")
                        raise LockError(
                            f"another apply holds the lock on {store}; wait for it to "
                            "finish, or pass --lock-timeout SECONDS to wait"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def os_reason(exc: OSError) -> str:
    """``Not a directory: 'a/b'``: what went wrong, and where."""
    reason = exc.strerror or type(exc).__name__
    return f"{reason}: '{exc.filename}'" if exc.filename else reason
