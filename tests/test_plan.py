"""Plans: the summary line, per-provider chains, and the deterministic order."""

from __future__ import annotations

from reconciler.core.plan import Action, FieldChange, Plan, Summary, group, sort_actions


def act(kind: str, provider: str, **kw: object) -> Action:
    return Action(kind=kind, provider=provider, **kw)  # type: ignore[arg-type]


def test_summary_line_counts_everything() -> None:
    line = Summary(add=2, change=1, disable=1, delete=0, fetch=3).line()
    assert line == "Plan: 2 to add, 1 to change, 1 to disable, 0 to delete, 3 model fetches."


def test_summary_line_says_one_model_fetch() -> None:
    assert Summary(fetch=1).line().endswith("0 to delete, 1 model fetch.")


def test_a_created_provider_is_added_not_changed() -> None:
    plan = Plan(
        actions=(act("create", "P"), act("fetch", "P"), act("models", "P", after_fetch=True))
    )
    assert plan.summary() == Summary(add=1, fetch=1)


def test_several_changes_to_one_provider_count_once() -> None:
    change = FieldChange(field="base_url", before="a", after="b")
    plan = Plan(
        actions=(
            act("rename", "P", old_name="O"),
            act("update", "P", changes=(change,)),
            act("enable", "P"),
        )
    )
    assert plan.summary() == Summary(change=1)


def test_a_disable_is_counted_as_a_disable() -> None:
    assert Plan(actions=(act("disable", "P"),)).summary() == Summary(disable=1)


def test_visibility_settled_after_a_retried_fetch_is_not_a_change() -> None:
    plan = Plan(actions=(act("fetch", "P"), act("models", "P", after_fetch=True)))
    assert plan.summary() == Summary(fetch=1)


def test_a_visibility_change_is_a_change() -> None:
    plan = Plan(actions=(act("models", "P", show=("m",)),))
    assert plan.summary() == Summary(change=1)


def test_chains_keep_each_providers_actions_in_execution_order_and_deletes_apart() -> None:
    actions = [
        act("delete", "Gone"),
        act("fetch", "P"),
        act("create", "Q"),
        act("update", "P"),
        act("rename", "P"),
        act("disable", "P"),
    ]
    chains, deletes = group(actions)
    assert [[a.kind for a in c] for c in chains] == [
        ["rename", "update", "disable", "fetch"],
        ["create"],
    ]
    assert deletes == [actions[0]]


def test_sort_puts_providers_by_name_ignoring_case_and_deletes_last() -> None:
    actions = [act("delete", "a"), act("create", "b"), act("fetch", "A"), act("create", "A")]
    assert [(a.kind, a.provider) for a in sort_actions(actions)] == [
        ("create", "A"),
        ("fetch", "A"),
        ("create", "b"),
        ("delete", "a"),
    ]
