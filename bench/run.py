"""The benchmark: measure the performance goals (README, "Performance"), write bench/results.md.

    python bench/run.py --write         # the full run (a few minutes on 2 cores), and
                                        # bench/results.md rewritten with its figures
    python bench/run.py --quick         # small sizes, a few seconds; the test suite runs it

Without ``--write`` (or ``--out FILE``) it prints its figures and writes no file, so a
trial run leaves the checkout as it was.

It starts everything it needs on 127.0.0.1, on ports the OS picks, and stops it on exit:
``reconcile serve`` on a temporary store (a subprocess, the way users run it), a tiny
OpenAI-compatible upstream for the model fetches, and a proxy in front of the server that
delays every request by ``--delay-ms`` (the round trip of a real network); see netsim.py.
Every ``reconcile`` command runs as a subprocess, as CI runs it.

Why the server is a subprocess and not uvicorn in a thread of this harness: it then has its
own interpreter (its own GIL), as a real server has, instead of competing with the proxy
and the upstream for ours. Requests are counted from its access log (uvicorn's, on by
default): a request of our own straight to the server marks the end of each stretch, and
the count is checked against the proxy's. Where the server logs no requests, the proxy's
count stands, and the report says so.

Measures (each a count or a ratio within one run, so that a noisy machine does not change
the verdict):

1. Requests of a no-op ``plan`` for N providers, counted by the server (its access log).
2. ``apply`` creating N providers and fetching their models, for several ``--parallelism``,
   against the floor ``2N / P x delay``.
3. The same creates done naively, one request after another on a new connection each (a
   shell script of curl calls), against ``--parallelism 8``.
4. Start-up: median wall time of ``reconcile --help`` and ``reconcile validate``, beside
   ``python -c pass``; ``-X importtime`` names the heaviest imports and shows which heavy
   libraries each command imports.
5. ``plan`` over many providers in the embedded target (no change, then 1 % changed):
   wall time and peak memory (the child's own ``ru_maxrss``, from ``os.wait4``).

Timings are reported, never asserted: the exit status is 1 only when something was wrong
(a provider missing or duplicated, a command that failed, counts that disagree).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from netsim import DelayProxy, Network, Upstream, route_of

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "providers.yaml"
DEFAULT_OUT = ROOT / "bench" / "results.md"

KEY_VAR = "BENCH_API_KEY"
MODELS = ["bench-large", "bench-medium", "bench-small"]
HEAVY = ("httpx", "jsonschema", "fastjsonschema", "deepdiff", "starlette", "uvicorn")
# What each start-up command may import of HEAVY: validate and plan check the schema.
_SCHEMA = ("jsonschema", "fastjsonschema")
HEAVY_ALLOWED = {"--help": (), "validate": _SCHEMA, "plan (embedded)": _SCHEMA}

GOAL_NOOP_REQUESTS = 2
GOAL_APPLY_RATIO = 1.25
GOAL_HELP_MS = 150.0
GOAL_PLAN_SECONDS = 2.0
GOAL_PLAN_MB = 150.0

COMMAND_TIMEOUT = 600.0
SERVER_START_TIMEOUT = 30.0
MARK_TIMEOUT = 30.0
PROBE_TIMEOUT = 3.0
HTTP_TIMEOUT = 60.0

_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')
_SERVER_URL = re.compile(r"Sandbox ClaraVerse server on (?P<url>http://\S+)")
_SUMMARY = re.compile(r"Plan: (\d+) to add, (\d+) to change")
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "ftp_proxy"}


class BenchError(Exception):
    """Something the benchmark needs went wrong (not a missed goal)."""


# --- configuration ---------------------------------------------------------------------


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

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Config:
        """Defaults for the full or the quick run, overridden by the options given."""
        quick = bool(args.quick)
        sizes = tuple(sorted(set(args.sizes or ((10, 20) if quick else (10, 100, 1000)))))
        apply_n = args.apply_n or max(sizes)
        return cls(
            quick=quick,
            noop_sizes=sizes,
            apply_n=apply_n,
            serial_n=min(args.serial_n or (apply_n if quick else 250), apply_n),
            parallelism=tuple(args.parallelism or ((1, 8) if quick else (1, 8, 16))),
            delay=args.delay_ms / 1000.0,
            startup_runs=args.runs or (2 if quick else 10),
            embedded_n=args.embedded_n or (200 if quick else 10_000),
            embedded_runs=1 if quick else 3,
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (the test suite)")
    parser.add_argument(
        "--sizes",
        type=_int_list,
        help="providers for the no-op plan, e.g. 10,100,1000 (the largest is also apply's N)",
    )
    parser.add_argument("--apply-n", type=int, help="providers created by each apply")
    parser.add_argument(
        "--serial-n",
        type=int,
        help="providers for parallelism 1 and the naive run (default 250; figures scaled)",
    )
    parser.add_argument("--parallelism", type=_int_list, help="default 1,8,16 (quick: 1,8)")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="per request (default 20)")
    parser.add_argument("--runs", type=int, help="start-up runs per command (default 10)")
    parser.add_argument("--embedded-n", type=int, help="providers of measure 5 (default 10000)")
    parser.add_argument(
        "--only", type=_int_list, help="run only these measures, e.g. 1,5 (default: all five)"
    )
    parser.add_argument(
        "--write", action="store_true", help=f"write the report to {DEFAULT_OUT.name}"
    )
    parser.add_argument("--out", type=Path, help="write the Markdown report to this file")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    return parser.parse_args(argv)


def _int_list(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers")
    return values


# --- processes -------------------------------------------------------------------------


def reconcile_command() -> list[str]:
    """The ``reconcile`` console script of this interpreter, as users run it."""
    script = Path(sys.executable).parent / "reconcile"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "reconciler"]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without reconciler settings or proxies: loopback stays loopback."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RECONCILE_", "CLARAVERSE_"))
        and k.lower() not in _PROXY_VARS
        # Bytecode caching on, as after any install: start-up is measured, not compiling.
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", NO_COLOR="1")
    return {**env, **extra}


@dataclass(frozen=True)
class Run:
    """A finished command."""

    args: list[str]
    code: int
    out: str
    err: str
    seconds: float
    max_rss_mb: float
    cpu_seconds: float

    def check(self, *codes: int) -> Run:
        """Self, if the exit code is one of ``codes`` (0 by default); else BenchError."""
        if self.code not in (codes or (0,)):
            tail = "\n".join((self.out + self.err).splitlines()[-15:])
            raise BenchError(f"`{shlex.join(self.args)}` exited {self.code}:\n{tail}")
        return self


def run(
    args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = COMMAND_TIMEOUT
) -> Run:
    """Run a command to its end; its wall time and its own peak memory (``os.wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            timer.cancel()
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        err.seek(0)
        return Run(
            args=args,
            code=proc.returncode,
            out=out.read().decode(errors="replace"),
            err=err.read().decode(errors="replace"),
            seconds=seconds,
            max_rss_mb=usage.ru_maxrss / 1024.0,  # kilobytes on Linux
            cpu_seconds=usage.ru_utime + usage.ru_stime,
        )


@dataclass(frozen=True)
class Traffic:
    """Requests a server answered between two marks: (method, route, status) each."""

    requests: list[tuple[str, str, int]]

    @property
    def total(self) -> int:
        """How many requests."""
        return len(self.requests)

    def by_route(self) -> dict[str, int]:
        """Counts by ``METHOD route``."""
        return dict(sorted(Counter(f"{m} {r}" for m, r, _ in self.requests).items()))

    def failures(self) -> int:
        """Answers of 500 and above."""
        return sum(1 for *_, status in self.requests if status >= 500)


class SandboxServer:
    """``reconcile serve`` in a subprocess; counts requests from its access log."""

    def __init__(self, state: Path, token: str, cwd: Path) -> None:
        self.state = state
        self.token = token
        self.url = ""
        self._cwd = cwd
        self._lines: list[str] = []
        self._cursor = 0
        self._marks = 0
        self.logs_requests: bool | None = None
        self._changed = threading.Condition()
        self._proc: subprocess.Popen[bytes] | None = None
        self._readers: list[threading.Thread] = []
        self.client = httpx.Client(timeout=HTTP_TIMEOUT, headers=self.auth)  # straight to it

    @property
    def auth(self) -> dict[str, str]:
        """The admin's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}

    def __enter__(self) -> SandboxServer:
        args = [*reconcile_command(), "serve", "--state", str(self.state), "--port", "0"]
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self._cwd,
            env=clean_env(PYTHONUNBUFFERED="1"),  # access log lines arrive as written
        )
        for stream in (self._proc.stdout, self._proc.stderr):
            assert stream is not None
            reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
            reader.start()
            self._readers.append(reader)
        try:
            self.url = self._wait_for_url()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        for reader in self._readers:
            reader.join(10)

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                with self._changed:
                    self._lines.append(raw.decode(errors="replace").rstrip("\n"))
                    self._changed.notify_all()

    def _wait_until(self, found: Any, what: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = found()
                if result is not None:
                    return result
                left = deadline - time.monotonic()
                assert self._proc is not None
                if left <= 0 or self._proc.poll() is not None:
                    tail = "\n".join(self._lines[-15:])
                    raise BenchError(f"reconcile serve: no {what} within {timeout:g} s:\n{tail}")
                self._changed.wait(min(left, 0.5))

    def _wait_for_url(self) -> str:
        def found() -> str | None:
            for line in self._lines:
                match = _SERVER_URL.search(line)
                if match:
                    return match["url"]
            return None

        url: str = self._wait_until(found, "startup message", SERVER_START_TIMEOUT)
        return url

    def mark(self) -> Traffic | None:
        """The requests the server answered since the previous mark; None if it logs none.

        A request to a path of our own, straight to the server, ends the stretch: the server
        logs requests in the order it answers them, so once its line is read, every request
        answered before it has been read too.
        """
        if self.logs_requests is None:
            self.logs_requests = self._probe()
        if not self.logs_requests:
            return None
        return self._mark(MARK_TIMEOUT)

    def _probe(self) -> bool:
        """Whether the server logs requests (uvicorn's access log, on by default)."""
        try:
            self._mark(PROBE_TIMEOUT)
        except BenchError:
            return False
        return True

    def _mark(self, timeout: float) -> Traffic:
        self._marks += 1
        marker = f"/bench-mark/{self._marks}"
        self.client.get(self.url + marker)  # 404, and a line in the access log
        needle = f'"GET {marker} HTTP/'

        def found() -> int | None:
            for index in range(self._cursor, len(self._lines)):
                if needle in self._lines[index]:
                    return index
            return None

        index: int = self._wait_until(found, f"access log line for {marker}", timeout)
        with self._changed:
            lines = self._lines[self._cursor : index]
            self._cursor = index + 1
        requests = []
        for line in lines:
            match = _ACCESS_LINE.search(line)
            if match:
                requests.append((match["method"], route_of(match["path"]), int(match["status"])))
        return Traffic(requests)

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (0 where /proc is missing)."""
        assert self._proc is not None
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # utime and stime: fields 14 and 15 of stat(5), counted from after the ")".
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def providers(self) -> list[dict[str, Any]]:
        """The providers the server lists (straight to it, not through the proxy)."""
        response = self.client.get(self.url + "/api/admin/providers")
        response.raise_for_status()
        listed: list[dict[str, Any]] = response.json()["providers"] or []
        return listed


def count(w: World, server: SandboxServer, proxy: DelayProxy, what: str) -> Traffic:
    """The requests since the last count: the server's log, checked against the proxy's
    count; the proxy's alone where the server logs no requests."""
    seen: list[tuple[str, str, int]] = []
    for key, times in proxy.counts.take().items():
        method, route = key.split(" ", 1)
        seen += [(method, route, 0)] * times  # the proxy does not parse answers
    proxied = Traffic(seen)
    logged = server.mark()
    if logged is None:
        w.counted_by = "proxy"
        return proxied
    # The server also answered our own requests (marks, listings) that bypass the proxy.
    if logged.total != proxied.total and proxied.total:
        w.problem(
            f"{what}: the server logged {logged.total} requests, the proxy saw {proxied.total}"
        )
    return logged


# --- the bench's world -----------------------------------------------------------------


@dataclass
class World:
    """What every measure shares: a work folder, the network, the upstream, a token."""

    config: Config
    work: Path
    network: Network
    upstream: Upstream
    api_key: str
    template: Path  # a store holding the admin account, copied for each fresh server
    token: str
    problems: list[str] = field(default_factory=list)
    counted_by: str = "server"
    _servers: int = 0

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for reconcile commands: the providers' key and the admin token."""
        return clean_env(**{KEY_VAR: self.api_key, "CLARAVERSE_TOKEN": self.token, **extra})

    def reconcile(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> Run:
        """Run ``reconcile ARGS`` in the work folder."""
        return run([*reconcile_command(), *args], env=self.env(), cwd=self.work, timeout=timeout)

    @contextmanager
    def server(self) -> Iterator[tuple[SandboxServer, DelayProxy]]:
        """A fresh sandbox server on an empty store, and the delaying proxy in front of it."""
        self._servers += 1
        state = self.work / f"server-{self._servers}" / "sandbox.db"
        state.parent.mkdir()
        shutil.copy2(self.template, state)
        with SandboxServer(state, self.token, self.work) as server:
            port = int(httpx.URL(server.url).port or 0)
            proxy = DelayProxy(self.network, port, self.config.delay)
            try:
                yield server, proxy
            finally:
                proxy.close()

    def providers_file(
        self, name: str, count: int, *, fetch_models: bool = True, changed_every: int = 0
    ) -> Path:
        """A providers.yaml with ``count`` OpenAI-compatible providers on the upstream;
        with ``changed_every`` k, every k-th provider's base_url differs."""
        lines = ["version: 1", "providers:"]
        for i in range(count):
            base_url = self.upstream.base_url
            if changed_every and i % changed_every == 0:
                base_url = f"{self.upstream.url}/v2"
            lines += [
                f"  - name: {provider_name(i)}",
                "    type: openai",
                f"    base_url: {base_url}",
                f"    api_key: ${{{KEY_VAR}}}",
            ]
            if not fetch_models:
                lines.append("    fetch_models: false")
        path = self.work / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def problem(self, text: str) -> None:
        """Record something wrong; the run still reports the rest and then exits 1."""
        self.problems.append(text)
        print(f"PROBLEM: {text}", file=sys.stderr)


def provider_name(i: int) -> str:
    """The name of the i-th bench provider."""
    return f"bench-{i:05d}"


@contextmanager
def world(config: Config) -> Iterator[World]:
    """Start the shared parts; stop them all on exit."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reconcile-bench-")))
        network = stack.enter_context(Network())
        api_key = "sk-bench-" + secrets.token_hex(12)
        upstream = Upstream(network, MODELS, api_key)
        template = work / "template.db"
        got = run(
            [*reconcile_command(), "token", "--state", str(template)], env=clean_env(), cwd=work
        ).check()
        yield World(
            config=config,
            work=work,
            network=network,
            upstream=upstream,
            api_key=api_key,
            template=template,
            token=got.out.strip(),
        )


# --- 1. no-op plan requests --------------------------------------------------------------


@dataclass(frozen=True)
class NoopRow:
    """One size of measure 1."""

    n: int
    requests: int
    routes: dict[str, int]
    seconds: float
    exit_code: int


def measure_noop(w: World) -> list[NoopRow]:
    """Grow one server through the sizes; after each, count a no-op plan's requests."""
    rows = []
    with w.server() as (server, proxy):
        for n in w.config.noop_sizes:
            path = w.providers_file(f"noop-{n}.yaml", n)
            # Setting up, straight to the server: no delay to sit through.
            w.reconcile(
                "apply", "-f", str(path), "--target", server.url, "--yes", "--parallelism", "16"
            ).check()
            count(w, server, proxy, "setup")
            plan = w.reconcile(
                "plan", "-f", str(path), "--target", proxy.url, "--detailed-exitcode"
            )
            traffic = count(w, server, proxy, f"no-op plan over {n}")
            if plan.code != 0:
                w.problem(f"no-op plan over {n} providers exited {plan.code} (0 = no changes)")
            rows.append(NoopRow(n, traffic.total, traffic.by_route(), plan.seconds, plan.code))
    if len({r.requests for r in rows}) != 1:
        w.problem(f"no-op plan requests vary with N: {[r.requests for r in rows]}")
    return rows


# --- 2. apply with parallelism, 3. the naive way ---------------------------------------


@dataclass(frozen=True)
class Created:
    """What a run left on the server: correctness of the creates and fetches."""

    expected: int
    listed: int
    duplicates: int
    missing: int
    unfetched: int

    @property
    def ok(self) -> bool:
        """Every provider there once, with its models."""
        return (self.listed, self.duplicates, self.missing, self.unfetched) == (
            self.expected,
            0,
            0,
            0,
        )


def check_created(w: World, server: SandboxServer, n: int, what: str) -> Created:
    """Compare the server's providers with the n expected ones."""
    listed = server.providers()
    names = [str(p["name"]) for p in listed]
    expected = {provider_name(i) for i in range(n)}
    created = Created(
        expected=n,
        listed=len(names),
        duplicates=len(names) - len(set(names)),
        missing=len(expected - set(names)),
        unfetched=sum(1 for p in listed if p.get("model_count") != len(MODELS)),
    )
    if not created.ok:
        w.problem(f"{what}: {created}")
    return created


@dataclass(frozen=True)
class ApplyRow:
    """One parallelism of measure 2."""

    parallelism: int
    n: int
    delay: float
    seconds: float
    floor: float
    requests: int
    routes: dict[str, int]
    failures: int
    created: Created
    cpu: dict[str, float]  # CPU seconds: the apply process, the server, this harness
    exit_code: int

    @property
    def ok(self) -> bool:
        """The apply succeeded and left every provider, once, with its models."""
        return self.exit_code == 0 and self.created.ok

    @property
    def ratio(self) -> float:
        """Wall time over the floor 2N / P x delay."""
        return self.seconds / self.floor if self.floor else float("nan")

    @property
    def per_provider(self) -> float:
        """Seconds per provider."""
        return self.seconds / self.n


def measure_apply(w: World) -> list[ApplyRow]:
    """``apply`` creating N providers (with fetches) through the proxy, per parallelism;
    then P = 8 again without the delay: the time this machine itself takes."""
    runs = [(p, w.config.delay) for p in w.config.parallelism]
    if 8 in w.config.parallelism and not w.config.quick:
        runs.append((8, 0.0))
    rows = []
    for p, delay in runs:
        n = w.config.serial_n if p == 1 else w.config.apply_n
        path = w.providers_file(f"apply-{n}.yaml", n)
        with w.server() as (server, proxy):
            proxy.delay = delay
            count(w, server, proxy, "start")
            server_cpu, own_cpu = server.cpu_seconds(), time.process_time()
            applied = w.reconcile(
                "apply", "-f", str(path), "--target", proxy.url, "--yes", "--parallelism", str(p)
            )
            cpu = {
                "apply": applied.cpu_seconds,
                "server": server.cpu_seconds() - server_cpu,
                "proxy + upstream": time.process_time() - own_cpu,
            }
            traffic = count(w, server, proxy, f"apply at parallelism {p}")
            if applied.code != 0:
                w.problem(f"apply at parallelism {p} exited {applied.code}: {applied.err[-500:]}")
            created = check_created(w, server, n, f"apply at parallelism {p}")
            rows.append(
                ApplyRow(
                    parallelism=p,
                    n=n,
                    delay=delay,
                    seconds=applied.seconds,
                    floor=2 * n / p * delay,
                    requests=traffic.total,
                    routes=traffic.by_route(),
                    failures=traffic.failures(),
                    created=created,
                    cpu=cpu,
                    exit_code=applied.code,
                )
            )
    return rows


@dataclass(frozen=True)
class NaiveRow:
    """Measure 3: one request after another, a new connection each."""

    n: int
    seconds: float
    requests: int
    connections: int
    created: Created

    @property
    def per_provider(self) -> float:
        """Seconds per provider."""
        return self.seconds / self.n


def measure_naive(w: World) -> NaiveRow:
    """Create and fetch each provider in turn, as a shell script of curl calls would."""
    n = w.config.serial_n
    with (
        w.server() as (server, proxy),
        # No keep-alive: every request opens (and closes) its own connection, as curl does.
        httpx.Client(
            base_url=proxy.url,
            headers=server.auth,
            timeout=HTTP_TIMEOUT,
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as client,
    ):
        count(w, server, proxy, "start")
        proxy.connections.take()
        start = time.perf_counter()
        for i in range(n):
            created = client.post(
                "/api/admin/providers",
                json={
                    "name": provider_name(i),
                    "type": "openai",
                    "base_url": w.upstream.base_url,
                    "api_key": w.api_key,
                },
            )
            created.raise_for_status()
            body = created.json()
            provider_id = body.get("id") or body["provider"]["id"]
            client.post(f"/api/admin/providers/{provider_id}/fetch").raise_for_status()
        seconds = time.perf_counter() - start
        traffic = count(w, server, proxy, "the naive run")
        connections = sum(proxy.connections.take().values())
        return NaiveRow(
            n=n,
            seconds=seconds,
            requests=traffic.total,
            connections=connections,
            created=check_created(w, server, n, "the naive run"),
        )


# --- 4. start-up -------------------------------------------------------------------------


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
    cli = reconcile_command()
    example = str(EXAMPLE)
    state = w.work / "startup" / "state.db"
    # (name, its arguments after `reconcile`, None for the baseline `python -c pass`)
    commands: list[tuple[str, list[str] | None]] = [
        ("python -c pass", None),
        ("--help", ["--help"]),
        ("validate", ["validate", "-f", example]),
        ("plan (embedded)", ["plan", "-f", example, "--target", f"sqlite:///{state}"]),
    ]
    env = clean_env()
    baseline = _imported(
        run([sys.executable, "-X", "importtime", "-c", "pass"], env=env, cwd=w.work).err
    )
    rows = []
    for name, rest in commands:
        args = [sys.executable, "-c", "pass"] if rest is None else [*cli, *rest]
        run(args, env=env, cwd=w.work).check()  # warm the caches once, untimed
        times = [
            run(args, env=env, cwd=w.work).check().seconds * 1000
            for _ in range(w.config.startup_runs)
        ]
        heaviest: list[tuple[str, float]] = []
        heavy: list[str] = []
        unexpected: list[str] = []
        if rest is not None:
            traced = [sys.executable, "-X", "importtime", "-m", "reconciler", *rest]
            got = run(traced, env=env, cwd=w.work).check()
            imported = _imported(got.err)
            heavy = sorted({m.split(".")[0] for m in imported} & set(HEAVY))
            unexpected = [h for h in heavy if h not in HEAVY_ALLOWED[name]]
            heaviest = _heaviest(imported, baseline)
        rows.append(
            StartupRow(
                name=name,
                command="python -c pass"
                if rest is None
                else shlex.join(["reconcile", *rest])
                .replace(str(ROOT) + "/", "")
                .replace(str(w.work), "$TMP"),
                median_ms=statistics.median(times),
                heaviest=heaviest,
                heavy=heavy,
                unexpected=unexpected,
            )
        )
    return rows


def _imported(importtime: str) -> dict[str, tuple[float, int]]:
    """Module -> (cumulative ms, nesting depth), from ``-X importtime`` output."""
    modules: dict[str, tuple[float, int]] = {}
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        modules[name.strip()] = (int(cumulative) / 1000.0, depth)
    return modules


def _heaviest(
    imported: dict[str, tuple[float, int]], baseline: dict[str, tuple[float, int]]
) -> list[tuple[str, float]]:
    """The five slowest imports that ``python -c pass`` does not do: packages and our
    own modules, by cumulative time."""
    candidates = [
        (name, ms)
        for name, (ms, _depth) in imported.items()
        if name not in baseline and ("." not in name or name.startswith("reconciler."))
    ]
    return sorted(candidates, key=lambda c: -c[1])[:5]


# --- 5. plan over many providers in the embedded target ----------------------------------


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


# --- report ------------------------------------------------------------------------------


@dataclass
class Results:
    """Every figure of a run."""

    config: Config
    machine: dict[str, str]
    command: str
    noop: list[NoopRow] = field(default_factory=list)
    apply: list[ApplyRow] = field(default_factory=list)
    naive: NaiveRow | None = None
    startup: list[StartupRow] = field(default_factory=list)
    embedded_build_seconds: float = 0.0
    embedded: list[EmbeddedRow] = field(default_factory=list)
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
    rows = ["| # | measure | figure | goal | verdict |", "|---|---|---|---|---|"]
    if res.noop:
        counts = [r.requests for r in res.noop]
        ok = len(set(counts)) == 1 and max(counts) <= GOAL_NOOP_REQUESTS
        rows.append(
            f"| 1 | no-op `plan`, N = {' / '.join(f'{r.n:,}' for r in res.noop)} | "
            f"{' / '.join(str(c) for c in counts)} requests | ≤ {GOAL_NOOP_REQUESTS}, the same "
            f"for every N | {verdict(ok)} |"
        )
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
        serial = next((q for q in res.apply if q.parallelism == 1 and q.delay and q.ok), None)
        if serial is not None and r is not serial:
            figure += (
                f"; {serial.per_provider / r.per_provider:.1f}× faster per provider than P = 1"
                f" (ideal {r.parallelism})"
            )
        if r.parallelism == 8:
            ok = r.ratio <= GOAL_APPLY_RATIO
            goal, mark = f"≤ {GOAL_APPLY_RATIO:g}× floor", verdict(ok)
        else:
            goal, mark = "—", ""
        rows.append(f"| 2 | {what}, {r.delay * 1000:g} ms/request | {figure} | {goal} | {mark} |")
    p8 = _p8(res)
    if res.naive is not None and p8 is not None:
        nv = res.naive
        per = f" (per provider: {nv.n:,} vs {p8.n:,})" if nv.n != p8.n else ""
        rows.append(
            f"| 3 | naive: one request after another, a new connection each, N = {nv.n:,} | "
            f"{nv.seconds:.2f} s; `--parallelism 8` is **{nv.per_provider / p8.per_provider:.1f}× "
            f"faster**{per} | — | |"
        )
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
    for e in res.embedded:
        ok = e.seconds < GOAL_PLAN_SECONDS and e.max_rss_mb < GOAL_PLAN_MB
        rows.append(
            f"| 5 | `plan` {e.n:,} providers, embedded, {e.case} | {e.seconds:.2f} s, "
            f"{e.max_rss_mb:.0f} MB | < {GOAL_PLAN_SECONDS:g} s, < {GOAL_PLAN_MB:g} MB "
            f"| {verdict(ok)} |"
        )
    return rows


def _p8(res: Results) -> ApplyRow | None:
    return next((r for r in res.apply if r.parallelism == 8 and r.delay and r.ok), None)


def markdown(res: Results) -> str:
    """bench/results.md."""
    c = res.config
    m = res.machine
    ms = c.delay * 1000
    cpus = int(m["cpus"]) if m["cpus"].isdigit() else 1
    counted = (
        "by the server (its access log), checked against the proxy's count"
        if res.counted_by == "server"
        else "by the proxy (the server logs no requests)"
    )
    out = [
        "# Benchmark results",
        "",
        f"Machine: {m['cpus']} CPUs, {m['cpu']}; Python {m['python']}; {m['os']}; load "
        f"average {m['load']} at the start.  ",
        f"Reproduce: `{res.command}` ({res.seconds:.0f} s for this run"
        f"{'; quick mode: small sizes' if c.quick else ''}).",
        "",
        "`reconcile serve` runs as a subprocess on a temporary store; the upstream and a proxy "
        f"that delays every request by {ms:g} ms run in the harness (bench/netsim.py), all on "
        f"127.0.0.1. Requests are counted {counted}.",
        "",
        *summary_table(res),
        "",
        "## 1. No-op plan: requests",
        "",
        "One server grows through the sizes (each applied straight to it, without delay); "
        "then a `plan` with nothing to do runs through the proxy.",
        "",
        "| N providers | requests | by route | plan wall time |",
        "|---|---|---|---|",
        *[
            f"| {r.n:,} | {r.requests} | {_routes(r.routes)} | {r.seconds:.2f} s |"
            for r in res.noop
        ],
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
    out += ["", "## 3. The naive way: one request after another", ""]
    p8 = _p8(res)
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
        if p8 is not None:
            out.append(
                f"- `reconcile apply --parallelism 8`: {p8.per_provider * 1000:.1f} ms per "
                f"provider, **{nv.per_provider / p8.per_provider:.1f}× faster**."
            )
    out += [
        "",
        "## 4. Start-up",
        "",
        f"Median of {c.startup_runs} runs each, after one untimed run (which also writes the "
        "bytecode cache, as an install does). Heavy libraries: which of "
        f"{', '.join(HEAVY)} appear in `python -X importtime -m reconciler ...`; heaviest "
        "imports: the slowest (cumulative) that `python -c pass` does not do.",
        "",
        "| command | median | heavy libraries imported | heaviest imports |",
        "|---|---|---|---|",
        *[
            f"| `{s.command}` | {s.median_ms:.0f} ms | {', '.join(s.heavy) or 'none'}"
            f"{' (unexpected: ' + ', '.join(s.unexpected) + ')' if s.unexpected else ''} | "
            f"{', '.join(f'{name} {t:.0f} ms' for name, t in s.heaviest) or '—'} |"
            for s in res.startup
        ],
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
        "",
    ]
    if res.problems:
        out += ["## Problems", "", *[f"- {p}" for p in res.problems], ""]
    return "\n".join(out)


def _busy(row: ApplyRow, cpus: int) -> float:
    """The share of the machine's CPU time that the run used."""
    return sum(row.cpu.values()) / (row.seconds * cpus) if row.seconds else 0.0


def _routes(routes: dict[str, int]) -> str:
    return ", ".join(f"`{route}` {count}" for route, count in routes.items())


def to_json(res: Results) -> str:
    """The figures as JSON (for the test suite)."""

    def default(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        raise TypeError(type(value).__name__)

    data = dataclasses.asdict(res)
    return json.dumps(data, indent=2, default=default)


# --- main --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measure, print the table, write the report; 1 if something was wrong."""
    args = parse_args(argv)
    config = Config.from_args(args)
    # A TERM (a CI timeout) unwinds like Ctrl-C, so that every server is stopped on the way.
    signal.signal(signal.SIGTERM, _terminated)
    command = "python bench/run.py" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    res = Results(config=config, machine=machine(), command=command)
    start = time.perf_counter()
    chosen = set(args.only or MEASURES)
    try:
        with world(config) as w:
            for number, title in MEASURES.items():
                if number not in chosen:
                    continue
                print(f"... {number}. {title}", file=sys.stderr, flush=True)
                began = time.perf_counter()
                try:
                    measure(number, res, w)
                except (BenchError, httpx.HTTPError) as exc:
                    w.problem(f"{title}: {exc}")
                print(f"    {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
            res.problems = list(w.problems)
            res.counted_by = w.counted_by
    except BenchError as exc:
        res.problems.append(str(exc))
    res.seconds = time.perf_counter() - start
    table = summary_table(res)
    print("\n".join(table))
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


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


MEASURES = {
    1: "no-op plan requests",
    2: "apply with parallelism",
    3: "the naive way",
    4: "start-up",
    5: "embedded plan",
}


def measure(number: int, res: Results, w: World) -> None:
    """Run measure ``number`` and keep its figures in ``res``."""
    if number == 1:
        res.noop = measure_noop(w)
    elif number == 2:
        res.apply = measure_apply(w)
    elif number == 3:
        res.naive = measure_naive(w)
    elif number == 4:
        res.startup = measure_startup(w)
    elif number == 5:
        res.embedded_build_seconds, res.embedded = measure_embedded(w)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # servers and subprocesses are already stopped
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
