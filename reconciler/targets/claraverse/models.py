"""The server's model list, and what a fetch could not store.

On a ClaraVerse server a model id exists once: a fetch stores each listed id with an
"insert, or update if the id exists" that leaves an existing id with the provider that
has it, refreshing its ``fetched_at``, while the answer's ``models_fetched`` still counts
it. So after a fetch we compare the count with what the server lists under the provider,
and name the ids whose ``fetched_at`` moved under a provider this run did not fetch.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from reconciler.core.model import ModelState
from reconciler.errors import TargetError
from reconciler.secrets import holds_secret
from reconciler.targets.claraverse.session import Session

__all__ = ["ModelList", "shared_id_warning"]

_SHOWN = 5

_Seen = tuple[str, str, str]
"""(provider id, provider name, fetched_at) of a model id."""


class ModelList:
    """``GET /api/admin/models``, remembered between calls of one run."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._lock = threading.Lock()
        # id → (provider id, provider name, fetched_at), as last listed.
        self.seen: dict[str, _Seen] = {}
        self.fetched: set[str] = set()
        # Per provider id: model ids left out because they hold a key value.
        self.withheld: dict[str, int] = {}
        # A list made right after a fetch, kept for the visibility step that follows.
        self._fresh: dict[str, tuple[ModelState, ...]] = {}
        # One list after fetches at a time; a list begun after a fetch ended serves that
        # fetch too, so parallel fetches share lists instead of each listing every model.
        self._after_fetch_lock = threading.Lock()
        self._listed_at = float("-inf")
        self._listed: dict[str, tuple[ModelState, ...]] = {}

    def refresh(self) -> dict[str, tuple[ModelState, ...]]:
        """Every model on the server, by provider id (one request)."""
        items = self._get()
        by_provider: dict[str, list[ModelState]] = {}
        seen = {}
        withheld: dict[str, int] = {}
        for m in items:
            pid = str(m.get("provider_id"))
            state = _model(m)
            if holds_secret(state.id):
                withheld[pid] = withheld.get(pid, 0) + 1
                continue
            by_provider.setdefault(pid, []).append(state)
            seen[state.id] = (pid, str(m.get("provider_name") or pid), str(m.get("fetched_at")))
        with self._lock:
            self.seen = seen
            self.withheld = withheld
        return {pid: tuple(sorted(ms, key=lambda m: m.id)) for pid, ms in by_provider.items()}

    def of(self, provider_id: str) -> tuple[ModelState, ...]:
        """The provider's models: the list made after its fetch, else a new one."""
        with self._lock:
            fresh = self._fresh.pop(provider_id, None)
        return fresh if fresh is not None else self.refresh().get(provider_id, ())

    def after_fetch(self, provider_id: str) -> tuple[dict[str, _Seen], tuple[str, ...]]:
        """(the list as it was before, the provider's ids now) around a fetch just made."""
        with self._lock:
            before = dict(self.seen)
            self.fetched.add(provider_id)
        fetched_by = time.monotonic()
        with self._after_fetch_lock:
            if self._listed_at < fetched_by:
                self._listed_at = time.monotonic()
                self._listed = self.refresh()
            models = self._listed.get(provider_id, ())
        with self._lock:
            self._fresh[provider_id] = models
        return before, tuple(m.id for m in models)

    def snapshot(self) -> tuple[dict[str, _Seen], set[str]]:
        """(the models as last listed, the providers fetched in this run)."""
        with self._lock:
            return dict(self.seen), set(self.fetched)

    def _get(self) -> list[dict[str, Any]]:
        response = self._session.call("GET", "/api/admin/models")
        body = self._session.json(response, "GET /api/admin/models")
        if body is None:  # real servers send null when there are none
            return []
        if isinstance(body, dict) and isinstance(body.get("models"), list):
            body = body["models"]
        if not isinstance(body, list):
            raise TargetError("GET /api/admin/models did not answer a list of models")
        return [m for m in body if isinstance(m, dict)]


def shared_id_warning(models: ModelList, provider_id: str, listed: int) -> str | None:
    """A warning when the server counted more models than it now lists under the
    provider: those ids stay with another provider."""
    before, ids = models.after_fetch(provider_id)
    if listed <= len(ids):
        return None
    missing = listed - len(ids)
    holders: dict[str, list[str]] = {}
    now, fetched = models.snapshot()
    for model_id, (pid, name, fetched_at) in sorted(now.items()):
        old = before.get(model_id)
        if pid != provider_id and pid not in fetched and old is not None and old[2] != fetched_at:
            holders.setdefault(name, []).append(model_id)
    message = (
        f"the upstream listed {listed} models, but the server keeps {missing} of them under "
        "another provider (a model id exists once on a ClaraVerse server, and stays with "
        "the provider that had it first)"
    )
    if holders:
        named = "; ".join(
            f"{', '.join(ids[:_SHOWN])}{' ...' if len(ids) > _SHOWN else ''} under '{name}'"
            for name, ids in sorted(holders.items())
        )
        message += f": {named}"
    return message + ". Users see those as the other provider's models."


def _model(m: dict[str, Any]) -> ModelState:
    ident = m.get("id") or m.get("name")
    visible = m.get("is_visible", m.get("visible", False))
    display = m.get("display_name")
    return ModelState(
        id=str(ident),
        display_name=display if isinstance(display, str) else None,
        visible=bool(visible),
    )
