"""A target whose writes refuse to start once the watch is stopping.

SIGTERM may arrive in the middle of a heal. The executor has no way to be told to stop
from outside, but it stops starting actions at the first failure: so each write checks
the stop event first and fails with ``Stopping`` if it is set. The write already in
flight finishes (a request half-sent would leave an unknown outcome); nothing new starts.
Reads pass through: observing writes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from reconciler.core.catalog import Alias, ModelSettings
from reconciler.core.model import Capabilities, FetchResult, ModelState, Observed, ProviderSpec
from reconciler.core.target import NO_ALIASES, AliasScope, Target
from reconciler.errors import ReconcilerError

T = TypeVar("T")


class Stopping(ReconcilerError):
    """The watch is stopping: this write was not started."""


class GuardedTarget:
    """``target`` with every write checked against ``stop``; counts writes in flight."""

    def __init__(self, target: Target, stop: threading.Event) -> None:
        self._target = target
        self._stop = stop
        self._lock = threading.Lock()
        self._in_flight = 0
        self.description = target.description
        self.capabilities: Capabilities = target.capabilities

    @property
    def writing(self) -> bool:
        """True while a write is in flight."""
        with self._lock:
            return self._in_flight > 0

    def _write(self, perform: Callable[[], T]) -> T:
        with self._lock:
            # Checked under the lock: a stop seen after this point waits for this write.
            if self._stop.is_set():
                raise Stopping("not started: the watch is stopping")
            self._in_flight += 1
        try:
            return perform()
        finally:
            with self._lock:
                self._in_flight -= 1

    def observe(self, aliases: AliasScope | None = NO_ALIASES) -> Observed:
        """Everything the target holds."""
        return self._target.observe(aliases)

    def create(self, spec: ProviderSpec) -> str:
        """Create the provider, unless stopping."""
        return self._write(lambda: self._target.create(spec))

    def update(self, provider_id: str, spec: ProviderSpec, fields: tuple[str, ...]) -> None:
        """Update the provider, unless stopping."""
        self._write(lambda: self._target.update(provider_id, spec, fields))

    def rename(self, provider_id: str, spec: ProviderSpec) -> None:
        """Rename the provider, unless stopping."""
        self._write(lambda: self._target.rename(provider_id, spec))

    def set_enabled(self, provider_id: str, spec: ProviderSpec) -> None:
        """Enable or disable the provider, unless stopping."""
        self._write(lambda: self._target.set_enabled(provider_id, spec))

    def push(self, provider_id: str, spec: ProviderSpec) -> None:
        """Send what the target cannot report, unless stopping."""
        self._write(lambda: self._target.push(provider_id, spec))

    def delete(self, provider_id: str) -> None:
        """Delete the provider, unless stopping."""
        self._write(lambda: self._target.delete(provider_id))

    def fetch_models(self, provider_id: str) -> FetchResult:
        """Fetch the provider's models, unless stopping."""
        return self._write(lambda: self._target.fetch_models(provider_id))

    def list_models(self, provider_id: str) -> tuple[ModelState, ...]:
        """The provider's models."""
        return self._target.list_models(provider_id)

    def set_visibility(self, provider_id: str, model_ids: tuple[str, ...], visible: bool) -> None:
        """Show or hide models, unless stopping."""
        self._write(lambda: self._target.set_visibility(provider_id, model_ids, visible))

    def update_models(
        self, provider_id: str, changes: tuple[tuple[str, ModelSettings], ...]
    ) -> None:
        """Write model settings, unless stopping."""
        self._write(lambda: self._target.update_models(provider_id, changes))

    def create_alias(self, provider_id: str, alias: Alias) -> None:
        """Create an alias, unless stopping."""
        self._write(lambda: self._target.create_alias(provider_id, alias))

    def delete_alias(self, provider_id: str, alias: Alias) -> None:
        """Delete an alias, unless stopping."""
        self._write(lambda: self._target.delete_alias(provider_id, alias))

    def set_tier(self, tier: str, provider_id: str, model_id: str) -> None:
        """Set a tier, unless stopping."""
        self._write(lambda: self._target.set_tier(tier, provider_id, model_id))

    def run_warnings(self) -> tuple[str, ...]:
        """What the target noticed over the run (reads only)."""
        return self._target.run_warnings()

    def lock(self, timeout: float) -> AbstractContextManager[None]:
        """The target's write lock."""
        return self._target.lock(timeout)

    def close(self) -> None:
        """Close the target."""
        self._target.close()
