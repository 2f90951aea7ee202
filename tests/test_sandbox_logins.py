"""Login rate limits: the budgets themselves (a fake clock), then over real HTTP: 429 with
``Retry-After`` per account and per client address, successful logins never limited, and
other requests answered while logins hash passwords."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler.sandbox import accounts as accounts_module
from reconciler.sandbox.accounts import Accounts
from reconciler.sandbox.app import create_app
from reconciler.sandbox.logins import LoginLimiter, LoginLimits, Rate
from reconciler.targets.sqlite import Store
from tests.sandbox import admin_token
from tests.servers import running

PASSWORD = "right-password"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limiter(account: Rate, address: Rate, **options: Any) -> tuple[LoginLimiter, Clock]:
    clock = Clock()
    limits = LoginLimits(account=account, address=address)
    return LoginLimiter(limits, clock=clock, **options), clock


# --- the budgets -------------------------------------------------------------------------


def test_an_account_has_its_attempts_then_waits_for_the_next() -> None:
    limiter, clock = _limiter(Rate(3, 60), Rate(100, 60))
    assert [limiter.take("a@x", "10.0.0.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a@x", "10.0.0.1") == pytest.approx(20.0)  # one attempt per 20 s
    clock.now += 15
    assert limiter.take("a@x", "10.0.0.1") == pytest.approx(5.0)
    clock.now += 5
    assert limiter.take("a@x", "10.0.0.1") == 0.0


def test_another_account_and_another_address_are_not_limited() -> None:
    limiter, _ = _limiter(Rate(1, 60), Rate(100, 60))
    assert limiter.take("a@x", "10.0.0.1") == 0.0
    assert limiter.take("a@x", "10.0.0.2") > 0  # the account's budget, from anywhere
    assert limiter.take("b@x", "10.0.0.1") == 0.0


def test_an_address_is_limited_across_accounts() -> None:
    limiter, _ = _limiter(Rate(100, 60), Rate(2, 60))
    assert limiter.take("a@x", "10.0.0.1") == limiter.take("b@x", "10.0.0.1") == 0.0
    assert limiter.take("c@x", "10.0.0.1") == pytest.approx(30.0)
    assert limiter.take("c@x", "10.0.0.2") == 0.0


def test_a_refused_attempt_spends_nothing() -> None:
    limiter, clock = _limiter(Rate(1, 60), Rate(2, 60))
    assert limiter.take("a@x", "10.0.0.1") == 0.0
    for _ in range(10):
        assert limiter.take("a@x", "10.0.0.1") > 0
    # The address's second attempt was never spent by the refusals.
    assert limiter.take("b@x", "10.0.0.1") == 0.0
    clock.now += 60
    assert limiter.take("a@x", "10.0.0.1") == 0.0


def test_successful_logins_give_their_attempts_back() -> None:
    limiter, _ = _limiter(Rate(2, 60), Rate(2, 60))
    for _ in range(50):
        assert limiter.take("a@x", "10.0.0.1") == 0.0
        limiter.give_back("a@x", "10.0.0.1")


def test_budgets_held_are_bounded() -> None:
    limiter, _ = _limiter(Rate(1, 60), Rate(1000, 60), max_budgets=10)
    for i in range(100):
        limiter.take(f"user{i}@x", "10.0.0.1")
    assert len(limiter._budgets) <= 10
    # The oldest went first: that account's budget is full again.
    assert limiter.take("user0@x", "10.0.0.2") == 0.0


def test_a_rate_needs_an_attempt_and_a_time() -> None:
    with pytest.raises(ValueError):
        Rate(0, 60)
    with pytest.raises(ValueError):
        Rate(1, 0)


# --- over HTTP ---------------------------------------------------------------------------


class Counted:
    """An ASGI app that counts the requests that reached it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.started = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.started += 1  # the event loop's thread only: no lock needed
        await self.app(scope, receive, send)


@dataclass
class Server:
    url: str
    store: Store
    app: Counted


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A server whose accounts may fail 3 logins and whose addresses 5, a minute."""
    store = Store(tmp_path / "s.db")
    accounts = Accounts(store)
    accounts.account_token(email="ops@example.com", role="admin", password=PASSWORD)
    limits = LoginLimits(account=Rate(3, 60), address=Rate(5, 60))
    app = Counted(create_app(store, login_limits=limits))
    try:
        with running(app) as url:
            yield Server(url, store, app)
    finally:
        store.close()


def _login(url: str, email: str, password: str, source: str = "127.0.0.1") -> httpx.Response:
    # A loopback source address of the test's choice: one client address per test. Plain
    # HTTP: verify=False only skips loading the CA bundle (a tenth of a second a client).
    transport = httpx.HTTPTransport(local_address=source, verify=False)
    with httpx.Client(base_url=url, transport=transport, timeout=10) as client:
        return client.post("/api/auth/login", json={"email": email, "password": password})


def test_an_account_with_too_many_failed_logins_is_429_with_retry_after(server: Server) -> None:
    statuses = [_login(server.url, "ops@example.com", "wrong").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    # The right password, the same account (written another way): refused all the same.
    refused = _login(server.url, "OPS@example.com ", PASSWORD)
    assert refused.status_code == 429
    seconds = int(refused.headers["retry-after"])
    assert 1 <= seconds <= 20
    assert refused.json() == {
        "error": f"Too many login attempts: retry in {seconds} s",
        "retry_after": seconds,
    }


def test_an_address_with_too_many_failed_logins_is_429(server: Server) -> None:
    for i in range(5):
        assert _login(server.url, f"nobody{i}@example.com", "x", "127.0.0.2").status_code == 401
    assert _login(server.url, "ops@example.com", PASSWORD, "127.0.0.2").status_code == 429
    # Another address is not limited by it.
    assert _login(server.url, "ops@example.com", PASSWORD, "127.0.0.3").status_code == 200


def test_successful_logins_are_never_limited(server: Server) -> None:
    for _ in range(7):
        assert _login(server.url, "ops@example.com", PASSWORD).status_code == 200


def test_other_requests_are_answered_while_logins_hash(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    hashing = threading.Semaphore(0)

    def blocked_check(password: str, stored: str | None) -> bool:
        hashing.release()
        release.wait(30)
        return False

    monkeypatch.setattr(accounts_module, "_check_password", blocked_check)
    token = admin_token(server.store)
    # More logins than the threads all requests share (anyio's default: 40), each for its
    # own account from its own address, so that no budget stops one before it hashes.
    count = 50
    with ThreadPoolExecutor(count) as pool:
        try:
            logins = [
                pool.submit(_login, server.url, f"u{i}@example.com", "x", f"127.0.1.{i}")
                for i in range(1, count + 1)
            ]
            assert hashing.acquire(timeout=10)
            _wait_for(lambda: server.app.started >= count)
            answer = httpx.get(
                f"{server.url}/api/admin/providers",
                headers={"authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert answer.status_code == 200
        finally:
            release.set()
        statuses = [f.result().status_code for f in logins]
    assert statuses == [401] * count


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the logins did not all reach the server"
        time.sleep(0.01)
