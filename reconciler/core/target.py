"""The Target protocol: observe everything in one pass, then change one provider at a time.

Targets are looked up by URL scheme in ``targets.REGISTRY``. Each declares in its
``capabilities`` what it can observe; the diff compares nothing else.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from reconciler.core.model import Capabilities, ModelState, Observed, ProviderSpec


class Target(Protocol):
    """Where provider state lives: the embedded store, or a ClaraVerse server."""

    description: str
    capabilities: Capabilities

    def observe(self) -> Observed:
        """Everything the target holds, in a fixed number of requests."""
        ...

    def create(self, spec: ProviderSpec) -> str:
        """Create the provider; return its id."""
        ...

    def update(self, provider_id: str, spec: ProviderSpec, fields: tuple[str, ...]) -> None:
        """Set ``fields`` (type, base_url, api_key) of the provider from ``spec``."""
        ...

    def rename(self, provider_id: str, new_name: str) -> None:
        """Rename in place: the provider keeps its id and its models."""
        ...

    def set_enabled(self, provider_id: str, enabled: bool) -> None:
        """Enable or disable the provider."""
        ...

    def delete(self, provider_id: str) -> None:
        """Delete the provider and its models."""
        ...

    def fetch_models(self, provider_id: str) -> int:
        """List the provider's models upstream and store them; the count. FetchError on
        failure, recorded so that the next plan fetches again."""
        ...

    def list_models(self, provider_id: str) -> tuple[ModelState, ...]:
        """The provider's models as the target has them now."""
        ...

    def set_visibility(self, provider_id: str, model_ids: tuple[str, ...], visible: bool) -> None:
        """Show or hide these models of the provider, in one request."""
        ...

    def find_id(self, name: str) -> str | None:
        """The id of the provider called ``name``, if it exists (used after a lost answer)."""
        ...

    def lock(self, timeout: float) -> AbstractContextManager[None]:
        """Hold the target's write lock for an apply (a no-op where there is none)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
