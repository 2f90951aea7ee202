"""Our HTTP retry policy: exponential backoff, ``Retry-After``, and no blind re-sends.

httpx's own ``retries=`` (on ``HTTPTransport``) covers only failures to connect. We also
need to retry rate limits (429) and overloaded gateways (502, 503, 504) while honouring
``Retry-After``, and to refuse to re-send a request whose outcome is unknown when re-sending
could do the work twice (a POST that creates a provider and then times out). ``send`` is
that policy, shared by every HTTP client in the package (upstream model listings, the
ClaraVerse target).

What is retried:

    failure                                     retried?
    ConnectError, ConnectTimeout, PoolTimeout   always: the request never left
    WriteError, WriteTimeout                    always: the request never arrived whole
    429, 503                                    always: refused, not done; Retry-After honoured
    ReadTimeout, ReadError, RemoteProtocolError only if ``retry_read_timeout``: the server may
    502, 504                                    have acted on the request before we lost it
    anything else                               never
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from reconciler.upstream.pacing import Pacer

__all__ = [
    "MAX_RATE_LIMITED",
    "RETRY_STATUSES",
    "SAFE_METHODS",
    "RetryPolicy",
    "retry_after_seconds",
    "send",
    "url_for_logs",
]

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
"""Statuses that mean "not now": worth another attempt after a pause."""

MAX_RATE_LIMITED = 20
"""429s one paced request sits out before its last answer is returned as it is."""

MAX_PATIENCE = 300.0
"""The longest single wait a server's 429 gets; longer ones are cut to this."""

# 429 and 503 say the server turned the request down; a gateway's 502 or 504 says it lost
# track of it, and the backend may well have done the work.
_REFUSED_STATUSES = frozenset({429, 503})

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: re-sending them is always harmless."""

# The request cannot have reached the application: nothing was done, re-sending is safe.
_NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)
# The request may have been received and acted upon before the answer was lost.
_UNKNOWN_OUTCOME_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How many times to try a request and how long to wait in between."""

    max_attempts: int = 4
    # Seconds; attempt n waits base * 2**(n-1), times 1..1+jitter.
    backoff_base: float = 0.5
    # Caps both the backoff and a server's Retry-After: a server asking for an hour of
    # patience gets an error sooner rather than a CI job that hangs.
    max_backoff: float = 30.0
    # Spread of the random factor, so that parallel clients do not retry in lockstep.
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base < 0 or self.max_backoff < 0 or self.jitter < 0:
            raise ValueError("backoff_base, max_backoff and jitter must not be negative")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        # Bounded exponent: 2.0 ** 1024 overflows, and 2**64 is past any sane cap anyway.
        delay = self.backoff_base * 2.0 ** min(attempt - 1, 64)
        delay *= 1 + random.uniform(0, self.jitter)
        return min(delay, self.max_backoff)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delay-seconds or HTTP-date), or None.

    None when the header is missing or unreadable; a date in the past gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        # float() also accepts "nan" and "inf"; neither is a delay.
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; parsedate_to_datetime leaves "-0000" naive.
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def send(
    client: httpx.Client,
    request: httpx.Request,
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    retry_read_timeout: bool | None = None,
    pacer: Pacer | None = None,
) -> httpx.Response:
    """Send ``request`` with ``client``, retrying as ``policy`` allows.

    ``retry_read_timeout`` says whether a request whose outcome is unknown (a read
    timeout, a connection dropped mid-answer, a gateway's 502/504) may be sent again;
    None means only for safe methods (GET, HEAD, OPTIONS). A POST that creates something
    must pass False and re-observe instead. After the last attempt the last response is
    returned, whatever its status, or the last exception is raised. The request body must
    be bytes, not a stream, so that it can be sent again.

    With a ``pacer``, every attempt waits for its turn, and a 429 is not an attempt: the
    pacer waits as long as the server asks (``Retry-After``, or ``retry_after`` in a JSON
    body) and slows down, up to ``MAX_RATE_LIMITED`` times for one request.
    """
    if retry_read_timeout is None:
        retry_read_timeout = request.method.upper() in SAFE_METHODS
    retryable_errors = _NOT_SENT_ERRORS + (_UNKNOWN_OUTCOME_ERRORS if retry_read_timeout else ())
    retryable_statuses = RETRY_STATUSES if retry_read_timeout else _REFUSED_STATUSES
    where = f"{request.method} {url_for_logs(request.url)}"

    attempt = 1
    limited = 0
    while True:
        sent_at = pacer.before_request() if pacer is not None else None
        try:
            response = client.send(request)
        except retryable_errors as exc:
            if attempt >= policy.max_attempts or _tls_refused(exc):
                raise
            delay = policy.backoff(attempt)
            _log_retry(f"{where} failed ({type(exc).__name__})", attempt, policy, delay)
        else:
            if pacer is not None and response.status_code == 429 and limited < MAX_RATE_LIMITED:
                limited += 1
                asked = _asked_delay(response)
                pacer.rate_limited(
                    policy.backoff(limited) if asked is None else asked, sent_at=sent_at
                )
                response.close()
                continue
            if response.status_code not in retryable_statuses or attempt >= policy.max_attempts:
                return response
            delay = _delay_after(response, attempt, policy)
            # The body is already read (not streamed); closing frees the connection.
            response.close()
            _log_retry(f"{where} answered {response.status_code}", attempt, policy, delay)
        sleep(delay)
        attempt += 1


def _log_retry(what: str, attempt: int, policy: RetryPolicy, delay: float) -> None:
    logger.debug("%s; attempt %d of %d in %.2f s", what, attempt + 1, policy.max_attempts, delay)


def _tls_refused(exc: BaseException) -> bool:
    """A TLS handshake that failed (a certificate that does not verify, a server that does
    not speak TLS on that port) will fail the same way in a second."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "WRONG_VERSION_NUMBER" in text


def _delay_after(response: httpx.Response, attempt: int, policy: RetryPolicy) -> float:
    if response.status_code in _REFUSED_STATUSES:
        asked = _asked_delay(response)
        if asked is not None:
            return min(asked, policy.max_backoff)
    return policy.backoff(attempt)


def _asked_delay(response: httpx.Response) -> float | None:
    """Seconds the server asked for: a ``Retry-After`` header, else ``retry_after`` in a
    JSON body (real ClaraVerse servers send only the latter); at most MAX_PATIENCE."""
    asked = retry_after_seconds(response.headers.get("retry-after"))
    if asked is None and response.headers.get("content-type", "").startswith("application/json"):
        try:
            body = response.json()
        except ValueError:
            body = None
        value = body.get("retry_after") if isinstance(body, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            asked = float(value)
    return None if asked is None else min(asked, MAX_PATIENCE)


def url_for_logs(url: httpx.URL) -> str:
    """``url`` without query, fragment and userinfo: where a careless URL keeps a key."""
    return str(url.copy_with(query=None, fragment=None, userinfo=b""))
