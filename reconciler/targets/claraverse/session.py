"""A session with a ClaraVerse server: authentication, requests, retries, pacing, errors.

Some answers of real servers echo the stored key in clear text, so no raw answer is ever
printed, logged or put in an exception: only ids, statuses and the server's ``error``
field, scrubbed of every secret we know.

One ``httpx.Client`` is shared by the executor's threads; its connection pool is bounded
to the apply's parallelism. Retries follow ``upstream.retry``; a request whose outcome is
unknown raises ``UnknownOutcome`` so that the caller can look before it re-sends. Every
request waits for its turn with the session's ``Pacer``: a 429 is never a failure.
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any

import httpx

from reconciler.core.model import redact_url
from reconciler.errors import AuthError, ReconcilerError, TargetError
from reconciler.secrets import Secret, scrub
from reconciler.upstream import retry
from reconciler.upstream.pacing import Pacer


class Session:
    """Authenticated requests to one ClaraVerse server."""

    def __init__(
        self,
        url: str,
        *,
        ca_cert: str | None = None,
        parallelism: int = 8,
        timeout: float = 30.0,
        policy: retry.RetryPolicy | None = None,
        env: dict[str, str] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.base = url.rstrip("/")
        # What messages and plans show: credentials in the URL (user:pass@) are masked.
        self.description = redact_url(self.base)
        self._env = dict(os.environ) if env is None else env
        self._policy = policy or retry.RetryPolicy()
        self.pacer = pacer or Pacer()
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
        body = self.json(response, "POST /api/auth/login")
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
            body = self.json(response, "POST /api/auth/refresh")
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
                self._client,
                request,
                policy=self._policy,
                retry_read_timeout=resend_unknown,
                pacer=self.pacer,
            )
        except httpx.TransportError as exc:
            raise _transport_error(method, self.description + path, exc) from None
        except httpx.HTTPError as exc:  # pragma: no cover - transport errors cover the rest
            raise TargetError(f"{method} {path} failed: {type(exc).__name__}") from None

    def call(
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
            raise UnknownOutcome(f"{method} {path}: the gateway answered {response.status_code}")
        raise self._error(method, path, response)

    def _error(self, method: str, path: str, response: httpx.Response) -> TargetError:
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
        return TargetError(f"{where} answered {status}: {message}", status=status, detail=message)

    @staticmethod
    def json(response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise TargetError(
                f"{what} answered {response.status_code} with something that is not JSON; "
                "is the target URL a ClaraVerse server?"
            ) from None

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()


class UnknownOutcome(TargetError):
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
        return UnknownOutcome(f"{method} {url}: the answer was lost ({kind}){hint}")
    return TargetError(f"{method} {url} failed ({kind})")


def _server_message(response: httpx.Response) -> str:
    """The server's own ``error``/``message`` text, scrubbed; never the raw body (nor the
    status line's phrase, which the server chose: the standard phrase of its code)."""
    standard = httpx.codes.get_reason_phrase(response.status_code)
    try:
        body = response.json()
    except ValueError:
        return standard or "no JSON answer"
    if isinstance(body, dict):
        for key in ("error", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return scrub(value)[:500]
    return standard or "unexpected answer"


def _str(body: Any, key: str, what: str) -> str:
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise TargetError(f"the {what} carries no {key}")
    return value
