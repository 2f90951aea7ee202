"""Targets: where provider state lives. ``open_target`` picks one from a URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reconciler.core.target import Target
from reconciler.errors import ReconcilerError

DEFAULT_TARGET = "sqlite:///.reconcile/state.db"


def _sqlite(url: str, **options: object) -> Target:
    from reconciler.targets.sqlite import SqliteTarget

    # As in SQLAlchemy: sqlite:///relative/state.db, sqlite:////absolute/state.db.
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    if not path:
        raise ReconcilerError("a sqlite target needs a path: sqlite:///path/to/state.db")
    return SqliteTarget(Path(path), **options)  # type: ignore[arg-type]


def _claraverse(url: str, **options: object) -> Target:
    from reconciler.targets.claraverse import ClaraVerseTarget

    # The embedded store's options mean nothing to a server, which fetches models itself.
    for name in ("lazy", "must_exist", "fetch_timeout", "fetch_retries"):
        options.pop(name, None)
    return ClaraVerseTarget(url, **options)


REGISTRY: dict[str, Callable[..., Target]] = {
    "sqlite": _sqlite,
    "http": _claraverse,
    "https": _claraverse,
}


def open_target(url: str | None, **options: object) -> Target:
    """The target that ``url`` names; the embedded store by default."""
    url = url or DEFAULT_TARGET
    scheme = url.split("://", 1)[0] if "://" in url else ""
    factory = REGISTRY.get(scheme)
    if factory is None:
        raise ReconcilerError(
            f"unknown target '{url}': use sqlite:///path/state.db or https://clara.example.com"
        )
    return factory(url, **options)
