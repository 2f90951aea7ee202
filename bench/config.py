"""The sizes, repetitions and limits of one benchmark run: the full run's, or the quick one's.

The quick run is the test suite's smoke test: its sizes are the smallest that still show
what each measure counts (a no-op plan at two sizes, a rate limit actually reached).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class RateLimit:
    """A server's limit: ``requests`` per client in each fixed window of ``window`` seconds."""

    requests: int
    window: int

    @property
    def per_minute(self) -> float:
        """The limit in requests per minute, as real servers state it."""
        return self.requests * 60.0 / self.window

    def __str__(self) -> str:
        return f"{self.requests} per {self.window} s"


@dataclass(frozen=True, kw_only=True)
class Config:
    """Sizes and repetitions of one run."""

    quick: bool
    noop_sizes: tuple[int, ...]
    apply_n: int
    serial_n: int
    parallelism: tuple[int, ...]
    delay: float
    startup_runs: int
    embedded_n: int
    embedded_runs: int
    limited_n: int
    limit: RateLimit

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Config:
        """Defaults for the full or the quick run, overridden by the options given."""
        quick = bool(args.quick)
        sizes = tuple(sorted(set(args.sizes or ((10, 20) if quick else (10, 100, 1000)))))
        apply_n = args.apply_n or max(sizes)
        # Real servers allow 200 requests a minute; the window is scaled down so that a run
        # takes seconds. The quick run (the test suite's) must reach the limit on any
        # machine, however loaded: before its first 429 the apply never waits, and its
        # first 7 requests (the observe's 3 reads, then the 4 creates sent at once) come in
        # 4 round trips, ~0.1 s here and 0.25 s beside `pytest -n 4`. A limit of 6 in a
        # 3-second window refuses the 7th unless those round trips take 3 s; 10 per 1 s
        # asked for 11 requests (5 round trips and the fetches' upstream calls) within
        # 1 s, and a loaded machine sometimes missed it.
        limit = args.limit or (
            RateLimit(requests=6, window=3) if quick else RateLimit(requests=40, window=2)
        )
        return cls(
            quick=quick,
            noop_sizes=sizes,
            apply_n=apply_n,
            serial_n=min(args.serial_n or (10 if quick else 250), apply_n),
            # The quick run checks the apply's counts: P = 8 alone does that (P = 1 runs
            # the same code), one server and one process fewer in the test suite's budget.
            parallelism=tuple(args.parallelism or ((8,) if quick else (1, 8, 16))),
            delay=args.delay_ms / 1000.0,
            startup_runs=args.runs or (2 if quick else 10),
            embedded_n=args.embedded_n or (200 if quick else 10_000),
            embedded_runs=1 if quick else 3,
            limited_n=args.limited_n or (4 if quick else 100),
            limit=limit,
        )


def int_list(text: str) -> tuple[int, ...]:
    """``1,8,16`` as a tuple of positive integers (an argparse type)."""
    values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers")
    return values


def rate_limit(text: str) -> RateLimit:
    """``40/2`` (40 requests per 2-second window) as a RateLimit (an argparse type)."""
    requests, sep, window = text.replace(" ", "").partition("/")
    try:
        limit = RateLimit(requests=int(requests), window=int(window))
    except ValueError:
        limit = None
    if not sep or limit is None or limit.requests < 1 or limit.window < 1:
        raise argparse.ArgumentTypeError("REQUESTS/SECONDS, two positive integers, e.g. 40/2")
    return limit
