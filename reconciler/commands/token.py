"""``reconcile token``: a new access token for a sandbox account, created if missing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from reconciler.commands.common import EXIT_OK, Console
from reconciler.errors import ReconcilerError

Role = Literal["admin", "user"]


def token(
    *,
    state: str,
    email: str,
    role: Role,
    password_env: str | None,
    console: Console,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Print a token for ``email`` on the store ``state``; a password, if given, is read
    from the variable ``password_env`` of ``environ`` (the process's by default)."""
    from reconciler.sandbox.accounts import Accounts
    from reconciler.targets.sqlite import Store

    password = None
    if password_env:
        password = (os.environ if environ is None else environ).get(password_env)
        if not password:
            raise ReconcilerError(f"--password-env {password_env}: the variable is not set")
    if not Path(state).exists():
        console.err(
            f"Created the sandbox store {state} (serve it with: reconcile serve --state {state})"
        )
    store = Store(Path(state))
    try:
        console.out(Accounts(store).account_token(email=email, role=role, password=password) + "\n")
    finally:
        store.close()
    return EXIT_OK
