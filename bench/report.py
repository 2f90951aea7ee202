"""The figures of a run, the goals they are judged by, the summary table, and the JSON.

Timings are reported, never asserted: a missed goal is a verdict in the table, not an
error. The Markdown report (bench/results.md) is results_md.py's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import Config
from harness import ALIAS_MODELS, ALIASES
from measures import ApplyRow, NaiveRow, NoopRow
from measures_limited import PARALLELISM, LimitedRow
from measures_local import HEAVY_ALLOWED, EmbeddedRow, StartupRow

# The provider list, the model list and the tiers; with the catalog, one more per model the
# file's aliases name (ClaraVerse lists aliases one model at a time).
GOAL_NOOP_REQUESTS = 3
GOAL_CATALOG_REQUESTS = GOAL_NOOP_REQUESTS + ALIAS_MODELS
CATALOG = f"settings on every provider, {ALIASES} aliases over {ALIAS_MODELS} models, two tiers"
GOAL_APPLY_RATIO = 1.25
GOAL_HELP_MS = 150.0
GOAL_PLAN_SECONDS = 2.0
GOAL_PLAN_MB = 150.0
# "At the server's pace": over the whole apply, a 429's pause included, at least this share
# of the rate the server allows. The client itself keeps 90 % once it has been told no.
GOAL_LIMITED_SHARE = 0.75
# "Few" 429s when paced from the start: at most one per worker thread.
GOAL_PACED_429S = PARALLELISM

HEADER = ["| # | measure | figure | goal | verdict |", "|---|---|---|---|---|"]


@dataclass
class Results:
    """Every figure of a run."""

    config: Config
    machine: dict[str, str]
    command: str
    noop: list[NoopRow] = field(default_factory=list)
    noop_catalog: list[NoopRow] = field(default_factory=list)
    apply: list[ApplyRow] = field(default_factory=list)
    naive: NaiveRow | None = None
    startup: list[StartupRow] = field(default_factory=list)
    embedded_build_seconds: float = 0.0
    embedded: list[EmbeddedRow] = field(default_factory=list)
    limited: list[LimitedRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    counted_by: str = "server"


def machine() -> dict[str, str]:
    """CPUs, CPU model, Python, OS."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


def verdict(ok: bool) -> str:
    """The verdict column."""
    return "met" if ok else "**missed**"


def summary_table(res: Results) -> list[str]:
    """The one table: every measure, its figure, its goal, its verdict."""
    return [
        *HEADER,
        *_noop_rows(res),
        *_apply_rows(res),
        *_naive_rows(res),
        *_startup_rows(res),
        *_embedded_rows(res),
        *_limited_rows(res),
    ]


def p8(res: Results) -> ApplyRow | None:
    """The apply at parallelism 8 through the delay, if it succeeded."""
    return next((r for r in res.apply if r.parallelism == 8 and r.delay and r.ok), None)


def _noop_rows(res: Results) -> list[str]:
    return [
        *_noop_row("no-op `plan`", res.noop, f"≤ {GOAL_NOOP_REQUESTS}", GOAL_NOOP_REQUESTS),
        *_noop_row(
            f"no-op `plan` with the catalog ({CATALOG})",
            res.noop_catalog,
            f"≤ {GOAL_NOOP_REQUESTS} + {ALIAS_MODELS} (one per model whose aliases are read)",
            GOAL_CATALOG_REQUESTS,
        ),
    ]


def _noop_row(what: str, rows: list[NoopRow], goal: str, most: int) -> list[str]:
    if not rows:
        return []
    counts = [r.requests for r in rows]
    ok = len(set(counts)) == 1 and max(counts) <= most
    return [
        f"| 1 | {what}, N = {' / '.join(f'{r.n:,}' for r in rows)} | "
        f"{' / '.join(str(c) for c in counts)} requests | {goal}, the same "
        f"for every N | {verdict(ok)} |"
    ]


def _apply_rows(res: Results) -> list[str]:
    rows = []
    serial = next((q for q in res.apply if q.parallelism == 1 and q.delay and q.ok), None)
    for r in res.apply:
        what = f"`apply` {r.n:,} creates + fetches, P = {r.parallelism}"
        if not r.ok:
            rows.append(
                f"| 2 | {what} | failed: exit {r.exit_code}, {r.created.listed} of {r.n:,} "
                "created (see Problems) | | **failed** |"
            )
            continue
        if not r.delay:
            rows.append(
                f"| 2 | {what}, **no delay** (this machine's own time) | {r.seconds:.2f} s | — | |"
            )
            continue
        figure = f"{r.seconds:.2f} s; floor {r.floor:.2f} s: **{r.ratio:.2f}×**"
        if serial is not None and r is not serial:
            figure += (
                f"; {serial.per_provider / r.per_provider:.1f}× faster per provider than P = 1"
                f" (ideal {r.parallelism})"
            )
        if r.parallelism == 8:
            goal, mark = f"≤ {GOAL_APPLY_RATIO:g}× floor", verdict(r.ratio <= GOAL_APPLY_RATIO)
        else:
            goal, mark = "—", ""
        rows.append(f"| 2 | {what}, {r.delay * 1000:g} ms/request | {figure} | {goal} | {mark} |")
    return rows


def _naive_rows(res: Results) -> list[str]:
    fast = p8(res)
    if res.naive is None or fast is None:
        return []
    nv = res.naive
    per = f" (per provider: {nv.n:,} vs {fast.n:,})" if nv.n != fast.n else ""
    return [
        f"| 3 | naive: one request after another, a new connection each, N = {nv.n:,} | "
        f"{nv.seconds:.2f} s; `--parallelism 8` is **{nv.per_provider / fast.per_provider:.1f}× "
        f"faster**{per} | — | |"
    ]


def _startup_rows(res: Results) -> list[str]:
    rows = []
    base = next((s for s in res.startup if s.name == "python -c pass"), None)
    for s in res.startup:
        if s is base:
            continue
        over = f" ({s.median_ms - base.median_ms:+.0f} vs `python -c pass`)" if base else ""
        figure = f"{s.median_ms:.0f} ms{over}; heavy imports: {', '.join(s.heavy) or 'none'}"
        if s.name == "--help":
            ok = s.median_ms <= GOAL_HELP_MS and not s.unexpected
            goal = f"≤ {GOAL_HELP_MS:g} ms, no heavy imports"
        else:
            ok = not s.unexpected
            goal = f"heavy imports ⊆ {{{', '.join(HEAVY_ALLOWED[s.name]) or 'none'}}}"
        rows.append(f"| 4 | `reconcile {s.name}` | {figure} | {goal} | {verdict(ok)} |")
    if base is not None:
        rows.append(f"| 4 | `python -c pass` (baseline) | {base.median_ms:.0f} ms | — | |")
    return rows


def _embedded_rows(res: Results) -> list[str]:
    return [
        f"| 5 | `plan` {e.n:,} providers, embedded, {e.case} | {e.seconds:.2f} s, "
        f"{e.max_rss_mb:.0f} MB | < {GOAL_PLAN_SECONDS:g} s, < {GOAL_PLAN_MB:g} MB "
        f"| {verdict(e.seconds < GOAL_PLAN_SECONDS and e.max_rss_mb < GOAL_PLAN_MB)} |"
        for e in res.embedded
    ]


def _limited_rows(res: Results) -> list[str]:
    rows = []
    for r in res.limited:
        paced = f"`--max-rate {r.max_rate:g}`" if r.max_rate else "no `--max-rate`"
        what = (
            f"`apply` {r.n:,} creates + fetches, P = {PARALLELISM}, server limit {r.limit} "
            f"({r.limit.per_minute:,.0f}/min), {paced}"
        )
        if not r.ok:
            rows.append(
                f"| 6 | {what} | failed: exit {r.exit_code}, outcomes "
                f"{_statuses(r.statuses)}, converged {r.converged} (see Problems) | | **failed** |"
            )
            continue
        share = r.per_minute / r.limit.per_minute
        figure = (
            f"{r.failed} failed of {sum(r.statuses.values())} actions; {r.limited} × 429; "
            f"{r.seconds:.2f} s, ideal {r.ideal:.2f} s: **{r.ratio:.2f}×**; "
            f"{r.per_minute:,.0f} requests/min, **{share:.0%} of the limit**"
        )
        goal = f"0 failed actions, ≥ {GOAL_LIMITED_SHARE:.0%} of the limit"
        ok = share >= GOAL_LIMITED_SHARE
        if r.max_rate:
            goal += f", ≤ {GOAL_PACED_429S} × 429"
            ok = ok and r.limited <= GOAL_PACED_429S
        rows.append(f"| 6 | {what} | {figure} | {goal} | {verdict(ok)} |")
    return rows


def _statuses(statuses: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in statuses.items()) or "none"


def to_json(res: Results) -> str:
    """The figures as JSON (for the test suite)."""

    def default(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        raise TypeError(type(value).__name__)

    data = dataclasses.asdict(res)
    return json.dumps(data, indent=2, default=default)
