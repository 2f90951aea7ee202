"""The ClaraVerse target end to end: the CLI, as users run it, against `reconcile serve`'s
app on a real loopback port, with a fault injector in front of it."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.errors import TargetError
from reconciler.sandbox.accounts import Accounts
from reconciler.targets.claraverse import ClaraVerseTarget
from reconciler.targets.sqlite import Store
from tests.faults import Rule
from tests.sandbox import (
    ANTHROPIC_KEY,
    KEYS,
    OPENAI_KEY,
    Sandbox,
    reconcile,
    running_sandbox,
    write,
)
from tests.upstreams import Upstream, running_upstream


@pytest.fixture(scope="module")
def _upstream_server() -> Iterator[Upstream]:
    with running_upstream() as up:
        yield up


@pytest.fixture
def upstream(_upstream_server: Upstream) -> Upstream:
    # One server for the module (each start and stop costs ~0.2 s), a fresh state per test.
    _upstream_server.state.reset()
    _upstream_server.state.api_keys = {"openai": OPENAI_KEY, "anthropic": ANTHROPIC_KEY}
    return _upstream_server


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path / "sandbox.db") as sb:
        yield sb


def providers_file(upstream: Upstream, *, extra: str = "") -> Path:
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
      visible: ["gpt-4o*"]
  - name: Anthropic
    type: anthropic
    base_url: {upstream.base_url("anthropic")}
    api_key: ${{E2E_ANTHROPIC_KEY}}
  - name: Local Ollama
    type: openai
    base_url: http://127.0.0.1:9/v1
    enabled: false
{extra}""",
    )


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for key in KEYS.values():
            assert key not in text


def test_apply_creates_fetches_and_a_second_apply_only_resends_what_cannot_be_compared(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    providers_file(upstream)
    plan = reconcile("plan", sandbox=sandbox)
    assert plan.returncode == 0, plan.stderr
    assert "Plan: 3 to add" in plan.stdout
    assert "this target does not report api_key, image_only," in plan.stdout

    first = reconcile("apply", "--yes", sandbox=sandbox)
    assert first.returncode == 0, first.stderr + first.stdout
    assert "The target now matches the configuration." in first.stdout
    assert sandbox.names() == ["Anthropic", "Local Ollama", "OpenAI"]
    snap = dict((name, models) for name, _, _, models in sandbox.snapshot())
    assert snap["OpenAI"] == (("gpt-4o", True), ("gpt-4o-mini", True), ("o3-mini", False))
    assert [m for m, _ in snap["Anthropic"]] == sorted(
        ["claude-sonnet-4-5", "claude-opus-4-1", "claude-3-5-haiku-20241022"]
    )
    assert_no_secret(plan.stdout, plan.stderr, first.stdout, first.stderr)

    sandbox.faults.clear()
    before = sandbox.snapshot()
    second = reconcile("apply", "--yes", sandbox=sandbox)
    assert second.returncode == 0, second.stderr
    assert "No changes. The target matches the configuration." in second.stdout
    assert "Apply also sends api_key, image_only," in second.stdout
    # Observing costs a fixed number of requests (the provider list, the model list and
    # the tiers); then one PUT per provider resends what the server does not report,
    # changing nothing. (A request retried after a dropped keep-alive connection may repeat.)
    requests = {r[:2] for r in sandbox.faults.requests}
    ids = sorted(str(p.id) for p in sandbox.store.providers())
    assert requests == {
        ("GET", "/api/admin/models"),
        ("GET", "/api/admin/providers"),
        ("GET", "/api/admin/tiers"),
        *[("PUT", f"/api/admin/providers/{i}") for i in ids],
    }
    assert sandbox.snapshot() == before


def test_keyless_local_engine_is_created_with_the_placeholder_when_the_server_demands_a_key(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    providers_file(upstream)
    result = reconcile("apply", "--yes", sandbox=sandbox)
    assert result.returncode == 0, result.stderr
    (ollama,) = [p for p in sandbox.store.providers() if p.name == "Local Ollama"]
    assert ollama.enabled is False
    # Created with the placeholder, which is then taken back: the server says "no key".
    assert ollama.api_key.reveal() == ""
    posts = [r for r in sandbox.faults.requests if r[1] == "/api/admin/providers"]
    assert [r[2] for r in posts].count(400) == 1


def test_a_server_that_refuses_to_clear_the_placeholder_keeps_it(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    providers_file(upstream)
    sandbox.faults.rules.append(Rule("400", method="PUT", path=r"^/api/admin/providers/\d+$"))
    result = reconcile("apply", "--yes", sandbox=sandbox)
    assert result.returncode == 0, result.stderr + result.stdout
    (ollama,) = [p for p in sandbox.store.providers() if p.name == "Local Ollama"]
    assert ollama.api_key.reveal() == "not-needed"


def test_a_remote_provider_without_admin_key_is_created_for_users_with_their_own_keys(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n  - name: Team Proxy\n    type: openai\n"
        "    base_url: https://llm.internal.example/v1\n    api_key: ${TEAM_KEY:-}\n",
    )
    result = reconcile("apply", "--yes", sandbox=sandbox)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "only users with their own key can use it" in result.stdout
    assert "fetch models of" not in result.stdout  # a fetch without a usable key would only fail
    assert sandbox.names() == ["Team Proxy"]
    assert "No changes" in reconcile("plan", sandbox=sandbox).stdout
    user = Accounts(sandbox.store).account_token(email="dev@example.com", role="user")
    view = httpx.get(f"{sandbox.url}/api/providers", headers={"Authorization": f"Bearer {user}"})
    (proxy,) = view.json()["providers"]
    assert proxy["key_source"] == "none"  # what the file says: no admin key


def test_a_key_rotated_in_ci_reaches_the_server_with_a_plain_apply(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    providers_file(upstream)
    assert reconcile("apply", "--yes", sandbox=sandbox).returncode == 0
    rotated = "sk-openai-rotated-SECRET-111111"
    plan = reconcile("plan", "--detailed-exitcode", sandbox=sandbox, E2E_OPENAI_KEY=rotated)
    assert plan.returncode == 0, plan.stdout  # the server cannot tell: not a change
    assert "No changes" in plan.stdout
    assert "Apply also sends api_key" in plan.stdout
    pushed = reconcile("apply", "--yes", sandbox=sandbox, E2E_OPENAI_KEY=rotated)
    assert pushed.returncode == 0, pushed.stderr
    (openai,) = [p for p in sandbox.store.providers() if p.name == "OpenAI"]
    assert openai.api_key.reveal() == rotated
    assert_no_secret(pushed.stdout, pushed.stderr)
    assert rotated not in pushed.stdout + pushed.stderr


def test_missing_token_says_which_variables_to_set(sandbox: Sandbox, upstream: Upstream) -> None:
    providers_file(upstream)
    result = reconcile("plan", sandbox=sandbox, token="")
    assert result.returncode == 1
    assert "CLARAVERSE_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_wrong_token_is_rejected_clearly(sandbox: Sandbox, upstream: Upstream) -> None:
    providers_file(upstream)
    result = reconcile("plan", sandbox=sandbox, token="not-a-token")
    assert result.returncode == 1
    assert "rejected the access token" in result.stderr
    assert "Traceback" not in result.stderr


def test_non_admin_token_is_told_it_is_not_an_admin(sandbox: Sandbox, upstream: Upstream) -> None:
    providers_file(upstream)
    user = Accounts(sandbox.store).account_token(email="dev@example.com", role="user")
    result = reconcile("plan", sandbox=sandbox, token=user)
    assert result.returncode == 1
    assert "not an admin" in result.stderr


def test_login_and_refresh_when_the_token_expires_mid_run(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    Accounts(sandbox.store).account_token(
        email="ops@example.com", role="admin", password="pw-ops-123456"
    )
    providers_file(upstream)
    # The third write meets an expired token; the client refreshes and carries on.
    sandbox.faults.rules.append(Rule("401", method="POST", path=r"^/api/admin/", nth=3))
    result = reconcile(
        "apply",
        "--yes",
        "--parallelism",
        "1",
        sandbox=sandbox,
        token="",
        CLARAVERSE_EMAIL="ops@example.com",
        CLARAVERSE_PASSWORD="pw-ops-123456",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    paths = [r[1] for r in sandbox.faults.requests]
    assert paths[0] == "/api/auth/login"
    assert paths.count("/api/auth/refresh") == 1
    assert sandbox.names() == ["Anthropic", "Local Ollama", "OpenAI"]
    assert "pw-ops-123456" not in result.stdout + result.stderr


def test_wrong_password_is_rejected_clearly(sandbox: Sandbox, upstream: Upstream) -> None:
    Accounts(sandbox.store).account_token(
        email="ops@example.com", role="admin", password="right-pw"
    )
    providers_file(upstream)
    result = reconcile(
        "plan",
        sandbox=sandbox,
        token="",
        CLARAVERSE_EMAIL="ops@example.com",
        CLARAVERSE_PASSWORD="wrong-pw",
    )
    assert result.returncode == 1
    assert "wrong email or password" in result.stderr


def _many(n: int) -> Path:
    lines = ["version: 1", "providers:"]
    for i in range(n):
        lines += [
            f"  - name: p{i:03d}",
            "    type: openai",
            f"    base_url: http://127.0.0.1:9/v{i}",
            "    fetch_models: false",
            f"    enabled: {'true' if i % 3 else 'false'}",
        ]
    return write(Path("many.yaml"), "\n".join(lines) + "\n")


def test_parallel_apply_of_200_providers_equals_a_serial_one(tmp_path: Path) -> None:
    _many(200)
    results = []
    for parallelism, name in (("1", "serial.db"), ("8", "parallel.db")):
        with running_sandbox(tmp_path / name) as sb:
            out = reconcile(
                "apply", "-f", "many.yaml", "--yes", "--parallelism", parallelism, sandbox=sb
            )
            assert out.returncode == 0, out.stderr
            results.append(sb.snapshot())
    assert results[0] == results[1]
    assert len(results[0]) == 200


@pytest.mark.parametrize("nth", [1, 3])
def test_a_500_on_the_nth_write_is_reported_and_the_rerun_converges(
    sandbox: Sandbox, upstream: Upstream, nth: int
) -> None:
    providers_file(upstream)
    sandbox.faults.rules.append(Rule("500", method="POST", path=r"^/api/admin/", nth=nth))
    failed = reconcile("apply", "--yes", "--parallelism", "1", sandbox=sandbox)
    assert failed.returncode == 1
    assert "failed: POST /api/admin/" in failed.stdout
    assert "injected fault" in failed.stdout
    assert "the errors above say why" in failed.stdout
    rerun = reconcile("apply", "--yes", sandbox=sandbox)
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    assert sandbox.names() == ["Anthropic", "Local Ollama", "OpenAI"]
    assert "No changes" in reconcile("plan", sandbox=sandbox).stdout


@pytest.mark.parametrize("fault", ["lose-answer", "drop", "gateway-502"])
def test_a_create_whose_answer_is_lost_is_not_sent_twice(
    sandbox: Sandbox, upstream: Upstream, fault: str
) -> None:
    providers_file(upstream)
    sandbox.faults.lose_seconds = 1.5
    sandbox.faults.rules.append(Rule(fault, method="POST", path=r"^/api/admin/providers$"))
    result = reconcile("apply", "--yes", "--parallelism", "1", "--timeout", "0.5", sandbox=sandbox)
    creates = [r for r in sandbox.faults.requests if r[:2] == ("POST", "/api/admin/providers")]
    # Each provider was created once; a blind re-send would have met 409 (name taken).
    assert [r[2] for r in creates].count(201) == 3
    assert 409 not in [r[2] for r in creates]
    assert sandbox.names() == ["Anthropic", "Local Ollama", "OpenAI"]
    assert result.returncode == 0, result.stderr + result.stdout
    assert "No changes" in reconcile("plan", sandbox=sandbox).stdout


def test_disabled_providers_and_hidden_models_are_not_shown_to_users(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    providers_file(upstream)
    assert reconcile("apply", "--yes", sandbox=sandbox).returncode == 0
    user = Accounts(sandbox.store).account_token(email="dev@example.com", role="user")
    answer = httpx.get(
        f"{sandbox.url}/api/providers", headers={"Authorization": f"Bearer {user}"}
    ).json()
    listed = answer["providers"] if isinstance(answer, dict) else answer
    by_name = {p["name"]: p for p in listed}
    assert set(by_name) == {"OpenAI", "Anthropic"}  # Local Ollama is disabled
    assert sorted(
        m["id"] if isinstance(m, dict) else m
        for m in [m.get("id", m.get("name")) for m in by_name["OpenAI"]["models"]]
    ) == ["gpt-4o", "gpt-4o-mini"]
    assert by_name["OpenAI"]["key_source"] == "admin"
    assert_no_secret(
        httpx.get(f"{sandbox.url}/api/providers", headers={"Authorization": f"Bearer {user}"}).text
    )


def test_same_file_gives_the_same_providers_and_models_on_both_targets(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    providers_file(upstream)
    remote = reconcile("apply", "--yes", sandbox=sandbox)
    local = reconcile("apply", "--yes", "--target", "sqlite:///local.db")
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    embedded = Store(Path("local.db"))
    try:
        theirs = []
        for p in embedded.providers():
            models = tuple((m["model_id"], bool(m["visible"])) for m in embedded.models(p.id))
            theirs.append((p.name, p.base_url, p.enabled, models))
    finally:
        embedded.close()
    assert sorted(theirs) == sandbox.snapshot()


def test_export_from_the_server_then_plan_shows_no_changes(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    providers_file(upstream)
    assert reconcile("apply", "--yes", sandbox=sandbox).returncode == 0
    exported = reconcile("export", "-o", "exported.yaml", sandbox=sandbox)
    assert exported.returncode == 0, exported.stderr
    text = Path("exported.yaml").read_text()
    assert_no_secret(text)
    # The upstreams are on loopback: local engines, exported with a required reference
    # all the same (the server cannot say whether they hold a key), and a warning.
    names = re.findall(r"\$\{([A-Z0-9_]+_API_KEY)\}", text)
    assert names and "exported with a required api_key reference too" in exported.stderr
    keys = {name: f"sk-local-{n}-0123456789" for n, name in enumerate(names)}
    plan = reconcile("plan", "-f", "exported.yaml", "--detailed-exitcode", sandbox=sandbox, **keys)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes" in plan.stdout


def test_a_token_pasted_with_a_newline_or_bearer_prefix_still_works(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    providers_file(upstream)
    for token in (sandbox.admin + "\n", "Bearer " + sandbox.admin):
        result = reconcile("plan", sandbox=sandbox, token=token)
        assert result.returncode == 0, result.stderr


def test_a_target_url_ending_in_api_gets_a_hint(sandbox: Sandbox, upstream: Upstream) -> None:
    providers_file(upstream)
    result = reconcile("plan", "--target", sandbox.url + "/api", sandbox=sandbox)
    assert result.returncode == 1
    assert "give the server's base URL, without /api" in result.stderr


def test_https_to_a_plain_http_server_says_so(sandbox: Sandbox, upstream: Upstream) -> None:
    providers_file(upstream)
    result = reconcile("plan", "--target", sandbox.url.replace("http:", "https:"), sandbox=sandbox)
    assert result.returncode == 1
    assert "is the target http://?" in result.stderr


def test_a_ca_cert_that_is_not_pem_is_a_clear_error(sandbox: Sandbox, upstream: Upstream) -> None:
    providers_file(upstream)
    result = reconcile(
        "plan",
        "--target",
        sandbox.url.replace("http:", "https:"),
        "--ca-cert",
        "providers.yaml",
        sandbox=sandbox,
    )
    assert result.returncode == 1
    assert "--ca-cert providers.yaml: not a PEM file of CA certificates" in result.stderr


def test_serve_on_a_port_in_use_is_a_clear_error(sandbox: Sandbox) -> None:
    port = sandbox.url.rsplit(":", 1)[1]
    result = reconcile("serve", "--state", "other.db", "--port", port)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_a_login_that_cannot_connect_is_a_clear_error_not_a_bug() -> None:
    write(Path("providers.yaml"), "version: 1\nproviders: []\n")
    result = reconcile(
        "plan",
        "--target",
        "http://ops:Gateway-Passw0rd@127.0.0.1:9",
        CLARAVERSE_EMAIL="ops@example.com",
        CLARAVERSE_PASSWORD="pw-123456789",
    )
    assert result.returncode == 1, result.stderr
    assert "could not connect to http://***@127.0.0.1:9" in result.stderr
    assert "Gateway-Passw0rd" not in result.stderr + result.stdout


def test_urls_stored_with_a_key_are_masked_in_plans_and_not_exported(
    sandbox: Sandbox, upstream: Upstream
) -> None:
    leaky = "https://generativelanguage.googleapis.com/v1beta?key=AIzaOUTOFBANDkey0123456789"
    created = httpx.post(
        f"{sandbox.url}/api/admin/providers",
        headers={"Authorization": f"Bearer {sandbox.admin}"},
        json={"name": "Gemini", "type": "google", "base_url": leaky, "api_key": "k-123456789"},
    )
    assert created.status_code == 201
    exported = reconcile("export", sandbox=sandbox)
    assert exported.returncode == 0, exported.stderr
    assert "AIzaOUTOFBAND" not in exported.stdout + exported.stderr
    assert "base_url: ${GEMINI_BASE_URL}" in exported.stdout
    assert "exported as ${GEMINI_BASE_URL}" in exported.stderr
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n  - name: Gemini\n    type: google\n"
        "    api_key: ${E2E_OPENAI_KEY}\n    fetch_models: false\n",
    )
    for fmt in ("text", "json", "markdown"):
        plan = reconcile("plan", "--format", fmt, "-o", "plan.json", sandbox=sandbox)
        assert "v1beta?***" in plan.stdout
        assert "AIzaOUTOFBAND" not in plan.stdout + Path("plan.json").read_text()


def test_a_servers_own_status_phrase_never_reaches_a_message(tmp_path: Path) -> None:
    # The phrase on the status line is the server's to choose: it could carry anything.
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(400, "sk-phrase-0123456789abcdef")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = ClaraVerseTarget(
            f"http://127.0.0.1:{server.server_address[1]}", env={"CLARAVERSE_TOKEN": "t" * 20}
        )
        with pytest.raises(TargetError) as caught:
            target.observe()
        target.close()
    finally:
        server.shutdown()
        server.server_close()
    assert "sk-phrase" not in str(caught.value) and "Bad Request" in str(caught.value)
