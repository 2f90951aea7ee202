"""Running the sandbox server: ``reconcile serve`` listens, says how to get a token, serves.

The socket is bound here, before uvicorn starts, so that port 0 can pick a free port and
the real URL be reported (``on_ready``) before the first request is answered.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.sandbox.accounts import Accounts
from reconciler.sandbox.app import create_app
from reconciler.targets.sqlite import Store


def startup_message(state: Path, url: str) -> str:
    """What ``reconcile serve`` prints once it listens: where, and how to get a token."""
    store = Store(state)
    try:
        has_admin = Accounts(store).has_admin()
    finally:
        store.close()
    lines = [f"Sandbox ClaraVerse server on {url} (state: {state})"]
    if has_admin:
        lines.append(f"A new admin token: reconcile token --state {state}")
    else:
        lines.append(
            f"No admin account yet. Create one and get its token with:\n"
            f"  reconcile token --state {state}\n"
            f"then: export CLARAVERSE_TOKEN=<that token>\n"
            f"      reconcile plan --target {url} -f providers.yaml"
        )
    return "\n".join(lines)


def serve(
    state: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "info",
) -> None:
    """Serve the sandbox over ``state`` until interrupted.

    ``port`` 0 picks a free port; ``on_ready`` receives the base URL (with the real port)
    once the socket listens, before requests are answered; connections queue meanwhile.
    """
    import uvicorn

    store = Store(state)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and with Nagle on, each keep-alive answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ReconcilerError(
                f"cannot listen on {host}:{port}: {exc.strerror}; pick another port with "
                "--port (0 picks a free one)"
            ) from None
        sock.listen(2048)
        bound = sock.getsockname()[1]
        url = f"http://[{host}]:{bound}" if family == socket.AF_INET6 else f"http://{host}:{bound}"
        if on_ready is not None:
            on_ready(url)
        config = uvicorn.Config(
            create_app(store), host=host, port=bound, log_level=log_level, ws="none"
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        store.close()
