"""What a plan is: actions in execution order, what is left alone, and its summary.

One ``Action`` type with a ``kind`` keeps plans easy to sort, render and save. An action
names its provider; it carries the ``ProviderSpec`` (and so the Secret) only where the
executor needs to send fields, and renders only names, fingerprints and variable names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from reconciler.core.catalog import Alias, ModelSettings
from reconciler.core.model import ProviderSpec

ActionKind = Literal[
    "create",
    "rename",
    "update",
    "push",
    "enable",
    "disable",
    "fetch",
    "models",
    "model_settings",
    "model_push",
    "aliases",
    "tier",
    "delete",
]

# Order of actions on one provider; deletes run after every other provider is done. The
# catalog comes after the fetch (which resets display names) and the visibility; a tier
# last, as it may name an alias created just before it.
KIND_ORDER: dict[ActionKind, int] = {
    "create": 0,
    "rename": 1,
    "update": 2,
    "push": 2,
    "enable": 3,
    "disable": 3,
    "fetch": 4,
    "models": 5,
    "model_settings": 6,
    "model_push": 6,
    "aliases": 7,
    "tier": 8,
    "delete": 9,
}

# Kinds that send values the target cannot report: listed, never counted as changes.
PUSH_KINDS: frozenset[ActionKind] = frozenset({"push", "model_push"})


@dataclass(frozen=True, kw_only=True)
class FieldChange:
    """One field changing. For ``api_key`` before/after are descriptions, never values."""

    field: str
    before: str | bool | None
    after: str | bool | None


@dataclass(frozen=True, kw_only=True)
class ModelChange:
    """One model's settings to write: ``settings`` holds the values to send, ``changes``
    how they differ from what the target reports (before None where it reports nothing)."""

    model: str
    settings: ModelSettings
    changes: tuple[FieldChange, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Action:
    """One step of a plan, on one provider."""

    kind: ActionKind
    provider: str
    provider_id: str | None = None
    spec: ProviderSpec | None = field(default=None, compare=False)
    changes: tuple[FieldChange, ...] = ()
    old_name: str | None = None
    reason: str | None = None
    model_count: int = 0
    show: tuple[str, ...] = ()
    hide: tuple[str, ...] = ()
    # models: visibility to settle after a fetch in the same run (no model list yet).
    after_fetch: bool = False
    # fetch (and the visibility after it): planned only because the last fetch failed.
    retry: bool = False
    # delete: only if the provider is still disabled when the delete runs (checked again
    # then: someone may re-enable it while the apply's other actions run).
    require_disabled: bool = False
    # model_settings / model_push: the models to write.
    model_changes: tuple[ModelChange, ...] = ()
    # aliases: deleted first, then created (an alias changes by delete + create).
    alias_delete: tuple[Alias, ...] = ()
    alias_create: tuple[Alias, ...] = ()
    # tier: the slot and the model id it gets (an alias's tier is its model's).
    tier: str | None = None
    model_id: str | None = None
    # delete: what goes with the provider besides its models.
    alias_count: int = 0
    tiers: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Summary:
    """Counts for the summary line."""

    add: int = 0
    change: int = 0
    disable: int = 0
    delete: int = 0
    fetch: int = 0

    def line(self) -> str:
        """``Plan: 2 to add, 1 to change, 1 to disable, 0 to delete, 3 model fetches.``"""
        fetches = "model fetch" if self.fetch == 1 else "model fetches"
        return (
            f"Plan: {self.add} to add, {self.change} to change, {self.disable} to disable, "
            f"{self.delete} to delete, {self.fetch} {fetches}."
        )


@dataclass(frozen=True, kw_only=True)
class Kept:
    """A provider on the target that no file declares and that --prune never deletes."""

    name: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Plan:
    """The actions that make the target match the files, and what the diff noticed."""

    actions: tuple[Action, ...]
    unmanaged: tuple[str, ...] = ()
    # Providers no file declares that --prune never deletes, each with the reason.
    kept: tuple[Kept, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def changes(self) -> tuple[Action, ...]:
        """The actions that make the target match the files: all but the pushes of values it
        cannot report and the retries of fetches that failed."""
        return tuple(a for a in self.actions if a.kind not in PUSH_KINDS and not a.retry)

    @property
    def retries(self) -> tuple[Action, ...]:
        """Model fetches planned again because the last one failed."""
        return tuple(a for a in self.actions if a.retry and a.kind == "fetch")

    @property
    def pushes(self) -> tuple[Action, ...]:
        """Declared values sent to providers with no other write (the target cannot report
        them, so whether they differ is unknown)."""
        return tuple(a for a in self.actions if a.kind in PUSH_KINDS)

    @property
    def is_empty(self) -> bool:
        """True when the target matches the files as far as it can tell."""
        return not self.changes

    def summary(self) -> Summary:
        """How many providers are added, changed, disabled, deleted, and fetches."""
        # Visibility settled after a fetch is part of that fetch, counted there: it may
        # change nothing, and a retried fetch alone is not a provider "to change".
        changed = {
            a.provider
            for a in self.actions
            if a.kind in ("rename", "update", "enable", "aliases", "tier")
            or (a.kind in ("models", "model_settings") and not a.after_fetch)
        }
        created = {a.provider for a in self.actions if a.kind == "create"}
        return Summary(
            add=len(created),
            change=len(changed - created),
            disable=sum(1 for a in self.actions if a.kind == "disable"),
            delete=sum(1 for a in self.actions if a.kind == "delete"),
            fetch=sum(1 for a in self.changes if a.kind == "fetch"),
        )


def group(actions: Iterable[Action]) -> tuple[list[list[Action]], list[Action]]:
    """Split actions into per-provider chains and the final deletes."""
    chains: dict[str, list[Action]] = {}
    deletes: list[Action] = []
    for action in actions:
        if action.kind == "delete":
            deletes.append(action)
        else:
            chains.setdefault(action.provider, []).append(action)
    ordered = [sorted(c, key=lambda a: KIND_ORDER[a.kind]) for c in chains.values()]
    return ordered, deletes


def count_models(count: int) -> str:
    """ "1 model", "37 models"."""
    return f"{count} model" if count == 1 else f"{count} models"


def sort_actions(actions: Iterable[Action]) -> tuple[Action, ...]:
    """Deterministic order: providers by name, each provider's actions in execution order,
    deletes last."""
    return tuple(
        sorted(
            actions,
            key=lambda a: (
                a.kind == "delete",
                a.provider.casefold(),
                a.provider,
                KIND_ORDER[a.kind],
            ),
        )
    )


@dataclass(frozen=True, kw_only=True)
class Options:
    """How the diff should treat deletes, keys and fetches."""

    prune: bool = False
    allow_delete_enabled: bool = False
    allow_empty: bool = False
    refetch: bool = False

    def for_recheck(self) -> Options:
        """The options of the check after an apply: a refetch is done once,
        and planning it again would make every such apply look unconverged."""
        return replace(self, refetch=False)


DEFAULT_OPTIONS = Options()


# skipped: not attempted (after a failure, or Ctrl-C); abandoned: still running when a
# second Ctrl-C stopped the wait for it, so its outcome is unknown.
Status = Literal["done", "failed", "warning", "skipped", "abandoned"]


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What happened to one action."""

    action: Action
    status: Status
    message: str = ""


@dataclass(kw_only=True)
class Report:
    """Everything an apply did, in plan order."""

    outcomes: list[Outcome] = field(default_factory=list)
    converged: bool | None = None
    remaining: Plan | None = None
    # Why the target could not be observed again after the actions, if it could not.
    recheck_error: str | None = None
    # The user stopped the apply (Ctrl-C): the target was not observed again.
    interrupted: bool = False
    # What the target noticed over the whole run that no single action could.
    warnings: list[str] = field(default_factory=list)

    def by_status(self, status: Status) -> list[Outcome]:
        """Outcomes with this status."""
        return [o for o in self.outcomes if o.status == status]

    @property
    def failed(self) -> bool:
        """True when an action failed (fetch warnings do not count)."""
        return any(o.status == "failed" for o in self.outcomes)


def only_fetches_remain(report: Report) -> bool:
    """True when all that remains is model fetches (which failed and will be retried)."""
    return report.remaining is not None and all(
        a.kind in ("fetch", "models") for a in report.remaining.changes
    )
