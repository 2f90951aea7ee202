"""An ASGI middleware in front of the sandbox server: counts requests, injects faults.

Faults are what a real network and a real server do to a client, made on purpose:

    "500"          answer 500 without calling the server (the write did not happen)
    "lose-answer"  let the server do the work, then hold the answer longer than the
                   client waits (the client times out; the write happened)
    "drop"         let the server do the work, then close the connection mid-answer
    "gateway-502"  let the server do the work, then answer 502 as a proxy that lost it
    "401"          answer 401 as an expired token would (the write did not happen)
    "400", ...     any other status, without calling the server

A rule matches the Nth request (1-based) whose method and path match; it fires once.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Rule:
    """Inject ``fault`` into the ``nth`` request matching ``method`` and ``path`` (a regex)."""

    fault: str
    method: str = "POST"
    path: str = r"^/api/admin/providers$"
    nth: int = 1
    seen: int = 0
    fired: bool = False


@dataclass
class Faults:
    """The middleware: wrap an app, then read ``requests`` and add ``rules``."""

    app: ASGIApp
    lose_seconds: float = 2.0
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[tuple[str, str, int]]:
        """Requests that could change something (not GET, not auth)."""
        with self._lock:
            return [r for r in self.requests if r[0] != "GET" and not r[1].startswith("/api/auth")]

    def clear(self) -> None:
        """Forget recorded requests and rules."""
        with self._lock:
            self.requests.clear()
            self.rules.clear()

    def _fault_for(self, method: str, path: str) -> str | None:
        with self._lock:
            for rule in self.rules:
                if rule.fired or rule.method != method or not re.search(rule.path, path):
                    continue
                rule.seen += 1
                if rule.seen == rule.nth:
                    rule.fired = True
                    return rule.fault
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        fault = self._fault_for(method, path)
        status: list[int] = []

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        if fault is not None and fault.isdigit():
            code = int(fault)
            await _json(send, code, {"error": "Token expired" if code == 401 else "injected fault"})
            status.append(code)
        elif fault == "gateway-502":

            async def discard(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])

            await self.app(scope, receive, discard)
            await _json(send, 502, {"error": "Bad Gateway"})
        elif fault in ("lose-answer", "drop"):
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self.app(scope, receive, hold)
            status.append(held[0]["status"])
            self._record(method, path, status[0])  # the work is done, whatever follows
            if fault == "lose-answer":
                await asyncio.sleep(self.lose_seconds)
                for message in held:
                    await send(message)
            else:
                start = dict(held[0])
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                start["headers"] = [*headers, (b"content-length", b"1000")]
                await send(start)
                raise ConnectionAbortedError("injected: connection dropped mid-answer")
            return
        else:
            await self.app(scope, receive, recording_send)
        self._record(method, path, status[0] if status else 0)

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))


async def _json(send: Send, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
