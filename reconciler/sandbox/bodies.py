"""Request bodies in the sandbox: read within a size limit, parsed as a bounded JSON object.

``app`` reads a body only once the caller is authenticated, and never more than its
route's limit: a ``Content-Length`` above it is refused (413) before a byte is read, and a
body without one (chunked) as soon as it passes the limit, so that no request makes the
server hold more than the limit. A body must be UTF-8 JSON: an object nested at most
``DEPTH_LIMIT`` deep (Python's parser recurses once per level and raises ``RecursionError``
some hundreds deep), whose strings hold no unpaired surrogate (SQLite and hashing cannot
encode one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import chain, compress
from typing import Any

from starlette.requests import Request

from reconciler.sandbox.context import ApiError

DEPTH_LIMIT = 64
"""Levels of JSON nesting a body may have; the API's own bodies have two."""

# A Content-Length this long is beyond any limit; int() of it would be wasted work.
_HUGE_LENGTH_DIGITS = 18


class BodyReader:
    """Reads one request's body, at most ``limit`` bytes; says whether any was left unread."""

    def __init__(self, request: Request, limit: int) -> None:
        self._request = request
        self._limit = limit
        self._done = False

    @property
    def unread(self) -> bool:
        """Whether the client sent (or announced) a body that was not read to its end."""
        return not self._done and announces_body(self._request)

    async def read(self) -> bytes:
        """The whole body; 413 as soon as it is known to be longer than the limit."""
        declared = self._request.headers.get("content-length", "")
        if declared.isdigit() and (
            len(declared) > _HUGE_LENGTH_DIGITS or int(declared) > self._limit
        ):
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await self._request.receive()
            if message["type"] == "http.disconnect":
                # Nobody will read this answer; it only ends the request quietly.
                raise ApiError(400, "Request body incomplete: the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                raise self._too_large()
            chunks.append(chunk)
            more = message.get("more_body", False)
        self._done = True
        return b"".join(chunks)

    def _too_large(self) -> ApiError:
        return ApiError(413, f"Request body too large: at most {self._limit} bytes")


def announces_body(request: Request) -> bool:
    """Whether ``request`` comes with a body (chunked, or a non-zero ``Content-Length``)."""
    headers = request.headers
    return "transfer-encoding" in headers or headers.get("content-length", "0") != "0"


def parse_object(raw: bytes) -> Mapping[str, Any]:
    """``raw`` as a JSON object: 400 unless UTF-8 JSON, an object, nested at most
    ``DEPTH_LIMIT`` deep, with no unpaired surrogate in a string."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "Invalid request body: not UTF-8") from None
    try:
        body = json.loads(text)
    except RecursionError:  # nested some hundreds deep: the parser gives up
        raise ApiError(400, _TOO_DEEP) from None
    except ValueError:
        raise ApiError(400, "Invalid request body: not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid request body: expected a JSON object")
    if _deeper_than(body, DEPTH_LIMIT):
        raise ApiError(400, _TOO_DEEP)
    if "\\u" in text:
        # Only an escape (\ud800) makes a surrogate; encoding the whole finds any.
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, "Invalid request body: a string holds a lone surrogate") from None
    return body


_TOO_DEEP = f"Invalid request body: nested more than {DEPTH_LIMIT} levels deep"
_IS_CONTAINER = frozenset((list, dict)).__contains__


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` containers deep (``value`` is one)."""
    level: list[Any] = [value]
    # One level at a time, filtering in C (compress, map): a body of a million scalars
    # costs tenths of a second, not seconds.
    for _ in range(limit):
        children = list(chain.from_iterable(n.values() if type(n) is dict else n for n in level))
        level = list(compress(children, map(_IS_CONTAINER, map(type, children))))
        if not level:
            return False
    return True
