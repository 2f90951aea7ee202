"""``reconcile serve`` in a subprocess, and the requests it answered, from its access log.

Why the server is a subprocess and not uvicorn in a thread of this harness: it then has its
own interpreter (its own GIL), as a real server has, instead of competing with the proxy
and the upstream for ours. Requests are counted from its access log (uvicorn's, on by
default): a request of our own straight to the server marks the end of each stretch.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
from netsim import route_of
from procs import BenchError, clean_env, reconcile_command

SERVER_START_TIMEOUT = 30.0
MARK_TIMEOUT = 30.0
PROBE_TIMEOUT = 3.0
HTTP_TIMEOUT = 60.0

_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')
_SERVER_URL = re.compile(r"Sandbox ClaraVerse server on (?P<url>http://\S+)")

T = TypeVar("T")


@dataclass(frozen=True)
class Traffic:
    """Requests a server answered between two marks: (method, route, status) each."""

    requests: list[tuple[str, str, int]]

    @property
    def total(self) -> int:
        """How many requests."""
        return len(self.requests)

    def by_route(self) -> dict[str, int]:
        """Counts by ``METHOD route``."""
        return dict(sorted(Counter(f"{m} {r}" for m, r, _ in self.requests).items()))

    def failures(self) -> int:
        """Answers of 500 and above."""
        return sum(1 for *_, status in self.requests if status >= 500)


class SandboxServer:
    """``reconcile serve`` in a subprocess; counts requests from its access log."""

    def __init__(self, state: Path, token: str, cwd: Path) -> None:
        self.state = state
        self.token = token
        self.url = ""
        self._cwd = cwd
        self._lines: list[str] = []
        self._cursor = 0
        self._marks = 0
        self.logs_requests: bool | None = None
        self._changed = threading.Condition()
        self._proc: subprocess.Popen[bytes] | None = None
        self._readers: list[threading.Thread] = []
        self.client = httpx.Client(timeout=HTTP_TIMEOUT, headers=self.auth)  # straight to it

    @property
    def auth(self) -> dict[str, str]:
        """The admin's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}

    def __enter__(self) -> SandboxServer:
        args = [*reconcile_command(), "serve", "--state", str(self.state), "--port", "0"]
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self._cwd,
            env=clean_env(PYTHONUNBUFFERED="1"),  # access log lines arrive as written
        )
        for stream in (self._proc.stdout, self._proc.stderr):
            assert stream is not None
            reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
            reader.start()
            self._readers.append(reader)
        try:
            self.url = self._wait_for_url()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        for reader in self._readers:
            reader.join(10)

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                with self._changed:
                    self._lines.append(raw.decode(errors="replace").rstrip("\n"))
                    self._changed.notify_all()

    def _wait_until(self, found: Callable[[], T | None], what: str, timeout: float) -> T:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = found()
                if result is not None:
                    return result
                left = deadline - time.monotonic()
                assert self._proc is not None
                if left <= 0 or self._proc.poll() is not None:
                    tail = "\n".join(self._lines[-15:])
                    raise BenchError(f"reconcile serve: no {what} within {timeout:g} s:\n{tail}")
                self._changed.wait(min(left, 0.5))

    def _wait_for_url(self) -> str:
        def found() -> str | None:
            for line in self._lines:
                match = _SERVER_URL.search(line)
                if match:
                    return match["url"]
            return None

        return self._wait_until(found, "startup message", SERVER_START_TIMEOUT)

    def mark(self) -> Traffic | None:
        """The requests the server answered since the previous mark; None if it logs none.

        A request to a path of our own, straight to the server, ends the stretch: the server
        logs requests in the order it answers them, so once its line is read, every request
        answered before it has been read too.
        """
        if self.logs_requests is None:
            self.logs_requests = self._probe()
        if not self.logs_requests:
            return None
        return self._mark(MARK_TIMEOUT)

    def _probe(self) -> bool:
        """Whether the server logs requests (uvicorn's access log, on by default)."""
        try:
            self._mark(PROBE_TIMEOUT)
        except BenchError:
            return False
        return True

    def _mark(self, timeout: float) -> Traffic:
        self._marks += 1
        marker = f"/bench-mark/{self._marks}"
        self.client.get(self.url + marker)  # 404, and a line in the access log
        needle = f'"GET {marker} HTTP/'

        def found() -> int | None:
            for index in range(self._cursor, len(self._lines)):
                if needle in self._lines[index]:
                    return index
            return None

        index = self._wait_until(found, f"access log line for {marker}", timeout)
        with self._changed:
            lines = self._lines[self._cursor : index]
            self._cursor = index + 1
        requests = []
        for line in lines:
            match = _ACCESS_LINE.search(line)
            if match:
                requests.append((match["method"], route_of(match["path"]), int(match["status"])))
        return Traffic(requests)

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (0 where /proc is missing)."""
        assert self._proc is not None
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # utime and stime: fields 14 and 15 of stat(5), counted from after the ")".
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def providers(self) -> list[dict[str, Any]]:
        """The providers the server lists (straight to it, not through the proxy)."""
        response = self.client.get(self.url + "/api/admin/providers")
        response.raise_for_status()
        listed: list[dict[str, Any]] = response.json()["providers"] or []
        return listed
