"""The ClaraVerse target: the provider admin API, as real servers behave.

What real servers do, and what this target does about it (docs/claraverse-servers.md):

- The provider list carries no ``type``, no key, and of the six settings only
  ``audio_only`` and ``favicon``; it is ``null`` when empty. What it does not report is
  never compared: every write carries the whole declared provider instead.
- An update rebuilds the row and resets ``image_only``, ``image_edit_only`` and
  ``default_model`` unless the body carries them, and so does ``/toggle``: enable and
  disable therefore go through the same full PUT, never ``/toggle``.
- A rename is ignored (200, old name kept): the answer is checked, and the action fails
  once with the reason and the ways out.
- A model id exists once per server: after a fetch, ids the server keeps under another
  provider are a warning naming it.
- Create answers 500 "Duplicate entry" for a name that exists; a failed upstream listing
  is a 500 "Failed to fetch models: ..." (a failed fetch, not a server fault).
- The model catalog (settings, agents, aliases, tiers) has its own traps: see
  ``catalog.py`` and ``aliases.py``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from reconciler.core.catalog import Alias, ModelSettings
from reconciler.core.model import (
    SETTING_NAMES,
    Capabilities,
    FetchResult,
    ModelState,
    Observed,
    ProviderSettings,
    ProviderSpec,
    ProviderState,
)
from reconciler.core.target import NO_ALIASES, AliasScope
from reconciler.errors import AuthError, FetchError, TargetError
from reconciler.targets.claraverse.aliases import Aliases
from reconciler.targets.claraverse.catalog import REPORTED_SETTINGS, Catalog, json_id, segment_path
from reconciler.targets.claraverse.models import ModelList, shared_id_warnings
from reconciler.targets.claraverse.session import Session, UnknownOutcome

CAPABILITIES = Capabilities(
    observes=frozenset({"base_url", "enabled", "models", "audio_only", "favicon"}),
    key_fingerprints=False,
    lists_models=True,
    visibility_by_id=True,
    model_settings=REPORTED_SETTINGS,
    tiers_by_display_name=True,
    # Registered by the server when it finds a local engine (docs/claraverse-servers.md).
    self_created=frozenset({"Ollama", "LM Studio"}),
)

# Sent as the admin key of a provider declared without one, to servers that refuse to
# create a provider without a key.
KEYLESS_PLACEHOLDER = "not-needed"
_KEY_REQUIRED = "api_key are required"
_DUPLICATE = "Duplicate entry"
_FETCH_FAILED = "Failed to fetch models"


class ClaraVerseTarget:
    """A ClaraVerse server's admin API."""

    capabilities = CAPABILITIES

    def __init__(self, url: str, **session_options: Any) -> None:
        self.session = Session(url, **session_options)
        self.description = self.session.description
        self.models = ModelList(self.session)
        self.catalog = Catalog(self.session)
        self.aliases = Aliases(self.session)
        # Provider names by id, as last observed (for what the run tells afterwards).
        self._names: dict[str, str] = {}
        # Aliases a create found under another model and replaced: said after the run.
        self._replaced: list[str] = []
        # Servers that refuse an empty api_key (400): keyless writes leave the key out.
        self._empty_key_refused = False

    def observe(self, aliases: AliasScope | None = NO_ALIASES) -> Observed:
        """Providers, models and tiers in three requests, whatever their number, and the
        aliases ``aliases`` scopes (None: of every model) in one request per model."""
        providers = self._list_providers()
        by_provider = self.models.refresh()
        tiers, tier_notes = self.catalog.tiers()
        read_for = _alias_models(aliases, providers, by_provider)
        found = self.aliases.read(read_for)
        states = []
        for p in providers:
            pid = str(p["id"])
            models = by_provider.get(pid, ())
            count = p.get("model_count")
            states.append(
                ProviderState(
                    id=pid,
                    name=str(p.get("name", "")),
                    base_url=str(p.get("base_url") or "").rstrip("/") or None,
                    enabled=bool(p.get("enabled", True)),
                    settings=_reported_settings(p),
                    models=models,
                    model_count=count if isinstance(count, int) else len(models),
                    fetched=None,
                    aliases=tuple(found.get(pid, ())),
                )
            )
        names = {str(p["id"]): str(p.get("name", "")) for p in providers}
        self._names = names
        notes = tuple(
            f"provider '{names.get(pid, pid)}': {count} model id{'s' if count != 1 else ''} "
            f"on the server {'hold' if count != 1 else 'holds'} a key value (an upstream "
            f"that echoes what it is sent) and {'are' if count != 1 else 'is'} left out of "
            "this plan"
            for pid, count in sorted(self.models.withheld.items())
        )
        return Observed(
            providers=tuple(states),
            capabilities=CAPABILITIES,
            notes=notes + tier_notes,
            tiers=tiers,
            aliases_read_for=None if aliases is None else frozenset(i.casefold() for i in read_for),
        )

    def _list_providers(self) -> list[dict[str, Any]]:
        response = self.session.call("GET", "/api/admin/providers")
        body = self.session.json(response, "GET /api/admin/providers")
        if not isinstance(body, dict) or "providers" not in body:
            raise TargetError(
                'GET /api/admin/providers did not answer {"providers": [...]}; '
                "is the target URL a ClaraVerse server?"
            )
        items = body["providers"] or []  # real servers send null when there are none
        for item in items:
            if not isinstance(item, dict) or "id" not in item or "name" not in item:
                raise TargetError("GET /api/admin/providers listed a provider without id/name")
        return list(items)

    def _find_id(self, name: str) -> str | None:
        for p in self._list_providers():
            if p.get("name") == name:
                return str(p["id"])
        return None

    # --- writes -----------------------------------------------------------------------

    def create(self, spec: ProviderSpec) -> str:
        """POST the whole provider; never re-sent blindly when its answer is lost."""
        body = {"name": spec.name, "type": spec.type, **self._declared(spec)}
        body.setdefault("api_key", "")
        try:
            response = self._create(body)
        except TargetError as exc:
            if spec.api_key is not None or _KEY_REQUIRED not in exc.detail:
                raise
            # Real servers demand an admin key although the documentation shows keyless
            # providers. A local engine ignores the placeholder; a remote upstream refuses
            # it, which leaves the provider usable only with a user's own key: exactly what
            # an entry without an admin key means.
            response = self._create({**body, "api_key": KEYLESS_PLACEHOLDER})
            provider_id = self._created_id(response, spec.name)
            self._clear_placeholder(provider_id)
            return provider_id
        return self._created_id(response, spec.name)

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        name = str(body["name"])
        try:
            try:
                return self._post_provider(body)
            except UnknownOutcome:
                # The server may have created it before the answer was lost: look first.
                found = self._find_id(name)
                if found is not None:
                    return httpx.Response(201, json={"id": found})
                return self._post_provider(body)
        except TargetError as exc:
            if exc.status in (409, 500) and (exc.status == 409 or _DUPLICATE in exc.detail):
                raise self._exists_error(name) from None
            raise

    def _post_provider(self, body: dict[str, Any]) -> httpx.Response:
        return self.session.call(
            "POST", "/api/admin/providers", json_body=body, resend_unknown=False
        )

    def _exists_error(self, name: str) -> TargetError:
        """A create refused because the name exists: look once more, then say why."""
        if self._find_id(name) is None:
            return TargetError(f"the server refused to create '{name}': the name is taken")
        return TargetError(
            f"provider '{name}' was created on the server while this apply ran (another "
            "apply running at the same time, or an admin); nothing was changed by this "
            "action, and the next apply takes it over and makes it match the file"
        )

    def _clear_placeholder(self, provider_id: str) -> None:
        """Take the placeholder back, so the server says "no admin key" as the file does;
        servers that refuse an empty key (400) keep it, which works the same."""
        try:
            self._put(provider_id, {"api_key": ""})
        except TargetError as exc:
            if exc.status != 400:
                raise
            self._empty_key_refused = True

    def _created_id(self, response: httpx.Response, name: str) -> str:
        body = self.session.json(response, "POST /api/admin/providers")
        if isinstance(body, dict):
            ident = body.get("id")
            if ident is None and isinstance(body.get("provider"), dict):
                ident = body["provider"].get("id")
            if ident is not None:
                return str(ident)
        found = self._find_id(name)
        if found is None:
            raise TargetError(f"POST /api/admin/providers answered without an id for '{name}'")
        return found

    def update(self, provider_id: str, spec: ProviderSpec, fields: tuple[str, ...]) -> None:
        """PUT the whole declared provider: a real server resets what a PUT leaves out."""
        self._put_declared(provider_id, spec)

    def set_enabled(self, provider_id: str, spec: ProviderSpec) -> None:
        """The same full PUT: ``/toggle`` would reset three settings."""
        self._put_declared(provider_id, spec)

    def push(self, provider_id: str, spec: ProviderSpec) -> None:
        """Send the declared key and settings, which this server does not report."""
        self._put_declared(provider_id, spec)

    def rename(self, provider_id: str, spec: ProviderSpec) -> None:
        """PUT the new name with the whole provider; a server that kept the old name makes
        this fail with the reason (it will never rename, whatever the next apply does)."""
        answer = self._put_declared(provider_id, spec, name=spec.name)
        kept = answer.get("name") if isinstance(answer, dict) else None
        if isinstance(kept, str) and kept != spec.name:
            raise TargetError(
                f"this server does not rename providers: it kept the name '{kept}' (its "
                f"other settings were updated). Either keep the old name in the file "
                f"(name: {kept}, and drop renamed_from), or create '{spec.name}' as a new "
                f"provider and delete '{kept}' (disable it first): its models and their "
                "settings go with the old provider"
            )

    def _put_declared(
        self, provider_id: str, spec: ProviderSpec, *, name: str | None = None
    ) -> Any:
        body = self._declared(spec)
        if name is not None:
            body["name"] = name
        try:
            return self._put(provider_id, body)
        except TargetError as exc:
            if exc.status != 400 or _KEY_REQUIRED not in exc.detail or "api_key" not in body:
                raise
            self._empty_key_refused = True
            return self._put(provider_id, self._declared(spec) | ({"name": name} if name else {}))

    def _put(self, provider_id: str, body: dict[str, Any]) -> Any:
        response = self.session.call(
            "PUT", self._provider_path(provider_id), json_body=body, resend_unknown=True
        )
        return self.session.json(response, f"PUT /api/admin/providers/{provider_id}")

    def _provider_path(self, provider_id: str, suffix: str = "") -> str:
        # Ids come from the server or a saved plan: checked to reach the route they name.
        return segment_path(self.session.base, "/api/admin/providers", provider_id, suffix=suffix)

    def _declared(self, spec: ProviderSpec) -> dict[str, Any]:
        """Everything the file declares for a provider, as the server's fields."""
        body: dict[str, Any] = {"base_url": spec.base_url, "enabled": spec.enabled}
        body.update((name, spec.settings.value(name)) for name in SETTING_NAMES)
        if spec.api_key is not None:
            body["api_key"] = spec.api_key.reveal()
        elif not self._empty_key_refused:
            body["api_key"] = ""  # the file declares no admin key: the server keeps none
        return body

    def delete(self, provider_id: str) -> None:
        """DELETE; a provider already gone counts as deleted."""
        self.session.call(
            "DELETE", self._provider_path(provider_id), resend_unknown=True, ok=(200, 204, 404)
        )

    # --- models -----------------------------------------------------------------------

    def fetch_models(self, provider_id: str) -> FetchResult:
        """POST /fetch: the server lists the models upstream. Its 500 "Failed to fetch
        models: ..." is a failed fetch with the upstream's reason."""
        try:
            response = self.session.call(
                "POST", self._provider_path(provider_id, "/fetch"), resend_unknown=True
            )
        except AuthError:
            raise
        except TargetError as exc:
            if exc.detail.startswith(_FETCH_FAILED):
                reason = exc.detail.split(":", 1)[1].strip() or "no reason given"
                raise FetchError(
                    f"the server could not list the models upstream: {reason}"
                ) from None
            raise FetchError(str(exc), status=exc.status) from None
        body = self.session.json(response, "POST fetch")
        count = body.get("models_fetched") if isinstance(body, dict) else None
        listed = count if isinstance(count, int) else 0
        self.models.fetched_now(provider_id, listed)
        return FetchResult(count=listed)

    def list_models(self, provider_id: str) -> tuple[ModelState, ...]:
        """The provider's models, from the admin model list."""
        return self.models.of(provider_id)

    def set_visibility(self, provider_id: str, model_ids: tuple[str, ...], visible: bool) -> None:
        """One bulk request per provider and direction (real servers set it by id)."""
        pid = json_id(provider_id)
        self.session.call(
            "PUT",
            "/api/admin/models/bulk/visibility",
            json_body={"model_ids": list(model_ids), "visible": visible, "provider_id": pid},
            resend_unknown=True,
        )

    def update_models(
        self, provider_id: str, changes: tuple[tuple[str, ModelSettings], ...]
    ) -> None:
        """One PUT per model, the agents flag in at most two bulk requests."""
        self.catalog.update_models(provider_id, changes)

    def create_alias(self, provider_id: str, alias: Alias) -> None:
        """POST the alias under the provider, replacing one of that name the plan did not
        read (said in the run's warnings: the plan showed a create, not a replace)."""
        if self.aliases.create(provider_id, alias):
            self._replaced.append(
                f"provider '{self._names.get(provider_id, provider_id)}': alias "
                f"'{alias.name}' already existed on a model whose aliases the plan did not "
                f"read (a hidden model the file does not name); it was replaced by the "
                f"declared one (of '{alias.model}')"
            )

    def delete_alias(self, provider_id: str, alias: Alias) -> None:
        """DELETE the provider's alias of that name; one holding '/', or named '.' or '..',
        cannot be deleted."""
        self.aliases.delete(provider_id, alias)

    def set_tier(self, tier: str, provider_id: str, model_id: str) -> None:
        """POST the tier; a server without the tier migration fails with the reason."""
        self.catalog.set_tier(tier, provider_id, model_id)

    def run_warnings(self) -> tuple[str, ...]:
        """Aliases a create replaced, and model ids the server kept under another provider,
        found with one model list after every fetch of the run (a list after each fetch
        would cost N lists)."""
        replaced, self._replaced = tuple(self._replaced), []  # a watch reuses the target
        return replaced + shared_id_warnings(self.models)

    def lock(self, timeout: float) -> contextlib.AbstractContextManager[None]:
        """The server has no lock to take."""
        return contextlib.nullcontext()

    def close(self) -> None:
        """Close the client's connections."""
        self.session.close()


def _reported_settings(item: dict[str, Any]) -> ProviderSettings:
    """The settings the list reports (audio_only, favicon); the others keep defaults and
    are never compared."""
    favicon = item.get("favicon")
    return ProviderSettings(
        audio_only=item.get("audio_only") is True,
        favicon=favicon if isinstance(favicon, str) else "",
    )


def _alias_models(
    scope: AliasScope | None,
    providers: list[dict[str, Any]],
    by_provider: dict[str, tuple[ModelState, ...]],
) -> list[str]:
    """The stored ids of the models whose aliases to read (the server lists them per model
    only): every model for None; else those the file's aliases name and the visible ones
    of the providers that declare aliases (users see only visible models' aliases, and an
    admin keeps that set small). A model the server lacks has none (an alias needs it)."""
    stored = {m.id.casefold(): m.id for ms in by_provider.values() for m in ms}
    if scope is None:
        return sorted(stored.values())
    declaring = {str(p["id"]) for p in providers if p.get("name") in scope.providers}
    wanted = set(scope.models) | {
        m.id.casefold() for pid in declaring for m in by_provider.get(pid, ()) if m.visible
    }
    return [stored[i] for i in sorted(wanted) if i in stored]
