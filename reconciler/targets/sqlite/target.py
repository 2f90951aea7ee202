"""The embedded target: the Target protocol over a ``Store``.

It observes everything the store holds (key fingerprints included, so key rotations show),
holds a file lock for a whole apply, and fetches models from upstream itself. Observing
opens the store read-only; with ``lazy`` the store file is made by the first write only.
"""

from __future__ import annotations

import contextlib
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.core.catalog import MODEL_SETTING_NAMES, Alias, ModelSettings
from reconciler.core.model import (
    SETTING_NAMES,
    Capabilities,
    FetchResult,
    KeyState,
    ModelState,
    Observed,
    ProviderSpec,
    ProviderState,
)
from reconciler.core.target import NO_ALIASES, AliasScope
from reconciler.errors import TargetError
from reconciler.targets.base import DEFAULT_FETCH_RETRIES, DEFAULT_FETCH_TIMEOUT
from reconciler.targets.sqlite.catalog import model_state
from reconciler.targets.sqlite.lock import FileLock
from reconciler.targets.sqlite.migrations import MIGRATIONS
from reconciler.targets.sqlite.refresh import FetchClient, refresh_models
from reconciler.targets.sqlite.store import ProviderRow, Store
from reconciler.targets.sqlite.storefile import make_private, probe

CAPABILITIES = Capabilities(
    observes=frozenset({"type", "base_url", "enabled", "api_key", "models", *SETTING_NAMES}),
    key_fingerprints=True,
    lists_models=True,
    model_settings=frozenset(MODEL_SETTING_NAMES),
    tiers_by_display_name=False,
)


class SqliteTarget:
    """The embedded target over a Store; fetches models from upstream itself.

    With ``lazy``, reading (plan, export, an apply's first observation) opens the store
    read-only: it never creates, migrates, marks or chmods it, nor changes its journal
    mode; the first write opens it for writing (made 0600 and marked, then migrated), and
    an apply's lock makes it 0600 even if nothing is written. A missing store, or an empty
    file, reads as no providers. A store from an earlier release is read as its upgrade
    will leave it (the settings it lacks at their defaults), with a note that the next
    apply that changes it upgrades it. What is not a store is refused untouched.
    """

    capabilities = CAPABILITIES

    def __init__(
        self,
        path: Path,
        *,
        lazy: bool = False,
        must_exist: bool = False,
        fetch_timeout: float | None = None,
        fetch_retries: int | None = None,
    ) -> None:
        self.path = path
        self.description = f"sqlite:///{path}"
        # lazy: the file is made by the first write, so that a plan, or an apply that is
        # refused or cancelled, leaves no store behind where there was none.
        self._store = None if lazy else Store(path)
        self._reader = _reader(path) if lazy else None
        self._store_lock = threading.Lock()
        self._lock = FileLock(path.with_name(path.name + ".lock"))
        # Plain numbers here: building FetchSettings would import httpx, which plan
        # (it never fetches) should not pay for.
        self._must_exist = must_exist
        self._fetch_timeout = fetch_timeout
        self._fetch_retries = fetch_retries
        self._fetch = FetchClient(self._fetch_settings)

    @property
    def store(self) -> Store:
        """The store opened for writing (made, private, marked, migrated) on first use."""
        with self._store_lock:  # the executor's threads may all write first at once
            if self._store is None:
                self._store = Store(self.path)
            return self._store

    def observe(self, aliases: AliasScope | None = NO_ALIASES) -> Observed:
        """Every provider with its models and aliases, and the tiers, in one read
        transaction; every alias is read, whatever ``aliases`` asks."""
        store = self._store or self._reader
        if store is None:
            if self._must_exist:
                raise TargetError(
                    f"there is no store at {self.path}; check --target (the default is "
                    ".reconcile/state.db in the working directory)"
                )
            state = "is an empty file" if self.path.exists() else "does not exist yet"
            return Observed(
                providers=(),
                capabilities=CAPABILITIES,
                notes=(
                    f"the store {self.path} {state}: apply will create it (check --target "
                    "if you expected one)",
                ),
            )
        view = store.providers_with_models()
        states = [
            _state(r, tuple(view.models.get(r.id, ())), tuple(view.aliases.get(r.id, ())))
            for r in view.providers
        ]
        return Observed(
            providers=tuple(states),
            capabilities=CAPABILITIES,
            notes=_notes(store),
            tiers=view.tiers,
            aliases_read_for=None,
        )

    def create(self, spec: ProviderSpec) -> str:
        """Insert the provider."""
        assert spec.type is not None and spec.base_url is not None
        return str(
            self.store.create_provider(
                name=spec.name,
                type=spec.type,
                base_url=spec.base_url,
                api_key=spec.api_key,
                enabled=spec.enabled,
                settings=spec.settings,
            )
        )

    def update(self, provider_id: str, spec: ProviderSpec, fields: tuple[str, ...]) -> None:
        """Set the given fields from the spec (type, base_url, api_key, enabled or a
        setting); the others keep their values."""
        values = {
            f: getattr(spec.settings, f) if f in SETTING_NAMES else getattr(spec, f) for f in fields
        }
        self.store.update_provider(int(provider_id), **values)

    def rename(self, provider_id: str, spec: ProviderSpec) -> None:
        """Rename in place."""
        self.store.update_provider(int(provider_id), name=spec.name)

    def set_enabled(self, provider_id: str, spec: ProviderSpec) -> None:
        """Enable or disable."""
        self.store.update_provider(int(provider_id), enabled=spec.enabled)

    def push(self, provider_id: str, spec: ProviderSpec) -> None:
        """Never planned: the store reports every field, so each is compared instead."""
        raise TargetError(f"provider {provider_id}: the embedded store has nothing to push")

    def delete(self, provider_id: str) -> None:
        """Delete the provider and its models."""
        self.store.delete_provider(int(provider_id))

    def fetch_models(self, provider_id: str) -> FetchResult:
        """List models upstream and store them; record the error on failure."""
        row = self.store.provider(int(provider_id))
        if row is None:
            raise TargetError(f"provider {provider_id} not found")
        settings, client = self._fetch.get()
        return refresh_models(self.store, row, settings=settings, client=client)

    def _fetch_settings(self) -> Any:
        """The fetch settings the options give, or the defaults ``--help`` shows (made on
        the first fetch)."""
        from reconciler.upstream import discovery

        timeout = DEFAULT_FETCH_TIMEOUT if self._fetch_timeout is None else self._fetch_timeout
        retries = DEFAULT_FETCH_RETRIES if self._fetch_retries is None else self._fetch_retries
        settings = discovery.FetchSettings()
        retry = replace(settings.retry, max_attempts=retries + 1)
        return replace(
            settings,
            read_timeout=timeout,
            connect_timeout=min(settings.connect_timeout, timeout),
            retry=retry,
        )

    def list_models(self, provider_id: str) -> tuple[ModelState, ...]:
        """The provider's models now."""
        store = self._store or self._reader or self.store
        return tuple(model_state(m) for m in store.models(int(provider_id)))

    def set_visibility(self, provider_id: str, model_ids: tuple[str, ...], visible: bool) -> None:
        """Show or hide models."""
        self.store.set_visibility(int(provider_id), model_ids, visible)

    def update_models(
        self, provider_id: str, changes: tuple[tuple[str, ModelSettings], ...]
    ) -> None:
        """Write the declared settings of each model, in one transaction."""
        self.store.catalog.update_models(int(provider_id), changes)

    def create_alias(self, provider_id: str, alias: Alias) -> None:
        """Create the alias; its model must be one of the provider's."""
        self.store.catalog.create_alias(int(provider_id), alias)

    def delete_alias(self, provider_id: str, alias: Alias) -> None:
        """Delete the provider's alias of that name (whatever its case)."""
        if not self.store.catalog.delete_alias(int(provider_id), alias.name):
            raise TargetError(f"provider {provider_id} has no alias named '{alias.name}'")

    def set_tier(self, tier: str, provider_id: str, model_id: str) -> None:
        """Put the provider's model in the tier slot, replacing its occupant."""
        self.store.catalog.set_tier(tier, int(provider_id), model_id)

    def run_warnings(self) -> tuple[str, ...]:
        """Nothing: every fetch says what it found."""
        return ()

    @contextlib.contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        """The store's file lock, held for a whole apply; the store made private first."""
        with self._lock.hold(timeout):
            # Even an apply that writes nothing must not leave keys in a file others can
            # read (a store touched, or restored from a cache, with a looser mode).
            if probe(self.path) != "missing":
                make_private(self.path)
            yield

    def close(self) -> None:
        """Close the store and the fetch client."""
        self._fetch.close()
        for store in (self._reader, self._store):
            if store is not None:
                store.close()


def _reader(path: Path) -> Store | None:
    """The store at ``path`` opened read-only; None if there is none yet."""
    if probe(path) != "store":
        return None
    reader = Store(path, read_only=True)
    if reader.pending == len(MIGRATIONS):  # marked, but killed before its first table
        reader.close()
        return None
    return reader


def _notes(store: Store) -> tuple[str, ...]:
    """What plan should say about the store file itself."""
    notes = []
    if store.pending:
        notes.append(
            f"the store {store.path} was written by an earlier reconciler: the next apply "
            "that changes it upgrades it first (until then, settings it lacks read as their "
            "defaults)"
        )
    mode = stat.S_IMODE(store.path.stat().st_mode)
    if mode & 0o077:
        notes.append(
            f"the store {store.path} is readable by others (mode {mode:04o}): apply will "
            "make it private (0600)"
        )
    return tuple(notes)


def _state(
    row: ProviderRow, models: tuple[ModelState, ...], aliases: tuple[Alias, ...]
) -> ProviderState:
    """A provider row as the Target protocol reports it."""
    return ProviderState(
        id=str(row.id),
        name=row.name,
        type=row.type,  # type: ignore[arg-type]
        base_url=row.base_url,
        enabled=row.enabled,
        key=KeyState(present=bool(row.api_key), salt=row.key_salt, fingerprint=row.key_fingerprint),
        settings=row.settings,
        models=models,
        model_count=len(models),
        fetched=row.fetched_at is not None,
        last_fetch_error=row.last_fetch_error,
        aliases=aliases,
    )
