"""Measures 1 to 3, against ``reconcile serve`` through the delaying proxy.

1. Requests of a no-op ``plan`` for N providers, counted by the server (its access log);
   then again with the model catalog (settings, aliases, tiers: harness.ALIASES).
2. ``apply`` creating N providers and fetching their models, for several ``--parallelism``,
   against the floor ``2N / P x delay``.
3. The same creates done naively, one request after another on a new connection each (a
   shell script of curl calls), against ``--parallelism 8``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from harness import Created, World, check_created, count, provider_name
from serve import HTTP_TIMEOUT


@dataclass(frozen=True)
class NoopRow:
    """One size of measure 1."""

    n: int
    requests: int
    routes: dict[str, int]
    seconds: float
    exit_code: int


def measure_noop(w: World) -> tuple[list[NoopRow], list[NoopRow]]:
    """Count a no-op plan's requests over the sizes: providers alone, then (on a server of
    its own, at the smallest and largest size) with the model catalog."""
    sizes = w.config.noop_sizes
    plain = _grow_and_plan(w, sizes, catalog=False)
    catalog = _grow_and_plan(w, sorted({min(sizes), max(sizes)}), catalog=True)
    return plain, catalog


def _grow_and_plan(w: World, sizes: Sequence[int], *, catalog: bool) -> list[NoopRow]:
    """Grow one server through the sizes; after each, count a no-op plan's requests."""
    what = "no-op plan" + (" with the catalog" if catalog else "")
    rows = []
    with w.server() as (server, proxy):
        for n in sizes:
            path = w.providers_file(
                f"noop-{'catalog-' if catalog else ''}{n}.yaml", n, catalog=catalog
            )
            # Setting up, straight to the server: no delay to sit through.
            w.reconcile(
                "apply", "-f", str(path), "--target", server.url, "--yes", "--parallelism", "16"
            ).check()
            count(w, server, proxy, "setup")
            plan = w.reconcile(
                "plan", "-f", str(path), "--target", proxy.url, "--detailed-exitcode"
            )
            traffic = count(w, server, proxy, f"{what} over {n}")
            if plan.code != 0:
                w.problem(f"{what} over {n} providers exited {plan.code} (0 = no changes)")
            rows.append(NoopRow(n, traffic.total, traffic.by_route(), plan.seconds, plan.code))
    if len({r.requests for r in rows}) != 1:
        w.problem(f"{what}: requests vary with N: {[r.requests for r in rows]}")
    return rows


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
