"""``bench/run.py --quick`` runs in the suite, so that the benchmark cannot rot unnoticed.

One quick run (small sizes, its own servers on loopback) for the whole module; the tests
read the figures it writes as JSON and assert on counts and correctness only: how many
requests a no-op plan makes (with and without the model catalog), that every provider was
created once with its models, that an apply against a rate-limited server was refused and
still failed nothing, that the report has its six sections. Never on timings: they belong
to the report. The proxy's rate limit itself is checked on its own, against a fake clock.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


@dataclass(frozen=True)
class QuickRun:
    code: int
    stdout: str
    stderr: str
    report: str
    figures: dict[str, Any]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            # The tests read counts, never timings: no simulated round trip to sit through,
            # and one timed start-up run per command (the import trace is a run of its own).
            "--delay-ms",
            "1",
            "--runs",
            "1",
            "--out",
            str(out / "results.md"),
            "--json",
            str(out / "results.json"),
        ],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    report = out / "results.md"
    figures = out / "results.json"
    return QuickRun(
        code=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        report=report.read_text(encoding="utf-8") if report.exists() else "",
        figures=json.loads(figures.read_text(encoding="utf-8")) if figures.exists() else {},
    )


def test_quick_run_finds_no_problem(quick: QuickRun) -> None:
    assert quick.code == 0, quick.stderr[-3000:]
    assert quick.figures["problems"] == []


def test_noop_plan_makes_the_same_few_requests_for_every_size(quick: QuickRun) -> None:
    rows = quick.figures["noop"]
    assert [r["n"] for r in rows] == [10, 20]
    for row in rows:
        # providers, models and tiers; these files declare no aliases
        assert row["routes"] == {
            "GET /api/admin/models": 1,
            "GET /api/admin/providers": 1,
            "GET /api/admin/tiers": 1,
        }
        assert row["requests"] == 3
        assert row["exit_code"] == 0  # --detailed-exitcode: nothing to change


def test_noop_plan_of_the_catalog_reads_aliases_once_per_model_they_name(
    quick: QuickRun,
) -> None:
    rows = quick.figures["noop_catalog"]
    assert [r["n"] for r in rows] == [10, 20]
    for row in rows:
        # 6 aliases over 2 models (bench/harness.py): 3 + 2, whatever N or the alias count
        assert row["routes"] == {
            "GET /api/admin/models": 1,
            "GET /api/admin/models/by-id/aliases": 2,
            "GET /api/admin/providers": 1,
            "GET /api/admin/tiers": 1,
        }
        assert row["requests"] == 5
        assert row["exit_code"] == 0  # settings, aliases and tiers as declared: no change


def test_requests_are_counted_by_the_server(quick: QuickRun) -> None:
    assert quick.figures["counted_by"] == "server"


def test_apply_creates_every_provider_once_and_fetches_its_models(quick: QuickRun) -> None:
    rows = quick.figures["apply"]
    assert {r["parallelism"] for r in rows} == {8}
    for row in rows:
        n = row["n"]
        assert row["created"] == {
            "expected": n,
            "listed": n,
            "duplicates": 0,
            "missing": 0,
            "unfetched": 0,
        }
        assert row["routes"]["POST /api/admin/providers"] == n
        assert row["routes"]["POST /api/admin/providers/{id}/fetch"] == n
        assert row["failures"] == 0


def test_naive_run_creates_every_provider_on_a_connection_per_request(quick: QuickRun) -> None:
    naive = quick.figures["naive"]
    n = naive["n"]
    assert naive["created"]["listed"] == n
    assert naive["created"]["duplicates"] == 0
    assert naive["created"]["unfetched"] == 0
    assert naive["requests"] == 2 * n
    assert naive["connections"] == naive["requests"]


def test_startup_checks_which_heavy_libraries_each_command_imports(quick: QuickRun) -> None:
    rows = {r["name"]: r for r in quick.figures["startup"]}
    assert set(rows) == {"python -c pass", "--help", "validate", "plan (embedded)"}
    for name in ("--help", "validate", "plan (embedded)"):
        # The import trace was read: reconciler's own modules are among the heaviest.
        assert any(m.startswith("reconciler") for m, _ in rows[name]["heaviest"]), name
        assert set(rows[name]["unexpected"]) <= set(rows[name]["heavy"])


def test_embedded_plan_sees_no_change_then_one_percent(quick: QuickRun) -> None:
    no_change, changed = quick.figures["embedded"]
    assert no_change["exit_code"] == 0
    assert changed["exit_code"] == 2
    n = changed["n"]
    assert changed["summary"].startswith(f"Plan: 0 to add, {n // 100} to change")


def test_rate_limited_apply_fails_nothing_and_converges(quick: QuickRun) -> None:
    unpaced, paced = quick.figures["limited"]
    for row in (unpaced, paced):
        n = row["n"]
        assert row["exit_code"] == 0
        assert row["converged"] is True
        assert row["failed"] == 0
        assert row["statuses"] == {"done": 2 * n}  # a create and a fetch per provider
        assert row["created"] == {
            "expected": n,
            "listed": n,
            "duplicates": 0,
            "missing": 0,
            "unfetched": 0,
        }
        # A refused request is sent again, never counted twice by the server.
        assert row["routes"]["POST /api/admin/providers"] == n
        assert row["routes"]["POST /api/admin/providers/{id}/fetch"] == n


def test_rate_limited_apply_without_max_rate_is_refused_then_paced(quick: QuickRun) -> None:
    unpaced = quick.figures["limited"][0]
    assert unpaced["max_rate"] is None
    assert unpaced["requests"] > unpaced["limit"]["requests"]
    # The quick run's limit is below the requests the apply sends before it can have waited
    # (config.py), so a 429 is certain, not a matter of the machine's speed.
    assert unpaced["limited"] > 0
    assert unpaced["limited"] == sum(unpaced["limited_routes"].values())
    # Then paced: the client said at which pace it went on (it does for waits of 2 s and
    # more; the quick run's window is 3 s).
    assert unpaced["announced"] is not None and unpaced["announced"] > 0


def test_rate_limited_apply_with_max_rate_paces_at_nine_tenths_of_the_limit(
    quick: QuickRun,
) -> None:
    paced = quick.figures["limited"][1]
    limit = paced["limit"]
    assert paced["max_rate"] == round(0.9 * limit["requests"] * 60 / limit["window"])
    assert paced["limited"] <= 8  # few: at most one per worker thread


def test_report_has_the_table_and_six_sections(quick: QuickRun) -> None:
    for heading in (
        "## 1. No-op plan",
        "## 2. Apply",
        "## 3. The naive way",
        "## 4. Start-up",
        "## 5. Plan over many providers",
        "## 6. Apply against a rate-limited server",
    ):
        assert heading in quick.report
    assert "| # | measure | figure | goal | verdict |" in quick.report
    assert "Reproduce: `python bench/run.py --quick" in quick.report
    assert "| # | measure | figure | goal | verdict |" in quick.stdout


def _netsim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_netsim", BENCH.parent / "netsim.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rate_limiter_allows_a_fixed_window_per_client() -> None:
    now = [100.0]
    limiter = _netsim().RateLimiter(2, 5, clock=lambda: now[0])
    assert [limiter.allow("a"), limiter.allow("a"), limiter.allow("a")] == [True, True, False]
    assert limiter.allow("b")  # each client has its own window
    now[0] += 4.9
    assert not limiter.allow("a")  # the window opened with a's first request
    now[0] += 0.1
    assert [limiter.allow("a"), limiter.allow("a"), limiter.allow("a")] == [True, True, False]


def test_rate_limiter_answers_like_a_claraverse_server() -> None:
    limiter = _netsim().RateLimiter(200, 60)
    head, body = limiter.answer.split(b"\r\n\r\n", 1)
    status, *headers = head.decode().split("\r\n")
    assert status == "HTTP/1.1 429 Too Many Requests"
    assert "content-type: application/json" in headers
    assert not any(h.lower().startswith("retry-after") for h in headers)  # the body says it
    assert json.loads(body) == {"error": "Too many requests. Please slow down.", "retry_after": 60}
    assert limiter.limits("/api/admin/providers")
    assert not limiter.limits("/bench-mark/1")
