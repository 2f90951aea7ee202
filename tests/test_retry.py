"""The retry policy, against a real server that answers from a script."""

from __future__ import annotations

import asyncio
import email.utils
import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from reconciler.upstream.retry import RetryPolicy, retry_after_seconds, send
from tests.servers import running

FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, max_backoff=30.0, jitter=0.0)


@dataclass(frozen=True)
class Answer:
    """One scripted answer: a status, headers, and a pause before it."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Script:
    """An ASGI app answering each request with the next ``Answer`` (200 when none left)."""

    answers: deque[Answer] = field(default_factory=deque)
    methods: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        self.methods.append(request.method)
        answer = self.answers.popleft() if self.answers else Answer()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + answer.delay
        while loop.time() < deadline:
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.02)
        await Response(b"{}", status_code=answer.status, headers=answer.headers)(
            scope, receive, send
        )


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Script, str]]:
    script = Script()
    with running(script) as url:
        yield script, url


@pytest.fixture
def script(served: tuple[Script, str]) -> Script:
    served[0].answers.clear()
    served[0].methods.clear()
    return served[0]


@pytest.fixture
def url(served: tuple[Script, str]) -> str:
    return served[1]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(2.0, read=0.3)) as client:
        yield client


class RecordingSleep:
    """Stands in for time.sleep: remembers the pauses instead of taking them."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


def test_retry_after_seconds_is_honoured(script: Script, client: httpx.Client, url: str) -> None:
    script.answers.extend([Answer(429, {"Retry-After": "3"}), Answer(200)])
    sleep = RecordingSleep()

    response = send(client, client.build_request("GET", url), policy=FAST, sleep=sleep)

    assert response.status_code == 200
    assert sleep.pauses == [3.0]
    assert len(script.methods) == 2


def test_retry_after_http_date_is_honoured(script: Script, client: httpx.Client, url: str) -> None:
    when = datetime.now(UTC) + timedelta(seconds=20)
    script.answers.extend([Answer(503, {"Retry-After": email.utils.format_datetime(when, True)})])
    sleep = RecordingSleep()

    response = send(client, client.build_request("GET", url), policy=FAST, sleep=sleep)

    assert response.status_code == 200
    [pause] = sleep.pauses
    assert 17.0 < pause <= 20.0


def test_retry_after_is_capped_by_max_backoff(
    script: Script, client: httpx.Client, url: str
) -> None:
    script.answers.extend([Answer(429, {"Retry-After": "3600"})])
    sleep = RecordingSleep()
    policy = RetryPolicy(backoff_base=0.01, max_backoff=5.0)

    send(client, client.build_request("GET", url), policy=policy, sleep=sleep)

    assert sleep.pauses == [5.0]


def test_backoff_doubles_without_retry_after(
    script: Script, client: httpx.Client, url: str
) -> None:
    script.answers.extend([Answer(502), Answer(504), Answer(503)])
    sleep = RecordingSleep()

    response = send(client, client.build_request("GET", url), policy=FAST, sleep=sleep)

    assert response.status_code == 200
    assert sleep.pauses == pytest.approx([0.01, 0.02, 0.04])


def test_gives_up_after_max_attempts_with_the_last_response(
    script: Script, client: httpx.Client, url: str
) -> None:
    script.answers.extend([Answer(503), Answer(503), Answer(429), Answer(200)])
    sleep = RecordingSleep()
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01)

    response = send(client, client.build_request("GET", url), policy=policy, sleep=sleep)

    assert response.status_code == 429
    assert len(script.methods) == 3
    assert len(sleep.pauses) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 409, 500])
def test_other_statuses_are_not_retried(
    script: Script, client: httpx.Client, url: str, status: int
) -> None:
    script.answers.extend([Answer(status)])
    sleep = RecordingSleep()

    response = send(client, client.build_request("GET", url), policy=FAST, sleep=sleep)

    assert response.status_code == status
    assert len(script.methods) == 1
    assert sleep.pauses == []


def test_read_timeout_is_retried_for_get_by_default(
    script: Script, client: httpx.Client, url: str
) -> None:
    script.answers.extend([Answer(delay=2.0), Answer(delay=2.0)])

    response = send(client, client.build_request("GET", url), policy=FAST, sleep=RecordingSleep())

    assert response.status_code == 200
    assert len(script.methods) == 3


def test_read_timeout_is_not_retried_when_disabled(
    script: Script, client: httpx.Client, url: str
) -> None:
    script.answers.extend([Answer(delay=2.0)])
    sleep = RecordingSleep()
    request = client.build_request("POST", url, json={"name": "OpenAI"})

    with pytest.raises(httpx.ReadTimeout):
        send(client, request, policy=FAST, sleep=sleep, retry_read_timeout=False)

    assert script.methods == ["POST"]
    assert sleep.pauses == []


def test_post_is_not_resent_after_a_gateway_timeout_by_default(
    script: Script, client: httpx.Client, url: str
) -> None:
    # A 504 from a proxy: the backend may have created the provider already.
    script.answers.extend([Answer(504)])

    response = send(client, client.build_request("POST", url, json={}), policy=FAST)

    assert response.status_code == 504
    assert script.methods == ["POST"]


def test_post_is_resent_after_a_rate_limit(script: Script, client: httpx.Client, url: str) -> None:
    # A 429 means the server turned the request down: nothing was created.
    script.answers.extend([Answer(429, {"Retry-After": "0"})])
    sleep = RecordingSleep()

    request = client.build_request("POST", url, json={"name": "OpenAI"})
    response = send(client, request, policy=FAST, sleep=sleep, retry_read_timeout=False)

    assert response.status_code == 200
    assert script.methods == ["POST", "POST"]
    assert sleep.pauses == [0.0]


def test_connection_refused_is_retried_then_raised(client: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleep = RecordingSleep()
    request = client.build_request("POST", f"http://127.0.0.1:{port}/", json={})

    with pytest.raises(httpx.ConnectError):
        send(client, request, policy=FAST, sleep=sleep, retry_read_timeout=False)

    assert sleep.pauses == pytest.approx([0.01, 0.02, 0.04])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 2 ", 2.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_header_values(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


def test_retry_after_date_is_relative_to_now() -> None:
    now = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC)

    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 30.0


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0, max_value=100),
    cap=st.floats(min_value=0, max_value=100),
)
def test_backoff_stays_within_the_cap(attempt: int, base: float, cap: float) -> None:
    policy = RetryPolicy(backoff_base=base, max_backoff=cap)

    assert 0.0 <= policy.backoff(attempt) <= cap


def test_policy_refuses_zero_attempts() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
