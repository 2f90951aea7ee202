"""The ClaraVerse target's catalog writes and reads one by one, against the real-server
double: the keys a model update binds, model ids that need extra encoding, alias errors,
tiers a server cannot read or still keeps in ClaraVerse's old slots."""

from __future__ import annotations

import pytest

from reconciler.core.catalog import Alias, ModelSettings
from reconciler.core.target import AliasScope
from reconciler.errors import TargetError
from reconciler.targets.claraverse import ClaraVerseTarget
from reconciler.targets.claraverse.catalog import encode_model_id
from tests.catalog_example import desired, kinds, plan_for, target_for
from tests.faults import Faults, Rule
from tests.realserver import RealServer, make_real_server
from tests.servers import running
from tests.upstreams import Upstream


def test_model_updates_send_the_keys_the_server_binds_and_agents_in_two_requests(
    real: RealServer, target: ClaraVerseTarget
) -> None:
    local = real.state.add_provider("Local", "http://127.0.0.1:9/v1")
    real.state.add_models(local.id, ["a+b", "50%off", "org/m", "plain"])
    target.update_models(
        str(local.id),
        (
            ("a+b", ModelSettings(display_name="AB", context_length=5, agents=True)),
            ("50%off", ModelSettings(system_prompt="hi", description="d", agents=False)),
            ("org/m", ModelSettings(supports_streaming=True, agents=True)),
            ("plain", ModelSettings(agents=False)),
        ),
    )
    ab, off, org = real.state.model("a+b"), real.state.model("50%off"), real.state.model("org/m")
    assert ab is not None and (ab.display_name, ab.context_length, ab.agents_enabled) == (
        "AB",
        5,
        True,
    )
    assert off is not None and (off.system_prompt, off.description) == ("hi", "d")
    assert org is not None and org.supports_streaming and org.agents_enabled
    bodies = [r.body for r in real.state.requests_to("PUT", r"/by-id$")]
    assert bodies == [
        {"displayName": "AB", "contextLength": 5},
        {"description": "d", "systemPrompt": "hi"},
        {"supports_streaming": True},
    ]
    # The provider is named too (for the sandbox, whose model ids are per provider).
    assert {r.query["provider_id"] for r in real.state.requests_to("PUT", r"/by-id$")} == {
        str(local.id)
    }
    bulk = [r.body for r in real.state.requests_to("PUT", "agents-enabled")]
    assert bulk == [
        {"model_ids": ["50%off", "plain"], "enabled": False, "provider_id": local.id},
        {"model_ids": ["a+b", "org/m"], "enabled": True, "provider_id": local.id},
    ]


def test_model_ids_are_encoded_once_per_decode_only_when_they_need_it() -> None:
    assert encode_model_id("org/m", 3) == "org%2Fm"
    assert encode_model_id("a+b", 2) == "a%252Bb"
    assert encode_model_id("a+b", 3) == "a%25252Bb"
    assert encode_model_id("50%off", 2) == "50%2525off"


def test_aliases_of_ids_needing_extra_encoding_are_created_and_read(
    real: RealServer, target: ClaraVerseTarget
) -> None:
    local = real.state.add_provider("Local", "http://127.0.0.1:9/v1")
    real.state.add_models(local.id, ["a+b", "50%off"])
    for model in ("a+b", "50%off"):
        target.create_alias(str(local.id), Alias(name=f"x {model}", model=model))
    (state,) = target.observe(AliasScope(models=frozenset({"a+b", "50%off"}))).providers
    assert sorted((a.name, a.model) for a in state.aliases) == [
        ("x 50%off", "50%off"),
        ("x a+b", "a+b"),
    ]
    for alias in state.aliases:
        target.delete_alias(str(local.id), alias)
    assert real.state.aliases() == []


def test_an_alias_of_a_model_the_server_lacks_names_both(
    real: RealServer, target: ClaraVerseTarget
) -> None:
    local = real.state.add_provider("Local", "http://127.0.0.1:9/v1")
    with pytest.raises(TargetError) as caught:
        target.create_alias(str(local.id), Alias(name="fast", model="nope"))
    assert "alias 'fast'" in str(caught.value) and "no model 'nope'" in str(caught.value)


def test_an_alias_holding_a_slash_cannot_be_deleted_and_says_so(
    real: RealServer, target: ClaraVerseTarget
) -> None:
    local = real.state.add_provider("Local", "http://127.0.0.1:9/v1")
    real.state.add_models(local.id, ["gpt-4o"])
    real.state.add_alias("vendor/fast", "gpt-4o", local.id)
    with pytest.raises(TargetError) as caught:
        target.delete_alias(str(local.id), Alias(name="vendor/fast", model="gpt-4o"))
    assert "ClaraVerse cannot delete" in str(caught.value)
    assert real.state.requests_to("DELETE", "aliases") == []


def test_tiers_that_cannot_be_read_leave_the_plan_of_providers_alone(
    real: RealServer, upstream: Upstream
) -> None:
    faults = Faults(make_real_server(real.state))
    faults.rules.append(Rule("500", method="GET", path=r"^/api/admin/tiers$"))
    with running(faults) as url:
        target = target_for(url, real)
        try:
            plan = plan_for(desired(upstream), target)
        finally:
            target.close()
    assert kinds(plan)[0] == "create"
    assert any("could not read its tiers" in n for n in plan.notes)


def test_old_recommendation_slots_say_the_tier_migration_is_missing(
    real: RealServer, target: ClaraVerseTarget
) -> None:
    real.state.tier_migration = False
    local = real.state.add_provider("Local", "http://127.0.0.1:9/v1")
    real.state.add_models(local.id, ["gpt-4o"])
    real.state.set_tier_row("top", local.id, "gpt-4o")
    observed = target.observe()
    assert observed.tiers == ()
    assert any("002_global_tiers.sql" in n and "top" in n for n in observed.notes)
