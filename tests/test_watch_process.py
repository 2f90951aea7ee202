"""``reconcile watch`` as a process: it serves, gets ready, and SIGTERM ends it with exit 0."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx

from tests.sandbox import running_sandbox

ROOT = Path(__file__).resolve().parent.parent
_DEADLINE = 30.0


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def test_sigterm_stops_the_watch_with_exit_0(tmp_path: Path) -> None:
    (tmp_path / "providers.yaml").write_text("version: 1\nproviders: []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILE", "CLARAVERSE"))}
    with running_sandbox(tmp_path / "sandbox.db") as sandbox:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "reconciler", "watch", "--target", sandbox.url),
                *("--interval", "0.1", "--listen", "127.0.0.1:0", "--log-format", "json"),
            ],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(ROOT), "CLARAVERSE_TOKEN": sandbox.admin},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True)
        reader.start()
        try:
            records = []
            # Port 0: the log says which port it got.
            while not any(r["event"] == "listening" for r in records):
                records.append(json.loads(lines.get(timeout=_DEADLINE)))
            url = next(r for r in records if r["event"] == "listening")["message"].split()[-1]
            deadline = time.monotonic() + _DEADLINE
            with httpx.Client(verify=False) as http:
                while http.get(f"{url}/readyz").status_code != 200:
                    assert time.monotonic() < deadline, "never ready"
                    time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=_DEADLINE)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            reader.join(_DEADLINE)
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()
    while not lines.empty():
        records.append(json.loads(lines.get()))
    assert code == 0, records
    events = [r["event"] for r in records]
    assert events[0] == "started"
    assert events[-1] == "stopped", records
    # After "stopping", only the run that was under way (if one was) may still finish.
    assert set(events[events.index("stopping") + 1 : -1]) <= {"run"}, records
    assert "Traceback" not in json.dumps(records)
