"""The model catalog end to end on the embedded store (issue 15): the declared settings,
aliases and tiers planned, applied and observed again, against a real store file and a
model listing served on loopback. The core path (``make_plan`` + ``converge``) is driven
with Desired values built here; the CLI path reads the issue's example file."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.catalog import (
    TierSpec,
    TierState,
)
from reconciler.core.catalog_diff import alias_scope
from reconciler.core.diff import make_plan
from reconciler.core.execute import converge
from reconciler.core.model import Desired, Observed, ProviderSpec
from reconciler.core.plan import DEFAULT_OPTIONS, Options, Plan, Report
from reconciler.targets.sqlite import SqliteTarget
from tests.catalog_example import FAST, GPT_4O, TIERS, example_yaml, issue_rules
from tests.inprocess import run
from tests.upstreams import Upstream, running_upstream


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with running_upstream() as up:
        yield up


@pytest.fixture
def target(tmp_path: Path) -> Iterator[SqliteTarget]:
    t = SqliteTarget(tmp_path / "state.db", lazy=True)
    yield t
    t.close()


def openai(upstream: Upstream, **changes: Any) -> ProviderSpec:
    """The issue's OpenAI provider (no key: the upstream is on loopback)."""
    spec = ProviderSpec(
        name="OpenAI", type="openai", base_url=upstream.base_url("openai"), models=issue_rules()
    )
    return replace(spec, **changes)


def desired(*providers: ProviderSpec, tiers: tuple[TierSpec, ...] = TIERS) -> Desired:
    return Desired(providers=providers, tiers=tiers)


def observe(target: SqliteTarget, wanted: Desired) -> Observed:
    return target.observe(alias_scope(wanted))


def plan(target: SqliteTarget, wanted: Desired, options: Options = DEFAULT_OPTIONS) -> Plan:
    return make_plan(wanted, observe(target, wanted), options)


def apply(target: SqliteTarget, wanted: Desired, options: Options = DEFAULT_OPTIONS) -> Report:
    """Plan and apply as ``reconcile apply`` does; the report, checked to have converged."""
    report = converge(
        plan(target, wanted, options),
        target,
        lambda: plan(target, wanted, options.for_recheck()),
    )
    failed = [(o.action.kind, o.message) for o in report.outcomes if o.status != "done"]
    assert failed == []
    assert report.converged, report.remaining
    return report


def test_the_issues_example_applies_and_a_second_plan_is_empty(
    target: SqliteTarget, upstream: Upstream
) -> None:
    wanted = desired(openai(upstream))
    first = plan(target, wanted)
    assert [a.kind for a in first.actions] == [
        "create",
        "fetch",
        "models",
        "model_settings",
        "aliases",
        "tier",
        "tier",
    ]
    apply(target, wanted)
    observed = observe(target, wanted)
    [state] = observed.providers
    by_id = {m.id: m for m in state.models}
    assert by_id["gpt-4o"].settings == GPT_4O
    assert by_id["gpt-4o-mini"].settings.agents is False
    assert by_id["gpt-4o-mini"].settings.display_name == "gpt-4o-mini"
    assert [m.id for m in state.models if m.visible] == ["gpt-4o", "gpt-4o-mini"]
    assert state.aliases == (FAST,)
    assert observed.tiers == (
        TierState(tier="tier1", provider_id=state.id, model_id="gpt-4o"),
        TierState(tier="tier4", provider_id=state.id, model_id="gpt-4o-mini"),
    )
    assert plan(target, wanted).is_empty


def test_a_fetch_that_resets_display_names_is_repaired_by_the_next_apply(
    target: SqliteTarget, upstream: Upstream
) -> None:
    wanted = desired(openai(upstream))
    apply(target, wanted)
    [state] = observe(target, wanted).providers
    target.fetch_models(state.id)  # the upstream gives no display names: reset to the ids
    reset = plan(target, wanted)
    assert [(a.kind, [c.model for c in a.model_changes]) for a in reset.changes] == [
        ("model_settings", ["gpt-4o"])
    ]
    apply(target, wanted)
    assert plan(target, wanted).is_empty
    # --refetch: the settings are worked out after the fetch, in the same apply.
    apply(target, wanted, Options(refetch=True))
    [state] = observe(target, wanted).providers
    assert {m.id: m.settings.display_name for m in state.models}["gpt-4o"] == "GPT-4o"
    assert plan(target, wanted).is_empty


def test_a_changed_alias_is_deleted_and_created_again(
    target: SqliteTarget, upstream: Upstream
) -> None:
    apply(target, desired(openai(upstream)))
    changed = replace(FAST, description="Quicker answers", model="gpt-4o")
    spec = openai(upstream)
    assert spec.models is not None
    wanted = desired(replace(spec, models=replace(spec.models, aliases=(changed,))))
    # tier4 names the alias: it follows the alias to its new model.
    [aliases, tier] = plan(target, wanted).changes
    assert (aliases.kind, aliases.alias_delete, aliases.alias_create) == (
        "aliases",
        (FAST,),
        (changed,),
    )
    assert (tier.kind, tier.tier, tier.model_id) == ("tier", "tier4", "gpt-4o")
    apply(target, wanted)
    observed = observe(target, wanted)
    assert observed.providers[0].aliases == (changed,)
    assert observed.tiers[1].model_id == "gpt-4o"


def test_a_tier_is_moved_to_the_declared_model(target: SqliteTarget, upstream: Upstream) -> None:
    apply(target, desired(openai(upstream)))
    moved = (TierSpec(tier="tier1", provider="OpenAI", model="gpt-4o-mini"), TIERS[1])
    wanted = desired(openai(upstream), tiers=moved)
    [action] = plan(target, wanted).changes
    assert (action.kind, action.tier, action.model_id) == ("tier", "tier1", "gpt-4o-mini")
    apply(target, wanted)
    assert observe(target, wanted).tiers[0].model_id == "gpt-4o-mini"


def test_deleting_the_provider_removes_its_aliases_and_tiers(
    target: SqliteTarget, upstream: Upstream, tmp_path: Path
) -> None:
    apply(target, desired(openai(upstream)))
    apply(target, desired(openai(upstream, enabled=False)))
    gone = desired(ProviderSpec(name="OpenAI", ensure="absent"), tiers=())
    [delete] = plan(target, gone).changes
    assert (delete.kind, delete.alias_count, delete.tiers) == ("delete", 1, ("tier1", "tier4"))
    apply(target, gone)
    conn = sqlite3.connect(tmp_path / "state.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM model_aliases").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM tiers").fetchone() == (0,)
    finally:
        conn.close()


# --- the CLI -------------------------------------------------------------------------


def test_the_issues_example_through_the_cli(tmp_path: Path, upstream: Upstream) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILE_", "CLARAVERSE_"))}

    def reconcile(*args: str) -> tuple[int, str]:
        result = run(*args, env=env, cwd=tmp_path)
        return result.returncode, result.stdout + result.stderr

    config = tmp_path / "providers.yaml"
    url = upstream.base_url("openai")
    config.write_text(example_yaml(url))
    code, out = reconcile("apply", "--yes")
    assert code == 0, out
    assert "The target now matches the configuration." in out
    code, out = reconcile("plan")
    assert code == 0 and "No changes." in out, out

    target = SqliteTarget(tmp_path / ".reconcile" / "state.db")
    try:
        [state] = target.observe().providers
        target.fetch_models(state.id)  # display names reset to the ids
    finally:
        target.close()
    code, out = reconcile("apply", "--yes")
    assert code == 0 and "The target now matches the configuration." in out, out

    config.write_text(example_yaml(url, description="Quicker answers"))
    code, out = reconcile("apply", "--yes")
    assert code == 0 and "The target now matches the configuration." in out, out
    target = SqliteTarget(tmp_path / ".reconcile" / "state.db")
    try:
        observed = target.observe()
    finally:
        target.close()
    assert observed.providers[0].aliases[0].description == "Quicker answers"
    assert [(t.tier, t.model_id) for t in observed.tiers] == [
        ("tier1", "gpt-4o"),
        ("tier4", "gpt-4o-mini"),
    ]
