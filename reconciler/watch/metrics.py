"""The watch's Prometheus metrics, in a registry of its own.

Not the library's global registry: a process (a test, a script) may run several watches,
and the global one would also carry whatever else the process registered. Every label
value is ours (a result, an action kind): no provider name, URL or message is ever a
label, so nothing a user or a server wrote can reach ``/metrics``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from reconciler.watch.state import DRIFT_KINDS, RESULTS, Snapshot

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# A run is a few requests (seconds at most) or an apply (up to minutes).
_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The gauges, counters and histogram the loop updates after each run."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.drift = Gauge(
            "reconcile_drift_actions",
            "Actions that would make the target match the files, by kind, as the last run "
            "that observed the target left it (after healing, with --self-heal).",
            ["kind"],
            registry=r,
        )
        self.last_success = Gauge(
            "reconcile_last_success_timestamp_seconds",
            "When the target was last observed and planned against successfully.",
            registry=r,
        )
        self.runs = Counter("reconcile_runs", "Watch runs, by result.", ["result"], registry=r)
        self.duration = Histogram(
            "reconcile_run_duration_seconds",
            "How long a run took (observe, plan, and heal with --self-heal).",
            buckets=_BUCKETS,
            registry=r,
        )
        self.fetch_failures = Counter(
            "reconcile_fetch_failures",
            "Runs that could not read the target's state (each retry counts).",
            registry=r,
        )
        self.config_valid = Gauge(
            "reconcile_config_valid",
            "1 when the files validated at the last run; 0 while the last good ones serve.",
            registry=r,
        )
        self.webhook_failures = Counter(
            "reconcile_webhook_failures",
            "Webhook notifications given up after every retry.",
            registry=r,
        )
        # Every series exists from the start, so that a query or an alert sees 0, not nothing.
        for kind in DRIFT_KINDS:
            self.drift.labels(kind=kind).set(0)
        for result in RESULTS:
            self.runs.labels(result=result)
        self.config_valid.set(1)

    def record(self, snapshot: Snapshot, observed: bool) -> None:
        """Count one run; the drift gauges and the success time move only when the run
        observed the target (a failed one knows nothing new about it)."""
        if snapshot.result is not None:
            self.runs.labels(result=snapshot.result).inc()
        self.duration.observe(snapshot.duration)
        self.config_valid.set(0 if snapshot.config_error else 1)
        if not observed:
            self.fetch_failures.inc()
            return
        for kind, count in snapshot.counts().items():
            self.drift.labels(kind=kind).set(count)
        if snapshot.last_success_at is not None:
            self.last_success.set(snapshot.last_success_at)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)
