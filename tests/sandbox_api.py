"""The sandbox server's API under test: one server per test module, over real HTTP.

tests/conftest.py declares the fixtures ``served`` (one server per module) and ``sandbox``.
``fresh`` empties the store and makes a new admin and a plain user, so that each test starts
from nothing while the module shares one server and one fake upstream (each start and stop
of a server costs some tenths of a second).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from reconciler.sandbox.accounts import Accounts
from reconciler.sandbox.app import create_app
from reconciler.targets.sqlite import Store
from reconciler.upstream.discovery import FetchSettings
from reconciler.upstream.retry import RetryPolicy
from tests.sandbox import admin_token
from tests.servers import running
from tests.upstreams import Upstream, running_upstream

ADMIN_KEY = "sk-admin-key-0123456789"
USER_KEY = "sk-user-key-9876543210"
UPSTREAM_KEY = "sk-upstream-key-abcdef"
PASSWORD = "user-password"

Served = tuple[httpx.Client, Store, Upstream]


class Caller:
    """Requests over the module's shared client, with one token (or none)."""

    def __init__(self, http: httpx.Client, token: str | None) -> None:
        self._http = http
        self._headers = {"authorization": f"Bearer {token}"} if token else {}

    def __enter__(self) -> Caller:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers, **kwargs.pop("headers", {})}
        return self._http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@dataclass
class Sandbox:
    """The running server, its store, an admin's and a user's access tokens."""

    http: httpx.Client
    store: Store
    upstream: Upstream
    admin_token: str
    user_token: str
    user_id: int

    @property
    def accounts(self) -> Accounts:
        return Accounts(self.store)

    def admin(self) -> Caller:
        return Caller(self.http, self.admin_token)

    def user(self) -> Caller:
        return Caller(self.http, self.user_token)

    def anonymous(self) -> Caller:
        return Caller(self.http, None)

    def bearer(self, token: str) -> Caller:
        return Caller(self.http, token)

    def set_password(self) -> None:
        """Give the user a password to log in with (scrypt is slow: only where needed)."""
        self.accounts.account_token(email="user@example.com", password=PASSWORD)

    def create(self, name: str = "OpenAI", **fields: Any) -> dict[str, Any]:
        """Create a provider through the API; its answer."""
        body = {"name": name, "base_url": "https://api.openai.com/v1", "api_key": ADMIN_KEY}
        body.update(fields)
        with self.admin() as client:
            response = client.post("/api/admin/providers", json=body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def add_models(self, provider_id: int, *ids: str, visible: tuple[str, ...] = ()) -> None:
        self.store.replace_models(provider_id, [(i, None) for i in ids])
        self.store.set_visibility(provider_id, visible, True)


@contextmanager
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A sandbox server over a new store, a fake upstream, and a client to the server."""
    store = Store(tmp_path_factory.mktemp("server") / "s.db")
    # One attempt, short timeouts: a failing upstream fails the test fast.
    settings = FetchSettings(connect_timeout=2, read_timeout=5, retry=RetryPolicy(max_attempts=1))
    try:
        with (
            running_upstream() as upstream,
            running(create_app(store, fetch_settings=settings)) as url,
            httpx.Client(base_url=url, timeout=10) as http,
        ):
            yield http, store, upstream
    finally:
        store.close()


def fresh(served: Served) -> Sandbox:
    """The module's server, emptied, with a new admin and a plain user."""
    http, store, upstream = served
    with store.transaction() as c:  # cascades to models, tokens and user keys
        c.execute("DELETE FROM providers")
        c.execute("DELETE FROM users")
    upstream.state.reset()
    accounts = Accounts(store)
    user_id = accounts.create_user("user@example.com", "user", None)
    return Sandbox(
        http=http,
        store=store,
        upstream=upstream,
        admin_token=admin_token(store),
        user_token=accounts.issue_token(user_id),
        user_id=user_id,
    )
