"""The ClaraVerse target's aliases on the real-server double and on the sandbox: which
aliases a plan reads (the models the file's aliases name and the visible models of the
providers that declare aliases), retargeting an alias, ``aliases: {}``, an alias of that
name on a model the plan did not read, and names a URL path cannot carry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from reconciler.core.catalog import Alias
from reconciler.core.model import Desired
from reconciler.errors import TargetError
from reconciler.targets.claraverse import ClaraVerseTarget
from reconciler.targets.claraverse.catalog import segment_path
from tests.catalog_example import FAST, apply, desired, plan_for, target_for
from tests.realserver import RealServer, running_real_server
from tests.sandbox import running_sandbox
from tests.upstreams import Upstream


@dataclass
class Server:
    """A ClaraVerse target on one kind of server, with the issue's example applied:
    OpenAI with gpt-4o and gpt-4o-mini visible, o3-mini hidden, ``fast`` → gpt-4o-mini."""

    target: ClaraVerseTarget
    provider_id: str

    def aliases(self) -> list[tuple[str, str]]:
        (state,) = self.target.observe(None).providers
        return sorted((a.name, a.model) for a in state.aliases)


@pytest.fixture(params=["double", "sandbox"])
def server(request: pytest.FixtureRequest, upstream: Upstream, tmp_path: Path) -> Iterator[Server]:
    if request.param == "double":
        with running_real_server() as real:
            yield from _server(real.url, real.state.admin_token, upstream)
    else:
        with running_sandbox(tmp_path / "sandbox.db") as sandbox:
            yield from _server(sandbox.url, sandbox.admin, upstream)


def _server(url: str, token: str, upstream: Upstream) -> Iterator[Server]:
    target = ClaraVerseTarget(url, env={"CLARAVERSE_TOKEN": token})
    try:
        report = apply(desired(upstream, tiers=()), target)
        assert report.converged, [o.message for o in report.outcomes]
        (state,) = target.observe().providers
        assert {m.id: m.visible for m in state.models} == {
            "gpt-4o": True,
            "gpt-4o-mini": True,
            "o3-mini": False,
        }
        yield Server(target=target, provider_id=state.id)
    finally:
        target.close()


def _with_aliases(want: Desired, *aliases: Alias) -> Desired:
    (spec,) = want.providers
    assert spec.models is not None
    return replace(want, providers=(replace(spec, models=replace(spec.models, aliases=aliases)),))


def test_retargeting_an_alias_to_another_model_is_a_replace(
    server: Server, upstream: Upstream
) -> None:
    want = _with_aliases(desired(upstream, tiers=()), replace(FAST, model="gpt-4o"))
    plan = plan_for(want, server.target)
    (action,) = [a for a in plan.changes if a.kind == "aliases"]
    assert [(a.name, a.model) for a in action.alias_delete] == [("fast", "gpt-4o-mini")]
    assert [(a.name, a.model) for a in action.alias_create] == [("fast", "gpt-4o")]
    assert [c.after for c in action.changes] == ["fast: model changed"]
    report = apply(want, server.target)
    assert report.converged and not report.failed, [o.message for o in report.outcomes]
    assert report.warnings == []
    assert server.aliases() == [("fast", "gpt-4o")]
    assert plan_for(want, server.target).is_empty


def test_an_empty_alias_list_deletes_the_aliases_of_visible_models(
    server: Server, upstream: Upstream
) -> None:
    server.target.create_alias(server.provider_id, Alias(name="omni", model="gpt-4o"))
    want = _with_aliases(desired(upstream, tiers=()))
    (action,) = [a for a in plan_for(want, server.target).changes if a.kind == "aliases"]
    assert sorted(a.name for a in action.alias_delete) == ["fast", "omni"]
    report = apply(want, server.target)
    assert report.converged, [o.message for o in report.outcomes]
    assert server.aliases() == []


def test_an_alias_on_a_hidden_model_the_file_does_not_name_is_left_alone(
    server: Server, upstream: Upstream
) -> None:
    server.target.create_alias(server.provider_id, Alias(name="reasoning", model="o3-mini"))
    want = _with_aliases(desired(upstream, tiers=()))  # aliases: {}
    plan = plan_for(want, server.target)
    (action,) = [a for a in plan.changes if a.kind == "aliases"]
    assert [a.name for a in action.alias_delete] == ["fast"]
    assert any(
        "the aliases of 2 models were read (gpt-4o, gpt-4o-mini)" in note
        and "an alias on another model (a hidden one the file does not name) is left alone" in note
        for note in plan.notes
    ), plan.notes
    assert apply(want, server.target).converged
    assert server.aliases() == [("reasoning", "o3-mini")]


def test_an_alias_of_that_name_on_a_model_the_plan_did_not_read_is_replaced_with_a_warning(
    server: Server, upstream: Upstream
) -> None:
    # An admin moved "fast" to the hidden o3-mini: the plan does not read it, and plans a create.
    server.target.delete_alias(server.provider_id, FAST)
    server.target.create_alias(server.provider_id, Alias(name="FAST", model="o3-mini"))
    want = desired(upstream, tiers=())
    (action,) = [a for a in plan_for(want, server.target).changes if a.kind == "aliases"]
    assert [c.after for c in action.changes] == ["fast: new"]
    report = apply(want, server.target)
    assert report.converged and not report.failed, [o.message for o in report.outcomes]
    (warning,) = report.warnings
    assert "provider 'OpenAI': alias 'fast' already existed on a model whose aliases" in warning
    assert server.aliases() == [("fast", "gpt-4o-mini")]
    assert plan_for(want, server.target).is_empty


# --- names a URL path cannot carry ------------------------------------------------------


def test_an_observed_alias_named_dot_dot_is_left_with_a_warning_and_its_model_stays(
    real: RealServer, upstream: Upstream
) -> None:
    target = target_for(real.url, real)
    try:
        want = desired(upstream, tiers=())
        assert apply(want, target).converged
        provider = real.state.provider("OpenAI")
        assert provider is not None
        real.state.add_alias("..", "gpt-4o-mini", provider.id)
        # The plan does not delete what no apply can: it says so, and changes nothing.
        plan = plan_for(want, target)
        assert plan.is_empty, [a.kind for a in plan.changes]
        assert any(
            "alias '..' is not in the file, but its name cannot be" in w for w in plan.warnings
        )
        report = apply(want, target)
        assert report.by_status("failed") == []
    finally:
        target.close()
    # DELETE .../aliases/..?model_id=gpt-4o-mini is, once a URL resolves "..", the route
    # that deletes the model.
    assert real.state.model("gpt-4o-mini") is not None
    assert real.state.requests_to("DELETE", r"/api/admin/models/by-id$") == []
    assert real.state.requests_to("DELETE", "") == []  # nothing was sent for ".." at all
    assert sorted(a.alias_name for a in real.state.aliases()) == ["..", "fast"]


@pytest.mark.parametrize("name", [".", "..", ". ", ".. "])
def test_delete_alias_refuses_dot_segments_before_any_request(real: RealServer, name: str) -> None:
    target = target_for(real.url, real)
    try:
        with pytest.raises(TargetError, match="ClaraVerse cannot delete it by name"):
            target.delete_alias("1", Alias(name=name, model="gpt-4o"))
        # A provider id is checked the same way (ids come from the server or a saved plan).
        with pytest.raises(TargetError, match="cannot be sent in a URL path"):
            target.delete("..")
    finally:
        target.close()
    assert real.state.requests_to("DELETE", "") == []


def test_segment_path_encodes_a_segment_and_refuses_one_a_url_resolves_away() -> None:
    base = "http://127.0.0.1:1/clara"
    assert segment_path(base, "/api/x", "a b/c?", query="m=1") == "/api/x/a%20b%2Fc%3F?m=1"
    assert segment_path(base, "/api/x", "...") == "/api/x/..."
    assert segment_path(base, "/api/p", "7", suffix="/fetch") == "/api/p/7/fetch"
    for segment in (".", ".."):
        with pytest.raises(TargetError, match="nothing was sent"):
            segment_path(base, "/api/x", segment, query="m=1")


def test_a_create_sent_again_that_meets_itself_changes_nothing(server: Server) -> None:
    # As when a POST's answer is lost and it is sent again: the alias is there, as declared.
    server.target.run_warnings()  # what the setup's apply noticed
    server.target.create_alias(server.provider_id, FAST)
    assert server.aliases() == [("fast", "gpt-4o-mini")]
    assert server.target.run_warnings() == ()
