"""The sandbox server under test: `reconcile serve`'s app on a real loopback port behind
the fault injector, and the CLI run as a user runs it (in this process, see inprocess.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.sandbox.accounts import Accounts
from reconciler.sandbox.app import create_app
from reconciler.targets.sqlite import Store
from tests.faults import Faults
from tests.inprocess import Result, run
from tests.servers import running

OPENAI_KEY = "sk-openai-e2e-SECRET-0123456789"
ANTHROPIC_KEY = "sk-ant-e2e-SECRET-9876543210"
KEYS = {"E2E_OPENAI_KEY": OPENAI_KEY, "E2E_ANTHROPIC_KEY": ANTHROPIC_KEY}


@dataclass
class Sandbox:
    """A running sandbox: its URL, its store (for assertions), faults, an admin token."""

    url: str
    store: Store
    faults: Faults
    admin: str

    def names(self) -> list[str]:
        return sorted(p.name for p in self.store.providers())

    def snapshot(self) -> list[tuple[str, str, bool, tuple[tuple[str, bool], ...]]]:
        out = []
        for p in self.store.providers():
            models = tuple((m["model_id"], bool(m["visible"])) for m in self.store.models(p.id))
            out.append((p.name, p.base_url, p.enabled, models))
        return sorted(out)


def admin_token(store: Store, email: str = "admin@localhost") -> str:
    """A long-lived access token for the admin ``email``, created if missing."""
    return Accounts(store).account_token(email=email, role="admin")


@contextmanager
def running_sandbox(path: Path, **app_options: float) -> Iterator[Sandbox]:
    """The sandbox app over a store at ``path``, served on a free port, faults in front."""
    store = Store(path)
    faults = Faults(create_app(store, **app_options))  # type: ignore[arg-type]
    with running(faults) as url:
        yield Sandbox(url=url, store=store, faults=faults, admin=admin_token(store))
    store.close()


def reconcile(
    *args: str, sandbox: Sandbox | None = None, token: str | None = None, **env: str
) -> Result:
    """Run the CLI as a user would, against the sandbox, with the test keys in the env."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("CLARAVERSE", "RECONCILE"))}
    full.update(KEYS)
    if sandbox is not None:
        full["RECONCILE_TARGET"] = sandbox.url
        full["CLARAVERSE_TOKEN"] = token if token is not None else sandbox.admin
    full.update(env)
    if token == "":
        full.pop("CLARAVERSE_TOKEN")
    return run(*args, env=full)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
