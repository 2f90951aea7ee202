"""The server's model list, and what a fetch could not store.

On a ClaraVerse server a model id exists once: a fetch stores each listed id with an
"insert, or update if the id exists" that leaves an existing id with the provider that
has it, refreshing its ``fetched_at``, while the answer's ``models_fetched`` still counts
it. So after a fetch we compare the count with what the server lists under the provider,
and name the ids whose ``fetched_at`` moved under a provider this run did not fetch.
"""

from __future__ import annotations

import threading
from typing import Any

from reconciler.core.model import ModelState
from reconciler.errors import TargetError
from reconciler.secrets import holds_secret
from reconciler.targets.claraverse.catalog import reported_settings
from reconciler.targets.claraverse.session import Session

__all__ = ["ModelList", "shared_id_warnings"]

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
        # Per provider id: model ids left out because they hold a key value.
        self.withheld: dict[str, int] = {}
        # Per provider fetched in this run (its keys: the providers fetched): how many
        # models the server said it listed.
        self.listed: dict[str, int] = {}
        # The models as the run first saw them (before any fetch of it).
        self.before: dict[str, _Seen] | None = None

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
            if self.before is None:
                self.before = seen
            self.seen = seen
            self.withheld = withheld
        return {pid: tuple(sorted(ms, key=lambda m: m.id)) for pid, ms in by_provider.items()}

    def of(self, provider_id: str) -> tuple[ModelState, ...]:
        """The provider's models now (one request)."""
        return self.refresh().get(provider_id, ())

    def fetched_now(self, provider_id: str, listed: int) -> None:
        """Record a fetch of this run and the count its answer gave."""
        with self._lock:
            self.listed[provider_id] = listed

    def run_view(self) -> tuple[dict[str, int], dict[str, _Seen], dict[str, _Seen]]:
        """(the fetches of this run and their counts, the models as first seen in the run,
        the models as last listed), read together."""
        with self._lock:
            return dict(self.listed), dict(self.before or {}), dict(self.seen)

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


def shared_id_warnings(models: ModelList) -> tuple[str, ...]:
    """For each provider fetched in this run whose server counted more models than it now
    lists under it: a warning that those ids stay with another provider."""
    listed, before, _ = models.run_view()
    if not listed:
        return ()
    by_provider = models.refresh()
    _, _, now = models.run_view()
    fetched = set(listed)
    names = {pid: name for pid, name, _ in now.values()}
    out = []
    holders: dict[str, list[str]] | None = None  # the same for every provider: once
    for pid, count in sorted(listed.items()):
        have = len(by_provider.get(pid, ()))
        if count > have:
            holders = _holders(now, before, fetched) if holders is None else holders
            out.append(_shared_message(names.get(pid, pid), count, count - have, holders))
    return tuple(out)


def _holders(
    now: dict[str, _Seen], before: dict[str, _Seen], fetched: set[str]
) -> dict[str, list[str]]:
    """Ids whose fetched_at moved during the run under a provider the run did not fetch:
    another provider's fetch listed them (a fetch refreshes an existing id's fetched_at)."""
    holders: dict[str, list[str]] = {}
    for model_id, (pid, name, fetched_at) in sorted(now.items()):
        old = before.get(model_id)
        if pid not in fetched and old is not None and old[2] != fetched_at:
            holders.setdefault(name, []).append(model_id)
    return holders


def _shared_message(name: str, listed: int, missing: int, holders: dict[str, list[str]]) -> str:
    message = (
        f"provider '{name}': the upstream listed {listed} models, but the server keeps "
        f"{missing} of them under another provider (a model id exists once on a ClaraVerse "
        "server, and stays with the provider that had it first)"
    )
    if holders:
        named = "; ".join(
            f"{', '.join(ids[:_SHOWN])}{' ...' if len(ids) > _SHOWN else ''} under '{owner}'"
            for owner, ids in sorted(holders.items())
        )
        message += f": {named}"
    return message + ". Users see those as the other provider's models."


def _model(m: dict[str, Any]) -> ModelState:
    ident = m.get("id") or m.get("name")
    visible = m.get("is_visible", m.get("visible", False))
    return ModelState(id=str(ident), visible=bool(visible), settings=reported_settings(m))
