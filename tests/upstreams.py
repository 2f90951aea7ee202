"""Fake upstream LLM APIs (OpenAI, Anthropic, Google AI): real HTTP, documented shapes.

One Starlette app serves all three model listings, each under its own prefix:

    GET {url}/openai/v1/models         provider base_url {url}/openai/v1      (type openai)
    GET {url}/anthropic/v1/models      provider base_url {url}/anthropic      (type anthropic)
    GET {url}/google/v1beta/models     provider base_url {url}/google/v1beta  (type google)

``Upstream.base_url("anthropic")`` builds those base URLs. Anything else answers 404, which
is what a wrong base_url gets. Shapes follow each API's documentation:

- openai: ``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}``,
  one page; ``Authorization: Bearer <key>``.
- anthropic: ``{"data": [{"type": "model", "id", "display_name", "created_at"}],
  "has_more", "first_id", "last_id"}``; ``?limit=`` and ``?after_id=``; ``x-api-key``;
  ``anthropic-version`` is required (400 without it, like the real API).
- google: ``{"models": [{"name": "models/<id>", "displayName",
  "supportedGenerationMethods"}], "nextPageToken"}``; ``?pageSize=`` and ``?pageToken=``;
  key in ``x-goog-api-key`` or ``?key=``; a bad key is a 400, as Google does.

Behaviour is a mutable ``UpstreamState`` (the app keeps a reference to it), so a test
changes it between requests and one server can serve a whole module
(``state.reset()`` between tests):

- ``models``: per flavour, a list of ``FakeModel(id, display_name, methods)``.
- ``api_key`` / ``api_keys``: the key required (all flavours / per flavour); None = keyless.
- ``page_size``: the most entries per page (anthropic, google), whatever the client asks,
  so that a handful of models already spans several pages.
- ``script``: a queue of behaviours, one taken per listing request (any flavour) until it
  is empty, then normal answers. Entries:
    a Starlette ``Response``    sent as is
    ``"ok"``                    the normal answer
    ``"401"``, ``"500"``, ...   that status, with an error body in the flavour's style;
                                ``"429"`` and ``"503"`` carry ``Retry-After: {retry_after}``
                                unless ``retry_after`` is None
    ``"slow"``                  the normal answer after ``slow_seconds`` (given up as soon
                                as the client hangs up, so a timed-out test stops fast)
    ``"invalid-json"``          200 with a body that is not JSON
    ``"wrong-shape"``           200 with a JSON object lacking the expected list
    ``"echo"``, ``"echo-400"``  401 / 400 whose body echoes every request header, key
                                included, as some careless servers do
- ``delay``: seconds added before every answer.
- ``loop_pages``: paginate forever (the same cursor on every page).
- ``requests``: every request received, as ``RecordedRequest`` (method, path, query,
  lower-cased headers), to count attempts and check what was sent.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.servers import running

__all__ = [
    "FakeModel",
    "Flavour",
    "RecordedRequest",
    "Upstream",
    "UpstreamState",
    "default_models",
    "make_upstream",
    "running_upstream",
]

Flavour = Literal["openai", "anthropic", "google"]

PREFIXES: dict[Flavour, str] = {
    "openai": "/openai/v1",
    "anthropic": "/anthropic",
    "google": "/google/v1beta",
}
_PATHS: dict[Flavour, str] = {
    "openai": "/openai/v1/models",
    "anthropic": "/anthropic/v1/models",
    "google": "/google/v1beta/models",
}


@dataclass(frozen=True)
class FakeModel:
    """A model an upstream lists; ``methods`` matter to Google only."""

    id: str
    display_name: str | None = None
    methods: tuple[str, ...] = ("generateContent", "countTokens")


def default_models() -> dict[Flavour, list[FakeModel]]:
    """A few models per flavour, enough for two pages at the default page size."""
    return {
        "openai": [FakeModel("gpt-4o"), FakeModel("gpt-4o-mini"), FakeModel("o3-mini")],
        "anthropic": [
            FakeModel("claude-sonnet-4-5", "Claude Sonnet 4.5"),
            FakeModel("claude-opus-4-1", "Claude Opus 4.1"),
            FakeModel("claude-3-5-haiku-20241022", "Claude Haiku 3.5"),
        ],
        "google": [
            FakeModel("gemini-2.5-pro", "Gemini 2.5 Pro"),
            FakeModel("gemini-2.5-flash", "Gemini 2.5 Flash"),
            FakeModel("text-embedding-004", "Text Embedding 004", ("embedContent",)),
        ],
    }


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the upstream received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    url: str


@dataclass
class UpstreamState:
    """What the fake upstream serves and how; tests change it freely (see module doc)."""

    models: dict[Flavour, list[FakeModel]] = field(default_factory=default_models)
    api_key: str | None = None
    api_keys: dict[Flavour, str | None] = field(default_factory=dict)
    page_size: int = 2
    script: deque[str | Response] = field(default_factory=deque)
    retry_after: str | None = "1"
    slow_seconds: float = 5.0
    delay: float = 0.0
    loop_pages: bool = False
    requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def reset(self) -> None:
        """Back to the defaults, in place (the app holds on to this object)."""
        fresh = UpstreamState()
        with self._lock:
            for name in self.__dataclass_fields__:
                if name != "_lock":
                    setattr(self, name, getattr(fresh, name))

    def then(self, *behaviours: str | Response) -> UpstreamState:
        """Queue behaviours for the next requests: ``state.then("429", "ok")``."""
        with self._lock:
            self.script.extend(behaviours)
        return self

    def set_models(self, flavour: Flavour, models: Iterable[str | FakeModel]) -> None:
        """Replace the models of ``flavour``; plain strings become ``FakeModel(id)``."""
        with self._lock:
            self.models[flavour] = [m if isinstance(m, FakeModel) else FakeModel(m) for m in models]

    def key_for(self, flavour: Flavour) -> str | None:
        """The key this upstream requires for ``flavour``, None when keyless."""
        return self.api_keys.get(flavour, self.api_key)

    def requests_to(self, flavour: Flavour) -> list[RecordedRequest]:
        """The requests received for ``flavour``'s listing."""
        with self._lock:
            return [r for r in self.requests if r.path == _PATHS[flavour]]

    def _record(self, request: Request) -> None:
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            url=str(request.url),
        )
        with self._lock:
            self.requests.append(recorded)

    def _next_behaviour(self) -> str | Response:
        with self._lock:
            return self.script.popleft() if self.script else "ok"


@dataclass(frozen=True)
class Upstream:
    """A running fake upstream: its URL and its state."""

    url: str
    state: UpstreamState

    def base_url(self, flavour: Flavour) -> str:
        """The base_url a provider of type ``flavour`` uses to reach this upstream."""
        return self.url + PREFIXES[flavour]


@contextmanager
def running_upstream(state: UpstreamState | None = None) -> Iterator[Upstream]:
    """Serve a fake upstream on a free loopback port for the ``with`` block."""
    state = state if state is not None else UpstreamState()
    with running(make_upstream(state)) as url:
        yield Upstream(url=url, state=state)


def make_upstream(state: UpstreamState | None = None) -> Starlette:
    """The Starlette app; its state is ``app.state.upstream`` (a new one when not given)."""
    upstream = state if state is not None else UpstreamState()

    def listing(flavour: Flavour) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            upstream._record(request)
            if upstream.delay and await _sleep_unless_gone(request, upstream.delay):
                return Response(status_code=499)
            behaviour = upstream._next_behaviour()
            if behaviour == "slow":
                if await _sleep_unless_gone(request, upstream.slow_seconds):
                    return Response(status_code=499)
                behaviour = "ok"
            if isinstance(behaviour, Response):
                return behaviour
            if behaviour != "ok":
                return _scripted(flavour, behaviour, request, upstream)
            refusal = _check_auth(flavour, request, upstream)
            if refusal is not None:
                return refusal
            return _LISTINGS[flavour](request, upstream)

        return endpoint

    app = Starlette(routes=[Route(_PATHS[f], listing(f), methods=["GET"]) for f in _PATHS])
    app.state.upstream = upstream
    return app


async def _sleep_unless_gone(request: Request, seconds: float) -> bool:
    """Sleep; True (early) if the client hung up, so a timed-out test stops fast."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(min(0.02, max(0.0, deadline - loop.time())))
    return False


# -- errors ------------------------------------------------------------------------------


def _error(flavour: Flavour, status: int, message: str, kind: str) -> JSONResponse:
    body: dict[str, Any]
    if flavour == "openai":
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    elif flavour == "anthropic":
        body = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"code": status, "message": message, "status": kind.upper()}}
    return JSONResponse(body, status_code=status)


_KINDS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
}


def _scripted(
    flavour: Flavour, behaviour: str, request: Request, upstream: UpstreamState
) -> Response:
    if behaviour == "invalid-json":
        return Response(b"<html>not json{", media_type="application/json")
    if behaviour == "wrong-shape":
        return JSONResponse({"unexpected": True})
    if behaviour in ("echo", "echo-400"):
        # What a careless proxy does: quote the request back, credentials and all.
        status = 400 if behaviour == "echo-400" else 401
        echoed = dict(request.headers.items())
        return JSONResponse(
            {
                "error": f"bad request: {echoed}",
                "received_headers": echoed,
                "url": str(request.url),
            },
            status_code=status,
        )
    if behaviour.isdigit():
        status = int(behaviour)
        response = _error(flavour, status, f"scripted {status}", _KINDS.get(status, "api_error"))
        if status in (429, 503) and upstream.retry_after is not None:
            response.headers["retry-after"] = upstream.retry_after
        return response
    raise ValueError(f"unknown scripted behaviour {behaviour!r}")


def _check_auth(flavour: Flavour, request: Request, upstream: UpstreamState) -> Response | None:
    if flavour == "anthropic" and "anthropic-version" not in request.headers:
        return _error(
            flavour, 400, "anthropic-version: header is required", "invalid_request_error"
        )
    required = upstream.key_for(flavour)
    if required is None:
        return None
    if flavour == "openai":
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        if sent != required:
            return _error(flavour, 401, "Incorrect API key provided.", "invalid_request_error")
    elif flavour == "anthropic":
        if request.headers.get("x-api-key") != required:
            return _error(flavour, 401, "invalid x-api-key", "authentication_error")
    else:
        sent_key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if sent_key is None:
            return _error(
                flavour, 403, "Method doesn't allow unregistered callers.", "permission_denied"
            )
        if sent_key != required:
            return _error(
                flavour, 400, "API key not valid. Please pass a valid API key.", "invalid_argument"
            )
    return None


# -- listings ----------------------------------------------------------------------------


def _openai(request: Request, upstream: UpstreamState) -> Response:
    data = [
        {"id": m.id, "object": "model", "created": 1715367049, "owned_by": "system"}
        for m in upstream.models.get("openai", [])
    ]
    return JSONResponse({"object": "list", "data": data})


def _anthropic(request: Request, upstream: UpstreamState) -> Response:
    models = upstream.models.get("anthropic", [])
    limit = _int(request.query_params.get("limit"), default=20)
    if limit is None or not 1 <= limit <= 1000:
        return _error(
            "anthropic", 400, "limit: must be between 1 and 1000", "invalid_request_error"
        )
    start = 0
    after_id = request.query_params.get("after_id")
    if after_id is not None and not upstream.loop_pages:
        ids = [m.id for m in models]
        if after_id not in ids:
            return _error("anthropic", 400, "after_id: unknown model id", "invalid_request_error")
        start = ids.index(after_id) + 1
    page = models[start : start + min(limit, upstream.page_size)]
    data = [
        {
            "type": "model",
            "id": m.id,
            "display_name": m.display_name or m.id,
            "created_at": "2025-02-19T00:00:00Z",
        }
        for m in page
    ]
    has_more = upstream.loop_pages or start + len(page) < len(models)
    return JSONResponse(
        {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


def _google(request: Request, upstream: UpstreamState) -> Response:
    models = upstream.models.get("google", [])
    size = _int(request.query_params.get("pageSize"), default=50)
    if size is None or size < 1:
        return _error("google", 400, "pageSize must be positive", "invalid_argument")
    token = request.query_params.get("pageToken")
    start = 0
    if token and not upstream.loop_pages:
        offset = _int(token.removeprefix("offset-"), default=None)
        if not token.startswith("offset-") or offset is None:
            return _error("google", 400, "Invalid page token.", "invalid_argument")
        start = offset
    page = models[start : start + min(size, upstream.page_size)]
    body: dict[str, Any] = {}
    if page:  # protobuf JSON leaves an empty list out
        body["models"] = [
            {
                "name": f"models/{m.id}",
                "version": "001",
                "displayName": m.display_name or m.id,
                "inputTokenLimit": 1048576,
                "supportedGenerationMethods": list(m.methods),
            }
            for m in page
        ]
    if upstream.loop_pages:
        body["nextPageToken"] = "offset-0"
    elif start + len(page) < len(models):
        body["nextPageToken"] = f"offset-{start + len(page)}"
    return JSONResponse(body)


_LISTINGS = {"openai": _openai, "anthropic": _anthropic, "google": _google}


def _int(value: str | None, *, default: int | None) -> int | None:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        return None
