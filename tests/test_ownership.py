"""What --prune leaves alone: prune.ignore globs and the providers a target creates by
itself, decided in the pure diff."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.diff import make_plan
from reconciler.core.ownership import SELF_CREATED_REASON
from reconciler.core.plan import Kept, Options
from reconciler.errors import PlanRefused
from tests.factories import FULL, desired, observed, spec, state

PRUNE = Options(prune=True, allow_delete_enabled=True)


def test_prune_ignore_globs_keep_undeclared_providers_with_the_pattern_as_reason() -> None:
    want = replace(desired(spec("Mine")), prune_ignore=("team-b-*", "Shared Proxy"))
    have = observed(
        state("Mine"),
        state("team-b-chat", id="2"),
        state("Shared Proxy", id="3"),
        state("Team-B-upper", id="4"),
        state("Old", id="5"),
    )
    plan = make_plan(want, have, PRUNE)
    # fnmatchcase: case matters, as names on the target are what they are.
    assert [(a.kind, a.provider) for a in plan.actions] == [
        ("delete", "Old"),
        ("delete", "Team-B-upper"),
    ]
    assert plan.kept == (
        Kept(name="Shared Proxy", reason="matches prune.ignore 'Shared Proxy'"),
        Kept(name="team-b-chat", reason="matches prune.ignore 'team-b-*'"),
    )
    assert plan.unmanaged == ()
    # Without --prune the kept ones are still told apart from those prune would delete.
    plain = make_plan(want, have)
    assert plain.unmanaged == ("Old", "Team-B-upper")
    assert [k.name for k in plain.kept] == ["Shared Proxy", "team-b-chat"]


def test_self_created_providers_are_kept_unless_declared_absent() -> None:
    caps = replace(FULL, self_created=frozenset({"Ollama", "LM Studio"}))
    have = observed(
        state("Mine"), state("Ollama", id="2"), state("LM Studio", id="3"), capabilities=caps
    )
    plan = make_plan(desired(spec("Mine")), have, PRUNE)
    assert plan.actions == ()
    assert plan.kept == (
        Kept(name="LM Studio", reason=SELF_CREATED_REASON),
        Kept(name="Ollama", reason=SELF_CREATED_REASON),
    )
    absent = replace(spec("Ollama"), ensure="absent")
    plan = make_plan(desired(spec("Mine"), absent), have, PRUNE)
    assert [(a.kind, a.provider, a.reason) for a in plan.actions] == [
        ("delete", "Ollama", "ensure: absent")
    ]
    assert [k.name for k in plan.kept] == ["LM Studio"]


def test_kept_providers_are_never_refused_as_enabled_deletes() -> None:
    want = replace(desired(spec("Mine")), prune_ignore=("*-shared",))
    have = observed(state("Mine"), state("x-shared", id="2", enabled=True))
    plan = make_plan(want, have, Options(prune=True))
    assert plan.actions == () and [k.name for k in plan.kept] == ["x-shared"]
    with pytest.raises(PlanRefused):
        make_plan(want, observed(state("Mine"), state("other", id="2")), Options(prune=True))
