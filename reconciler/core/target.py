"""The Target protocol: observe everything in one pass, then change one provider at a time.

Targets are looked up by URL scheme in ``targets.REGISTRY``. Each declares in its
``capabilities`` what it can observe; the diff compares nothing else.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from reconciler.core.model import Capabilities, FetchResult, ModelState, Observed, ProviderSpec


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
        """Set ``fields`` (type, base_url, api_key, settings) of the provider from ``spec``;
        a target that cannot report some fields sends those as declared too."""
        ...

    def rename(self, provider_id: str, spec: ProviderSpec) -> None:
        """Rename in place to ``spec.name``: the provider keeps its id and its models. A
        target that cannot rename raises TargetError saying so."""
        ...

    def set_enabled(self, provider_id: str, spec: ProviderSpec) -> None:
        """Enable or disable the provider as ``spec.enabled`` says."""
        ...

    def push(self, provider_id: str, spec: ProviderSpec) -> None:
        """Send the declared values this target cannot report (keys, some settings)."""
        ...

    def delete(self, provider_id: str) -> None:
        """Delete the provider and its models."""
        ...

    def fetch_models(self, provider_id: str) -> FetchResult:
        """List the provider's models upstream and store them. FetchError on failure,
        recorded so that the next plan fetches again."""
        ...

    def list_models(self, provider_id: str) -> tuple[ModelState, ...]:
        """The provider's models as the target has them now."""
        ...

    def set_visibility(self, provider_id: str, model_ids: tuple[str, ...], visible: bool) -> None:
        """Show or hide these models of the provider, in one request."""
        ...

    def run_warnings(self) -> tuple[str, ...]:
        """What the target noticed over the run that no single action could; called once,
        after the actions (a ClaraVerse server: model ids it kept under another provider)."""
        ...

    def lock(self, timeout: float) -> AbstractContextManager[None]:
        """Hold the target's write lock for an apply (a no-op where there is none)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
