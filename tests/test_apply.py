"""The executor, against real SQLite stores: order, concurrency, failures, convergence."""

from __future__ import annotations

import _thread
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.core.diff import make_plan
from reconciler.core.execute import Run, converge, execute
from reconciler.core.model import Desired, ProviderSpec, ProviderState
from reconciler.core.plan import Options, Outcome, Plan
from reconciler.targets.sqlite import SqliteTarget
from tests.factories import (
    LOCAL_URL,
    CountingTarget,
    HoldingTarget,
    absent,
    desired,
    provider_id,
    spec,
)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[CountingTarget]:
    t = CountingTarget(tmp_path / "state.db")
    yield t
    t.close()


def plan_for(want: Desired, target: SqliteTarget, **options: bool) -> Plan:
    return make_plan(want, target.observe(), Options(**options))


def seed(target: SqliteTarget, *specs_: object) -> None:
    """Put providers in the store directly, bypassing the executor."""
    for s in specs_:
        target.create(s)  # type: ignore[arg-type]
    if isinstance(target, CountingTarget):
        target.writes.clear()


def comparable(providers: tuple[ProviderState, ...]) -> list[tuple[object, ...]]:
    """Providers without their ids or key salts (which differ between two stores)."""
    return [
        (p.name, p.type, p.base_url, p.enabled, p.key.present if p.key else None, p.models)
        for p in providers
    ]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- order ----------------------------------------------------------------------------


def test_actions_on_one_provider_run_in_plan_order(target: CountingTarget) -> None:
    seed(target, spec("Old", base_url="https://a.example/v1"))
    [old] = target.observe().providers
    want = desired(
        spec("New", base_url="https://b.example/v1", enabled=False, renamed_from=("Old",))
    )
    report = execute(plan_for(want, target), target)
    assert [o.status for o in report.outcomes] == ["done", "done", "done"]
    assert target.writes == ["rename New", "update New", f"disable {old.id}"]
    assert plan_for(want, target).is_empty


def test_deletes_run_after_every_other_action(target: CountingTarget) -> None:
    seed(target, spec("Gone1", enabled=False), spec("Gone2", enabled=False))
    want = desired(absent("Gone1"), absent("Gone2"), *(spec(f"P{i}") for i in range(6)))
    report = execute(plan_for(want, target), target, parallelism=8)
    assert not report.failed
    kinds = [w.split()[0] for w in target.writes]
    assert kinds == ["create"] * 6 + ["delete"] * 2
    assert [o.action.kind for o in report.outcomes][-2:] == ["delete", "delete"]


def test_parallel_apply_gives_the_same_result_as_sequential(tmp_path: Path) -> None:
    def run(parallelism: int, folder: str) -> tuple[list[tuple[object, ...]], list[str]]:
        t = SqliteTarget(tmp_path / folder / "state.db")
        try:
            seed(
                t,
                spec("Old", base_url="https://a.example/v1"),
                spec("Off", enabled=False),
                spec("Gone", enabled=False),
                spec("Rekey", api_key="sk-before-rotation", fetch_models=False),
            )
            want = desired(
                spec("New", base_url="https://b.example/v1", renamed_from=("Old",)),
                spec("Off", enabled=True),
                absent("Gone"),
                spec("Rekey", api_key="sk-after-rotation", fetch_models=False),
                *(spec(f"Fresh {i}", enabled=i % 2 == 0) for i in range(10)),
            )
            report = execute(plan_for(want, t), t, parallelism=parallelism)
            statuses = [f"{o.action.kind} {o.action.provider} {o.status}" for o in report.outcomes]
            assert plan_for(want, t).is_empty
            return comparable(t.observe().providers), statuses
        finally:
            t.close()

    assert run(8, "parallel") == run(1, "sequential")


def test_progress_sees_every_outcome_once(target: CountingTarget) -> None:
    seen: list[Outcome] = []
    want = desired(*(spec(f"P{i}") for i in range(12)))
    report = execute(plan_for(want, target), target, parallelism=4, progress=seen.append)
    assert sorted(id(o) for o in seen) == sorted(id(o) for o in report.outcomes)


# --- failures -------------------------------------------------------------------------


def test_failure_on_nth_write_is_reported_accurately_then_rerun_converges(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    seed_target = SqliteTarget(path)
    seed(seed_target, spec("Gone", enabled=False), spec("Later", enabled=False))
    seed_target.close()
    want = desired(spec("A"), spec("B"), spec("C"), spec("Later", enabled=True), absent("Gone"))

    faulty = CountingTarget(path, fail_on=3)
    try:
        plan = plan_for(want, faulty)
        assert [f"{a.kind} {a.provider}" for a in plan.actions] == [
            "create A",
            "create B",
            "create C",
            "enable Later",
            "delete Gone",
        ]
        report = execute(plan, faulty, parallelism=1)
        assert [(o.action.provider, o.status) for o in report.outcomes] == [
            ("A", "done"),
            ("B", "done"),
            ("C", "failed"),
            ("Later", "skipped"),
            ("Gone", "skipped"),
        ]
        assert report.failed
        assert "injected failure on write 3" in report.by_status("failed")[0].message
        assert report.by_status("skipped")[0].message == "not attempted"
        # What the report says was done is in the store; nothing else is.
        after = {p.name: p for p in faulty.observe().providers}
        assert sorted(after) == ["A", "B", "Gone", "Later"]
        assert not after["Later"].enabled
    finally:
        faulty.close()

    rerun = CountingTarget(path)
    try:
        report = converge(plan_for(want, rerun), rerun, lambda: plan_for(want, rerun))
        assert report.converged and not report.failed
        assert rerun.writes == [
            "create C",
            f"enable {after['Later'].id}",
            f"delete {after['Gone'].id}",
        ]
        assert sorted(p.name for p in rerun.observe().providers) == ["A", "B", "C", "Later"]
    finally:
        rerun.close()


@pytest.mark.parametrize("fail_on", [1, 2, 4, 7])
def test_failure_with_parallelism_leaves_what_the_report_says(tmp_path: Path, fail_on: int) -> None:
    path = tmp_path / "state.db"
    want = desired(*(spec(f"P{i}") for i in range(8)))
    faulty = CountingTarget(path, fail_on=fail_on)
    try:
        report = execute(plan_for(want, faulty), faulty, parallelism=4)
        assert [o.status for o in report.outcomes].count("failed") == 1
        created = {p.name for p in faulty.observe().providers}
        done = {o.action.provider for o in report.outcomes if o.status == "done"}
        assert created == done
        assert len(report.outcomes) == 8
    finally:
        faulty.close()
    rerun = SqliteTarget(path)
    try:
        report = converge(plan_for(want, rerun), rerun, lambda: plan_for(want, rerun))
        assert report.converged
        assert sorted(p.name for p in rerun.observe().providers) == [f"P{i}" for i in range(8)]
    finally:
        rerun.close()


@pytest.mark.parametrize("fail_on", [1, 2, 3])
def test_an_answer_lost_after_commit_is_reported_and_nothing_is_duplicated(
    tmp_path: Path, fail_on: int
) -> None:
    path = tmp_path / "state.db"
    seed_target = SqliteTarget(path)
    seed(seed_target, spec("Old"))
    seed_target.close()
    want = desired(spec("A"), spec("B", renamed_from=("Old",)), spec("C", enabled=False))
    lossy = CountingTarget(path, fail_on=fail_on, commit_then_fail=True)
    try:
        report = execute(plan_for(want, lossy), lossy, parallelism=1)
        assert [o.status for o in report.outcomes].count("failed") == 1
        assert "injected failure after write" in report.by_status("failed")[0].message
    finally:
        lossy.close()
    rerun = CountingTarget(path)
    try:
        report = converge(plan_for(want, rerun), rerun, lambda: plan_for(want, rerun))
        assert report.converged and not report.failed
        # What was committed is seen as done: no second create, no rename of a gone name.
        assert len(rerun.writes) == 3 - fail_on
        providers = rerun.observe().providers
        assert sorted(p.name for p in providers) == ["A", "B", "C"]
    finally:
        rerun.close()


def test_a_target_that_cannot_be_observed_again_still_gets_its_report(tmp_path: Path) -> None:
    t = CountingTarget(tmp_path / "state.db", fail_observe_after=1)
    try:
        want = desired(spec("A"))
        report = converge(plan_for(want, t), t, lambda: plan_for(want, t))
        assert [o.status for o in report.outcomes] == ["done"]
        assert report.converged is None and report.remaining is None
        assert report.recheck_error == "injected failure: the target cannot be observed"
    finally:
        t.close()


class ExplodingTarget(SqliteTarget):
    """A target with a bug: an exception that is not a ReconcilerError."""

    def set_enabled(self, provider_id: str, spec: ProviderSpec) -> None:
        raise RuntimeError("boom")


def test_unexpected_exception_is_a_failed_action_not_a_crash(tmp_path: Path) -> None:
    t = ExplodingTarget(tmp_path / "state.db")
    try:
        seed(t, spec("P", enabled=False))
        report = execute(plan_for(desired(spec("P"), spec("Q")), t), t, parallelism=1)
        assert [(o.action.kind, o.status) for o in report.outcomes] == [
            ("enable", "failed"),
            ("create", "skipped"),
        ]
        assert report.outcomes[0].message == "unexpected RuntimeError: boom"
    finally:
        t.close()


def test_deletes_are_not_attempted_after_a_failure(tmp_path: Path) -> None:
    t = ExplodingTarget(tmp_path / "state.db")
    try:
        seed(t, spec("P", enabled=False), spec("Gone", enabled=False))
        report = execute(plan_for(desired(spec("P"), absent("Gone")), t), t)
        assert [(o.action.kind, o.status) for o in report.outcomes] == [
            ("enable", "failed"),
            ("delete", "skipped"),
        ]
        assert "Gone" in {p.name for p in t.observe().providers}
    finally:
        t.close()


# --- fetches --------------------------------------------------------------------------


def test_failed_fetch_is_a_warning_and_the_provider_change_stands(tmp_path: Path) -> None:
    t = CountingTarget(tmp_path / "state.db", fetch_timeout=5, fetch_retries=0)
    url = closed_port_url()
    want = desired(spec("Local", base_url=url, visible=("m*",)))
    try:
        plan = plan_for(want, t)
        assert [a.kind for a in plan.actions] == ["create", "fetch", "models"]
        report = converge(plan, t, lambda: plan_for(want, t))
        assert [o.status for o in report.outcomes] == ["done", "warning", "done"]
        assert "could not connect to 127.0.0.1" in report.outcomes[1].message
        assert not report.failed
        [p] = t.observe().providers
        assert (p.name, p.base_url) == ("Local", url)
        # The providers match; only the fetch remains, as a retry, and it says why.
        assert report.converged is True and report.remaining is not None
        [fetch] = report.remaining.retries
        assert fetch.reason is not None and fetch.reason.startswith("last attempt failed: ")
    finally:
        t.close()


def test_executor_is_safe_to_share_one_store_between_threads(target: CountingTarget) -> None:
    # Many chains write through one sqlite3 connection at once; none is lost.
    want = desired(*(spec(f"P{i:02}", base_url=LOCAL_URL, fetch_models=False) for i in range(40)))
    report = execute(plan_for(want, target), target, parallelism=16)
    assert not report.failed
    assert len(target.observe().providers) == 40


class ReEnablingTarget(SqliteTarget):
    """An admin re-enables 'Legacy' in the panel while the apply creates another provider."""

    def create(self, spec_: object) -> str:
        made = super().create(spec_)  # type: ignore[arg-type]
        legacy = provider_id(self.store, "Legacy")
        assert legacy is not None
        self.store.update_provider(legacy, enabled=True)
        return made


def test_a_provider_re_enabled_during_the_apply_is_not_deleted(tmp_path: Path) -> None:
    t = ReEnablingTarget(tmp_path / "state.db")
    try:
        SqliteTarget.create(t, spec("Legacy", base_url=LOCAL_URL, enabled=False))
        # fetch_models=False: a fetch from the closed LOCAL_URL would only add retries.
        new = spec("New", base_url=LOCAL_URL, fetch_models=False)
        the_plan = plan_for(desired(absent("Legacy"), new), t)
        assert [a.kind for a in the_plan.actions] == ["create", "delete"]
        report = execute(the_plan, t)
        (refused,) = [o for o in report.outcomes if o.action.kind == "delete"]
        assert refused.status == "failed"
        assert "enabled again on the target during this apply" in refused.message
        assert provider_id(t.store, "Legacy") is not None
    finally:
        t.close()


def test_allow_delete_enabled_deletes_even_a_re_enabled_provider(tmp_path: Path) -> None:
    t = ReEnablingTarget(tmp_path / "state.db")
    try:
        SqliteTarget.create(t, spec("Legacy", base_url=LOCAL_URL, enabled=False))
        want = desired(absent("Legacy"), spec("New", base_url=LOCAL_URL, fetch_models=False))
        report = execute(plan_for(want, t, allow_delete_enabled=True), t)
        assert [(o.action.kind, o.status) for o in report.outcomes] == [
            ("create", "done"),
            ("delete", "done"),
        ]
        assert provider_id(t.store, "Legacy") is None
    finally:
        t.close()


# --- interruption (Ctrl-C) ------------------------------------------------------------


def test_an_interrupted_run_finishes_what_runs_starts_nothing_and_is_not_checked_again(
    tmp_path: Path,
) -> None:
    target = HoldingTarget(tmp_path / "state.db", held="A")
    want = desired(*(spec(name, fetch_models=False) for name in ("A", "B", "C")))
    plan = plan_for(want, target)
    run = Run(plan)
    replans: list[int] = []

    def interrupt_while_a_is_created() -> None:
        assert target.started.wait(30)
        run.interrupt()
        assert [a.provider for a in run.running()] == ["A"]
        target.release.set()

    helper = threading.Thread(target=interrupt_while_a_is_created)
    helper.start()
    report = converge(plan, target, lambda: replans.append(1) or plan, parallelism=1, run=run)
    helper.join()
    target.close()
    assert [(o.action.provider, o.status) for o in report.outcomes] == [
        ("A", "done"),
        ("B", "skipped"),
        ("C", "skipped"),
    ]
    assert report.interrupted and report.converged is None
    assert replans == []  # the user asked to stop, not to wait for a check
    assert target.writes == ["create A"]


def test_a_keyboard_interrupt_while_waiting_abandons_what_runs_and_reports_at_once(
    tmp_path: Path,
) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("Ctrl-C reaches the main thread only")
    target = HoldingTarget(tmp_path / "state.db", held="B")
    want = desired(*(spec(name, fetch_models=False) for name in ("A", "B", "C")))
    plan = plan_for(want, target)
    seen: list[Outcome] = []

    def ctrl_c_while_b_is_created() -> None:
        assert target.started.wait(30)
        _thread.interrupt_main()  # as Python's own SIGINT handler does

    helper = threading.Thread(target=ctrl_c_while_b_is_created)
    helper.start()
    try:
        report = execute(plan, target, parallelism=1, progress=seen.append)
    finally:
        helper.join()
        target.release.set()  # the abandoned create ends; its outcome is dropped
    assert [(o.action.provider, o.status) for o in report.outcomes] == [
        ("A", "done"),
        ("B", "abandoned"),
        ("C", "skipped"),
    ]
    assert report.interrupted
    assert [o.status for o in seen] == ["done"]  # nothing after the report was made
    target.close()
