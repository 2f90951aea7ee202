"""`reconcile export` as users run it: from the embedded store and from a ClaraVerse server
(the sandbox), the file it writes plans no change against the target it came from, and it
never overwrites a file by surprise."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.core.model import ProviderSettings
from reconciler.secrets import Secret
from reconciler.targets.sqlite import Store
from tests.sandbox import Sandbox, reconcile, running_sandbox, write

KEY = "proxy-export-SECRET-31415926"  # a proxy's own key: no well-known shape
OPENAI_SHAPED_KEY = "sk-proj-" + "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"
LOCAL = "http://127.0.0.1:9/v1"


def populate(store: Store, key: str = KEY) -> None:
    """Providers as an admin panel leaves them: one never fetched, one disabled, one with
    models some of which are visible, settings and values that look like references."""
    store.create_provider(name="Local", type="openai", base_url=LOCAL, api_key=None, enabled=True)
    store.create_provider(name="Paused", type="openai", base_url=LOCAL, api_key=None, enabled=False)
    chat = store.create_provider(
        name="Chat ${TEAM}",
        type="openai",
        base_url="https://api.openai.com/v1",
        api_key=Secret(key),
        enabled=True,
        settings=ProviderSettings(system_prompt="Hello ${user}"),
    )
    # Ids that are globs, and one an upstream made by echoing the key.
    visible = ["gpt-4o", "gpt-4*", "o[1]", "what?", f"{key}-echo"]
    store.replace_models(chat, [(m, None) for m in (*visible, "hidden-one")])
    store.set_visibility(chat, visible, True)


def export_then_plan(
    *,
    sandbox: Sandbox | None = None,
    key: str = KEY,
    plan_env: dict[str, str] | None = None,
    **env: str,
) -> tuple[str, str]:
    exported = reconcile("export", "-o", "exported.yaml", sandbox=sandbox, **env)
    assert exported.returncode == 0, exported.stderr
    text = Path("exported.yaml").read_text(encoding="utf-8")
    assert key not in text + exported.stdout + exported.stderr
    plan_env = env if plan_env is None else plan_env
    plan = reconcile(
        "plan", "-f", "exported.yaml", "--detailed-exitcode", sandbox=sandbox, **plan_env
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes. The target matches the configuration." in plan.stdout
    return text, exported.stderr


def test_an_export_of_the_embedded_store_plans_no_change() -> None:
    store = Store(Path(".reconcile/state.db"))
    try:
        populate(store)
    finally:
        store.close()
    text, warnings = export_then_plan(CHAT_TEAM_API_KEY=KEY)
    chat, local, paused = yaml.safe_load(text)["providers"]
    assert local["fetch_models"] is False and "fetch_models" not in paused
    assert chat["name"] == "Chat $${TEAM}" and chat["system_prompt"] == "Hello $${user}"
    assert chat["models"] == {"visible": ["gpt-4[*]", "gpt-4o", "o[[]1]", "what[?]"]}
    assert "1 provider with no models (Local) exported with fetch_models: false" in warnings
    assert "provider 'Chat ${TEAM}': 1 visible model id holding a key left out" in warnings


# What the plans of an export set for the local engines' required references.
LOCAL_KEYS = {"LOCAL_API_KEY": "sk-local-engine-1", "PAUSED_API_KEY": "sk-local-engine-2"}


@pytest.mark.parametrize(
    ("key", "env"),
    [(KEY, {"CHAT_TEAM_API_KEY": KEY}), (OPENAI_SHAPED_KEY, {})],
    ids=["key-in-the-variable-the-file-names", "key-of-a-well-known-shape"],
)
def test_an_export_of_a_claraverse_server_plans_no_change(
    key: str, env: dict[str, str], tmp_path: Path
) -> None:
    with running_sandbox(tmp_path / "sandbox.db") as sandbox:
        populate(sandbox.store, key)
        # The server reports no key: the run knows the one an upstream echoed into a model
        # id only from the variable, or by its shape. (The plan needs the variable.)
        plan_env = {"CHAT_TEAM_API_KEY": key, **LOCAL_KEYS}
        text, warnings = export_then_plan(sandbox=sandbox, key=key, plan_env=plan_env, **env)
    chat, local, paused = yaml.safe_load(text)["providers"]
    # Every provider gets a required reference, local engines too (the server cannot say
    # whether they hold a key). The ones with no models (the server cannot say whether
    # they were ever fetched) are not fetched.
    assert chat["api_key"] == "${CHAT_TEAM_API_KEY}"
    assert (local["api_key"], paused["api_key"]) == ("${LOCAL_API_KEY}", "${PAUSED_API_KEY}")
    assert local["fetch_models"] is False and "fetch_models" not in paused
    assert chat["models"] == {"visible": ["gpt-4[*]", "gpt-4o", "o[[]1]", "what[?]"]}
    assert "1 visible model id holding a key left out" in warnings


def test_a_plan_of_a_servers_export_without_its_key_variable_fails_and_clears_no_key(
    tmp_path: Path,
) -> None:
    with running_sandbox(tmp_path / "sandbox.db") as sandbox:
        populate(sandbox.store)
        exported = reconcile("export", "-o", "exported.yaml", sandbox=sandbox)
        assert exported.returncode == 0, exported.stderr
        assert (
            "2 providers on a loopback address (Local, Paused) exported with a required "
            "api_key reference too"
        ) in exported.stderr
        # No variable: refused before anything is sent (an empty key clears the server's).
        for command in (("plan",), ("apply", "--yes")):
            refused = reconcile(*command, "-f", "exported.yaml", sandbox=sandbox)
            assert refused.returncode == 1, refused.stdout
            assert "environment variable CHAT_TEAM_API_KEY is not set" in refused.stderr
        plan = reconcile(
            "plan",
            "-f",
            "exported.yaml",
            "--detailed-exitcode",
            sandbox=sandbox,
            CHAT_TEAM_API_KEY=KEY,
            **LOCAL_KEYS,
        )
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert "No changes. The target matches the configuration." in plan.stdout
        chat = next(p for p in sandbox.store.providers() if p.name == "Chat ${TEAM}")
        assert chat.api_key.reveal() == KEY


def test_export_does_not_overwrite_a_file_without_force() -> None:
    store = Store(Path(".reconcile/state.db"))
    try:
        populate(store)
    finally:
        store.close()
    write(Path("providers.yaml"), "version: 1\nproviders: []\n")
    refused = reconcile("export", "-o", "providers.yaml")
    assert refused.returncode == 1
    assert refused.stderr == (
        "Error: providers.yaml already exists; pass --force to overwrite it, or write to "
        "another file\n"
    )
    assert Path("providers.yaml").read_text() == "version: 1\nproviders: []\n"
    forced = reconcile("export", "-o", "providers.yaml", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "name: Local" in Path("providers.yaml").read_text()


def test_export_refuses_a_file_before_it_contacts_the_target() -> None:
    write(Path("providers.yaml"), "version: 1\nproviders: []\n")
    # No store there: had export looked first, it would say so instead.
    refused = reconcile("export", "-o", "providers.yaml", "--target", "sqlite:///missing.db")
    assert refused.returncode == 1
    assert "providers.yaml already exists; pass --force" in refused.stderr


def test_force_without_an_output_file_is_a_usage_error() -> None:
    result = reconcile("export", "--force")
    assert result.returncode == 1
    assert "Error: --force overwrites the file of -o FILE; there is none" in result.stderr
