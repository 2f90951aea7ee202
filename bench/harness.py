"""The bench's world: what every measure shares, and the checks they share.

``world`` starts the shared parts on 127.0.0.1, on ports the OS picks, and stops them on
exit: a work folder, the simulated network (netsim.py) with its OpenAI-compatible
upstream for model fetches, and an admin token. ``World.server`` gives a measure a fresh
``reconcile serve`` on an empty store with the delaying proxy in front of it.
"""

from __future__ import annotations

import itertools
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from config import Config
from netsim import DelayProxy, Network, RateLimiter, Upstream
from procs import COMMAND_TIMEOUT, Run, clean_env, reconcile_command, run
from serve import SandboxServer, Traffic

KEY_VAR = "BENCH_API_KEY"
MODELS = ["bench-large", "bench-medium", "bench-small"]
# The catalog of measure 1's catalog files: settings on every provider (a glob over all its
# models), ALIASES aliases spread two to a provider over the first ALIAS_MODELS models, and
# two tiers (one by model id, one by alias name).
ALIASES = 6
ALIAS_MODELS = 2
_ALIASES_PER_PROVIDER = 2


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
    _servers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for reconcile commands: the providers' key and the admin token."""
        return clean_env(**{KEY_VAR: self.api_key, "CLARAVERSE_TOKEN": self.token, **extra})

    def reconcile(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> Run:
        """Run ``reconcile ARGS`` in the work folder."""
        return run([*reconcile_command(), *args], env=self.env(), cwd=self.work, timeout=timeout)

    @contextmanager
    def server(
        self, *, limiter: RateLimiter | None = None
    ) -> Iterator[tuple[SandboxServer, DelayProxy]]:
        """A fresh sandbox server on an empty store, and the delaying proxy in front of it
        (rate-limiting ``/api`` with ``limiter``)."""
        # A counter, not `+= 1`: the quick run starts servers from two threads.
        state = self.work / f"server-{next(self._servers)}" / "sandbox.db"
        state.parent.mkdir()
        shutil.copy2(self.template, state)
        with SandboxServer(state, self.token, self.work) as server:
            port = int(httpx.URL(server.url).port or 0)
            proxy = DelayProxy(self.network, port, self.config.delay, limiter=limiter)
            try:
                yield server, proxy
            finally:
                proxy.close()

    def providers_file(
        self,
        name: str,
        count: int,
        *,
        fetch_models: bool = True,
        changed_every: int = 0,
        catalog: bool = False,
    ) -> Path:
        """A providers.yaml with ``count`` OpenAI-compatible providers on the upstream;
        with ``changed_every`` k, every k-th provider's base_url differs; with ``catalog``,
        the model catalog described at ALIASES (``count`` must be 3 or more)."""
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
            if catalog:
                lines += _catalog_lines(i)
        if catalog:
            lines += [
                "tiers:",
                f"  tier1: {{provider: {provider_name(0)}, model: {MODELS[0]}}}",
                # provider 1's first alias
                f"  tier4: {{provider: {provider_name(1)}, "
                f"model: {_alias_name(_ALIASES_PER_PROVIDER)}}}",
            ]
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


def _alias_name(j: int) -> str:
    return f"alias-{j}"


def _catalog_lines(i: int) -> list[str]:
    """The i-th provider's ``models:``: settings by a glob, and its share of the aliases."""
    lines = [
        "    models:",
        "      settings:",
        '        "bench-*": {supports_tools: true, context_length: 32000}',
    ]
    mine = [j for j in range(ALIASES) if j // _ALIASES_PER_PROVIDER == i]
    if mine:
        lines.append("      aliases:")
        lines += [
            f"        {_alias_name(j)}: {{model: {MODELS[j % ALIAS_MODELS]}, "
            f"display_name: Alias {j}}}"
            for j in mine
        ]
    return lines


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
