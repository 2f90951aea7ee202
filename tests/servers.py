"""Run an ASGI app in a real uvicorn server, in a thread, for the length of a test.

    with running(app) as url:          # "http://127.0.0.1:54321"
        httpx.get(f"{url}/health")

Tests talk to real servers over loopback (docs/architecture.md), the way httpx tests itself:
the server runs in a daemon thread, on a port the OS picks (port 0, so parallel runs never
collide), and the context manager returns only once it accepts connections. On exit it asks
the server to stop and waits for it, so that no socket or event loop is left behind for a
ResourceWarning under ``filterwarnings = error``.

Signals: uvicorn installs its SIGINT/SIGTERM handlers only when it runs in the main thread
(``Server.capture_signals`` in uvicorn 0.54, which has no ``install_signal_handlers``
option any more), so a server in a thread leaves Ctrl-C to pytest.

Each start and stop costs about 0.2 s (uvicorn's shutdown polls every 0.1 s): share one
server per module where the app lets a test reset its state.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

__all__ = ["running"]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


@contextmanager
def running(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    certfile: str | None = None,
    keyfile: str | None = None,
) -> Iterator[str]:
    """Serve ``app`` on ``host`` and a free port; yield its base URL, without a slash.
    With ``certfile`` and ``keyfile`` it speaks HTTPS."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # Binding here rather than letting uvicorn do it tells us the port before it starts.
        sock.bind((host, 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            # None: leave the process's logging alone (uvicorn's default dictConfig would
            # replace pytest's handlers); uvicorn's errors still reach pytest's capture.
            log_config=None,
            log_level="warning",
            access_log=False,
            # Nothing here speaks websockets; "auto" would import a websockets library
            # that may warn about deprecations.
            ws="none",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn:{port}", daemon=True
        )
        thread.start()
        try:
            _wait_started(server, thread)
            url_host = f"[{host}]" if family == socket.AF_INET6 else host
            scheme = "https" if certfile else "http"
            yield f"{scheme}://{url_host}:{port}"
        finally:
            _stop(server, thread)
    finally:
        # uvicorn closes the socket on shutdown; this covers a server that never started.
        sock.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server exited while starting (see the log above)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start within {_START_TIMEOUT:g} s")
        time.sleep(0.01)


def _stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(_STOP_TIMEOUT)
    if thread.is_alive():
        # A handler that never returns: stop waiting for it rather than hang the run.
        server.force_exit = True
        thread.join(_STOP_TIMEOUT)
    if thread.is_alive():
        raise RuntimeError("the test server did not stop")
