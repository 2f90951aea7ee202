"""The ClaraVerse target's model catalog against `reconcile serve`'s app: the sandbox
decodes `model_id` as real servers do, so that the ids the target encodes for them (twice,
three times for the alias GET and POST, when they hold `%` or `+`) reach their models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.targets.sqlite import Store
from reconciler.targets.sqlite.catalog import model_settings
from tests.sandbox import OPENAI_KEY, Sandbox, reconcile, running_sandbox, write
from tests.upstreams import Upstream, running_upstream


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with running_upstream() as up:
        up.state.api_keys = {"openai": OPENAI_KEY}
        up.state.set_models("openai", ["a+b", "50%off", "plain"])
        yield up


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path / "sandbox.db") as sb:
        yield sb


def test_ids_holding_plus_and_percent_get_settings_aliases_and_tiers_then_no_change(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    path = write(
        Path("providers.yaml"),
        f"""\
version: 1
providers:
  - name: OpenAI
    type: openai
    base_url: {upstream.base_url("openai")}
    api_key: ${{E2E_OPENAI_KEY}}
    models:
      visible: ["*"]
      settings:
        "a+b": {{display_name: A plus B, context_length: 4096, agents: true}}
        "50%off": {{description: Half price, supports_tools: true}}
      aliases:
        plus: {{model: "a+b", display_name: Plus}}
        sale: {{model: "50%off", description: On sale}}
tiers:
  tier1: {{provider: OpenAI, model: "a+b"}}
  tier2: {{provider: OpenAI, model: "50%off"}}
""",
    )
    done = reconcile("apply", "--yes", "-f", str(path), sandbox=sandbox)
    assert done.returncode == 0, done.stdout + done.stderr
    [provider] = sandbox.store.providers()
    settings = {m["model_id"]: model_settings(m) for m in sandbox.store.models(provider.id)}
    assert (settings["a+b"].display_name, settings["a+b"].context_length) == ("A plus B", 4096)
    assert settings["a+b"].agents is True
    assert (settings["50%off"].description, settings["50%off"].supports_tools) == (
        "Half price",
        True,
    )
    aliases = {a.alias.name: a.alias for a in sandbox.store.catalog.aliases()}
    assert (aliases["plus"].model, aliases["plus"].display_name) == ("a+b", "Plus")
    assert (aliases["sale"].model, aliases["sale"].description) == ("50%off", "On sale")
    tiers = {t.state.tier: t.state.model_id for t in sandbox.store.catalog.tiers()}
    assert tiers == {"tier1": "a+b", "tier2": "50%off"}
    again = reconcile("plan", "--detailed-exitcode", "-f", str(path), sandbox=sandbox)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes." in again.stdout


def _alias_file(upstream: Upstream, alias: str) -> Path:
    return write(
        Path("providers.yaml"),
        f"""\
version: 1
providers:
  - name: OpenAI
    type: openai
    base_url: {upstream.base_url("openai")}
    api_key: ${{E2E_OPENAI_KEY}}
    models:
      visible: ["*"]
{alias}""",
    )


@pytest.mark.parametrize("where", ["sandbox", "store"])
def test_an_alias_whose_name_ends_in_a_space_is_replaced_and_removed(
    sandbox: Sandbox, upstream: Upstream, tmp_path: Path, where: str
) -> None:
    # The same store, written through the sandbox by the ClaraVerse target, or directly.
    env = {} if where == "sandbox" else {"RECONCILE_TARGET": f"sqlite:///{tmp_path / 'e.db'}"}
    store = sandbox.store if where == "sandbox" else None
    steps = [
        '      aliases:\n        "fast ": {model: plain, display_name: Fast}\n',
        '      aliases:\n        "fast ": {model: plain, display_name: Faster}\n',
        # Another alias of the same model: a ClaraVerse target reads that model's aliases.
        "      aliases:\n        other: {model: plain}\n",
    ]
    names = [[("fast ", "Fast")], [("fast ", "Faster")], [("other", "")]]
    for step, expected in zip(steps, names, strict=True):
        path = _alias_file(upstream, step)
        done = reconcile("apply", "--yes", "-f", str(path), sandbox=sandbox, **env)
        assert done.returncode == 0, done.stdout + done.stderr
        again = reconcile("plan", "--detailed-exitcode", "-f", str(path), sandbox=sandbox, **env)
        assert again.returncode == 0, again.stdout + again.stderr
        if store is None:
            store = Store(tmp_path / "e.db")
        aliases = store.catalog.aliases()
        assert [(a.alias.name, a.alias.display_name) for a in aliases] == expected
        if where == "store":
            store.close()
            store = None


def _provider_file(name: str, upstream: Upstream, settings: str) -> Path:
    """A file of one provider serving gpt-4o, with the model ``settings`` given (YAML)."""
    return write(
        Path(f"{name.lower()}.yaml"),
        f"""\
version: 1
providers:
  - name: {name}
    type: openai
    base_url: {upstream.base_url("openai")}
    api_key: ${{E2E_OPENAI_KEY}}
    models:
      visible: [gpt-4o]
{settings}""",
    )


def _gpt4o(sandbox: Sandbox) -> dict[str, tuple[str, bool]]:
    """Each provider's gpt-4o: its display name and agents flag."""
    out = {}
    for provider in sandbox.store.providers():
        [row] = sandbox.store.models(provider.id, "gpt-4o")
        out[provider.name] = (row["display_name"] or "", model_settings(row).agents is True)
    return out


@pytest.mark.parametrize("other_settings", ["", "gpt-4o: {display_name: Y, agents: false}"])
def test_settings_of_a_model_id_two_providers_serve_stay_with_the_provider_declaring_them(
    sandbox: Sandbox, upstream: Upstream, other_settings: str
) -> None:
    upstream.state.set_models("openai", ["gpt-4o"])
    mine = _provider_file(
        "Mine", upstream, "      settings:\n        gpt-4o: {display_name: X, agents: true}\n"
    )
    other = _provider_file(
        "Other", upstream, f"      settings:\n        {other_settings}\n" if other_settings else ""
    )
    before = None
    for path in (other, mine):
        done = reconcile("apply", "--yes", "-f", str(path), sandbox=sandbox)
        assert done.returncode == 0, done.stdout + done.stderr
        before = before or _gpt4o(sandbox)["Other"]
    assert _gpt4o(sandbox) == {"Mine": ("X", True), "Other": before}
    for path in (mine, other):
        again = reconcile("plan", "--detailed-exitcode", "-f", str(path), sandbox=sandbox)
        assert again.returncode == 0, again.stdout + again.stderr
