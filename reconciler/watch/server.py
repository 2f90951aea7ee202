"""``--listen``: the status page, ``/healthz``, ``/readyz`` and ``/metrics`` over HTTP.

Python's own ``http.server`` (a thread per connection), not Starlette and uvicorn: four
read-only GETs with no request body need no framework, start and stop in milliseconds,
run no event loop beside the watch's thread, and cost no import. prometheus_client's own
``start_http_server`` is built the same way. Each answer is computed from the loop's
latest snapshot, which is immutable: no lock is held while a client reads.

    GET /         the status page (HTML)
    GET /healthz  200 while the process runs
    GET /readyz   200 when the last observation worked within two intervals, else 503
    GET /metrics  the Prometheus text format
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from reconciler.errors import UsageError
from reconciler.watch import page
from reconciler.watch.logs import Log
from reconciler.watch.metrics import CONTENT_TYPE, Metrics
from reconciler.watch.state import Snapshot, is_ready

# A client that sends nothing is dropped after this long (a thread per connection).
_CLIENT_TIMEOUT = 10.0

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
}


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100``; ``:9100`` for every interface; port 0 picks one)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen {value}: expected HOST:PORT, e.g. 127.0.0.1:9100")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class StatusServer:
    """The endpoints over one snapshot source; ``start`` serves in a thread."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        view: Callable[[], Snapshot],
        metrics: Metrics,
        log: Log,
        scrub: Callable[[str], str],
    ) -> None:
        host, port = address
        handler = _handler(view=view, metrics=metrics, scrub=scrub)
        server_class = _V6Server if ":" in host else _Server
        try:
            self._server = server_class((host, port), handler)
        except OSError as exc:
            raise UsageError(f"--listen {host}:{port}: {exc.strerror or exc}") from None
        self._server.log = log
        self._log = log
        self._thread: threading.Thread | None = None
        bound = self._server.server_address
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound[1]}"

    def start(self) -> None:
        """Serve from a thread of its own."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="watch-http",
            daemon=True,
        )
        self._thread.start()
        self._log.info("listening", f"serving the status page and metrics on {self.url}")

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a client that lingers never keeps the process alive
    allow_reuse_address = True
    log: Log | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line, not socketserver's traceback on stderr; a client that went away
        is no error of ours."""
        exc = sys.exc_info()[1]
        if self.log is not None and not isinstance(exc, ConnectionError | TimeoutError):
            self.log.error("http_error", f"the status server failed: {type(exc).__name__}: {exc}")


class _V6Server(_Server):
    address_family = socket.AF_INET6


def _handler(
    *, view: Callable[[], Snapshot], metrics: Metrics, scrub: Callable[[str], str]
) -> type[BaseHTTPRequestHandler]:
    """A handler class bound to this watch's snapshot, metrics and scrubber."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "reconcile-watch"
        sys_version = ""
        timeout = _CLIENT_TIMEOUT

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def _answer(self, *, body: bool) -> None:
            path = urlsplit(self.path).path
            snapshot = view()
            if path == "/healthz":
                status, kind, data = HTTPStatus.OK, "text/plain", b"ok\n"
            elif path == "/readyz":
                status, kind, data = _readiness(snapshot)
            elif path == "/metrics":
                status, kind, data = HTTPStatus.OK, CONTENT_TYPE, metrics.exposition()
            elif path == "/":
                ready = is_ready(snapshot, time.monotonic())
                text = page.render(snapshot, ready=ready, scrub=scrub)
                status, kind, data = HTTPStatus.OK, "text/html", text.encode()
            else:
                status, kind, data = HTTPStatus.NOT_FOUND, "text/plain", b"not found\n"
            self._send(status, kind, data, body=body)

        def _send(self, status: HTTPStatus, kind: str, data: bytes, *, body: bool) -> None:
            self.send_response(status)
            content_type = kind if "charset" in kind else f"{kind}; charset=utf-8"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in _HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            if body:
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            # No access log: a scrape every few seconds would bury the watch's own lines.
            pass

    return Handler


def _readiness(snapshot: Snapshot) -> tuple[HTTPStatus, str, bytes]:
    if is_ready(snapshot, time.monotonic()):
        return HTTPStatus.OK, "text/plain", b"ready\n"
    if snapshot.last_success_monotonic is None:
        why = "the target has not been observed yet"
    else:
        why = "the target has not been observed successfully in the last two intervals"
    return HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", f"not ready: {why}\n".encode()
