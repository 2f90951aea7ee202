"""Pacing: nothing is slowed before a server says 429; after it, every request waits for
the time asked, then keeps under the rate the server accepted. A clock that tests move."""

from __future__ import annotations

import httpx
import pytest

from reconciler.upstream.pacing import Pacer
from reconciler.upstream.retry import MAX_RATE_LIMITED, RetryPolicy, send


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def paced(clock: Clock, **options: object) -> Pacer:
    return Pacer(clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


def test_nothing_waits_before_the_server_limits() -> None:
    clock = Clock()
    pacer = paced(clock)
    for _ in range(50):
        pacer.before_request()
    assert clock.slept == [] and pacer.per_minute is None


def test_a_429_pauses_for_the_time_asked_then_paces_under_the_accepted_rate() -> None:
    clock = Clock()
    notices: list[tuple[float, str]] = []
    pacer = paced(clock, on_wait=lambda s, why: notices.append((s, why)))
    sent = [pacer.before_request() for _ in range(21)]  # 20 accepted, the 21st refused
    pacer.rate_limited(60, sent_at=sent[-1])
    assert pacer.per_minute == pytest.approx(18.0)  # 90% of 20 per minute
    pacer.before_request()
    assert clock.slept == [pytest.approx(60.0)]
    pacer.before_request()
    assert clock.slept[-1] == pytest.approx(60 / 18)
    ((seconds, why),) = notices
    assert seconds == 60 and "waiting 60 s" in why and "about 18 requests per minute" in why


def test_a_second_429_slows_the_pace_further_without_a_second_notice_while_waiting() -> None:
    clock = Clock()
    notices: list[float] = []
    pacer = paced(clock, max_per_minute=60, on_wait=lambda s, _: notices.append(s))
    pacer.before_request()
    pacer.rate_limited(5)
    pacer.rate_limited(5)
    assert pacer.per_minute == pytest.approx(60 * 0.8 * 0.8)
    assert notices == [5]


def test_429s_of_requests_already_in_flight_do_not_slow_the_pace_again() -> None:
    clock = Clock()
    pacer = paced(clock)
    in_flight = [pacer.before_request() for _ in range(13)]  # 10 accepted, 3 refused
    for sent in in_flight[10:]:
        pacer.rate_limited(1, sent_at=sent)
    assert pacer.per_minute == pytest.approx(60 * 10 * 0.9)
    later = pacer.before_request()  # sent at the new pace, and refused all the same
    pacer.rate_limited(1, sent_at=later)
    assert pacer.per_minute == pytest.approx(60 * 10 * 0.9 * 0.8)


def test_max_rate_paces_from_the_start() -> None:
    clock = Clock()
    pacer = paced(clock, max_per_minute=120)
    pacer.before_request()
    pacer.before_request()
    assert clock.slept == [pytest.approx(0.5)]


def limited(statuses: list[int], body: dict[str, object]) -> httpx.Client:
    answers = iter(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(status, json=body if status == 429 else {"ok": True})

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_send_waits_out_429s_with_retry_after_in_the_body_without_counting_attempts() -> None:
    clock = Clock()
    pacer = paced(clock)
    body = {"error": "Too many requests. Please slow down.", "retry_after": 7}
    with limited([429] * 6 + [200], body) as client:
        request = client.build_request("PUT", "http://server/api/admin/providers/1", json={})
        response = send(client, request, policy=RetryPolicy(max_attempts=1), pacer=pacer)
    assert response.status_code == 200
    assert clock.slept[0] == pytest.approx(7.0)


def test_send_gives_the_429_back_after_the_most_waits() -> None:
    clock = Clock()
    with limited([429] * (MAX_RATE_LIMITED + 1), {"retry_after": 1}) as client:
        request = client.build_request("GET", "http://server/api/admin/providers")
        response = send(client, request, policy=RetryPolicy(max_attempts=1), pacer=paced(clock))
    assert response.status_code == 429
