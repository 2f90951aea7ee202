"""The sandbox server's accounts: users, their passwords and tokens, their own provider keys.

These tables are the sandbox's alone (the embedded target never reads them), so the
sandbox creates them itself, in the store's file, when ``Accounts`` is made. Stores made
by earlier releases already hold them (the store's migration 2 used to create them):
``CREATE TABLE IF NOT EXISTS`` keeps their accounts. ``user_keys`` references the store's
providers with ON DELETE CASCADE, so deleting a provider deletes its user keys.

Tokens are random strings stored only as SHA-256 hashes; passwords as salted scrypt
hashes; user keys in clear, as the admin keys are (the file is private, mode 0600).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Literal

from reconciler.errors import ReconcilerError
from reconciler.secrets import Secret
from reconciler.targets.sqlite import Store

ACCESS_TTL = 900.0
"""Seconds an access token from login or refresh lives."""
REFRESH_TTL = 30 * 24 * 3600.0
"""Seconds a refresh token lives."""
LONG_TTL = 365 * 24 * 3600.0
"""Seconds a token made by ``reconcile token`` (``Accounts.account_token``) lives."""

Role = Literal["admin", "user"]
TokenKind = Literal["access", "refresh"]

_ROLES: dict[str, Role] = {"admin": "admin", "user": "user"}

# scrypt at n=2**14, r=8: 16 MiB and some tens of milliseconds per hash.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1

_TABLES = (
    """CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        role TEXT NOT NULL CHECK (role IN ('admin', 'user'))
    )""",
    """CREATE TABLE IF NOT EXISTS tokens (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
        expires_at REAL
    )""",
    """CREATE TABLE IF NOT EXISTS user_keys (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        provider_id INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
        api_key TEXT NOT NULL,
        PRIMARY KEY (user_id, provider_id)
    )""",
)


@dataclass(frozen=True, kw_only=True)
class User:
    """An account of the sandbox server."""

    id: int
    email: str
    role: Role


class Accounts:
    """The sandbox's users, tokens and user keys, in ``store``'s file (tables made here)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.transaction() as c:
            for table in _TABLES:
                c.execute(table)

    # --- users and tokens -------------------------------------------------------------

    def create_user(self, email: str, role: Role, password: str | None) -> int:
        """Add an account; its password (if any) is stored as a salted scrypt hash."""
        if role not in _ROLES:
            raise ReconcilerError(f"role must be 'admin' or 'user', not {role!r}")
        email = normal_email(email)
        if not email:
            raise ReconcilerError("an account needs an email")
        hashed = _hash_password(password) if password else None
        with self.store.transaction() as c:
            if c.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
                raise ReconcilerError(f"an account for {email} already exists")
            cur = c.execute(
                "INSERT INTO users (email, password_hash, role) VALUES (?, ?, ?)",
                (email, hashed, role),
            )
            return int(cur.lastrowid or 0)

    def issue_token(
        self, user_id: int, kind: TokenKind = "access", ttl: float | None = ACCESS_TTL
    ) -> str:
        """A new random token for ``user_id``, stored only as its SHA-256; ``ttl`` None
        never expires."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        expires_at = None if ttl is None else now + ttl
        with self.store.transaction() as c:
            c.execute("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
            c.execute(
                "INSERT INTO tokens (token_hash, user_id, kind, expires_at) VALUES (?, ?, ?, ?)",
                (_token_hash(token), user_id, kind, expires_at),
            )
        return token

    def account_token(
        self,
        *,
        email: str,
        role: Role = "user",
        password: str | None = None,
        ttl: float | None = LONG_TTL,
    ) -> str:
        """An access token for ``email``, creating the account with ``role`` if missing.

        An existing account keeps its role (a different ``role`` is an error); a
        ``password`` given replaces its password. This is what ``reconcile token`` does.
        """
        found = self._user_by_email(email)
        if found is None:
            user_id = self.create_user(email, role, password)
        else:
            if found.role != role:
                raise ReconcilerError(
                    f"the account {found.email} exists with role '{found.role}', not '{role}'"
                )
            user_id = found.id
            if password:
                with self.store.transaction() as c:
                    c.execute(
                        "UPDATE users SET password_hash = ? WHERE id = ?",
                        (_hash_password(password), user_id),
                    )
        return self.issue_token(user_id, "access", ttl)

    def login(self, email: str, password: str) -> User | None:
        """The account whose email and password these are; None for any mismatch."""
        rows = self.store.query(
            "SELECT id, email, role, password_hash FROM users WHERE email = ?",
            (normal_email(email),),
        )
        stored = rows[0]["password_hash"] if rows else None
        if not _check_password(password, stored) or not rows:
            return None
        return _user(rows[0])

    def user_by_token(self, token: str, kind: TokenKind) -> User | None:
        """The account a live token of ``kind`` belongs to."""
        rows = self.store.query(
            "SELECT u.id, u.email, u.role FROM tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.token_hash = ? AND t.kind = ?"
            " AND (t.expires_at IS NULL OR t.expires_at > ?)",
            (_token_hash(token), kind, time.time()),
        )
        return _user(rows[0]) if rows else None

    def has_admin(self) -> bool:
        """Whether an admin account exists."""
        return bool(self.store.query("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1"))

    def _user_by_email(self, email: str) -> User | None:
        rows = self.store.query(
            "SELECT id, email, role FROM users WHERE email = ?", (normal_email(email),)
        )
        return _user(rows[0]) if rows else None

    # --- users' own provider keys -----------------------------------------------------

    def providers_with_own_key(self, user_id: int) -> set[int]:
        """The ids of the providers for which ``user_id`` set a key of their own."""
        rows = self.store.query("SELECT provider_id FROM user_keys WHERE user_id = ?", (user_id,))
        return {int(r["provider_id"]) for r in rows}

    def set_own_key(self, user_id: int, provider_id: int, api_key: str | Secret) -> None:
        """Set (or replace) ``user_id``'s own key for a provider."""
        value = api_key.reveal() if isinstance(api_key, Secret) else api_key
        with self.store.transaction() as c:
            c.execute(
                "INSERT INTO user_keys (user_id, provider_id, api_key) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id, provider_id) DO UPDATE SET api_key = excluded.api_key",
                (user_id, provider_id, value),
            )

    def delete_own_key(self, user_id: int, provider_id: int) -> None:
        """Remove ``user_id``'s own key for a provider, if any."""
        with self.store.transaction() as c:
            c.execute(
                "DELETE FROM user_keys WHERE user_id = ? AND provider_id = ?",
                (user_id, provider_id),
            )


def normal_email(email: str) -> str:
    """An email as accounts are found by it: trimmed, lower case."""
    return email.strip().lower()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def _check_password(password: str, stored: str | None) -> bool:
    if stored is None:
        # Hash anyway, so that the answer takes as long as for a real account.
        _hash_password(password)
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:  # a malformed hash matches no password
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def _user(row: sqlite3.Row) -> User:
    return User(id=int(row["id"]), email=str(row["email"]), role=_ROLES[row["role"]])
