"""Model fetches by the embedded target (issue 4), end to end: ``reconcile`` run as a user
runs it (in this process: see inprocess.py), against fake upstreams on loopback that count
every request they receive."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.targets.sqlite import Store
from tests.factories import provider_id, write_yaml
from tests.inprocess import run
from tests.upstreams import FakeModel, Flavour, Upstream, running_upstream

KEYS = {
    "OPENAI_KEY": "sk-openai-fetch-0f1e2d3c4b5a",
    "ANTHROPIC_KEY": "sk-ant-fetch-a1b2c3d4e5f6",
    "GOOGLE_KEY": "AIza-fetch-99887766554433",
}


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with running_upstream() as up:
        yield up


@pytest.fixture(autouse=True)
def _fresh_upstream(upstream: Upstream) -> None:
    upstream.state.reset()
    upstream.state.api_keys = {
        "openai": KEYS["OPENAI_KEY"],
        "anthropic": KEYS["ANTHROPIC_KEY"],
        "google": KEYS["GOOGLE_KEY"],
    }


def reconcile(cwd: Path, *args: str, keys: dict[str, str] = KEYS) -> Run:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RECONCILE_", "CLARAVERSE_")) and k != "NO_COLOR"
    }
    result = run(*args, env={**env, **keys}, cwd=cwd)
    return Run(result.returncode, result.stdout, result.stderr)


def provider(
    name: str, flavour: Flavour, url: str, key: str | None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": flavour, "base_url": url, **extra}
    if key is not None:
        out["api_key"] = f"${{{key}}}"
    return out


def three_providers(upstream: Upstream, **openai_extra: Any) -> list[dict[str, Any]]:
    return [
        provider("OpenAI", "openai", upstream.base_url("openai"), "OPENAI_KEY", **openai_extra),
        provider("Anthropic", "anthropic", upstream.base_url("anthropic"), "ANTHROPIC_KEY"),
        provider("Google", "google", upstream.base_url("google"), "GOOGLE_KEY"),
    ]


def models(tmp_path: Path, name: str) -> dict[str, tuple[str | None, bool]]:
    """Model id → (display name, visible) of provider ``name`` in the default store."""
    store = Store(tmp_path / ".reconcile" / "state.db")
    try:
        pid = provider_id(store, name)
        assert pid is not None, name
        return {m["model_id"]: (m["display_name"], bool(m["visible"])) for m in store.models(pid)}
    finally:
        store.close()


def apply_openai_showing(tmp_path: Path, upstream: Upstream, pattern: str) -> None:
    """Apply one OpenAI provider on the fake upstream whose ``pattern`` models are shown."""
    write_yaml(
        tmp_path / "providers.yaml",
        [
            provider(
                "OpenAI",
                "openai",
                upstream.base_url("openai"),
                "OPENAI_KEY",
                models={"visible": [pattern]},
            )
        ],
    )
    assert reconcile(tmp_path, "apply", "--yes").code == 0


def listings(upstream: Upstream) -> dict[str, int]:
    """How many model listings each flavour served (a listing may span several pages)."""
    counts: dict[str, int] = {}
    for flavour in ("openai", "anthropic", "google"):
        first_pages = [
            r
            for r in upstream.state.requests_to(flavour)  # type: ignore[arg-type]
            if "after_id" not in r.query and "pageToken" not in r.query
        ]
        if first_pages:
            counts[flavour] = len(first_pages)
    return counts


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- what gets stored -----------------------------------------------------------------


def test_apply_stores_the_listed_models_of_each_type_then_fetches_nothing_more(
    tmp_path: Path, upstream: Upstream
) -> None:
    write_yaml(tmp_path / "providers.yaml", three_providers(upstream))
    run = reconcile(tmp_path, "plan")
    assert run.code == 0, run.err
    assert upstream.state.requests == []  # plan never contacts an upstream
    assert "3 model fetches." in run.out

    run = reconcile(tmp_path, "apply", "--yes")
    assert run.code == 0, run.err
    assert "The target now matches the configuration." in run.out
    assert models(tmp_path, "OpenAI") == {
        "gpt-4o": (None, False),
        "gpt-4o-mini": (None, False),
        "o3-mini": (None, False),
    }
    assert models(tmp_path, "Anthropic") == {  # two pages of two
        "claude-3-5-haiku-20241022": ("Claude Haiku 3.5", False),
        "claude-opus-4-1": ("Claude Opus 4.1", False),
        "claude-sonnet-4-5": ("Claude Sonnet 4.5", False),
    }
    assert models(tmp_path, "Google") == {  # "models/" prefix gone, no embedding model
        "gemini-2.5-flash": ("Gemini 2.5 Flash", False),
        "gemini-2.5-pro": ("Gemini 2.5 Pro", False),
    }
    assert listings(upstream) == {"openai": 1, "anthropic": 1, "google": 1}
    assert len(upstream.state.requests_to("anthropic")) == 2

    upstream.state.requests.clear()
    run = reconcile(tmp_path, "apply", "--yes")
    assert run.code == 0, run.err
    assert "No changes. The target matches the configuration." in run.out
    assert upstream.state.requests == []


def test_visibility_rules_apply_to_the_models_just_fetched(
    tmp_path: Path, upstream: Upstream
) -> None:
    apply_openai_showing(tmp_path, upstream, "gpt-4o*")
    assert {m: v for m, (_, v) in models(tmp_path, "OpenAI").items()} == {
        "gpt-4o": True,
        "gpt-4o-mini": True,
        "o3-mini": False,
    }


# --- when to fetch --------------------------------------------------------------------


def test_a_key_change_triggers_exactly_one_refetch(tmp_path: Path, upstream: Upstream) -> None:
    write_yaml(tmp_path / "providers.yaml", three_providers(upstream))
    assert reconcile(tmp_path, "apply", "--yes").code == 0
    upstream.state.requests.clear()
    rotated = {**KEYS, "OPENAI_KEY": "sk-openai-rotated-77665544"}
    upstream.state.api_keys["openai"] = rotated["OPENAI_KEY"]

    run = reconcile(tmp_path, "plan", keys=rotated)
    assert "      api_key: changed\n" in run.out
    assert "~ fetch models of OpenAI (api_key changed)" in run.out
    assert "Plan: 0 to add, 1 to change, 0 to disable, 0 to delete, 1 model fetch." in run.out
    assert upstream.state.requests == []

    run = reconcile(tmp_path, "apply", "--yes", keys=rotated)
    assert run.code == 0, run.err
    assert listings(upstream) == {"openai": 1}
    sent = upstream.state.requests_to("openai")[0].headers["authorization"]
    assert sent == f"Bearer {rotated['OPENAI_KEY']}"
    assert rotated["OPENAI_KEY"] not in run.out + run.err


def test_disabled_providers_and_fetch_models_false_are_not_fetched(
    tmp_path: Path, upstream: Upstream
) -> None:
    write_yaml(
        tmp_path / "providers.yaml",
        [
            provider("Off", "openai", upstream.base_url("openai"), "OPENAI_KEY", enabled=False),
            provider(
                "NoFetch",
                "anthropic",
                upstream.base_url("anthropic"),
                "ANTHROPIC_KEY",
                fetch_models=False,
            ),
        ],
    )
    run = reconcile(tmp_path, "apply", "--yes")
    assert run.code == 0, run.err
    assert "0 model fetches" in run.out
    assert upstream.state.requests == []
    # Enabling it later fetches it then, as a provider with no models yet.
    write_yaml(
        tmp_path / "providers.yaml",
        [provider("Off", "openai", upstream.base_url("openai"), "OPENAI_KEY")],
    )
    run = reconcile(tmp_path, "apply", "--yes")
    assert "~ fetch models of Off (no models yet)" in run.out
    assert listings(upstream) == {"openai": 1}


def test_refetch_lists_every_enabled_managed_provider_again(
    tmp_path: Path, upstream: Upstream
) -> None:
    write_yaml(
        tmp_path / "providers.yaml",
        [
            *three_providers(upstream, models={"visible": ["gpt-4o"]}),
            provider("Off", "openai", upstream.base_url("openai"), "OPENAI_KEY", enabled=False),
        ],
    )
    assert reconcile(tmp_path, "apply", "--yes").code == 0
    upstream.state.requests.clear()
    upstream.state.set_models("openai", [FakeModel("gpt-4o"), FakeModel("gpt-5")])

    run = reconcile(tmp_path, "apply", "--yes", "--refetch")
    assert run.code == 0, run.err
    assert "~ fetch models of OpenAI (--refetch)" in run.out
    assert "Off (--refetch)" not in run.out
    assert listings(upstream) == {"openai": 1, "anthropic": 1, "google": 1}
    # Known models keep their visibility, new ones arrive hidden, unlisted ones are gone.
    assert {m: v for m, (_, v) in models(tmp_path, "OpenAI").items()} == {
        "gpt-4o": True,
        "gpt-5": False,
    }


# --- failures -------------------------------------------------------------------------


def test_a_refused_fetch_warns_and_is_retried_by_the_next_apply(
    tmp_path: Path, upstream: Upstream
) -> None:
    write_yaml(tmp_path / "providers.yaml", three_providers(upstream))
    upstream.state.api_keys["openai"] = "sk-some-other-key-1234"
    run = reconcile(tmp_path, "apply", "--yes")
    assert run.code == 0, run.err
    assert (
        "Warning: fetch models of OpenAI: provider 'OpenAI': upstream answered 401 "
        "Unauthorized at GET "
        f"{upstream.base_url('openai')}/models; check its api_key"
    ) in run.out + run.err
    assert "OpenAI" in run.out and models(tmp_path, "OpenAI") == {}

    run = reconcile(tmp_path, "plan", "--detailed-exitcode")
    assert (
        "Apply also retries model fetches that failed: OpenAI (last attempt failed: "
        "401 Unauthorized)." in run.out
    )
    assert "apply retries 1 model fetch that failed." in run.out
    assert run.code == 0  # --detailed-exitcode: nothing in the file can fix an upstream

    upstream.state.requests.clear()
    run = reconcile(tmp_path, "apply", "--yes", "--strict")
    assert run.code == 1
    assert listings(upstream) == {"openai": 1}

    upstream.state.api_keys["openai"] = KEYS["OPENAI_KEY"]
    run = reconcile(tmp_path, "apply", "--yes", "--strict")
    assert run.code == 0, run.err
    assert sorted(models(tmp_path, "OpenAI")) == ["gpt-4o", "gpt-4o-mini", "o3-mini"]
    assert "No changes" in reconcile(tmp_path, "plan").out


def test_an_unreachable_upstream_leaves_the_provider_applied_and_warns(
    tmp_path: Path,
) -> None:
    url = closed_port_url()
    write_yaml(tmp_path / "providers.yaml", [provider("Local", "openai", url, None)])
    # Connection refused is retried with backoff; one retry keeps the test quick.
    run = reconcile(tmp_path, "apply", "--yes", "--fetch-retries", "1")
    assert run.code == 0, run.err
    port = url.split(":")[2].split("/")[0]
    assert (
        f"Warning: fetch models of Local: provider 'Local': could not connect to 127.0.0.1:{port}"
        in (run.out + run.err)
    )
    assert "Apply: 1 done, 0 failed, 1 with warnings, 0 not attempted." in run.out
    assert models(tmp_path, "Local") == {}

    run = reconcile(tmp_path, "plan", "--detailed-exitcode")
    assert run.code == 0  # a retry is not a change: nothing in the file can fix the upstream
    assert (
        f"retries model fetches that failed: Local (last attempt failed: could not connect to "
        f"127.0.0.1:{port}" in (run.out)
    )


def test_an_empty_listing_keeps_the_known_models_and_their_visibility(
    tmp_path: Path, upstream: Upstream
) -> None:
    apply_openai_showing(tmp_path, upstream, "gpt-4o")
    assert models(tmp_path, "OpenAI")["gpt-4o"][1] is True
    upstream.state.set_models("openai", [])  # restarted without its models
    run = reconcile(tmp_path, "apply", "--yes", "--refetch")
    assert run.code == 0, run.err
    assert "the upstream listed no models; kept the 3 known ones" in run.out
    assert sorted(models(tmp_path, "OpenAI")) == ["gpt-4o", "gpt-4o-mini", "o3-mini"]
    assert models(tmp_path, "OpenAI")["gpt-4o"][1] is True
    plan = reconcile(tmp_path, "plan")
    assert "last attempt failed: the upstream listed no models" in plan.out
