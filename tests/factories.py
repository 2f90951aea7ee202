"""Small builders for the domain values, so that each test states only what it is about.

    diff(desired(spec("OpenAI", api_key="sk-1")), observed(state("OpenAI", key="sk-0")))

Defaults describe a provider that matches between file and target: the same type,
base_url, enabled flag and (absent) key, already fetched. A ``spec`` without a key on a
public URL plans no fetch (it would be refused upstream), which keeps most diffs minimal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from reconciler.core.model import (
    DEFAULT_SETTINGS,
    Capabilities,
    Desired,
    FetchResult,
    KeyState,
    ModelRules,
    ModelState,
    Observed,
    ProviderSettings,
    ProviderSpec,
    ProviderState,
    ProviderType,
)
from reconciler.core.target import NO_ALIASES, AliasScope
from reconciler.errors import TargetError
from reconciler.secrets import Secret, fingerprint
from reconciler.targets.sqlite import CAPABILITIES, SqliteTarget, Store

T = TypeVar("T")

OPENAI_URL = "https://api.openai.com/v1"
LOCAL_URL = "http://127.0.0.1:11434/v1"
SALT = "00112233445566778899aabbccddeeff"

# What the embedded store observes: every field, key fingerprints, model lists.
FULL = CAPABILITIES
# What real ClaraVerse observes: no type, nothing about keys.
BLIND = Capabilities(observes=frozenset({"base_url", "enabled", "models"}), lists_models=True)


def spec(
    name: str = "OpenAI",
    *,
    type: ProviderType = "openai",
    base_url: str = OPENAI_URL,
    api_key: str | None = None,
    api_key_ref: str | None = None,
    enabled: bool = True,
    renamed_from: tuple[str, ...] = (),
    fetch_models: bool = True,
    visible: tuple[str, ...] | None = None,
    hidden: tuple[str, ...] = (),
    settings: ProviderSettings = DEFAULT_SETTINGS,
) -> ProviderSpec:
    """A provider as a file declares it (``ensure: present``)."""
    models = None if visible is None else ModelRules(visible=visible, hidden=hidden)
    return ProviderSpec(
        name=name,
        type=type,
        base_url=base_url,
        api_key=None if api_key is None else Secret(api_key),
        api_key_ref=api_key_ref
        if api_key_ref is not None
        else (None if api_key is None else f"${{{name.upper().replace(' ', '_')}_API_KEY}}"),
        enabled=enabled,
        renamed_from=renamed_from,
        fetch_models=fetch_models,
        settings=settings,
        models=models,
    )


def absent(name: str) -> ProviderSpec:
    """``- name: ...; ensure: absent``."""
    return ProviderSpec(name=name, ensure="absent")


def key_state(value: str | None) -> KeyState:
    """What the embedded store reports about a stored key ``value`` (None: no key)."""
    if value is None:
        return KeyState(present=False)
    return KeyState(present=True, salt=SALT, fingerprint=fingerprint(value, SALT))


def state(
    name: str = "OpenAI",
    *,
    id: str | None = None,
    type: ProviderType | None = "openai",
    base_url: str | None = OPENAI_URL,
    key: str | None = None,
    key_known: bool = True,
    enabled: bool = True,
    models: tuple[str, ...] = ("gpt-4o",),
    visible: tuple[str, ...] = (),
    model_count: int | None = None,
    fetched: bool | None = True,
    last_fetch_error: str | None = None,
    settings: ProviderSettings = DEFAULT_SETTINGS,
) -> ProviderState:
    """A provider as a target reports it."""
    ms = tuple(ModelState(id=m, visible=m in visible) for m in models)
    return ProviderState(
        id=id if id is not None else f"id-{name}",
        name=name,
        type=type,
        base_url=base_url,
        enabled=enabled,
        key=key_state(key) if key_known else None,
        settings=settings,
        models=ms,
        model_count=len(ms) if model_count is None else model_count,
        fetched=fetched,
        last_fetch_error=last_fetch_error,
    )


def provider_id(store: Store, name: str) -> int | None:
    """The id of the provider called ``name`` in the store, if there is one."""
    return next((p.id for p in store.providers() if p.name == name), None)


def desired(*specs: ProviderSpec) -> Desired:
    """A configuration declaring ``specs``."""
    return Desired(providers=specs, files=("providers.yaml",))


def observed(*states: ProviderState, capabilities: Capabilities = FULL) -> Observed:
    """A target holding ``states``."""
    return Observed(providers=states, capabilities=capabilities)


class CountingTarget(SqliteTarget):
    """The real embedded target, recording every call that changes something.

    It doubles as a fault injector around the real store: with ``fail_on=N`` the Nth
    write raises TargetError, before it reaches the store (a refused request), or with
    ``commit_then_fail=True`` after it was committed (an answer lost on the way back).
    ``fail_observe_after=N`` makes every observe after the Nth raise TargetError.
    """

    def __init__(
        self,
        path: Path,
        *,
        fail_on: int | None = None,
        commit_then_fail: bool = False,
        fail_observe_after: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(path, **options)
        self.writes: list[str] = []
        self.observes = 0
        self.fail_on = fail_on
        self.commit_then_fail = commit_then_fail
        self.fail_observe_after = fail_observe_after
        self._mutex = threading.Lock()

    def _write(self, what: str, perform: Callable[[], T]) -> T:
        with self._mutex:
            self.writes.append(what)
            failing = self.fail_on is not None and len(self.writes) == self.fail_on
        if failing and not self.commit_then_fail:
            raise TargetError(f"injected failure on write {self.fail_on} ({what})")
        result = perform()
        if failing:
            raise TargetError(f"injected failure after write {self.fail_on} ({what})")
        return result

    def observe(self, aliases: AliasScope | None = NO_ALIASES) -> Observed:
        self.observes += 1
        if self.fail_observe_after is not None and self.observes > self.fail_observe_after:
            raise TargetError("injected failure: the target cannot be observed")
        return super().observe(aliases)

    def create(self, spec: ProviderSpec) -> str:
        return self._write(f"create {spec.name}", lambda: super(CountingTarget, self).create(spec))

    def update(self, provider_id: str, spec: ProviderSpec, fields: tuple[str, ...]) -> None:
        self._write(
            f"update {spec.name}",
            lambda: super(CountingTarget, self).update(provider_id, spec, fields),
        )

    def rename(self, provider_id: str, spec: ProviderSpec) -> None:
        self._write(
            f"rename {spec.name}", lambda: super(CountingTarget, self).rename(provider_id, spec)
        )

    def set_enabled(self, provider_id: str, spec: ProviderSpec) -> None:
        self._write(
            f"{'enable' if spec.enabled else 'disable'} {provider_id}",
            lambda: super(CountingTarget, self).set_enabled(provider_id, spec),
        )

    def delete(self, provider_id: str) -> None:
        self._write(
            f"delete {provider_id}", lambda: super(CountingTarget, self).delete(provider_id)
        )

    def fetch_models(self, provider_id: str) -> FetchResult:
        return self._write(
            f"fetch {provider_id}", lambda: super(CountingTarget, self).fetch_models(provider_id)
        )

    def set_visibility(self, provider_id: str, model_ids: tuple[str, ...], visible: bool) -> None:
        self._write(
            f"visibility {provider_id}",
            lambda: super(CountingTarget, self).set_visibility(provider_id, model_ids, visible),
        )


class HoldingTarget(CountingTarget):
    """Creating ``held`` waits until the test lets it go: an action in flight."""

    def __init__(self, path: Path, held: str, **options: Any) -> None:
        super().__init__(path, **options)
        self.held = held
        self.started = threading.Event()
        self.release = threading.Event()

    def create(self, spec: ProviderSpec) -> str:
        if spec.name == self.held:
            self.started.set()
            assert self.release.wait(30)
        return super().create(spec)


def write_yaml(path: Path, providers: list[dict[str, Any]]) -> Path:
    """A providers.yaml holding ``providers`` (YAML is a superset of JSON)."""
    import json

    path.write_text(json.dumps({"version": 1, "providers": providers}, indent=2))
    return path
