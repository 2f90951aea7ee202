"""The ClaraVerse target: the provider admin API over HTTP.

Written against what real servers send (``reference/claraverse-admin-api.md``), traps
included: the provider list carries no ``type`` and no ``api_key`` (so neither is
compared), it is ``null`` when empty, and some answers echo the stored key in clear text.
No raw answer is therefore ever printed, logged or put in an exception: only ids, statuses
and the server's ``error`` field, scrubbed of every secret we know.

One ``httpx.Client`` is shared by the executor's threads; its connection pool is bounded
to the apply's parallelism. Retries follow ``reconciler.upstream.retry``; a create whose answer is
lost is never re-sent blindly: the provider list is read again first.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
from typing import Any

import httpx

from reconciler.core.model import (
    Capabilities,
    ModelState,
    Observed,
    ProviderSpec,
    ProviderState,
    redact_url,
)
from reconciler.errors import AuthError, FetchError, ReconcilerError, TargetError
from reconciler.secrets import Secret, scrub
from reconciler.upstream import retry

CAPABILITIES = Capabilities(
    observes=frozenset({"base_url", "enabled", "models"}),
    key_fingerprints=False,
    lists_models=True,
)

# Sent as the admin key of a provider declared without one, to servers that refuse to
# create a provider without a key.
KEYLESS_PLACEHOLDER = "not-needed"
_KEY_REQUIRED = "api_key are required"


class ClaraVerseTarget:
    """A ClaraVerse server's admin API."""

    capabilities = CAPABILITIES

    def __init__(
        self,
        url: str,
        *,
        ca_cert: str | None = None,
        parallelism: int = 8,
        timeout: float = 30.0,
        policy: retry.RetryPolicy | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.base = url.rstrip("/")
        # What messages and plans show: credentials in the URL (user:pass@) are masked.
        self.description = redact_url(self.base)
        self._env = dict(os.environ) if env is None else env
        self._policy = policy or retry.RetryPolicy()
        path = httpx.URL(self.base).path.rstrip("/")
        if path.endswith("/api"):
            raise ReconcilerError(
                f"--target {redact_url(url)}: give the server's base URL, without /api "
                f"(e.g. {self.description.removesuffix('/api')})"
            )
        verify: ssl.SSLContext | bool = True
        if ca_cert:
            try:
                verify = ssl.create_default_context(cafile=ca_cert)
            except (ssl.SSLError, OSError):
                raise ReconcilerError(
                    f"--ca-cert {ca_cert}: not a PEM file of CA certificates"
                ) from None
        elif url.startswith("http://"):
            verify = False  # no TLS to verify: skip loading the CA bundle (~50 ms of CPU)
        self._client = httpx.Client(
            base_url=self.base,
            verify=verify,
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=max(parallelism, 1) + 2),
            headers={"Accept": "application/json", "User-Agent": "reconciler"},
        )
        self._auth_lock = threading.Lock()
        self._access: Secret | None = None
        self._refresh: Secret | None = None
        self._generation = 0

    # --- authentication ---------------------------------------------------------------

    def _credentials(self) -> None:
        # Forgive what copying a token picks up: a trailing newline, a "Bearer " prefix.
        token = (self._env.get("CLARAVERSE_TOKEN") or "").strip().removeprefix("Bearer ").strip()
        if token:
            self._access = Secret(token)
            return
        email = self._env.get("CLARAVERSE_EMAIL")
        password = self._env.get("CLARAVERSE_PASSWORD")
        if not (email and password):
            raise AuthError(
                f"no credentials for {self.description}: set CLARAVERSE_TOKEN to an admin access "
                "token, or CLARAVERSE_EMAIL and CLARAVERSE_PASSWORD"
            )
        pw = Secret(password)
        response = self._send(
            "POST",
            "/api/auth/login",
            json_body={"email": email, "password": pw.reveal()},
        )
        if response.status_code == 401:
            raise AuthError(
                f"{self.description} rejected the login of {email}: wrong email or password "
                "(CLARAVERSE_EMAIL / CLARAVERSE_PASSWORD)"
            )
        body = self._json(response, "POST /api/auth/login")
        self._access = Secret(_str(body, "access_token", "login answer"))
        refresh = body.get("refresh_token")
        self._refresh = Secret(refresh) if isinstance(refresh, str) and refresh else None

    def _token(self) -> tuple[Secret, int]:
        with self._auth_lock:
            if self._access is None:
                self._credentials()
            assert self._access is not None
            return self._access, self._generation

    def _renew(self, generation: int) -> bool:
        """Refresh the access token once per expiry, whichever thread notices first."""
        with self._auth_lock:
            if generation != self._generation:
                return True  # another thread already renewed it
            if self._refresh is None:
                return False
            response = self._send(
                "POST",
                "/api/auth/refresh",
                json_body={"refresh_token": self._refresh.reveal()},
            )
            if response.status_code != 200:
                return False
            body = self._json(response, "POST /api/auth/refresh")
            self._access = Secret(_str(body, "access_token", "refresh answer"))
            self._generation += 1
            return True

    # --- requests -------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        token: Secret | None = None,
        resend_unknown: bool | None = None,
    ) -> httpx.Response:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.reveal()}"
        request = self._client.build_request(method, path, json=json_body, headers=headers)
        try:
            return retry.send(
                self._client, request, policy=self._policy, retry_read_timeout=resend_unknown
            )
        except httpx.TransportError as exc:
            raise _transport_error(method, self.description + path, exc) from None
        except httpx.HTTPError as exc:  # pragma: no cover - transport errors cover the rest
            raise TargetError(f"{method} {path} failed: {type(exc).__name__}") from None

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        resend_unknown: bool | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> httpx.Response:
        """An authenticated request; renews the token once on 401; errors made readable."""
        for _ in range(2):
            token, generation = self._token()
            response = self._send(
                method, path, json_body=json_body, token=token, resend_unknown=resend_unknown
            )
            if response.status_code == 401 and self._renew(generation):
                continue
            break
        if response.status_code in ok:
            return response
        if response.status_code in (502, 504) and resend_unknown is False:
            # A gateway lost track of the request: the server may have acted on it.
            raise _UnknownOutcome(f"{method} {path}: the gateway answered {response.status_code}")
        raise self._error(method, path, response)

    def _error(self, method: str, path: str, response: httpx.Response) -> ReconcilerError:
        status = response.status_code
        message = _server_message(response)
        where = f"{method} {path}"
        if status == 401:
            source = "CLARAVERSE_TOKEN" if self._env.get("CLARAVERSE_TOKEN") else "the login"
            return AuthError(
                f"{self.description} rejected the access token from {source} (invalid or expired); "
                "get a new admin token"
            )
        if status == 403:
            return AuthError(
                f"{self.description} refused {where}: the account is not an admin ({message}); "
                "use an admin account's token"
            )
        return TargetError(f"{where} answered {status}: {message}", status=status)

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise TargetError(
                f"{what} answered {response.status_code} with something that is not JSON; "
                "is the target URL a ClaraVerse server?"
            ) from None

    # --- Target protocol --------------------------------------------------------------

    def observe(self) -> Observed:
        """Providers and models in two requests, whatever their number."""
        providers = self._list_providers()
        models = self._list_models()
        by_provider: dict[str, list[ModelState]] = {}
        for m in models:
            by_provider.setdefault(str(m.get("provider_id")), []).append(_model(m))
        states = []
        for p in providers:
            pid = str(p["id"])
            ms = tuple(sorted(by_provider.get(pid, ()), key=lambda m: m.id))
            count = p.get("model_count")
            states.append(
                ProviderState(
                    id=pid,
                    name=str(p.get("name", "")),
                    base_url=str(p.get("base_url") or "").rstrip("/") or None,
                    enabled=bool(p.get("enabled", True)),
                    models=ms,
                    model_count=count if isinstance(count, int) else len(ms),
                    fetched=None,
                )
            )
        return Observed(providers=tuple(states), capabilities=CAPABILITIES)

    def _list_providers(self) -> list[dict[str, Any]]:
        body = self._json(self._call("GET", "/api/admin/providers"), "GET /api/admin/providers")
        if not isinstance(body, dict) or "providers" not in body:
            raise TargetError(
                'GET /api/admin/providers did not answer {"providers": [...]}; '
                "is the target URL a ClaraVerse server?"
            )
        items = body["providers"] or []  # real servers send null when there are none
        out = []
        for item in items:
            if not isinstance(item, dict) or "id" not in item or "name" not in item:
                raise TargetError("GET /api/admin/providers listed a provider without id/name")
            out.append(item)
        return out

    def _list_models(self) -> list[dict[str, Any]]:
        body = self._json(self._call("GET", "/api/admin/models"), "GET /api/admin/models")
        if body is None:
            return []
        if isinstance(body, dict) and isinstance(body.get("models"), list):
            body = body["models"]
        if not isinstance(body, list):
            raise TargetError("GET /api/admin/models did not answer a list of models")
        return [m for m in body if isinstance(m, dict)]

    def find_id(self, name: str) -> str | None:
        """The id of the provider called ``name`` (one list request)."""
        for p in self._list_providers():
            if p.get("name") == name:
                return str(p["id"])
        return None

    def create(self, spec: ProviderSpec) -> str:
        """POST the provider; never re-sent blindly when its answer is lost."""
        body = {
            "name": spec.name,
            "type": spec.type,
            "base_url": spec.base_url,
            "api_key": spec.api_key.reveal() if spec.api_key else "",
            "enabled": spec.enabled,
        }
        try:
            response = self._create(body)
        except TargetError as exc:
            if spec.api_key is not None or _KEY_REQUIRED not in str(exc):
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

    def _clear_placeholder(self, provider_id: str) -> None:
        """Try to take the placeholder back, so the server says "no admin key" as the file
        does; servers that refuse an empty key (400) keep it, which works the same."""
        try:
            self._call(
                "PUT",
                f"/api/admin/providers/{provider_id}",
                json_body={"api_key": ""},
                resend_unknown=True,
            )
        except TargetError as exc:
            if exc.status != 400:
                raise

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        name = body["name"]
        try:
            return self._call("POST", "/api/admin/providers", json_body=body, resend_unknown=False)
        except _UnknownOutcome:
            # The server may have created it before the answer was lost: look, then decide.
            found = self.find_id(name)
            if found is not None:
                return httpx.Response(201, json={"id": int(found) if found.isdigit() else found})
            return self._call("POST", "/api/admin/providers", json_body=body, resend_unknown=False)

    def _created_id(self, response: httpx.Response, name: str) -> str:
        body = self._json(response, "POST /api/admin/providers")
        if isinstance(body, dict):
            ident = body.get("id")
            if ident is None and isinstance(body.get("provider"), dict):
                ident = body["provider"].get("id")
            if ident is not None:
                return str(ident)
        found = self.find_id(name)
        if found is None:
            raise TargetError(f"POST /api/admin/providers answered without an id for '{name}'")
        return found

    def update(self, provider_id: str, spec: ProviderSpec, fields: tuple[str, ...]) -> None:
        """PUT the changed fields; the server keeps the others."""
        body: dict[str, Any] = {}
        for f in fields:
            if f == "api_key":
                body["api_key"] = spec.api_key.reveal() if spec.api_key else ""
            else:
                body[f] = getattr(spec, f)
        self._call(
            "PUT", f"/api/admin/providers/{provider_id}", json_body=body, resend_unknown=True
        )

    def rename(self, provider_id: str, new_name: str) -> None:
        """PUT the new name: the provider keeps its id and models."""
        self._call(
            "PUT",
            f"/api/admin/providers/{provider_id}",
            json_body={"name": new_name},
            resend_unknown=True,
        )

    def set_enabled(self, provider_id: str, enabled: bool) -> None:
        """PUT /toggle."""
        self._call(
            "PUT",
            f"/api/admin/providers/{provider_id}/toggle",
            json_body={"enabled": enabled},
            resend_unknown=True,
        )

    def delete(self, provider_id: str) -> None:
        """DELETE; a provider already gone counts as deleted."""
        self._call(
            "DELETE", f"/api/admin/providers/{provider_id}", resend_unknown=True, ok=(200, 204, 404)
        )

    def fetch_models(self, provider_id: str) -> int:
        """POST /fetch: the server lists the models upstream."""
        try:
            response = self._call(
                "POST", f"/api/admin/providers/{provider_id}/fetch", resend_unknown=True
            )
        except AuthError:
            raise
        except TargetError as exc:
            raise FetchError(str(exc)) from None
        body = self._json(response, "POST fetch")
        count = body.get("models_fetched") if isinstance(body, dict) else None
        return count if isinstance(count, int) else 0

    def list_models(self, provider_id: str) -> tuple[ModelState, ...]:
        """The provider's models, from the admin model list."""
        return tuple(
            sorted(
                (
                    _model(m)
                    for m in self._list_models()
                    if str(m.get("provider_id")) == provider_id
                ),
                key=lambda m: m.id,
            )
        )

    def set_visibility(self, provider_id: str, model_ids: tuple[str, ...], visible: bool) -> None:
        """One bulk request per provider and direction."""
        pid: Any = int(provider_id) if provider_id.isdigit() else provider_id
        self._call(
            "PUT",
            "/api/admin/models/bulk/visibility",
            json_body={"model_ids": list(model_ids), "visible": visible, "provider_id": pid},
            resend_unknown=True,
        )

    def lock(self, timeout: float) -> contextlib.AbstractContextManager[None]:
        """The server has no lock to take."""
        return contextlib.nullcontext()

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()


class _UnknownOutcome(TargetError):
    """The request may or may not have been acted upon."""


def _transport_error(method: str, url: str, exc: httpx.TransportError) -> TargetError:
    kind = type(exc).__name__
    if "WRONG_VERSION_NUMBER" in str(exc) or "wrong version number" in str(exc):
        return TargetError(
            f"the TLS handshake with {httpx.URL(url).host} failed: the server does not speak "
            "https on that port; is the target http://?"
        )
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return TargetError(
            f"the TLS certificate of {httpx.URL(url).host} could not be verified; if the "
            "server uses a private CA, pass its certificate with --ca-cert FILE"
        )
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return TargetError(f"could not connect to {url} ({kind}); is the server up?")
    if isinstance(exc, httpx.ReadTimeout | httpx.ReadError | httpx.RemoteProtocolError):
        hint = "; a slow server needs a longer --timeout" if kind == "ReadTimeout" else ""
        return _UnknownOutcome(f"{method} {url}: the answer was lost ({kind}){hint}")
    return TargetError(f"{method} {url} failed ({kind})")


def _server_message(response: httpx.Response) -> str:
    """The server's own ``error``/``message`` text, scrubbed; never the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no JSON answer"
    if isinstance(body, dict):
        for key in ("error", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return scrub(value)[:500]
    return response.reason_phrase or "unexpected answer"


def _str(body: Any, key: str, what: str) -> str:
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise TargetError(f"the {what} carries no {key}")
    return value


def _model(m: dict[str, Any]) -> ModelState:
    ident = m.get("id") or m.get("name")
    visible = m.get("is_visible", m.get("visible", False))
    return ModelState(
        id=str(ident),
        display_name=m.get("display_name") if isinstance(m.get("display_name"), str) else None,
        visible=bool(visible),
    )
