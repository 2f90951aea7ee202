"""``reconcile serve``: the ClaraVerse provider API over an embedded store, a sandbox for
trying the whole flow locally."""

from __future__ import annotations

from pathlib import Path

from reconciler.commands.common import EXIT_OK, Console


def serve(*, state: str, host: str, port: int, console: Console) -> int:
    """Serve the sandbox over the store ``state`` until interrupted; EXIT_OK."""
    from reconciler.sandbox import run  # starlette and uvicorn: only when serving

    path = Path(state)

    def ready(url: str) -> None:
        console.err(run.startup_message(path, url))

    run.serve(path, host, port, on_ready=ready)
    return EXIT_OK
