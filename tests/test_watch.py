"""``reconcile watch`` against the sandbox server: the loop runs in this process, in a
thread (``Service``), so that each test injects drift through the sandbox's admin API,
waits for what the watch reports (polling, with a generous deadline), and stops it.

Intervals are 0.1 s. "Within two intervals" is asserted in runs, not seconds: the first
run that reports the drift is at most two runs after the one that had finished when the
drift was injected, however slow the machine.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from reconciler import config
from reconciler.commands import watch as command
from reconciler.commands.common import Console
from reconciler.core.plan import Options
from reconciler.secrets import encoded_forms, scrubbing_run
from reconciler.targets.base import TargetOptions
from reconciler.watch.logs import Log
from reconciler.watch.loop import Settings
from reconciler.watch.service import Service
from tests.faults import Rule
from tests.sandbox import KEYS, OPENAI_KEY, Sandbox, reconcile, running_sandbox
from tests.servers import running

T = TypeVar("T")
INTERVAL = 0.1
HOOK_PATH = "/services/T000/B000/hook-SECRET-token-0123456789"

PROVIDERS = """\
version: 1
providers:
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    api_key: ${E2E_OPENAI_KEY}
    fetch_models: false
  - name: Local
    type: openai
    base_url: http://127.0.0.1:11434/v1
    enabled: false
"""


def until(condition: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
    """Poll ``condition`` until it returns something true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Served:
    """What a module's tests share: the sandbox, the webhook receiver and a client."""

    sandbox: Sandbox
    hook_url: str
    hooks: list[dict[str, Any]]
    http: httpx.Client


@dataclass
class Watching:
    """A running watch over the sandbox, and everything it said."""

    service: Service
    served_by: Served | None  # None: an embedded store, no sandbox
    file: Path
    logs: list[str]

    @property
    def served(self) -> Served:
        assert self.served_by is not None
        return self.served_by

    @property
    def sandbox(self) -> Sandbox:
        return self.served.sandbox

    @property
    def hooks(self) -> list[dict[str, Any]]:
        return self.served.hooks

    @property
    def url(self) -> str:
        assert self.service.url is not None
        return self.service.url

    def get(self, path: str) -> httpx.Response:
        return self.served.http.get(f"{self.url}{path}")

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.logs)]

    def runs(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["event"] == "run"]

    def last_run(self) -> int:
        return self.service.watcher.snapshot.run

    def first_run_with(self, result: str, after: int) -> int:
        """The number of the first run after ``after`` with ``result`` (waiting for it)."""
        return until(
            lambda: next(
                (r["run"] for r in self.runs() if r["run"] > after and r["result"] == result),
                None,
            ),
            f"a run with result {result}",
        )

    def metric(self, name: str, **labels: str) -> float:
        for family in text_string_to_metric_families(self.get("/metrics").text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        raise AssertionError(f"{name} {labels} not in /metrics")

    def drift_total(self) -> float:
        families = text_string_to_metric_families(self.get("/metrics").text)
        (family,) = [f for f in families if f.name == "reconcile_drift_actions"]
        return sum(s.value for s in family.samples)

    def provider_id(self, name: str) -> int:
        return next(p.id for p in self.sandbox.store.providers() if p.name == name)

    def toggle(self, name: str, enabled: bool) -> None:
        """Drift made by hand, as an admin clicking in the panel would."""
        answer = self.served.http.put(
            f"{self.sandbox.url}/api/admin/providers/{self.provider_id(name)}/toggle",
            json={"enabled": enabled},
            headers={"authorization": f"Bearer {self.sandbox.admin}"},
        )
        assert answer.status_code == 200

    def enabled(self, name: str) -> bool:
        return next(p.enabled for p in self.sandbox.store.providers() if p.name == name)


def hook_receiver() -> tuple[Starlette, list[dict[str, Any]]]:
    """A loopback stand-in for Slack's incoming webhook: keeps every JSON body."""
    bodies: list[dict[str, Any]] = []

    async def hook(request: Request) -> PlainTextResponse:
        bodies.append(json.loads(await request.body()))
        return PlainTextResponse("ok")

    return Starlette(routes=[Route(HOOK_PATH, hook, methods=["POST"])]), bodies


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One sandbox and one receiver for the module (each start and stop costs ~0.2 s)."""
    app, hooks = hook_receiver()
    path = tmp_path_factory.mktemp("watch") / "sandbox.db"
    # verify=False: no TLS on loopback, and loading the CA bundle costs ~70 ms a client.
    with (
        running_sandbox(path) as sandbox,
        running(app) as hook_url,
        httpx.Client(verify=False) as http,
    ):
        yield Served(sandbox, hook_url, hooks, http)


@pytest.fixture
def fresh(served: Served) -> Served:
    """The module's sandbox with no provider, no fault and no webhook received."""
    with served.sandbox.store.transaction() as c:
        c.execute("DELETE FROM providers")
    served.sandbox.faults.clear()
    served.hooks.clear()
    return served


@contextmanager
def watching(
    served: Served,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    self_heal: bool = False,
    text: str = PROVIDERS,
) -> Iterator[Watching]:
    """The file applied to the sandbox, then ``text`` in its place and a watch over it."""
    sandbox = served.sandbox
    file = tmp_path / "providers.yaml"
    file.write_text(PROVIDERS, encoding="utf-8")
    applied = reconcile("apply", "-f", str(file), "--yes", sandbox=sandbox)
    assert applied.returncode == 0, applied.stderr
    file.write_text(text, encoding="utf-8")
    sandbox.faults.clear()
    monkeypatch.setenv("CLARAVERSE_TOKEN", sandbox.admin)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    logs: list[str] = []
    with scrubbing_run():
        settings = Settings(
            files=(str(file),), interval=INTERVAL, target_url=sandbox.url, self_heal=self_heal
        )
        service = Service(
            settings,
            config.load([str(file)]),
            log=Log(logs.append, format="json"),
            listen=("127.0.0.1", 0),
            webhook=f"{served.hook_url}{HOOK_PATH}",
        )
        service.start()
        try:
            yield Watching(service, served, file, logs)
        finally:
            assert service.stop()


class _Rows(HTMLParser):
    """The status page's provider rows: name → (state, the text of each cell)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, tuple[str, list[str]]] = {}
        self._row: tuple[str, str] | None = None
        self._cells: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-provider"):
            self._row = (str(found["data-provider"]), str(found["data-state"]))
            self._cells = []
        elif tag == "td" and self._row is not None:
            self._cells.append("")

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cells:
            self._cells[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None:
            name, state = self._row
            self.rows[name] = (state, self._cells)
            self._row = None


def page_rows(w: Watching) -> dict[str, tuple[str, list[str]]]:
    answer = w.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    parser = _Rows()
    parser.feed(answer.text)
    return parser.rows


# --- detect only ----------------------------------------------------------------------------


def test_drift_is_reported_within_two_runs_and_nothing_is_written(
    fresh: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with watching(fresh, tmp_path, monkeypatch) as w:
        w.first_run_with("in_sync", after=0)
        assert w.get("/readyz").status_code == 200
        assert w.get("/healthz").text == "ok\n"
        assert w.drift_total() == 0
        before = w.last_run()
        w.toggle("OpenAI", enabled=False)
        landed = w.last_run()  # the run under way when the drift landed may miss it
        first = w.first_run_with("drift", after=before)
        assert first <= landed + 2
        drift = [r for r in w.records() if r["event"] == "drift"]
        assert [(r["provider"], r["kind"], r["message"]) for r in drift] == [
            ("OpenAI", "enable", "drift: enable OpenAI")
        ]
        assert w.metric("reconcile_drift_actions", kind="enable") == 1
        assert w.metric("reconcile_runs_total", result="drift") >= 1
        assert w.metric("reconcile_last_success_timestamp_seconds") > time.time() - 60
        rows = page_rows(w)
        assert rows["OpenAI"] == ("drifted", ["OpenAI", "drifted", "enable OpenAI"])
        assert rows["Local"] == ("in_sync", ["Local", "in sync", ""])
        # Another run or two, and the drift is neither fixed nor logged again.
        w.first_run_with("drift", after=first + 1)
        assert not w.enabled("OpenAI")
        pid = w.provider_id("OpenAI")
        assert w.sandbox.faults.writes() == [("PUT", f"/api/admin/providers/{pid}/toggle", 200)]
        assert len([r for r in w.records() if r["event"] == "drift"]) == 1
        until(lambda: w.hooks, "the webhook")
        assert [h["reconcile"]["event"] for h in w.hooks] == ["drift"]
        assert w.hooks[0]["text"].startswith(":warning: Drift on `http://127.0.0.1:")
        assert "• enable OpenAI" in w.hooks[0]["text"]
        assert w.hooks[0]["reconcile"]["changes"] == [
            {"kind": "enable", "provider": "OpenAI", "words": ["enable OpenAI"]}
        ]


def test_a_target_that_fails_is_reported_retried_and_recovers(
    fresh: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with watching(fresh, tmp_path, monkeypatch) as w:
        first = w.first_run_with("in_sync", after=0)
        # A 400 is not retried by the client: the observation fails, once.
        w.sandbox.faults.rules.append(Rule("400", method="GET", path=r"^/api/admin/providers$"))
        failed = w.first_run_with("error", after=first)
        w.first_run_with("in_sync", after=failed)
        (error,) = [r for r in w.records() if r["event"] == "target_error"]
        assert error["level"] == "warning"
        assert error["message"].startswith("GET /api/admin/providers answered 400: ")
        assert "(attempt 1; next in" in error["message"]
        assert w.metric("reconcile_fetch_failures_total") == 1
        assert w.metric("reconcile_runs_total", result="error") == 1
        until(lambda: len(w.hooks) >= 2, "two webhooks")
        assert [h["reconcile"]["event"] for h in w.hooks] == ["error", "in_sync"]


def test_a_file_that_stops_validating_keeps_the_last_good_configuration(
    fresh: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with watching(fresh, tmp_path, monkeypatch, self_heal=True) as w:
        first = w.first_run_with("in_sync", after=0)
        # Half a file, as an editor saving it would leave it for an instant.
        w.file.write_text(PROVIDERS[: PROVIDERS.index("api_key") + 6], encoding="utf-8")
        broken = w.first_run_with("error", after=first)
        snapshot = w.service.watcher.snapshot
        assert snapshot.config_error is not None
        assert snapshot.last_success_at is not None  # the target is still observed
        assert w.metric("reconcile_config_valid") == 0
        # Drift while the file is broken is reported, not healed.
        w.toggle("OpenAI", enabled=False)
        until(lambda: any(r["event"] == "drift" for r in w.records()), "the drift to be reported")
        until(
            lambda: "not healed: the files do not validate" in w.service.watcher.snapshot.notes,
            "the note",
        )
        assert not w.enabled("OpenAI")
        assert page_rows(w)["OpenAI"][0] == "drifted"
        w.file.write_text(PROVIDERS, encoding="utf-8")
        w.first_run_with("healed", after=broken)
        assert w.enabled("OpenAI")
        assert w.metric("reconcile_config_valid") == 1
        events = [r["event"] for r in w.records()]
        assert events.index("config_error") < events.index("config_valid")


# --- self-heal ---------------------------------------------------------------------------------


def test_self_heal_restores_drift_and_the_gauge_falls_to_zero(
    fresh: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with watching(fresh, tmp_path, monkeypatch, self_heal=True) as w:
        first = w.first_run_with("in_sync", after=0)
        pid = w.provider_id("OpenAI")
        # Heals fail (a 400 the client does not retry, on every write) until the faults
        # are cleared: the drift stays, counted.
        w.sandbox.faults.rules.extend(
            Rule("400", method="PUT", path=rf"^/api/admin/providers/{pid}$") for _ in range(100)
        )
        w.toggle("OpenAI", enabled=False)
        failed = w.first_run_with("error", after=first)
        assert w.metric("reconcile_drift_actions", kind="enable") == 1
        failure = f"enable OpenAI: PUT /api/admin/providers/{pid} answered 400: injected fault"
        assert w.service.watcher.snapshot.error == f"healing failed: {failure}"
        w.sandbox.faults.clear()
        healed = w.first_run_with("healed", after=failed)
        assert w.enabled("OpenAI")
        assert w.drift_total() == 0
        assert w.metric("reconcile_runs_total", result="healed") == 1
        assert page_rows(w)["OpenAI"] == ("in_sync", ["OpenAI", "in sync", ""])
        w.first_run_with("in_sync", after=healed)
        until(lambda: len(w.hooks) >= 2, "two webhooks")
        assert [h["reconcile"]["event"] for h in w.hooks] == ["error", "healed"]
        assert w.hooks[1]["text"].startswith(":white_check_mark: Healed drift on `http://")
        messages = [r["message"] for r in w.records()]
        assert "healed: enable OpenAI" in messages
        assert (
            f"enable OpenAI: PUT /api/admin/providers/{pid} answered 400: injected fault"
            in messages
        )


def test_a_refused_plan_is_reported_and_never_applied(
    fresh: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai = PROVIDERS[PROVIDERS.index("  - name: OpenAI") : PROVIDERS.index("  - name: Local")]
    absent = PROVIDERS.replace(openai, "  - name: OpenAI\n    ensure: absent\n")
    with watching(fresh, tmp_path, monkeypatch, self_heal=True, text=absent) as w:
        w.first_run_with("error", after=0)
        snapshot = w.service.watcher.snapshot
        assert snapshot.error is not None
        assert snapshot.error.startswith("the plan is refused, so it is not applied: refusing")
        assert w.sandbox.faults.writes() == []
        assert "OpenAI" in w.sandbox.names()
        assert page_rows(w)["OpenAI"][0] == "drifted"
        until(lambda: w.hooks, "the webhook")
        assert w.hooks[0]["reconcile"]["event"] == "error"


def test_no_key_reaches_a_log_line_a_metric_the_page_or_a_webhook(
    fresh: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with watching(fresh, tmp_path, monkeypatch, self_heal=True) as w:
        first = w.first_run_with("in_sync", after=0)
        w.toggle("OpenAI", enabled=False)
        w.first_run_with("healed", after=first)  # the heal sent the key to the server
        until(lambda: w.hooks, "the webhook")
        seen = [
            *w.logs,
            *(json.dumps(h) for h in w.hooks),
            *(w.get(path).text for path in ("/", "/metrics", "/readyz")),
        ]
    text = "\n".join(seen)
    for form in encoded_forms(OPENAI_KEY):
        assert form not in text
    # Nor the webhook URL's secret path: only its scheme and host are ever named.
    assert "hook-SECRET" not in text
    messages = [json.loads(line)["message"] for line in w.logs]
    assert "webhook: sent healed to http://127.0.0.1" in messages


# --- the command, in a thread -----------------------------------------------------------------


def test_the_command_runs_until_stopped_and_exits_0(
    fresh: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = fresh.sandbox
    file = tmp_path / "providers.yaml"
    file.write_text(PROVIDERS, encoding="utf-8")
    assert reconcile("apply", "-f", str(file), "--yes", sandbox=sandbox).returncode == 0
    monkeypatch.setenv("CLARAVERSE_TOKEN", sandbox.admin)
    monkeypatch.setenv("E2E_OPENAI_KEY", OPENAI_KEY)
    lines: list[str] = []
    stop = threading.Event()
    codes: list[int] = []

    def run() -> None:
        codes.append(
            command.watch(
                [str(file)],
                target_url=sandbox.url,
                target_options=TargetOptions(),
                options=Options(),
                interval=INTERVAL,
                self_heal=False,
                listen=None,
                webhook=None,
                log_format="text",
                console=Console(write_err=lines.append),
                stop=stop,
            )
        )

    thread = threading.Thread(target=run)
    thread.start()
    until(lambda: any(" INFO    run 2: in sync (" in line for line in lines), "two runs")
    stop.set()
    thread.join(10)
    assert codes == [0]
    assert lines[0].endswith(f"watching {sandbox.url} every 0.1 s, reporting drift (detect only)\n")
    assert lines[-1].endswith(" INFO    stopped\n")


def test_watch_refuses_an_invalid_file_at_start_and_bad_options(tmp_path: Path) -> None:
    from tests.inprocess import run

    (tmp_path / "providers.yaml").write_text("version: 1\nproviders: [{name: X}]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILE", "CLARAVERSE"))}
    broken = run("watch", "--interval", "1", env=env)
    assert broken.returncode == 1
    assert broken.stderr.startswith("Error: 1 error in the configuration:")
    (tmp_path / "providers.yaml").write_text("version: 1\nproviders: []\n")
    listen = run("watch", "--interval", "1", "--listen", "nowhere", env=env)
    assert listen.returncode == 1
    assert "--listen nowhere: expected HOST:PORT, e.g. 127.0.0.1:9100" in listen.stderr
    hook = run("watch", "--interval", "1", "--webhook", "file:///etc/passwd", env=env)
    assert hook.returncode == 1
    assert "--webhook: expected an http:// or https:// URL" in hook.stderr
    missing = run("watch", env=env)
    assert missing.returncode == 1
    assert "Missing option '--interval'" in missing.stderr


# --- a real browser, where there is one ---------------------------------------------------------


def test_the_status_page_in_a_headless_browser(
    fresh: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import subprocess

    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium to run this)")
    with watching(fresh, tmp_path, monkeypatch) as w:
        before = w.first_run_with("in_sync", after=0)
        w.toggle("OpenAI", enabled=False)
        w.first_run_with("drift", after=before)
        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", f"{w.url}/"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    assert 'data-provider="OpenAI" data-state="drifted"' in dom
    assert "enable OpenAI" in dom


# --- the embedded store ---------------------------------------------------------------------------


def test_the_embedded_store_is_healed_under_its_lock(tmp_path: Path) -> None:
    from reconciler.targets.sqlite import SqliteTarget, Store

    file = tmp_path / "providers.yaml"
    file.write_text(
        "version: 1\nproviders:\n  - name: Local\n    type: openai\n"
        "    base_url: http://127.0.0.1:11434/v1\n    fetch_models: false\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'state.db'}"
    applied = reconcile("apply", "-f", str(file), "--target", url, "--yes")
    assert applied.returncode == 0, applied.stderr
    logs: list[str] = []
    with scrubbing_run():
        settings = Settings(files=(str(file),), interval=INTERVAL, target_url=url, self_heal=True)
        service = Service(settings, config.load([str(file)]), log=Log(logs.append, format="json"))
        w = Watching(service, None, file, logs)
        holder = SqliteTarget(tmp_path / "state.db")
        store = Store(tmp_path / "state.db")
        service.start()
        try:
            first = w.first_run_with("in_sync", after=0)
            # An apply holds the lock: the drift is reported, and left to a later run.
            with holder.lock(0):
                store.update_provider(store.providers()[0].id, enabled=False)
                held = w.first_run_with("drift", after=first)
                note = w.service.watcher.snapshot.notes
                assert note == (
                    f"not healed this run: another apply holds the lock on {tmp_path}/state.db; "
                    "the next run tries again",
                )
                assert not store.providers()[0].enabled
            w.first_run_with("healed", after=held)
            assert store.providers()[0].enabled
        finally:
            assert service.stop()
            holder.close()
            store.close()
    # Reported once, though it lasted several runs.
    assert [r["message"] for r in w.records() if r["event"] == "drift"] == ["drift: enable Local"]
