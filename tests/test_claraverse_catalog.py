"""The ClaraVerse target's model catalog against the real-server double: the keys the
server binds, the model id encodings, aliases replaced by delete + create, tiers stored by
display name, a server without the tier migration, and what observing costs.

End to end through make_plan and converge with Desired values built directly; the CLI
test waits for the file format to carry the catalog."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.core.catalog import Alias, ModelSettingRule, TierSpec
from reconciler.core.execute import converge
from reconciler.core.model import ProviderSpec
from reconciler.targets.claraverse import ClaraVerseTarget
from tests.catalog_example import (
    FAST,
    GPT_4O,
    apply,
    desired,
    example_yaml,
    kinds,
    plan_for,
)
from tests.realserver import RealServer
from tests.sandbox import KEYS, OPENAI_KEY, reconcile, write
from tests.upstreams import Upstream


def test_the_issues_example_applies_and_a_second_plan_only_sends_agents(
    real: RealServer, upstream: Upstream, target: ClaraVerseTarget
) -> None:
    want = desired(upstream)
    report = apply(want, target)
    assert not report.failed, [o.message for o in report.outcomes]
    assert report.converged
    row = real.state.model("gpt-4o")
    assert row is not None
    assert (row.display_name, row.context_length, row.agents_enabled) == ("GPT-4o", 128000, True)
    assert (row.supports_tools, row.supports_vision, row.smart_tool_router) == (True, True, True)
    mini = real.state.model("gpt-4o-mini")
    assert mini is not None and mini.agents_enabled is False
    (alias,) = real.state.aliases()
    assert (alias.alias_name, alias.model_id, alias.free_tier) == ("fast", "gpt-4o-mini", True)
    assert (alias.structured_output_badge, alias.structured_output_warning) == ("FASTEST", None)
    tiers = target.observe().tiers
    assert {(t.tier, t.model_id) for t in tiers} == {("tier1", "gpt-4o"), ("tier4", "gpt-4o-mini")}
    # free_tier never reaches a model; snake_case strings never sent to a model update.
    for request in real.state.requests_to("PUT", r"/api/admin/models/by-id$"):
        assert "free_tier" not in request.body and "display_name" not in request.body

    second = plan_for(want, target)
    assert second.is_empty, kinds(second)
    assert {a.kind for a in second.pushes} == {"push", "model_push"}
    (push,) = [a for a in second.pushes if a.kind == "model_push"]
    assert {c.model: c.settings.agents for c in push.model_changes} == {
        "gpt-4o": True,
        "gpt-4o-mini": False,
        "o3-mini": False,  # "*-mini" matches it too, hidden or not
    }


def test_a_refetch_resetting_display_names_is_repaired_and_the_tier_set_again(
    real: RealServer, upstream: Upstream, target: ClaraVerseTarget
) -> None:
    want = desired(upstream, tiers=(TierSpec(tier="tier1", provider="OpenAI", model="gpt-4o"),))
    want = replace(
        want,
        providers=tuple(
            replace(
                p,
                models=replace(
                    p.models,
                    settings=(
                        ModelSettingRule(
                            pattern="gpt-4o", settings=replace(GPT_4O, display_name="Omni")
                        ),
                    ),
                ),
            )
            for p in want.providers
            if p.models is not None
        ),
    )
    assert not apply(want, target).failed
    assert real.state.tier_rows()["tier1"].model_alias == "Omni"
    provider = real.state.provider("OpenAI")
    assert provider is not None
    # What a fetch does: the display name goes back to the id (visibility stays).
    real.state.add_models(provider.id, ["gpt-4o"], visible=True)
    assert target.observe().tiers == ()  # stored by "Omni": the slot dangles

    plan = plan_for(want, target)
    assert kinds(plan) == ["model_settings", "tier"]
    report = apply(want, target)
    assert report.converged, [o.message for o in report.outcomes]
    assert real.state.tier_rows()["tier1"].model_alias == "Omni"


def test_a_changed_alias_is_deleted_and_created_again(
    real: RealServer, upstream: Upstream, target: ClaraVerseTarget
) -> None:
    assert not apply(desired(upstream), target).failed
    changed = desired(upstream, alias=replace(FAST, display_name="Quick", free_tier=None))
    plan = plan_for(changed, target)
    (action,) = [a for a in plan.changes if a.kind == "aliases"]
    assert [a.display_name for a in action.alias_delete] == ["Fast"]
    assert [a.display_name for a in action.alias_create] == ["Quick"]
    requests_before = len(real.state.requests)
    assert apply(changed, target).converged
    (alias,) = real.state.aliases()
    assert (alias.display_name, alias.free_tier) == ("Quick", None)
    methods = [r.method for r in real.state.requests[requests_before:] if "/aliases" in r.path]
    assert "DELETE" in methods and "POST" in methods and "PUT" not in methods


def test_an_alias_of_that_name_on_a_model_not_read_is_replaced(
    real: RealServer, upstream: Upstream, target: ClaraVerseTarget
) -> None:
    assert not apply(desired(upstream, tiers=()), target).failed
    provider = real.state.provider("OpenAI")
    assert provider is not None
    # An admin moved "fast" to gpt-4o: the file's alias model (gpt-4o-mini) no longer has it.
    for row in real.state.aliases():
        target.delete_alias(str(provider.id), Alias(name=row.alias_name, model=row.model_id))
    real.state.add_alias("FAST", "gpt-4o", provider.id, display_name="old")
    report = apply(desired(upstream, tiers=()), target)
    assert report.converged, [o.message for o in report.outcomes]
    (alias,) = real.state.aliases()
    assert (alias.alias_name, alias.model_id, alias.display_name) == ("fast", "gpt-4o-mini", "Fast")


def test_a_server_without_the_tier_migration_fails_the_tiers_once_and_applies_the_rest(
    real: RealServer, upstream: Upstream, target: ClaraVerseTarget
) -> None:
    real.state.tier_migration = False
    report = apply(desired(upstream), target)
    # Each tier fails on its own; nothing depends on one, so none stops the others.
    failed = report.by_status("failed")
    assert [o.action.tier for o in failed] == ["tier1", "tier4"]
    for outcome in failed:
        assert "lacks ClaraVerse's tier migration 002_global_tiers.sql" in outcome.message
        assert "tiers cannot be set" in outcome.message
    assert report.by_status("skipped") == []
    row = real.state.model("gpt-4o")
    assert row is not None and row.display_name == "GPT-4o"
    assert [a.alias_name for a in real.state.aliases()] == ["fast"]


def test_a_no_op_plan_costs_three_requests_and_one_per_named_or_visible_model(
    real: RealServer, upstream: Upstream, target: ClaraVerseTarget
) -> None:
    want = desired(upstream)
    assert not apply(want, target).failed
    provider = real.state.provider("OpenAI")
    assert provider is not None
    # Hidden and not named by an alias: its aliases cost nothing.
    real.state.add_models(provider.id, ["o1-preview"])
    real.state.requests.clear()
    plan = plan_for(want, target)
    assert plan.is_empty
    paths = sorted(r.path for r in real.state.requests if not r.path.endswith("/aliases"))
    assert paths == ["/api/admin/models", "/api/admin/providers", "/api/admin/tiers"]
    # 3 + |models the aliases name ∪ visible models of providers declaring aliases|.
    read = sorted(r.query["model_id"] for r in real.state.requests_to("GET", "aliases"))
    visible = sorted(m.id for m in real.state.models() if m.is_visible)
    assert read == visible == ["gpt-4o", "gpt-4o-mini"]
    assert len(real.state.requests) == 3 + len(read)
    assert any("the aliases of 2 models were read (gpt-4o, gpt-4o-mini)" in n for n in plan.notes)


def test_export_reads_the_aliases_of_every_model(
    real: RealServer, upstream: Upstream, target: ClaraVerseTarget
) -> None:
    assert not apply(desired(upstream, tiers=()), target).failed
    real.state.requests.clear()
    observed = target.observe(None)
    assert observed.aliases_read_for is None
    (state,) = observed.providers
    assert [a.name for a in state.aliases] == ["fast"]
    assert state.aliases[0] == FAST  # every field read back as written
    assert len(real.state.requests_to("GET", "aliases")) == len(state.models)


def test_the_cli_applies_the_issues_example_and_plans_nothing_after(
    real: RealServer, upstream: Upstream
) -> None:
    path = write(
        Path("providers.yaml"),
        example_yaml(upstream.base_url("openai"), api_key="${E2E_OPENAI_KEY}"),
    )
    env = {"RECONCILE_TARGET": real.url, "CLARAVERSE_TOKEN": real.state.admin_token}
    done = reconcile("apply", "--yes", "-f", str(path), **env)
    assert done.returncode == 0, done.stdout + done.stderr
    again = reconcile("plan", "--detailed-exitcode", "-f", str(path), **env)
    assert again.returncode == 0, again.stdout
    assert "No changes." in again.stdout
    for text in (done.stdout, done.stderr, again.stdout, again.stderr):
        assert OPENAI_KEY not in text and KEYS["E2E_OPENAI_KEY"] not in text
    tiers = real.state.tier_rows()
    assert (tiers["tier1"].model_alias, tiers["tier4"].model_alias) == ("GPT-4o", "gpt-4o-mini")


def test_a_failed_tier_stops_no_other_provider_but_no_delete_follows_it(
    real: RealServer, upstream: Upstream, target: ClaraVerseTarget
) -> None:
    real.state.tier_migration = False
    real.state.add_provider("Legacy", "http://127.0.0.1:9/v1", enabled=False)
    want = desired(upstream)
    other = replace(want.providers[0], name="Other", models=None)
    want = replace(
        want, providers=(*want.providers, other, ProviderSpec(name="Legacy", ensure="absent"))
    )
    # One worker: OpenAI's chain, whose tiers fail, runs before Other's.
    report = converge(plan_for(want, target), target, lambda: plan_for(want, target), parallelism=1)
    assert {o.action.kind for o in report.by_status("failed")} == {"tier"}
    assert real.state.provider("Other") is not None
    # Deletes are the last step, and none is taken once something failed.
    assert [o.action.kind for o in report.by_status("skipped")] == ["delete"]
    assert real.state.provider("Legacy") is not None


def _catalog_file(upstream: Upstream, *, description: str, tier1: str) -> Path:
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
      settings:
        "gpt-4o": {{display_name: GPT-4o, agents: true}}
      aliases:
        fast: {{model: gpt-4o-mini, display_name: Fast, description: {description}}}
tiers:
  tier1: {{provider: OpenAI, model: {tier1}}}
  tier4: {{provider: OpenAI, model: fast}}
""",
    )


def test_progress_lines_name_the_actions_as_the_plan_does(
    real: RealServer, upstream: Upstream
) -> None:
    env = {"RECONCILE_TARGET": real.url, "CLARAVERSE_TOKEN": real.state.admin_token}
    _catalog_file(upstream, description="Quick", tier1="gpt-4o")
    first = reconcile("apply", "--yes", **env)
    assert first.returncode == 0, first.stdout + first.stderr
    done = {line.split("] ", 1)[1] for line in first.stderr.splitlines() if line.startswith("[")}
    assert {
        "create OpenAI: done",
        "fetch models of OpenAI: done",
        "model settings of OpenAI: done",
        "aliases of OpenAI: done",
        "tier1 → OpenAI/gpt-4o: done",
        "tier4 → OpenAI/fast (alias of gpt-4o-mini): done",
    } <= done
    # Again with a changed alias and tier: the key and agents are sent as well.
    _catalog_file(upstream, description="Quicker", tier1="gpt-4o-mini")
    second = reconcile("apply", "--yes", **env)
    assert second.returncode == 0, second.stdout + second.stderr
    done = {line.split("] ", 1)[1] for line in second.stderr.splitlines() if line.startswith("[")}
    assert done == {
        "send OpenAI: done",
        "send model settings of OpenAI: done",
        "aliases of OpenAI: done",
        "tier1 → OpenAI/gpt-4o-mini: done",
    }
