"""The sandbox's accounts over real HTTP: tokens, login, refresh, and ``reconcile token``'s
``account_token``; and the tables the sandbox makes for them in the store's file."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from reconciler.errors import ReconcilerError
from reconciler.sandbox.accounts import Accounts, User
from reconciler.secrets import Secret
from reconciler.targets.sqlite import Store
from tests.sandbox_api import (
    PASSWORD,
    Sandbox,
)
from tests.stores import add, old_store

# --- authentication ------------------------------------------------------------------


def test_admin_route_without_token_is_401(sandbox: Sandbox) -> None:
    with sandbox.anonymous() as client:
        response = client.get("/api/admin/providers")
    assert response.status_code == 401
    assert "error" in response.json()


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer"])
def test_admin_route_with_wrong_token_is_401(sandbox: Sandbox, header: str) -> None:
    with sandbox.anonymous() as client:
        response = client.get("/api/admin/providers", headers={"authorization": header})
    assert response.status_code == 401
    assert "error" in response.json()


def test_expired_token_is_401(sandbox: Sandbox) -> None:
    admin_id = sandbox.store.query("SELECT id FROM users WHERE role = 'admin'")[0]["id"]
    expired = sandbox.accounts.issue_token(admin_id, ttl=-1)
    with sandbox.bearer(expired) as client:
        response = client.get("/api/admin/providers")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or expired token"}


def test_refresh_token_is_not_an_access_token(sandbox: Sandbox) -> None:
    admin_id = sandbox.store.query("SELECT id FROM users WHERE role = 'admin'")[0]["id"]
    refresh = sandbox.accounts.issue_token(admin_id, "refresh", ttl=60)
    with sandbox.bearer(refresh) as client:
        assert client.get("/api/admin/providers").status_code == 401


def test_user_token_on_admin_route_is_403(sandbox: Sandbox) -> None:
    with sandbox.user() as client:
        response = client.get("/api/admin/providers")
    assert response.status_code == 403
    assert response.json() == {"error": "Superadmin access required"}


def test_user_routes_need_a_token(sandbox: Sandbox) -> None:
    with sandbox.anonymous() as client:
        assert client.get("/api/providers").status_code == 401
        assert client.put("/api/user/providers/1/key", json={"api_key": "x"}).status_code == 401


def test_login_answers_tokens_and_user(sandbox: Sandbox) -> None:
    sandbox.set_password()
    with sandbox.anonymous() as client:
        response = client.post(
            "/api/auth/login", json={"email": "USER@example.com", "password": PASSWORD}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["user"] == {"id": sandbox.user_id, "email": "user@example.com", "role": "user"}
        assert body["expires_in"] == 900
        assert body["access_token"] and body["refresh_token"]
        mine = client.get(
            "/api/providers", headers={"authorization": f"Bearer {body['access_token']}"}
        )
    assert mine.status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "user@example.com", "password": "wrong"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": "admin@localhost", "password": ""},  # an account without a password
        {},
    ],
)
def test_login_with_wrong_credentials_is_401(sandbox: Sandbox, credentials: dict[str, str]) -> None:
    sandbox.set_password()
    with sandbox.anonymous() as client:
        response = client.post("/api/auth/login", json=credentials)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid email or password"}


def test_refresh_issues_a_working_access_token(sandbox: Sandbox) -> None:
    sandbox.set_password()
    with sandbox.anonymous() as client:
        login = client.post(
            "/api/auth/login", json={"email": "user@example.com", "password": PASSWORD}
        ).json()
        response = client.post("/api/auth/refresh", json={"refresh_token": login["refresh_token"]})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"access_token", "expires_in"}
        assert body["access_token"] != login["access_token"]
        headers = {"authorization": f"Bearer {body['access_token']}"}
        assert client.get("/api/providers", headers=headers).status_code == 200


@pytest.mark.parametrize("which", ["garbage", "access", "missing"])
def test_refresh_with_a_bad_token_is_401(sandbox: Sandbox, which: str) -> None:
    body = {"garbage": {"refresh_token": "nope"}, "access": {"refresh_token": sandbox.user_token}}
    with sandbox.anonymous() as client:
        response = client.post("/api/auth/refresh", json=body.get(which, {}))
    assert response.status_code == 401
    assert "error" in response.json()


def test_tokens_and_passwords_are_stored_hashed(sandbox: Sandbox) -> None:
    sandbox.set_password()
    with sandbox.anonymous() as client:
        login = client.post(
            "/api/auth/login", json={"email": "user@example.com", "password": PASSWORD}
        ).json()
    raw = [sandbox.admin_token, sandbox.user_token, login["access_token"], login["refresh_token"]]
    files = sorted(sandbox.store.path.parent.glob(sandbox.store.path.name + "*"))
    assert files  # s.db, and its WAL while the store is open
    data = b"".join(f.read_bytes() for f in files)
    for secret in [*raw, PASSWORD]:
        assert secret.encode() not in data


def test_account_token_refuses_to_change_a_role(sandbox: Sandbox) -> None:
    with pytest.raises(ReconcilerError, match="exists with role 'user'"):
        sandbox.accounts.account_token(email="user@example.com", role="admin")


def test_account_token_sets_a_password_to_log_in_with(sandbox: Sandbox) -> None:
    sandbox.accounts.account_token(email="ops@example.com", password="s3cret-pass")
    with sandbox.anonymous() as client:
        response = client.post(
            "/api/auth/login", json={"email": "ops@example.com", "password": "s3cret-pass"}
        )
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "user"


# --- the sandbox's own tables ----------------------------------------------------------


def _tables(store: Store) -> set[str]:
    return {r["name"] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}


def test_accounts_make_their_tables_in_a_store_without_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        assert "users" not in _tables(store)
        accounts = Accounts(store)
        assert {"users", "tokens", "user_keys"} <= _tables(store)
        token = accounts.account_token(email="ops@example.com", role="admin")
        assert Accounts(store).user_by_token(token, "access") is not None  # made once, kept
    finally:
        store.close()


def test_a_sandbox_store_from_an_earlier_release_keeps_its_accounts(tmp_path: Path) -> None:
    path = old_store(tmp_path / "s.db", migrations=2)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO users (email, role) VALUES ('ops@example.com', 'admin')")
    token_hash = hashlib.sha256(b"token-of-an-earlier-release").hexdigest()
    conn.execute("INSERT INTO tokens VALUES (?, 1, 'access', NULL)", (token_hash,))
    conn.execute("INSERT INTO user_keys VALUES (1, 1, 'sk-own-key')")
    conn.commit()
    conn.close()
    store = Store(path)
    try:
        accounts = Accounts(store)
        user = accounts.user_by_token("token-of-an-earlier-release", "access")
        assert user == User(id=1, email="ops@example.com", role="admin")
        assert accounts.providers_with_own_key(1) == {1}
    finally:
        store.close()


def test_a_users_own_key_goes_with_its_provider(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        accounts = Accounts(store)
        user_id = accounts.create_user("dev@example.com", "user", None)
        kept, gone = add(store, "Kept"), add(store, "Gone")
        for provider_id in (kept, gone):
            accounts.set_own_key(user_id, provider_id, Secret("sk-own"))
        store.delete_provider(gone)
        assert accounts.providers_with_own_key(user_id) == {kept}
    finally:
        store.close()
