"""Targets: where provider state lives. ``open_target`` picks one from a URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import ReconcilerError
from reconciler.targets.base import DEFAULT_TIMEOUT, TargetOptions

if TYPE_CHECKING:  # the CLI reads TargetOptions here before it knows it needs a target
    from reconciler.core.target import Target

__all__ = ["DEFAULT_TARGET", "REGISTRY", "TargetOptions", "open_target"]

DEFAULT_TARGET = "sqlite:///.reconcile/state.db"

_SERVER_ONLY = "to a ClaraVerse server only: the embedded target is a local file"
_EMBEDDED_ONLY = "to the embedded target only: a ClaraVerse server fetches models itself"


def _sqlite(url: str, options: TargetOptions) -> Target:
    from reconciler.targets.sqlite import SqliteTarget

    # As in SQLAlchemy: sqlite:///relative/state.db, sqlite:////absolute/state.db.
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    if not path:
        raise ReconcilerError("--target: a sqlite target needs a path: sqlite:///path/state.db")
    options.refuse(("--ca-cert", "--timeout", "--max-rate"), _SERVER_ONLY)
    return SqliteTarget(
        Path(path),
        lazy=options.lazy,
        must_exist=options.must_exist,
        fetch_timeout=options.fetch_timeout,
        fetch_retries=options.fetch_retries,
    )


def _claraverse(url: str, options: TargetOptions) -> Target:
    from reconciler.targets.claraverse import ClaraVerseTarget
    from reconciler.upstream.pacing import Pacer

    options.refuse(("--fetch-timeout", "--fetch-retries"), _EMBEDDED_ONLY)
    return ClaraVerseTarget(
        url,
        ca_cert=options.ca_cert,
        parallelism=options.parallelism,
        timeout=DEFAULT_TIMEOUT if options.timeout is None else options.timeout,
        pacer=Pacer(max_per_minute=options.max_rate, on_wait=options.on_wait),
    )


REGISTRY: dict[str, Callable[[str, TargetOptions], Target]] = {
    "sqlite": _sqlite,
    "http": _claraverse,
    "https": _claraverse,
}


def open_target(url: str | None, options: TargetOptions | None = None) -> Target:
    """The target that ``url`` names (the embedded store by default), opened with ``options``."""
    url = url or DEFAULT_TARGET
    scheme = url.split("://", 1)[0] if "://" in url else ""
    factory = REGISTRY.get(scheme)
    if factory is None:
        from reconciler.core.model import redact_url

        raise ReconcilerError(
            f"--target {redact_url(url)}: unknown kind of target; use sqlite:///path/state.db "
            "or https://clara.example.com"
        )
    return factory(url, options or TargetOptions())
