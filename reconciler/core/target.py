"""The Target protocol: observe everything in one pass, then change one provider at a time.

Targets are looked up by URL scheme in ``targets.REGISTRY``. Each declares in its
``capabilities`` what it can observe; the diff compares nothing else.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from reconciler.core.catalog import Alias, ModelSettings
from reconciler.core.model import Capabilities, FetchResult, ModelState, Observed, ProviderSpec


@dataclass(frozen=True)
class AliasScope:
    """Whose aliases a target that lists them per model reads: the models the file's
    aliases name (casefolded ids), and every visible model of the providers whose entry
    declares ``aliases`` (names, the old ones of a rename too; ``aliases: {}`` counts)."""

    models: frozenset[str] = frozenset()
    providers: frozenset[str] = frozenset()


# Read no alias: what observing costs when the file declares none.
NO_ALIASES = AliasScope()


class Target(Protocol):
    """Where provider state lives: the embedded store, or a ClaraVerse server."""

    description: str
    capabilities: Capabilities

    def observe(self, aliases: AliasScope | None = NO_ALIASES) -> Observed:
        """Everything the target holds, in a fixed number of requests. A target that lists
        aliases per model reads those ``aliases`` scopes and says which models it read in
        ``Observed.aliases_read_for``; None asks for every alias (export). Other targets
        read every alias."""
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

    def update_models(
        self, provider_id: str, changes: tuple[tuple[str, ModelSettings], ...]
    ) -> None:
        """Write the settings that are not None of each (model id, settings); nothing else
        of those models changes."""
        ...

    def create_alias(self, provider_id: str, alias: Alias) -> None:
        """Create the alias under the provider (its model must exist)."""
        ...

    def delete_alias(self, provider_id: str, alias: Alias) -> None:
        """Delete the provider's alias of that name; TargetError if the target cannot."""
        ...

    def set_tier(self, tier: str, provider_id: str, model_id: str) -> None:
        """Put the provider's model in the tier slot (replacing its occupant)."""
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
