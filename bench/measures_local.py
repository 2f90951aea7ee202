"""Measures 4 and 5: commands that need no server.

4. Start-up: median wall time of ``reconcile --help`` and ``reconcile validate``, beside
   ``python -c pass``; ``-X importtime`` names the heaviest imports and shows which heavy
   libraries each command imports.
5. ``plan`` over many providers in the embedded target (no change, then 1 % changed):
   wall time and peak memory (the child's own ``ru_maxrss``, from ``os.wait4``).
"""

from __future__ import annotations

import re
import shlex
import statistics
import sys
from dataclasses import dataclass

from harness import World
from procs import ROOT, clean_env, reconcile_command, run

EXAMPLE = ROOT / "examples" / "providers.yaml"
HEAVY = ("httpx", "jsonschema", "fastjsonschema", "deepdiff", "starlette", "uvicorn")
# What each start-up command may import of HEAVY: validate and plan check the schema.
_SCHEMA = ("jsonschema", "fastjsonschema")
HEAVY_ALLOWED = {"--help": (), "validate": _SCHEMA, "plan (embedded)": _SCHEMA}

_SUMMARY = re.compile(r"Plan: (\d+) to add, (\d+) to change")

Imported = dict[str, tuple[float, int]]


@dataclass(frozen=True)
class StartupRow:
    """One command of measure 4."""

    name: str
    command: str
    median_ms: float
    heaviest: list[tuple[str, float]]  # (module, cumulative ms), outside `python -c pass`
    heavy: list[str]  # HEAVY libraries it imported
    unexpected: list[str]  # ... that it should not have


def measure_startup(w: World) -> list[StartupRow]:
    """Median wall time of a few commands, and what they import."""
    example = str(EXAMPLE)
    state = w.work / "startup" / "state.db"
    # (name, its arguments after `reconcile`, None for the baseline `python -c pass`)
    commands: list[tuple[str, list[str] | None]] = [
        ("python -c pass", None),
        ("--help", ["--help"]),
        ("validate", ["validate", "-f", example]),
        ("plan (embedded)", ["plan", "-f", example, "--target", f"sqlite:///{state}"]),
    ]
    # The import traces come first: they are also the untimed runs that fill the caches
    # (bytecode, the OS's file cache), as an install and a first use do.
    baseline = _trace(w, None)
    return [_startup_row(w, name, rest, baseline) for name, rest in commands]


def _startup_row(w: World, name: str, rest: list[str] | None, baseline: Imported) -> StartupRow:
    """Trace one command's imports, then time it."""
    heaviest: list[tuple[str, float]] = []
    heavy: list[str] = []
    unexpected: list[str] = []
    if rest is not None:
        imported = _trace(w, rest)
        heavy = sorted({m.split(".")[0] for m in imported} & set(HEAVY))
        unexpected = [h for h in heavy if h not in HEAVY_ALLOWED[name]]
        heaviest = _heaviest(imported, baseline)
    args = [sys.executable, "-c", "pass"] if rest is None else [*reconcile_command(), *rest]
    env = clean_env()
    times = [
        run(args, env=env, cwd=w.work).check().seconds * 1000 for _ in range(w.config.startup_runs)
    ]
    shown = "python -c pass" if rest is None else shlex.join(["reconcile", *rest])
    return StartupRow(
        name=name,
        command=shown.replace(str(ROOT) + "/", "").replace(str(w.work), "$TMP"),
        median_ms=statistics.median(times),
        heaviest=heaviest,
        heavy=heavy,
        unexpected=unexpected,
    )


def _trace(w: World, rest: list[str] | None) -> Imported:
    """What ``reconcile REST`` imports (``python -c pass`` for None), with ``-X importtime``."""
    tail = ["-c", "pass"] if rest is None else ["-m", "reconciler", *rest]
    got = run([sys.executable, "-X", "importtime", *tail], env=clean_env(), cwd=w.work).check()
    return _imported(got.err)


def _imported(importtime: str) -> Imported:
    """Module -> (cumulative ms, nesting depth), from ``-X importtime`` output."""
    modules: Imported = {}
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        modules[name.strip()] = (int(cumulative) / 1000.0, depth)
    return modules


def _heaviest(imported: Imported, baseline: Imported) -> list[tuple[str, float]]:
    """The five slowest imports that ``python -c pass`` does not do: packages and our
    own modules, by cumulative time."""
    candidates = [
        (name, ms)
        for name, (ms, _depth) in imported.items()
        if name not in baseline and ("." not in name or name.startswith("reconciler."))
    ]
    return sorted(candidates, key=lambda c: -c[1])[:5]


@dataclass(frozen=True)
class EmbeddedRow:
    """One case of measure 5."""

    case: str
    n: int
    seconds: float
    max_rss_mb: float
    exit_code: int
    summary: str


def measure_embedded(w: World) -> tuple[float, list[EmbeddedRow]]:
    """Build a store of N providers with one apply, then time plan with and without changes."""
    n = w.config.embedded_n
    target = f"sqlite:///{w.work / 'embedded' / 'state.db'}"
    same = w.providers_file(f"embedded-{n}.yaml", n, fetch_models=False)
    changed = w.providers_file(
        f"embedded-{n}-changed.yaml", n, fetch_models=False, changed_every=100
    )
    build = w.reconcile("apply", "-f", str(same), "--target", target, "--yes").check()
    rows = []
    for case, path, code in (("no changes", same, 0), ("1 % changed", changed, 2)):
        runs = [
            w.reconcile("plan", "-f", str(path), "--target", target, "--detailed-exitcode")
            for _ in range(w.config.embedded_runs)
        ]
        for r in runs:
            if r.code != code:
                w.problem(f"plan over {n} embedded providers ({case}) exited {r.code}, not {code}")
        summary = _SUMMARY.search(runs[0].out)
        expected_change = (n + 99) // 100 if code else 0
        if code and (summary is None or int(summary[2]) != expected_change):
            w.problem(f"plan ({case}): expected {expected_change} to change, got {summary}")
        rows.append(
            EmbeddedRow(
                case=case,
                n=n,
                seconds=statistics.median(r.seconds for r in runs),
                max_rss_mb=max(r.max_rss_mb for r in runs),
                exit_code=runs[0].code,
                summary=summary[0] if summary else "No changes",
            )
        )
    return build.seconds, rows
