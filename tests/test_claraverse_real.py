"""The ClaraVerse target against a double of a REAL server (tests/realserver.py): settings
reset by updates and toggles, renames ignored, model ids global, errors as 500s, answers
that echo keys, and a rate limit that answers 429 with the delay in the body only.

The CLI runs as users run it; what the double received is checked request by request."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.model import ProviderSpec
from reconciler.errors import TargetError
from reconciler.secrets import Secret
from tests.catalog_example import target_for
from tests.faults import Faults, Rule
from tests.realserver import RealServer, make_real_server
from tests.sandbox import KEYS, reconcile, write
from tests.servers import running
from tests.upstreams import Upstream

ROTATED = "sk-openai-rotated-SECRET-222222"


def run(real: RealServer, *args: str, **env: str) -> tuple[int, str, str]:
    """The CLI against the double, as a user runs it; no key in anything it prints."""
    done = reconcile(
        *args,
        RECONCILE_TARGET=real.url,
        CLARAVERSE_TOKEN=real.state.admin_token,
        **env,
    )
    for text in (done.stdout, done.stderr):
        for key in (*KEYS.values(), ROTATED):
            assert key not in text
    return done.returncode, done.stdout, done.stderr


def image_file(upstream: Upstream, *, base: str = "", enabled: bool = True) -> Path:
    return write(
        Path("providers.yaml"),
        f"""\
version: 1
providers:
  - name: Images
    type: openai
    base_url: {base or upstream.base_url("openai")}
    api_key: ${{E2E_OPENAI_KEY}}
    enabled: {"true" if enabled else "false"}
    image_only: true
    default_model: dall-e-3
""",
    )


def assert_image_settings_kept(real: RealServer) -> None:
    row = real.state.provider("Images")
    assert row is not None
    assert (row.image_only, row.default_model) == (True, "dall-e-3")


def assert_clean_plan(real: RealServer, **env: str) -> None:
    code, out, _ = run(real, "plan", "--detailed-exitcode", **env)
    assert code == 0, out
    assert "No changes." in out


def test_an_image_provider_keeps_its_settings_through_rotation_url_change_disable_enable(
    real: RealServer, upstream: Upstream
) -> None:
    image_file(upstream)
    assert run(real, "apply", "--yes")[0] == 0
    assert_image_settings_kept(real)
    assert_clean_plan(real)

    code, out, _ = run(real, "apply", "--yes", E2E_OPENAI_KEY=ROTATED)  # key rotation
    assert code == 0, out
    assert_image_settings_kept(real)
    assert real.state.provider("Images").api_key == ROTATED  # type: ignore[union-attr]
    assert_clean_plan(real, E2E_OPENAI_KEY=ROTATED)

    image_file(upstream, base=upstream.base_url("openai") + "/")  # a base_url change
    steps = [{"base": upstream.base_url("openai") + "/"}, {"enabled": False}, {"enabled": True}]
    for step in steps:
        image_file(upstream, **step)  # type: ignore[arg-type]
        code, out, err = run(real, "apply", "--yes", E2E_OPENAI_KEY=ROTATED)
        assert code == 0, out + err
        assert_image_settings_kept(real)
        assert_clean_plan(real, E2E_OPENAI_KEY=ROTATED)
    # Enable and disable went through the full PUT: /toggle would have reset the settings.
    assert real.state.requests_to("PUT", r"/toggle$") == []
    assert real.state.provider("Images").enabled is True  # type: ignore[union-attr]


def test_a_settings_reset_by_a_toggle_in_the_ui_is_repaired_by_the_next_apply(
    real: RealServer, upstream: Upstream
) -> None:
    image_file(upstream)
    assert run(real, "apply", "--yes")[0] == 0
    import httpx

    pid = real.state.provider("Images").id  # type: ignore[union-attr]
    for enabled in (False, True):  # an admin clicks the switch twice
        httpx.put(
            f"{real.url}/api/admin/providers/{pid}/toggle",
            json={"enabled": enabled},
            headers=real.admin_headers(),
        ).raise_for_status()
    assert real.state.provider("Images").image_only is False  # type: ignore[union-attr]
    _, out, _ = run(real, "plan")
    assert "Apply also sends api_key, image_only, image_edit_only, default_model" in out
    assert run(real, "apply", "--yes")[0] == 0
    assert_image_settings_kept(real)


def test_the_workflow_apply_line_sends_a_rotated_key(real: RealServer, upstream: Upstream) -> None:
    image_file(upstream)
    assert run(real, "apply", "--yes")[0] == 0
    # The apply step of the GitHub Actions recipe in README, with the secret rotated.
    code, out, _ = run(real, "apply", "--yes", E2E_OPENAI_KEY=ROTATED)
    assert code == 0, out
    (put,) = real.state.requests_to("PUT", r"^/api/admin/providers/\d+$")[-1:]
    assert put.body is not None and put.body["api_key"] == ROTATED
    assert put.body["image_only"] is True and put.body["default_model"] == "dall-e-3"


def test_a_rename_the_server_ignores_fails_once_with_the_reason(
    real: RealServer, upstream: Upstream
) -> None:
    write(
        Path("providers.yaml"),
        f"""\
version: 1
providers:
  - name: Old Proxy
    type: openai
    base_url: {upstream.base_url("openai")}
    api_key: ${{E2E_OPENAI_KEY}}
""",
    )
    assert run(real, "apply", "--yes")[0] == 0
    write(
        Path("providers.yaml"),
        Path("providers.yaml")
        .read_text()
        .replace("name: Old Proxy", "name: Team Proxy\n    renamed_from: [Old Proxy]"),
    )
    code, out, _ = run(real, "apply", "--yes")
    assert code == 1
    assert "this server does not rename providers: it kept the name 'Old Proxy'" in out
    assert "keep the old name in the file" in out
    assert "run apply again" not in out
    assert [p.name for p in real.state.providers()] == ["Old Proxy"]


def test_a_model_id_another_provider_holds_is_a_warning_naming_it(
    real: RealServer, upstream: Upstream
) -> None:
    first = real.state.add_provider("Azure", "http://127.0.0.1:9/v1", "sk-azure-key-0000")
    real.state.add_models(first.id, ["gpt-4o"], visible=True)
    real.state.set_fetched_at("gpt-4o", "2026-11-29T08:00:00Z")  # fetched yesterday
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
      visible: ["gpt-4o", "o3-mini"]
""",
    )
    code, out, err = run(real, "apply", "--yes")
    assert code == 0, out + err
    assert "the server keeps 1 of them under another provider" in out
    assert "gpt-4o under 'Azure'" in out
    assert real.state.model("gpt-4o").provider_id == first.id  # type: ignore[union-attr]
    _, out, _ = run(real, "plan")
    assert "'Azure' already holds the matching ids" in out


def test_a_failed_upstream_listing_is_a_warning_with_its_reason_and_no_key(
    real: RealServer, upstream: Upstream
) -> None:
    image_file(upstream)
    upstream.state.script.extend(["echo"] * 4)  # 401s that echo the request, key included
    code, out, err = run(real, "apply", "--yes")
    assert code == 0, out + err
    assert "fetch models of Images: the server could not list the models upstream: API error" in out
    code, out, _ = run(real, "apply", "--yes", "--strict")
    assert "fetch models of Images (no models yet)" in out  # retried, as nothing was stored


def test_an_empty_server_answers_null_lists_and_plans_creates(real: RealServer) -> None:
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n  - name: Local\n    type: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n",
    )
    code, out, _ = run(real, "plan")
    assert code == 0
    assert "Plan: 1 to add" in out


def test_a_keyless_local_engine_is_created_with_a_placeholder_then_cleared(
    real: RealServer,
) -> None:
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n  - name: Local\n    type: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n    fetch_models: false\n",
    )
    assert run(real, "apply", "--yes")[0] == 0
    row = real.state.provider("Local")
    assert row is not None and row.api_key == "" and row.enabled is True
    assert_clean_plan(real)


def test_a_create_that_meets_an_existing_name_says_another_apply_may_be_running(
    real: RealServer,
) -> None:
    real.state.add_provider("OpenAI", "https://api.openai.com/v1", "sk-someone-elses-key")
    target = target_for(real.url, real)
    try:
        spec = ProviderSpec(
            name="OpenAI", type="openai", base_url="https://x/v1", api_key=Secret("sk-x-123456")
        )
        with pytest.raises(TargetError, match="created on the server while this apply ran"):
            target.create(spec)
    finally:
        target.close()


def test_a_rate_limited_apply_finishes_at_the_servers_pace_and_says_it_waits(
    real: RealServer, upstream: Upstream
) -> None:
    # Six requests per two seconds; a 429 asks for two seconds, as a real one asks for 60.
    real.state.rate_limit = 6
    real.state.rate_window = 2.0
    real.state.rate_retry_after = 2
    lines = "".join(
        f"  - name: P{i:02d}\n    type: openai\n    base_url: http://127.0.0.1:9/v{i}\n"
        "    api_key: ${E2E_OPENAI_KEY}\n    fetch_models: false\n"
        for i in range(5)
    )
    write(Path("providers.yaml"), f"version: 1\nproviders:\n{lines}")
    code, out, err = run(real, "apply", "--yes", "--parallelism", "4")
    assert code == 0, out + err
    assert "Apply: 5 done, 0 failed" in out
    assert len(real.state.providers()) == 5
    assert any(r.status == 429 for r in real.state.requests)
    assert "Waiting: the server is rate-limiting this client; waiting 2 s, then continuing" in err


def test_max_rate_is_refused_on_the_embedded_target() -> None:
    write(Path("providers.yaml"), "version: 1\nproviders: []\n")
    done = reconcile("apply", "--yes", "--max-rate", "100", "--target", "sqlite:///state.db")
    assert done.returncode == 1
    assert "--max-rate applies to a ClaraVerse server only" in done.stderr


def test_a_placeholder_that_could_not_be_cleared_fails_the_apply_and_is_cleared_next_time(
    real: RealServer,
) -> None:
    faults = Faults(make_real_server(real.state))
    faults.rules.append(Rule("500", method="PUT", path=r"^/api/admin/providers/\d+$"))
    write(
        Path("providers.yaml"),
        "version: 1\nproviders:\n  - name: Local\n    type: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n    fetch_models: false\n",
    )
    with running(faults) as url:
        env = {"RECONCILE_TARGET": url, "CLARAVERSE_TOKEN": real.state.admin_token}
        failed = reconcile("apply", "--yes", **env)
        assert failed.returncode == 1
        assert real.state.provider("Local").api_key == "not-needed"  # type: ignore[union-attr]
        again = reconcile("apply", "--yes", **env)
        assert again.returncode == 0, again.stdout + again.stderr
    assert real.state.provider("Local").api_key == ""  # type: ignore[union-attr]
