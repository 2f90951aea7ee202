"""`models:` in providers.yaml decides which models users see, on both targets (issue 8)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reconciler.sandbox.accounts import Accounts
from reconciler.targets.sqlite import Store
from tests.factories import provider_id
from tests.sandbox import Sandbox, reconcile, running_sandbox, write
from tests.upstreams import Upstream, running_upstream


@dataclass
class Target:
    """Either the embedded store or the sandbox server, seen the same way by the tests."""

    kind: str
    path: Path
    sandbox: Sandbox | None = None

    def run(self, *args: str) -> tuple[int, str, str]:
        extra = () if self.sandbox else ("--target", f"sqlite:///{self.path.name}")
        result = reconcile(*args, *extra, sandbox=self.sandbox)
        return result.returncode, result.stdout, result.stderr

    def visible(self, provider: str = "OpenAI") -> list[str]:
        store = self.sandbox.store if self.sandbox else Store(self.path)
        try:
            pid = provider_id(store, provider)
            assert pid is not None
            return [m["model_id"] for m in store.models(pid) if m["visible"]]
        finally:
            if not self.sandbox:
                store.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with running_upstream() as up:
        yield up


@pytest.fixture(params=["embedded", "serve"])
def target(request: pytest.FixtureRequest, tmp_path: Path, upstream: Upstream) -> Iterator[Target]:
    upstream.state.reset()
    upstream.state.api_keys = {"openai": "sk-openai-e2e-SECRET-0123456789"}
    if request.param == "embedded":
        yield Target("embedded", tmp_path / "state.db")
    else:
        with running_sandbox(tmp_path / "sandbox.db") as sb:
            yield Target("serve", tmp_path / "sandbox.db", sb)


def providers(upstream: Upstream, models: str) -> None:
    write(
        Path("providers.yaml"),
        f"""\
version: 1
providers:
  - name: OpenAI
    type: openai
    base_url: {upstream.base_url("openai")}
    api_key: ${{E2E_OPENAI_KEY}}
    models:
{models}""",
    )


def test_visibility_is_settled_right_after_the_fetch_of_the_same_apply(
    target: Target, upstream: Upstream
) -> None:
    providers(upstream, '      visible: ["gpt-4o*"]\n')
    _, out, _ = target.run("plan")
    assert "models of OpenAI: visibility settled after the fetch" in out
    code, out, err = target.run("apply", "--yes")
    assert code == 0, out + err
    assert target.visible() == ["gpt-4o", "gpt-4o-mini"]


def test_a_second_apply_changes_nothing(target: Target, upstream: Upstream) -> None:
    providers(upstream, '      visible: ["gpt-4o*"]\n')
    assert target.run("apply", "--yes")[0] == 0
    if target.sandbox:
        target.sandbox.faults.clear()
    code, out, _ = target.run("apply", "--yes")
    assert code == 0
    assert "No changes" in out
    if target.sandbox:
        # Only the resend of what the server does not report (key, settings): no visibility
        # change, no fetch.
        assert [w[:2] for w in target.sandbox.faults.writes()] == [
            ("PUT", "/api/admin/providers/1")
        ]


def test_hidden_wins_over_visible_and_plan_shows_the_change(
    target: Target, upstream: Upstream
) -> None:
    providers(upstream, '      visible: ["gpt-4o*"]\n')
    assert target.run("apply", "--yes")[0] == 0
    providers(upstream, '      visible: ["gpt-4o*"]\n      hidden: ["*-mini"]\n')
    _, out, _ = target.run("plan")
    assert "models of OpenAI: hide 1 model (gpt-4o-mini)" in out
    assert "Plan: 0 to add, 1 to change" in out
    assert target.run("apply", "--yes")[0] == 0
    assert target.visible() == ["gpt-4o"]


def test_models_matching_no_pattern_are_left_alone_unless_only_listed(
    target: Target, upstream: Upstream
) -> None:
    providers(upstream, '      visible: ["gpt-4o*"]\n')
    assert target.run("apply", "--yes")[0] == 0
    providers(upstream, '      visible: ["o3-mini"]\n')
    target.run("apply", "--yes")
    assert target.visible() == ["gpt-4o", "gpt-4o-mini", "o3-mini"]  # left as they were
    providers(upstream, '      visible: ["o3-mini"]\n      only_listed: true\n')
    _, out, _ = target.run("plan")
    assert "hide 2 models (gpt-4o, gpt-4o-mini)" in out
    assert target.run("apply", "--yes")[0] == 0
    assert target.visible() == ["o3-mini"]


def test_a_pattern_that_matches_no_model_warns(target: Target, upstream: Upstream) -> None:
    providers(upstream, '      visible: ["gpt-4o", "gpt-5*"]\n')
    assert target.run("apply", "--yes")[0] == 0
    code, out, _ = target.run("plan")
    assert code == 0
    # At the pattern's own place in the file.
    assert (
        "Warning: providers.yaml:8:27: provider 'OpenAI': models.visible pattern 'gpt-5*' "
        "matches none of its 3 models"
    ) in out


def test_a_model_added_upstream_later_is_shown_after_its_fetch(
    target: Target, upstream: Upstream
) -> None:
    providers(upstream, '      visible: ["gpt-4o*"]\n')
    assert target.run("apply", "--yes")[0] == 0
    upstream.state.set_models("openai", ["gpt-4o", "gpt-4o-mini", "gpt-4o-audio", "o3-mini"])
    code, out, err = target.run("apply", "--yes", "--refetch")
    assert code == 0, out + err
    assert target.visible() == ["gpt-4o", "gpt-4o-audio", "gpt-4o-mini"]


def test_export_writes_the_visible_set_and_plans_clean(target: Target, upstream: Upstream) -> None:
    providers(upstream, '      visible: ["gpt-4o*"]\n')
    assert target.run("apply", "--yes")[0] == 0
    code, _, err = target.run("export", "-o", "exported.yaml")
    assert code == 0, err
    text = Path("exported.yaml").read_text()
    assert "visible:\n    - gpt-4o\n    - gpt-4o-mini\n" in text
    text = text.replace("${OPENAI_API_KEY}", "${E2E_OPENAI_KEY}").replace(
        "${OPENAI_API_KEY:-}", "${E2E_OPENAI_KEY}"
    )
    write(Path("exported.yaml"), text)
    code, out, err = target.run("plan", "-f", "exported.yaml", "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes" in out


def test_users_see_exactly_the_declared_models(tmp_path: Path, upstream: Upstream) -> None:
    upstream.state.reset()
    upstream.state.api_keys = {"openai": "sk-openai-e2e-SECRET-0123456789"}
    providers(upstream, '      visible: ["gpt-4o*"]\n      hidden: ["*-mini"]\n')
    with running_sandbox(tmp_path / "users.db") as sb:
        assert reconcile("apply", "--yes", sandbox=sb).returncode == 0
        user = Accounts(sb.store).account_token(email="dev@example.com", role="user")
        answer = httpx.get(f"{sb.url}/api/providers", headers={"Authorization": f"Bearer {user}"})
        (openai,) = answer.json()["providers"]
        assert [m["id"] for m in openai["models"]] == ["gpt-4o"]
