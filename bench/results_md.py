"""bench/results.md: the summary table, then one section per measure with its full table."""

from __future__ import annotations

from harness import ALIAS_MODELS, ALIASES
from measures import ApplyRow, NoopRow
from measures_limited import HEADROOM, PARALLELISM
from measures_local import HEAVY
from report import Results, p8, summary_table


def markdown(res: Results) -> str:
    """The whole report."""
    out = [
        *_head(res),
        *summary_table(res),
        *_noop(res),
        *_apply(res),
        *_naive(res),
        *_startup(res),
        *_embedded(res),
        *_limited(res),
        "",
    ]
    if res.problems:
        out += ["## Problems", "", *[f"- {p}" for p in res.problems], ""]
    return "\n".join(out)


def _head(res: Results) -> list[str]:
    c = res.config
    m = res.machine
    counted = (
        "by the server (its access log), checked against the proxy's count"
        if res.counted_by == "server"
        else "by the proxy (the server logs no requests)"
    )
    return [
        "# Benchmark results",
        "",
        f"Machine: {m['cpus']} CPUs, {m['cpu']}; Python {m['python']}; {m['os']}; load "
        f"average {m['load']} at the start.  ",
        f"Reproduce: `{res.command}` ({res.seconds:.0f} s for this run"
        f"{'; quick mode: small sizes' if c.quick else ''}).",
        "",
        "`reconcile serve` runs as a subprocess on a temporary store; the upstream and a proxy "
        f"that delays every request by {c.delay * 1000:g} ms run in the harness "
        f"(bench/netsim.py), all on 127.0.0.1. Requests are counted {counted}.",
        "",
    ]


def _noop(res: Results) -> list[str]:
    out = [
        "",
        "## 1. No-op plan: requests",
        "",
        "One server grows through the sizes (each applied straight to it, without delay); "
        "then a `plan` with nothing to do runs through the proxy.",
        *_noop_table(res.noop),
    ]
    if res.noop_catalog:
        out += [
            "",
            "With the model catalog, on a server of its own: every provider's `models.settings` "
            f'sets two fields by the glob `"bench-*"`, {ALIASES} aliases (two per provider) '
            f"name {ALIAS_MODELS} distinct models, and `tiers` sets two tiers (one by model "
            "id, one by alias name). ClaraVerse lists aliases one model at a time, so the plan "
            f"reads those of the {ALIAS_MODELS} models the aliases name, whatever the number "
            "of providers or aliases.",
            *_noop_table(res.noop_catalog),
        ]
    return out


def _noop_table(rows: list[NoopRow]) -> list[str]:
    return [
        "",
        "| N providers | requests | by route | plan wall time |",
        "|---|---|---|---|",
        *[f"| {r.n:,} | {r.requests} | {_routes(r.routes)} | {r.seconds:.2f} s |" for r in rows],
    ]


def _apply(res: Results) -> list[str]:
    c = res.config
    ms = c.delay * 1000
    cpus = int(res.machine["cpus"]) if res.machine["cpus"].isdigit() else 1
    out = [
        "",
        "## 2. Apply: creates and model fetches, with parallelism",
        "",
        f"A fresh server for each run. The floor is 2N / P × {ms:g} ms: a create and a fetch "
        "per provider, P at a time, nothing else. The wall time also holds the process start, "
        "reading the file, and the observe before and after. The run without delay shows how "
        "long this machine itself takes for the same requests (client, server, upstream and "
        "proxy share its CPUs).",
        "",
        "| P | N | delay | wall time | floor | ratio | requests | by route | created / "
        "duplicates / missing / without models | CPU s: apply / server / harness (machine busy) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {r.parallelism} | {r.n:,} | {r.delay * 1000:g} ms | {r.seconds:.2f} s | "
            f"{r.floor:.2f} s | {f'{r.ratio:.2f}×' if r.delay else '—'} | {r.requests} | "
            f"{_routes(r.routes)} | {r.created.listed} / {r.created.duplicates} / "
            f"{r.created.missing} / {r.created.unfetched} | "
            f"{' / '.join(f'{v:.1f}' for v in r.cpu.values())} ({_busy(r, cpus):.0%}) |"
            for r in res.apply
        ],
    ]
    if any(r.n != c.apply_n for r in res.apply):
        out += [
            "",
            f"P = 1 creates {c.serial_n:,} providers rather than {c.apply_n:,}, to keep the run "
            "short: its ratio to its own floor is what compares.",
        ]
    return out


def _naive(res: Results) -> list[str]:
    out = ["", "## 3. The naive way: one request after another", ""]
    fast = p8(res)
    if res.naive is not None:
        nv = res.naive
        out += [
            f"{nv.n:,} creates, each followed by its fetch: sequential httpx calls through the "
            "proxy, a new connection for each request, as a shell script of curl calls does.",
            "",
            f"- {nv.seconds:.2f} s for {nv.requests} requests on {nv.connections} connections "
            f"({nv.per_provider * 1000:.1f} ms per provider); created {nv.created.listed}, "
            f"duplicates {nv.created.duplicates}, without models {nv.created.unfetched}.",
        ]
        if fast is not None:
            out.append(
                f"- `reconcile apply --parallelism 8`: {fast.per_provider * 1000:.1f} ms per "
                f"provider, **{nv.per_provider / fast.per_provider:.1f}× faster**."
            )
    return out


def _startup(res: Results) -> list[str]:
    return [
        "",
        "## 4. Start-up",
        "",
        f"Median of {res.config.startup_runs} runs each, after the import trace (an untimed "
        "run, which also writes the bytecode cache, as an install does). Heavy libraries: "
        f"which of {', '.join(HEAVY)} appear in `python -X importtime -m reconciler ...`; "
        "heaviest imports: the slowest (cumulative) that `python -c pass` does not do.",
        "",
        "| command | median | heavy libraries imported | heaviest imports |",
        "|---|---|---|---|",
        *[
            f"| `{s.command}` | {s.median_ms:.0f} ms | {', '.join(s.heavy) or 'none'}"
            f"{' (unexpected: ' + ', '.join(s.unexpected) + ')' if s.unexpected else ''} | "
            f"{', '.join(f'{name} {t:.0f} ms' for name, t in s.heaviest) or '—'} |"
            for s in res.startup
        ],
    ]


def _embedded(res: Results) -> list[str]:
    c = res.config
    return [
        "",
        "## 5. Plan over many providers, embedded target",
        "",
        f"A store of {c.embedded_n:,} providers (each with a key; `fetch_models: false`) built "
        f"by one `apply` ({res.embedded_build_seconds:.1f} s); then `plan` with the same file, "
        "and with every 100th provider's base_url changed. Median wall time of "
        f"{c.embedded_runs} run(s); peak memory is the process's own maximum RSS.",
        "",
        "| case | wall time | peak memory | plan |",
        "|---|---|---|---|",
        *[
            f"| {e.case} | {e.seconds:.2f} s | {e.max_rss_mb:.0f} MB | {e.summary} |"
            for e in res.embedded
        ],
    ]


def _limited(res: Results) -> list[str]:
    c = res.config
    return [
        "",
        "## 6. Apply against a rate-limited server",
        "",
        f"The proxy limits `/api` as a real ClaraVerse server does (200 requests a minute per "
        f"client), scaled down: {c.limit.requests} requests per client in each fixed "
        f"{c.limit.window}-second window, and past that the server's own answer, 429 "
        '`{"error": "Too many requests. Please slow down.", "retry_after": '
        f"{c.limit.window}}}` (the delay in the body, no Retry-After header). A fresh server "
        f"for each of two applies of {c.limited_n:,} creates with their model fetches at "
        f"`--parallelism {PARALLELISM}`, the second with `--max-rate` at {HEADROOM:.0%} of the "
        "limit. The ideal is requests / (L / W): every request at exactly "
        "the limit. Announced: the pace the client said it would keep after its first 429 "
        "(it says so for waits of 2 s and more)."
        + (
            " Quick mode: this measure ran beside the others, its two applies at once."
            if c.quick
            else ""
        ),
        "",
        "| --max-rate | N | requests | 429s (by route) | wall time | ideal | ratio | "
        "requests/min (share of the limit) | announced | outcomes | created / duplicates / "
        "missing / without models |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {f'{r.max_rate:g}' if r.max_rate else '—'} | {r.n:,} | {r.requests} | "
            f"{r.limited}{f' ({_routes(r.limited_routes)})' if r.limited else ''} | "
            f"{r.seconds:.2f} s | {r.ideal:.2f} s | {r.ratio:.2f}× | {r.per_minute:,.0f} "
            f"({r.per_minute / r.limit.per_minute:.0%}) | "
            f"{f'{r.announced:,.0f}/min' if r.announced else '—'} | "
            f"{', '.join(f'{k} {v}' for k, v in r.statuses.items()) or 'none'} | "
            f"{r.created.listed} / {r.created.duplicates} / {r.created.missing} / "
            f"{r.created.unfetched} |"
            for r in res.limited
        ],
    ]


def _busy(row: ApplyRow, cpus: int) -> float:
    """The share of the machine's CPU time that the run used."""
    return sum(row.cpu.values()) / (row.seconds * cpus) if row.seconds else 0.0


def _routes(routes: dict[str, int]) -> str:
    return ", ".join(f"`{route}` {count}" for route, count in routes.items())
