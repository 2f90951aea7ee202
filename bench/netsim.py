"""A simulated network on loopback: a delaying TCP proxy and a tiny OpenAI-compatible upstream.

Both run on one asyncio event loop in a daemon thread (``Network``), on 127.0.0.1 and ports
the OS picks. They speak just enough HTTP/1.1 to find where each request starts:

- ``DelayProxy`` sits in front of the sandbox server. It reads each request's head from the
  client, waits ``delay`` seconds once (the round trip of a real network, paid per request,
  not per TCP segment), then forwards the head and the ``Content-Length`` body. Answers flow
  back untouched. It counts the requests it forwarded, by method and route.
- With a ``RateLimiter``, the proxy also plays a real ClaraVerse server's rate limit on
  ``/api``: a fixed window per client, and past its allowance the server's own 429 answer
  (the delay in the JSON body, no ``Retry-After`` header), given without forwarding.
- ``Upstream`` answers ``GET /v1/models`` with ``{"object": "list", "data": [...]}`` when
  the ``Authorization: Bearer`` key is the expected one (401 otherwise, 404 elsewhere), like
  an OpenAI-compatible server, and counts the listings it served.

Everything is bounded: a fixed number of connections at once, an idle timeout on every read,
and ``Network.close`` cancels what is left and joins the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["DelayProxy", "Network", "RateLimiter", "Upstream", "route_of"]

HOST = "127.0.0.1"
MAX_CONNECTIONS = 512
IDLE_TIMEOUT = 60.0  # seconds a connection may stay silent before it is dropped
CALL_TIMEOUT = 10.0  # seconds the calling thread waits for the loop to start or stop a server
_MAX_HEAD = 64 * 1024
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")

T = TypeVar("T")
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def route_of(path: str) -> str:
    """The route of a request path: query dropped, numeric ids as ``{id}``."""
    return _ID_SEGMENT.sub("/{id}", path.split("?", 1)[0])


class Network:
    """An event loop in a daemon thread that hosts the proxies and the upstream."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="netsim", daemon=True)
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task[Any]] = set()
        self._slots: asyncio.Semaphore | None = None

    def __enter__(self) -> Network:
        self._thread.start()
        self._slots = self.call(self._make_semaphore())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    async def _make_semaphore() -> asyncio.Semaphore:
        return asyncio.Semaphore(MAX_CONNECTIONS)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def listen(self, handler: Handler) -> tuple[asyncio.Server, int]:
        """Serve ``handler`` on 127.0.0.1 and a free port; returns the server and the port."""

        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None and self._slots is not None
            self._connections.add(task)
            try:
                async with self._slots:
                    _nodelay(writer)
                    await handler(reader, writer)
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                TimeoutError,
                ValueError,
            ):
                pass  # a peer that hung up or spoke nonsense: drop the connection
            finally:
                writer.close()
                self._connections.discard(task)

        async def start() -> asyncio.Server:
            return await asyncio.start_server(tracked, HOST, 0, limit=_MAX_HEAD)

        server = self.call(start())
        self._servers.append(server)
        return server, int(server.sockets[0].getsockname()[1])

    def stop_server(self, server: asyncio.Server) -> None:
        """Stop accepting on ``server`` (its open connections end by themselves)."""

        async def stop() -> None:
            server.close()

        if not self._loop.is_closed():
            self.call(stop())

    def close(self) -> None:
        """Close every server and connection, stop the loop and join its thread."""
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            for server in self._servers:
                server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

        try:
            if self._thread.is_alive():
                self.call(shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CALL_TIMEOUT)
            if not self._thread.is_alive():
                self._loop.close()


class _Counts:
    """A thread-safe counter of requests by ``METHOD route``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def take(self) -> Counter[str]:
        """The counts since the last ``take``, which resets them."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts


class RateLimiter:
    """A fixed-window limit per client, as real ClaraVerse servers put on ``/api``.

    A client's window opens with its first request and lasts ``window`` seconds; within it
    the first ``requests`` pass and the rest are refused. The refusal is the server's own:
    ``429 {"error": "Too many requests. Please slow down.", "retry_after": <window>}``,
    the delay in the body only (real servers send 60 with a 60-second window).
    """

    def __init__(
        self, requests: int, window: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.requests = requests
        self.window = window
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # client -> (window ends, hits)
        body = json.dumps({"error": "Too many requests. Please slow down.", "retry_after": window})
        self.answer = (
            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n{body}"
        ).encode()

    @staticmethod
    def limits(route: str) -> bool:
        """Whether the route is under the limit: the API, not the server's other pages."""
        return route == "/api" or route.startswith("/api/")

    def allow(self, client: str) -> bool:
        """Count a request of ``client``; False when its window has no room left. Called on
        the network's loop only."""
        now = self._clock()
        ends, hits = self._windows.get(client, (0.0, 0))
        if now >= ends:
            ends, hits = now + self.window, 0
        self._windows[client] = (ends, hits + 1)
        return hits < self.requests


class DelayProxy:
    """A TCP proxy to ``127.0.0.1:target_port`` that delays every HTTP request once and,
    with a ``limiter``, answers 429 itself to a client past its allowance on ``/api``."""

    def __init__(
        self,
        network: Network,
        target_port: int,
        delay: float,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.delay = delay
        self.limiter = limiter
        self.target_port = target_port
        self.counts = _Counts()  # requests forwarded to the server
        self.limited = _Counts()  # requests answered 429 by the limiter
        self.connections = _Counts()
        self._network = network
        self._server, self.port = network.listen(self._connection)
        self.url = f"http://{HOST}:{self.port}"

    def close(self) -> None:
        """Stop accepting connections."""
        self._network.stop_server(self._server)

    async def _connection(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        self.connections.add("accepted")
        server_r, server_w = await asyncio.wait_for(
            asyncio.open_connection(HOST, self.target_port, limit=_MAX_HEAD), IDLE_TIMEOUT
        )
        _nodelay(server_w)
        up = asyncio.ensure_future(self._requests(client_r, client_w, server_w))
        down = asyncio.ensure_future(_pipe(server_r, client_w))
        try:
            # HTTP/1.1 clients close the whole connection; either side ending ends both.
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            up.cancel()
            down.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            server_w.close()

    async def _requests(
        self,
        reader: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        writer: asyncio.StreamWriter,
    ) -> None:
        peer = client_w.get_extra_info("peername")
        client = str(peer[0]) if peer else "?"  # real servers limit by client address
        while True:
            try:
                head = await _read_head(reader)
            except asyncio.IncompleteReadError:
                return  # the client closed the connection between requests
            await asyncio.sleep(self.delay)  # the network's round trip, once per request
            method, path, length = _parse_head(head)
            body = (
                await asyncio.wait_for(reader.readexactly(length), IDLE_TIMEOUT) if length else b""
            )
            route = route_of(path)
            key = f"{method} {route}"
            limiter = self.limiter
            if limiter is not None and limiter.limits(route) and not limiter.allow(client):
                self.limited.add(key)
                # Safe to answer on the client's side: HTTP/1.1 clients (httpx, curl) send
                # the next request only once the previous answer has arrived in full.
                client_w.write(limiter.answer)
                await client_w.drain()
                continue
            self.counts.add(key)
            writer.write(head + body)
            await writer.drain()


class Upstream:
    """An OpenAI-compatible model listing at ``{url}/v1/models``."""

    def __init__(self, network: Network, models: list[str], api_key: str) -> None:
        self.models = models
        self.counts = _Counts()
        self._body = json.dumps(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1715367049, "owned_by": "bench"}
                    for m in models
                ],
            }
        ).encode()
        self._auth = f"bearer {api_key}".encode()
        self._network = network
        self._server, self.port = network.listen(self._connection)
        self.url = f"http://{HOST}:{self.port}"
        self.base_url = f"{self.url}/v1"

    def close(self) -> None:
        """Stop accepting connections."""
        self._network.stop_server(self._server)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await _read_head(reader)
            except asyncio.IncompleteReadError:
                return
            method, path, length = _parse_head(head)
            if length:
                await asyncio.wait_for(reader.readexactly(length), IDLE_TIMEOUT)
            self.counts.add(f"{method} {route_of(path)}")
            if method != "GET" or route_of(path) != "/v1/models":
                status, body = "404 Not Found", b'{"error": {"message": "not found"}}'
            elif _header(head, b"authorization").lower() != self._auth:
                status, body = "401 Unauthorized", b'{"error": {"message": "bad key"}}'
            else:
                status, body = "200 OK", self._body
            writer.write(
                f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    """The next request head (through the blank line); IncompleteReadError at EOF."""
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)


def _parse_head(head: bytes) -> tuple[str, str, int]:
    """(method, path, body length) of a request head; ValueError for what we cannot frame."""
    method, path, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    if _header(head, b"transfer-encoding"):
        raise ValueError("chunked request bodies are not supported by the bench proxy")
    length = _header(head, b"content-length")
    return method, path, int(length) if length else 0


def _header(head: bytes, name: bytes) -> bytes:
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return b""


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        data = await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT)
        if not data:
            return
        writer.write(data)
        await writer.drain()


def _nodelay(writer: asyncio.StreamWriter) -> None:
    # Small writes must leave at once: Nagle plus delayed ACKs would add ~40 ms per answer.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
