"""Measure 6: ``apply`` against a rate-limited server.

Real ClaraVerse servers allow each client a fixed number of ``/api`` requests per minute
(200) and answer the rest 429, with the delay (60 s) in the JSON body only. The proxy
plays that limit (netsim.RateLimiter), scaled down to seconds so that a run is short. Two
applies of N creates with their model fetches at ``--parallelism 8``, each on a fresh
server (re-applying the same file to the same server would also re-send every provider's
unreportable settings, requests that have nothing to do with the limit):

- without ``--max-rate``: the client runs at full speed into the limit, waits as the 429
  asks, then paces itself under the rate the server accepted. Counted: failed actions
  (the goal: none), 429s, wall time against the ideal ``requests / (L / W)``, and the
  rate achieved against the limit;
- with ``--max-rate`` at 90 % of the limit from the start: the same, expecting no 429.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import RateLimit
from harness import Created, World, check_created, count
from netsim import DelayProxy, RateLimiter
from serve import SandboxServer

PARALLELISM = 8
HEADROOM = 0.9  # --max-rate as a share of the limit, the share the client's pacer keeps
_PACE = re.compile(r"continuing at about (\d+) requests per minute")


@dataclass(frozen=True)
class LimitedRow:
    """One apply of measure 6."""

    max_rate: float | None  # --max-rate, requests per minute; None: not given
    n: int  # providers this apply created (each with its models fetched)
    limit: RateLimit
    seconds: float
    requests: int  # answered by the server
    routes: dict[str, int]
    limited: int  # answered 429 by the limit
    limited_routes: dict[str, int]
    statuses: dict[str, int]  # the apply's outcomes by status
    failed: int  # outcomes failed, or done with a warning (a fetch that failed)
    converged: bool
    announced: float | None  # the pace the client said it would keep after its first 429
    created: Created
    exit_code: int

    @property
    def ok(self) -> bool:
        """The apply succeeded, converged, with no failed action, every provider there."""
        return self.exit_code == 0 and self.converged and not self.failed and self.created.ok

    @property
    def ideal(self) -> float:
        """Seconds the requests take at exactly the limit: requests / (L / W)."""
        return self.requests * self.limit.window / self.limit.requests

    @property
    def ratio(self) -> float:
        """Wall time over the ideal."""
        return self.seconds / self.ideal if self.ideal else float("nan")

    @property
    def per_minute(self) -> float:
        """Requests per minute achieved over the whole apply."""
        return self.requests * 60.0 / self.seconds if self.seconds else 0.0


def measure_limited(w: World) -> list[LimitedRow]:
    """Two applies through the rate-limiting proxy: without, then with ``--max-rate``.

    In quick mode the two run at once: each has its own server and limit, and most of
    their time is the pace of a deliberately low limit (see config.py). In the full run
    they run one after the other, so that neither's timings carry the other's load.
    """
    limit = w.config.limit
    path = w.providers_file(f"limited-{w.config.limited_n}.yaml", w.config.limited_n)
    rates = (None, round(limit.per_minute * HEADROOM))
    with ThreadPoolExecutor(max_workers=2 if w.config.quick else 1) as pool:
        rows = list(pool.map(lambda rate: _on_fresh_server(w, path, rate), rates))
    if rows and not rows[0].limited:
        w.problem(
            f"rate-limited apply: no request was refused ({rows[0].requests} requests, limit "
            f"{limit}): the limit was never reached, so nothing was measured"
        )
    return rows


def _on_fresh_server(w: World, path: Path, max_rate: float | None) -> LimitedRow:
    limiter = RateLimiter(w.config.limit.requests, w.config.limit.window)
    with w.server(limiter=limiter) as (server, proxy):
        # A first request straight to the server (not through the limit): a fresh server's
        # first answer is its slowest, and would otherwise stretch the apply's first burst.
        server.providers()
        count(w, server, proxy, "start")
        return _apply(w, server, proxy, path, max_rate=max_rate)


def _apply(
    w: World,
    server: SandboxServer,
    proxy: DelayProxy,
    path: Path,
    *,
    max_rate: float | None,
) -> LimitedRow:
    """One apply through the limit; its figures and the server's providers checked."""
    what = (
        f"rate-limited apply ({'--max-rate ' + format(max_rate, 'g') if max_rate else 'unpaced'})"
    )
    args = ["apply", "-f", str(path), "--target", proxy.url, "--yes", "--format", "json"]
    args += ["--parallelism", str(PARALLELISM)]
    if max_rate:
        args += ["--max-rate", format(max_rate, "g")]
    applied = w.reconcile(*args)
    traffic = count(w, server, proxy, what)
    limited = proxy.limited.take()
    report = _report(applied.out)
    statuses = dict(sorted(Counter(str(o.get("status")) for o in report["outcomes"]).items()))
    failed = statuses.get("failed", 0) + statuses.get("warning", 0)
    if applied.code != 0 or failed or not report["converged"]:
        w.problem(
            f"{what} exited {applied.code}, outcomes {statuses}, converged "
            f"{report['converged']}: {applied.err[-500:]}"
        )
    pace = _PACE.search(applied.err)
    return LimitedRow(
        max_rate=max_rate,
        n=w.config.limited_n,
        limit=w.config.limit,
        seconds=applied.seconds,
        requests=traffic.total,
        routes=traffic.by_route(),
        limited=sum(limited.values()),
        limited_routes=dict(sorted(limited.items())),
        statuses=statuses,
        failed=failed,
        converged=bool(report["converged"]),
        announced=float(pace[1]) if pace else None,
        created=check_created(w, server, w.config.limited_n, what),
        exit_code=applied.code,
    )


def _report(out: str) -> dict[str, Any]:
    """The apply's JSON report (``--format json``); an empty one if there is none."""
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    if not isinstance(report, dict):
        return {"outcomes": [], "converged": False}
    return {"outcomes": report.get("outcomes") or [], "converged": report.get("converged")}
