"""The benchmark: measure the performance goals (README, "Performance"), write bench/results.md.

    python bench/run.py --write         # the full run (a few minutes on 2 cores), and
                                        # bench/results.md rewritten with its figures
    python bench/run.py --quick         # small sizes, a few seconds; the test suite runs it

Without ``--write`` (or ``--out FILE``) it prints its figures and writes no file, so a
trial run leaves the checkout as it was.

It starts everything it needs on 127.0.0.1, on ports the OS picks, and stops it on exit:
``reconcile serve`` on a temporary store (a subprocess, the way users run it), a tiny
OpenAI-compatible upstream for the model fetches, and a proxy in front of the server that
delays every request by ``--delay-ms`` (the round trip of a real network) and, for measure
6, limits the rate of requests as real servers do; see netsim.py. Every ``reconcile``
command runs as a subprocess, as CI runs it.

Requests are counted from the server's access log (serve.py): a request of our own
straight to the server marks the end of each stretch, and the count is checked against the
proxy's. Where the server logs no requests, the proxy's count stands, and the report says so.

Measures (each a count or a ratio within one run, so that a noisy machine does not change
the verdict), in measures.py, measures_local.py and measures_limited.py:

1. Requests of a no-op ``plan`` for N providers, counted by the server; and with the model
   catalog (settings on every provider, aliases over a few models, two tiers) at two N.
2. ``apply`` creating N providers and fetching their models, for several ``--parallelism``,
   against the floor ``2N / P x delay``.
3. The same creates done naively, one request after another on a new connection each.
4. Start-up: median wall time of ``reconcile --help``, ``validate`` and ``plan`` beside
   ``python -c pass``, and which heavy libraries each imports.
5. ``plan`` over many providers in the embedded target: wall time and peak memory.
6. ``apply`` against a server that rate-limits ``/api``: failed actions, 429s, wall time
   against the ideal at the limit, with and without ``--max-rate``.

Not measured: "a watch cycle costs the same fixed number of requests as a no-op plan"
(each cycle observes the target as a plan does, but no measure runs ``watch`` yet).

Timings are reported, never asserted: the exit status is 1 only when something was wrong
(a provider missing or duplicated, a command that failed, counts that disagree).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from config import Config, int_list, rate_limit
from harness import World, world
from measures import measure_apply, measure_naive, measure_noop
from measures_limited import measure_limited
from measures_local import measure_embedded, measure_startup
from procs import ROOT, BenchError
from report import Results, machine, summary_table, to_json
from results_md import markdown

DEFAULT_OUT = ROOT / "bench" / "results.md"


def _noop(res: Results, w: World) -> None:
    res.noop, res.noop_catalog = measure_noop(w)


def _apply(res: Results, w: World) -> None:
    res.apply = measure_apply(w)


def _naive(res: Results, w: World) -> None:
    res.naive = measure_naive(w)


def _startup(res: Results, w: World) -> None:
    res.startup = measure_startup(w)


def _embedded(res: Results, w: World) -> None:
    res.embedded_build_seconds, res.embedded = measure_embedded(w)


def _limited(res: Results, w: World) -> None:
    res.limited = measure_limited(w)


# Number -> (title, what runs it and keeps its figures in the results).
MEASURES: dict[int, tuple[str, Callable[[Results, World], None]]] = {
    1: ("no-op plan requests", _noop),
    2: ("apply with parallelism", _apply),
    3: ("the naive way", _naive),
    4: ("start-up", _startup),
    5: ("embedded plan", _embedded),
    6: ("rate-limited apply", _limited),
}
BESIDE = (6,)  # what the quick run runs beside the others (see _measure)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (the test suite)")
    parser.add_argument(
        "--sizes",
        type=int_list,
        help="providers for the no-op plan, e.g. 10,100,1000 (the largest is also apply's N)",
    )
    parser.add_argument("--apply-n", type=int, help="providers created by each apply")
    parser.add_argument(
        "--serial-n",
        type=int,
        help="providers for parallelism 1 and the naive run (default 250, quick 10; figures "
        "scaled)",
    )
    parser.add_argument("--parallelism", type=int_list, help="default 1,8,16 (quick: 8)")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="per request (default 20)")
    parser.add_argument("--runs", type=int, help="start-up runs per command (default 10)")
    parser.add_argument("--embedded-n", type=int, help="providers of measure 5 (default 10000)")
    parser.add_argument(
        "--limited-n", type=int, help="providers of each apply of measure 6 (default 100; quick: 4)"
    )
    parser.add_argument(
        "--limit",
        type=rate_limit,
        help="measure 6's rate limit, REQUESTS/SECONDS per client (default 40/2; quick: 6/3)",
    )
    parser.add_argument(
        "--only", type=int_list, help="run only these measures, e.g. 1,5 (default: all six)"
    )
    parser.add_argument(
        "--write", action="store_true", help=f"write the report to {DEFAULT_OUT.name}"
    )
    parser.add_argument("--out", type=Path, help="write the Markdown report to this file")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measure, print the table, write the report; 1 if something was wrong."""
    args = parse_args(argv)
    config = Config.from_args(args)
    # A TERM (a CI timeout) unwinds like Ctrl-C, so that every server is stopped on the way.
    signal.signal(signal.SIGTERM, _terminated)
    command = "python bench/run.py" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    res = Results(config=config, machine=machine(), command=command)
    start = time.perf_counter()
    try:
        with world(config) as w:
            _measure(res, w, set(args.only or MEASURES))
            res.problems = list(w.problems)
            res.counted_by = w.counted_by
    except BenchError as exc:
        res.problems.append(str(exc))
    res.seconds = time.perf_counter() - start
    print("\n".join(summary_table(res)))
    out = args.out or (DEFAULT_OUT if args.write else None)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(markdown(res), encoding="utf-8")
        print(f"\nWrote {out}")
    if args.json:
        args.json.write_text(to_json(res), encoding="utf-8")
    if res.problems:
        print("\n".join(["", "Problems:", *res.problems]), file=sys.stderr)
        return 1
    return 0


def _measure(res: Results, w: World, chosen: set[int]) -> None:
    """Run the chosen measures in order; a measure that fails is a problem, not the end.

    In quick mode, measure 6 runs in a thread beside the others: it is mostly waiting (a
    429's pause, then requests spaced by the pace), and the quick run, part of the test
    suite, checks counts, not timings. In the full run every measure runs alone.
    """
    beside = sorted(chosen & set(BESIDE)) if w.config.quick else []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="measure") as pool:
        started = [pool.submit(_one, number, res, w) for number in beside]
        for number in sorted(chosen - set(beside)):
            _one(number, res, w)
        for future in started:
            future.result()


def _one(number: int, res: Results, w: World) -> None:
    title, measure = MEASURES[number]
    print(f"... {number}. {title}", file=sys.stderr, flush=True)
    began = time.perf_counter()
    try:
        measure(res, w)
    except (BenchError, httpx.HTTPError) as exc:
        w.problem(f"{title}: {exc}")
    print(f"    {number}. {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # servers and subprocesses are already stopped
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
