"""Upstream model listings: ask a provider's own API which models it serves.

Three dialects (docs/claraverse-servers.md, "Upstream model listings"):

    openai     GET {base_url}/models       Authorization: Bearer <key>   one page
    anthropic  GET {base_url}/v1/models    x-api-key, anthropic-version  has_more / after_id
    google     GET {base_url}/models       x-goog-api-key                nextPageToken

"openai" also covers every OpenAI-compatible server (Ollama, vLLM, LiteLLM, ...), most of
them keyless. Keys travel in headers only, never in a URL: URLs end up in logs.

Every failure is a ``FetchError`` whose message names the provider, what the upstream
answered and what to check. Messages are our own words: an upstream's error body is never
quoted, because some echo the request headers back, key included.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx

from reconciler.core.model import ProviderType
from reconciler.errors import FetchError, status_text
from reconciler.secrets import Secret, scrub
from reconciler.upstream.retry import RetryPolicy, send, url_for_logs

__all__ = [
    "ANTHROPIC_VERSION",
    "MAX_PAGES",
    "DiscoveredModel",
    "FetchSettings",
    "list_models",
    "new_client",
]

logger = logging.getLogger(__name__)

ANTHROPIC_VERSION = "2023-06-01"

MAX_PAGES = 1000
"""More pages than this means an upstream that paginates forever; we stop and say so."""

# The largest page each paginated API accepts: fewer round trips.
_ANTHROPIC_LIMIT = 1000
_GOOGLE_PAGE_SIZE = 1000


@dataclass(frozen=True, kw_only=True)
class DiscoveredModel:
    """One model an upstream lists."""

    id: str
    display_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class FetchSettings:
    """Timeouts (seconds) and retries for upstream listings."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def timeout(self) -> httpx.Timeout:
        """The httpx timeout these settings describe."""
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.read_timeout,
            pool=self.connect_timeout,
        )


def list_models(
    *,
    provider_name: str,
    provider_type: ProviderType,
    base_url: str,
    api_key: Secret | None,
    settings: FetchSettings = FetchSettings(),
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DiscoveredModel]:
    """The models ``provider_name`` serves, sorted by id, without duplicates.

    Uses ``client`` when given (and leaves it open), else a client of its own; the
    timeouts of ``settings`` apply either way. Raises
    ``FetchError`` when the upstream cannot be reached or does not answer as documented.
    """
    fetch = _UpstreamListing(
        provider=provider_name,
        base_url=base_url,
        api_key=api_key,
        settings=settings,
        sleep=sleep,
    )
    if client is not None:
        return fetch.run(provider_type, client)
    with new_client(settings) as own_client:
        return fetch.run(provider_type, own_client)


def new_client(settings: FetchSettings = FetchSettings(), *, connections: int = 16) -> httpx.Client:
    """A client for model listings, to share between fetches: making one costs tens of
    milliseconds of CPU (its TLS context), which a run of many fetches should pay once."""
    # No redirects: httpx drops Authorization on a cross-host redirect, but not x-api-key
    # or x-goog-api-key; a redirect is reported so that the user fixes base_url instead.
    return httpx.Client(
        timeout=settings.timeout(),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections),
    )


@dataclass(kw_only=True)
class _UpstreamListing:
    """One listing: the provider's details, and the error messages that name them."""

    provider: str
    base_url: str
    api_key: Secret | None
    settings: FetchSettings
    sleep: Callable[[float], None]

    def run(self, provider_type: ProviderType, client: httpx.Client) -> list[DiscoveredModel]:
        logger.debug("listing the models of provider %r (%s)", self.provider, provider_type)
        if provider_type == "openai":
            found = self._openai(client)
        elif provider_type == "anthropic":
            found = self._anthropic(client)
        elif provider_type == "google":
            found = self._google(client)
        else:
            raise ValueError(f"unknown provider type {provider_type!r}")
        return _sorted_unique(found)

    # -- the three dialects -------------------------------------------------------------

    def _openai(self, client: httpx.Client) -> Iterator[DiscoveredModel]:
        headers = {"authorization": f"Bearer {self._key()}"} if self.api_key else {}
        url, body = self._get(client, "/models", headers=headers, params={})
        for entry in self._entries(body, "data", url):
            yield DiscoveredModel(id=self._string(entry, "id", "data", url))

    def _anthropic(self, client: httpx.Client) -> Iterator[DiscoveredModel]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if self.api_key:
            headers["x-api-key"] = self._key()
        params: dict[str, str | int] = {"limit": _ANTHROPIC_LIMIT}
        for url, body in self._pages(client, "/v1/models", headers, params, self._anthropic_next):
            for entry in self._entries(body, "data", url):
                yield DiscoveredModel(
                    id=self._string(entry, "id", "data", url),
                    display_name=_optional_string(entry.get("display_name")),
                )

    def _anthropic_next(self, body: Mapping[str, Any], url: str) -> dict[str, str] | None:
        if not body.get("has_more"):
            return None
        last_id = body.get("last_id")
        if not isinstance(last_id, str) or not last_id:
            self._fail_shape(url, "has_more is true but 'last_id' is missing")
        return {"after_id": last_id}

    def _google(self, client: httpx.Client) -> Iterator[DiscoveredModel]:
        headers = {"x-goog-api-key": self._key()} if self.api_key else {}
        params: dict[str, str | int] = {"pageSize": _GOOGLE_PAGE_SIZE}
        for url, body in self._pages(client, "/models", headers, params, self._google_next):
            for entry in self._entries(body, "models", url, required=False):
                methods = entry.get("supportedGenerationMethods")
                # Embedding and other non-chat models cannot answer a conversation.
                if not isinstance(methods, list) or "generateContent" not in methods:
                    continue
                name = self._string(entry, "name", "models", url)
                yield DiscoveredModel(
                    id=name.removeprefix("models/"),
                    display_name=_optional_string(entry.get("displayName")),
                )

    @staticmethod
    def _google_next(body: Mapping[str, Any], url: str) -> dict[str, str] | None:
        token = body.get("nextPageToken")
        return {"pageToken": token} if isinstance(token, str) and token else None

    # -- HTTP ---------------------------------------------------------------------------

    def _pages(
        self,
        client: httpx.Client,
        path: str,
        headers: dict[str, str],
        params: dict[str, str | int],
        next_params: Callable[[Mapping[str, Any], str], dict[str, str] | None],
    ) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """Each page of a paginated listing, as (url for messages, decoded body)."""
        seen: set[tuple[tuple[str, str], ...]] = set()
        page_params: dict[str, str] = {}
        for _ in range(MAX_PAGES):
            url, body = self._get(client, path, headers=headers, params={**params, **page_params})
            yield url, body
            following = next_params(body, url)
            if following is None:
                return
            cursor = tuple(sorted(following.items()))
            if cursor in seen:
                self._fail(
                    f"upstream pagination loops (a page cursor came back twice) at GET {url}; "
                    "the upstream is misbehaving, try again later",
                    status=None,
                )
            seen.add(cursor)
            page_params = following
        self._fail(
            f"upstream returned more than {MAX_PAGES} pages at GET {url}; "
            "the upstream is misbehaving, try again later",
            status=None,
        )

    def _get(
        self,
        client: httpx.Client,
        path: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str | int],
    ) -> tuple[str, Mapping[str, Any]]:
        """GET ``path`` under base_url; (url for messages, decoded JSON object)."""
        url = self._url(path)
        shown = url_for_logs(url)
        request = client.build_request(
            "GET", url, headers=headers, params=params, timeout=self.settings.timeout()
        )
        try:
            response = send(client, request, policy=self.settings.retry, sleep=self.sleep)
        except httpx.TransportError as exc:
            self._transport_failure(exc, url, shown)
        # Not streamed: send() has read the body and released the connection already.
        return shown, self._decode(response, shown)

    def _url(self, path: str) -> httpx.URL:
        try:
            base = httpx.URL(self.base_url)
        except httpx.InvalidURL:
            self._fail("its base_url is not a valid URL; check its base_url", status=None)
        if base.scheme not in ("http", "https") or not base.host:
            self._fail("its base_url is not an http(s) URL; check its base_url", status=None)
        # Appending keeps any path prefix of base_url (".../v1") and copes with a trailing
        # slash; a query string in base_url survives, merged with our own parameters.
        return base.copy_with(path=base.path.rstrip("/") + path)

    def _transport_failure(self, exc: httpx.TransportError, url: httpx.URL, shown: str) -> NoReturn:
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            self._fail(
                f"could not connect to {_origin(url)} within "
                f"{_seconds(self.settings.connect_timeout)}; "
                "check its base_url, or the upstream is down",
                status=None,
                cause=exc,
            )
        if isinstance(exc, httpx.TimeoutException):
            self._fail(
                f"no answer within {_seconds(self.settings.read_timeout)} at GET {shown}; "
                "upstream unavailable or slow, try again later",
                status=None,
                cause=exc,
            )
        if isinstance(exc, httpx.ConnectError):
            self._fail(
                f"could not connect to {_origin(url)} ({exc}); "
                "check its base_url, or the upstream is down",
                status=None,
                cause=exc,
            )
        if isinstance(exc, httpx.LocalProtocolError):
            # h11 quotes the offending header in its message: that header may be the key.
            self._fail(
                "could not send the request: a header is malformed; check its api_key",
                status=None,
            )
        # Not quoted: a protocol error may quote what the upstream sent.
        self._fail(
            f"the connection failed at GET {shown} ({type(exc).__name__}); "
            "upstream unavailable, try again later",
            status=None,
        )

    def _decode(self, response: httpx.Response, shown: str) -> Mapping[str, Any]:
        status = response.status_code
        if status != 200:
            self._fail(
                f"upstream answered {status_text(status)} at GET {shown}; {self._hint(status)}",
                status=status,
            )
        try:
            body = json.loads(response.content)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            self._fail(
                f"upstream answered {status_text(status)} but not with JSON at GET {shown}; "
                "check its base_url",
                status=status,
            )
        if not isinstance(body, dict):
            self._fail_shape(shown, "expected a JSON object", status=status)
        return body

    def _hint(self, status: int) -> str:
        if status in (400, 401, 403):
            return "check its api_key" if self.api_key else "check its api_key (none is set)"
        if status == 429 or status >= 500:
            return "upstream unavailable, try again later"
        # 404, 405, a redirect...: we are not talking to the API we think we are.
        return "check its base_url"

    # -- decoding -----------------------------------------------------------------------

    def _entries(
        self, body: Mapping[str, Any], key: str, url: str, *, required: bool = True
    ) -> Iterator[Mapping[str, Any]]:
        entries = body.get(key)
        # Google, like any protobuf JSON, omits an empty list: {} is an empty page. A body
        # with other keys but no list is something else answering, though.
        if entries is None and not required and set(body) <= {"nextPageToken"}:
            entries = []
        if not isinstance(entries, list):
            self._fail_shape(url, f"expected a JSON object with a '{key}' list")
        for entry in entries:
            if not isinstance(entry, dict):
                self._fail_shape(url, f"expected each entry of '{key}' to be a JSON object")
            yield entry

    def _string(self, entry: Mapping[str, Any], name: str, key: str, url: str) -> str:
        value = entry.get(name)
        if not isinstance(value, str) or not value:
            self._fail_shape(url, f"expected each entry of '{key}' to have a string '{name}'")
        return value

    # -- errors -------------------------------------------------------------------------

    def _key(self) -> str:
        assert self.api_key is not None
        value = self.api_key.reveal()
        # httpx would raise on such a value with the value in the exception: check first.
        if not value.isascii() or not value.isprintable():
            self._fail(
                "its api_key contains characters an HTTP header cannot carry "
                "(non-ASCII, a newline...); check its api_key",
                status=None,
            )
        return value

    def _fail_shape(self, url: str, expected: str, *, status: int = 200) -> NoReturn:
        self._fail(
            f"upstream answered with an unexpected shape at GET {url}: {expected}; "
            "check its base_url and type",
            status=status,
        )

    def _fail(
        self, message: str, *, status: int | None, cause: BaseException | None = None
    ) -> NoReturn:
        # scrub: defence in depth, should a message ever pick up a key by some other road.
        error = FetchError(scrub(f"provider {self.provider!r}: {message}"), status=status)
        raise error from cause


def _sorted_unique(models: Iterator[DiscoveredModel]) -> list[DiscoveredModel]:
    by_id: dict[str, DiscoveredModel] = {}
    for model in models:
        known = by_id.get(model.id)
        if known is None or (known.display_name is None and model.display_name is not None):
            by_id[model.id] = model
    return [by_id[model_id] for model_id in sorted(by_id)]


def _optional_string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _origin(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def _seconds(value: float) -> str:
    return f"{value:g} s"
