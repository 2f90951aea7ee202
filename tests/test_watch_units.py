"""The watch's parts on their own: backoff, the webhook's states and retries, the log, the
status page, the status server and its metrics, the write guard. No target involved."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.core.model import Capabilities, Observed
from reconciler.core.target import NO_ALIASES, AliasScope
from reconciler.errors import UsageError
from reconciler.secrets import Secret, encoded_forms, scrubbing_run
from reconciler.watch import page
from reconciler.watch.guard import GuardedTarget, Stopping
from reconciler.watch.logs import Log
from reconciler.watch.loop import MAX_BACKOFF_INTERVALS, backoff_delay
from reconciler.watch.metrics import Metrics
from reconciler.watch.server import StatusServer, parse_listen
from reconciler.watch.state import Change, ProviderStatus, Snapshot
from reconciler.watch.webhook import ATTEMPTS, Notifier, event_for

KEY = "sk-unit-SECRET-abcdef0123456789"
ENABLE = Change(kind="enable", provider="OpenAI", words=("enable OpenAI",))


def snapshot(**fields: Any) -> Snapshot:
    base = Snapshot(target="https://clara.example.com", interval=10.0, self_heal=False)
    return replace(base, **fields)


# --- backoff -----------------------------------------------------------------------------------


def test_backoff_is_the_interval_without_failures_and_doubles_with_jitter() -> None:
    assert backoff_delay(0, 10.0, 0.99) == 10.0
    assert [backoff_delay(n, 10.0, 0.0) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert [backoff_delay(n, 10.0, 1.0) for n in (1, 2, 3)] == [10.0, 20.0, 40.0]


def test_backoff_is_capped_at_ten_intervals() -> None:
    assert backoff_delay(50, 2.0, 1.0) == 2.0 * MAX_BACKOFF_INTERVALS == 20.0


# --- webhook states ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "result", "expected"),
    [
        (None, "in_sync", None),  # a quiet start
        (None, "drift", "drift"),
        (None, "error", "error"),
        ("in_sync", "in_sync", None),
        ("in_sync", "drift", "drift"),
        ("drift", "drift", None),  # a drift that persists is not posted again
        ("drift", "in_sync", "in_sync"),  # fixed by hand, or the file now agrees
        ("in_sync", "healed", "healed"),
        ("drift", "healed", "healed"),
        ("error", "error", None),
        ("error", "in_sync", "in_sync"),
        ("in_sync", "error", "error"),
    ],
)
def test_one_event_per_change_of_state(previous: Any, result: Any, expected: str | None) -> None:
    changes = (ENABLE,) if result in ("drift", "healed") else ()
    event = event_for(previous, snapshot(result=result, changes=changes, run=3))
    assert (event.kind if event else None) == expected


def test_the_webhook_body_is_slack_text_with_a_structured_part() -> None:
    odd = Change(kind="update", provider="A<b>&c", words=("update A<b>&c", "base_url: x → y"))
    event = event_for("in_sync", snapshot(result="drift", changes=(ENABLE, odd), run=7))
    assert event is not None
    assert event.body["text"] == (
        ":warning: Drift on `https://clara.example.com`: 2 changes from the configuration "
        "(not applied)\n• enable OpenAI\n• update A&lt;b&gt;&amp;c: base_url: x → y"
    )
    part = event.body["reconcile"]
    assert (part["event"], part["result"], part["run"]) == ("drift", "drift", 7)
    assert part["changes"][1] == {
        "kind": "update",
        "provider": "A<b>&c",
        "words": ["update A<b>&c", "base_url: x → y"],
    }


class Receiver:
    """A fake POST: answers the statuses given, in order, and records the bodies."""

    def __init__(self, *statuses: int | Exception) -> None:
        self.statuses = list(statuses)
        self.bodies: list[bytes] = []

    def __call__(self, data: bytes) -> int:
        self.bodies.append(data)
        status = self.statuses.pop(0)
        if isinstance(status, Exception):
            raise status
        return status


def notify(receiver: Receiver, *snapshots: Snapshot) -> tuple[list[str], int]:
    """Feed the snapshots to a notifier over ``receiver``; its log and its failure count."""
    lines: list[str] = []
    failures: list[int] = []
    url = "https://hooks.example.com/services/T0/B0/SECRET-path-123456"
    notifier = Notifier(
        url,
        log=Log(lines.append),
        on_failure=lambda: failures.append(1),
        post=receiver,
        backoff=0.001,
    )
    notifier.start()
    for s in snapshots:
        notifier.update(s, True)
    notifier.close(10)
    text = "".join(lines) + "".join(b.decode() for b in receiver.bodies)
    assert "SECRET-path" not in text
    return lines, len(failures)


def test_a_failed_post_is_retried_then_sent() -> None:
    receiver = Receiver(ConnectionError("refused"), 503, 200)
    lines, failures = notify(receiver, snapshot(result="error", error="boom", run=1))
    assert len(receiver.bodies) == 3 and failures == 0
    assert lines[-1].endswith(" INFO    webhook: sent error to https://hooks.example.com\n")


def test_a_post_given_up_is_logged_and_counted_and_a_4xx_is_not_retried() -> None:
    receiver = Receiver(*[502] * ATTEMPTS, 404)
    drift = snapshot(result="drift", changes=(ENABLE,), run=1)
    lines, failures = notify(receiver, drift, snapshot(result="in_sync", run=2))
    assert len(receiver.bodies) == ATTEMPTS + 1
    assert failures == 2
    assert lines[0].endswith(
        " ERROR   webhook: drift to https://hooks.example.com not delivered (HTTP 502)\n"
    )
    assert lines[1].endswith(
        " ERROR   webhook: in_sync to https://hooks.example.com not delivered (HTTP 404)\n"
    )


# --- no key, anywhere ---------------------------------------------------------------------------


@pytest.fixture
def key() -> Iterator[str]:
    """A run in which KEY was read as a key (so the run scrubs it)."""
    with scrubbing_run():
        Secret(KEY)
        yield KEY


def test_log_lines_are_scrubbed_in_text_and_json(key: str) -> None:
    for fmt in ("text", "json"):
        lines: list[str] = []
        log = Log(lines.append, format=fmt)  # type: ignore[arg-type]
        log.error("x", f"upstream said: bad key {key}\nsecond line", detail=f'"{key}"')
        (line,) = lines
        assert line.endswith("\n") and line.count("\n") == 1
        assert not any(form in line for form in encoded_forms(key))
        if fmt == "json":
            record = json.loads(line)
            assert record["message"] == "upstream said: bad key ***\nsecond line"
            assert (record["level"], record["event"], record["detail"]) == ("error", "x", '"***"')
        else:
            assert "ERROR   upstream said: bad key *** | second line" in line


def test_the_page_escapes_every_value_and_shows_no_key(key: str) -> None:
    evil = '<script>alert("x")</script>'
    s = snapshot(
        run=2,
        result="drift",
        started_at=time.time(),
        changes=(ENABLE,),
        remaining=(ENABLE,),
        providers=(
            ProviderStatus(name=evil, state="drifted", changes=(f"update {evil}",)),
            ProviderStatus(name="OpenAI", state="in_sync"),
        ),
        error=f"server said {key}",
        last_error=f"server said {key}",
        last_error_at=time.time(),
        warnings=(f"a warning with {evil}",),
    )
    html = page.render(s, ready=True, scrub=lambda text: text.replace(key, "***"))
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert key not in html and "server said ***" in html
    assert 'data-provider="OpenAI" data-state="in_sync"' in html
    assert '<meta http-equiv="refresh" content="10">' in html


# --- the server -----------------------------------------------------------------------------------


Served = tuple[StatusServer, list[Snapshot], Metrics, httpx.Client]


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    """One status server for the module (a stop costs up to its 0.1 s poll)."""
    current = [snapshot()]
    metrics = Metrics()
    status = StatusServer(
        ("127.0.0.1", 0), view=lambda: current[0], metrics=metrics, log=Log(print), scrub=str
    )
    status.start()
    try:
        with httpx.Client(base_url=status.url, verify=False) as http:
            yield status, current, metrics, http
    finally:
        status.close()


@pytest.fixture
def served(server: Served) -> Served:
    """The module's server, showing a snapshot before any run."""
    server[1][0] = snapshot()
    return server


def test_readyz_follows_the_last_successful_observation(served: Any) -> None:
    _server, current, _metrics, http = served
    assert http.get("/healthz").text == "ok\n"
    not_yet = http.get("/readyz")
    assert (not_yet.status_code, not_yet.text) == (
        503,
        "not ready: the target has not been observed yet\n",
    )
    current[0] = snapshot(last_success_monotonic=time.monotonic())
    assert http.get("/readyz").status_code == 200
    # Two intervals (20 s here) without a successful observation: not ready.
    current[0] = snapshot(last_success_monotonic=time.monotonic() - 21)
    stale = http.get("/readyz")
    assert stale.status_code == 503 and "last two intervals" in stale.text


def test_metrics_are_the_prometheus_text_format_of_a_registry_of_their_own(
    served: Any,
) -> None:
    _server, _current, metrics, http = served
    metrics.record(
        snapshot(result="drift", run=1, remaining=(ENABLE,), last_success_at=1.7e9, duration=0.2),
        True,
    )
    metrics.record(snapshot(result="error", run=2, duration=0.1), False)
    answer = http.get("/metrics")
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    assert samples[("reconcile_drift_actions", (("kind", "enable"),))] == 1
    assert samples[("reconcile_drift_actions", (("kind", "delete"),))] == 0
    assert samples[("reconcile_runs_total", (("result", "drift"),))] == 1
    assert samples[("reconcile_runs_total", (("result", "healed"),))] == 0
    assert samples[("reconcile_fetch_failures_total", ())] == 1
    assert samples[("reconcile_last_success_timestamp_seconds", ())] == 1.7e9
    assert samples[("reconcile_run_duration_seconds_count", ())] == 2
    assert not any(name.startswith(("python_", "process_")) for name, _ in samples)


def test_unknown_paths_404_head_has_no_body_and_headers_forbid_scripts(served: Any) -> None:
    _server, _current, _metrics, http = served
    assert http.get("/nope").status_code == 404
    head = http.head("/")
    assert head.status_code == 200 and head.content == b""
    page_answer = http.get("/?refresh=1")
    assert page_answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert page_answer.headers["cache-control"] == "no-store"
    assert http.post("/metrics").status_code == 501


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:9100", ("127.0.0.1", 9100)),
        (":9100", ("0.0.0.0", 9100)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:8080", ("localhost", 8080)),
    ],
)
def test_listen_addresses(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["9100", "host:", "host:http", "host:70000"])
def test_bad_listen_addresses(value: str) -> None:
    with pytest.raises(UsageError, match="expected HOST:PORT"):
        parse_listen(value)


# --- the guard ---------------------------------------------------------------------------------


class _Target:
    description = "fake"
    capabilities = Capabilities(observes=frozenset())

    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.release = threading.Event()

    def observe(self, aliases: AliasScope | None = NO_ALIASES) -> Observed:
        return Observed(providers=(), capabilities=self.capabilities)

    def delete(self, provider_id: str) -> None:
        self.release.wait(10)
        self.deleted.append(provider_id)


def test_writes_in_flight_finish_and_no_new_write_starts_once_stopping() -> None:
    target = _Target()
    stop = threading.Event()
    guard = GuardedTarget(target, stop)  # type: ignore[arg-type]
    writer = threading.Thread(target=guard.delete, args=("1",))
    writer.start()
    deadline = time.monotonic() + 10
    while not guard.writing:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    stop.set()
    with pytest.raises(Stopping, match="not started: the watch is stopping"):
        guard.delete("2")
    assert guard.observe().providers == ()  # reads still pass
    target.release.set()
    writer.join(10)
    assert target.deleted == ["1"] and not guard.writing


# --- a run never raises -----------------------------------------------------------------------


def test_a_bug_in_a_run_is_an_error_run_and_the_next_run_goes_on(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler import config
    from reconciler.watch import loop

    (tmp_path / "providers.yaml").write_text("version: 1\nproviders: []\n")
    lines: list[str] = []
    settings = loop.Settings(
        files=(str(tmp_path / "providers.yaml"),),
        interval=0.1,
        target_url=f"sqlite:///{tmp_path / 'state.db'}",
    )
    desired = config.load(list(settings.files))
    watcher = loop.Watcher(settings, desired, log=Log(lines.append))
    calls = iter([ZeroDivisionError("division by zero")])

    def make_plan(*args: Any) -> Any:
        raise next(calls)

    with monkeypatch.context() as patch:
        patch.setattr(loop, "make_plan", make_plan)
        first = watcher.run_once()
    assert (first.result, first.error) == (
        "error",
        "internal error (a bug in reconciler): ZeroDivisionError: division by zero",
    )
    assert " ERROR   internal error (a bug in reconciler): ZeroDivisionError" in lines[0]
    second = watcher.run_once()
    assert second.result == "in_sync" and second.run == 2
    assert second.last_error == first.error
    watcher.close()


def test_a_catalog_drift_gauge_goes_back_to_zero_once_in_sync(served: Any) -> None:
    _server, _current, metrics, http = served
    tier = Change(kind="tier", provider="OpenAI", words=("tier1 → OpenAI/gpt-4o",))
    metrics.record(snapshot(result="drift", run=1, remaining=(tier,), duration=0.1), True)
    metrics.record(snapshot(result="in_sync", run=2, duration=0.1), True)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(http.get("/metrics").text)
        for s in family.samples
    }
    for kind in ("tier", "aliases", "model_settings"):
        assert samples[("reconcile_drift_actions", (("kind", kind),))] == 0
