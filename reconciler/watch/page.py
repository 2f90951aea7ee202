"""The status page: a read-only HTML view of the latest run, rendered on the server.

No JavaScript: a ``<meta refresh>`` reloads it, so it works in any browser, in a text
browser, and for a script that fetches it. Every value is scrubbed, then HTML-escaped
(attributes included), so that a provider name or a server's message cannot inject
markup; the Content-Security-Policy the server sends forbids scripts besides.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from reconciler.watch.state import Snapshot

_RESULT_WORDS = {
    "in_sync": "in sync",
    "drift": "drift",
    "healed": "healed",
    "error": "error",
    None: "not run yet",
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem;
  color: #1d1d1f; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; } table.facts { width: auto; }
th, td { text-align: left; vertical-align: top; padding: .35rem .6rem;
  border-bottom: 1px solid #ddd; }
code, pre { font-family: ui-monospace, monospace; font-size: .9em; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .6rem; }
ul { margin: 0; padding-left: 1.1rem; }
.banner { padding: .6rem 1rem; border-radius: .3rem; font-weight: 600; }
.in_sync, .healed { background: #e6f4ea; } .drift, .drifted { background: #fff4ce; }
.error { background: #fde7e9; } .unmanaged { color: #666; }
"""


def render(snapshot: Snapshot, *, ready: bool, scrub: Callable[[str], str]) -> str:
    """The page for ``snapshot``; ``ready`` is what /readyz answers now."""

    def e(value: object) -> str:
        return html.escape(scrub(str(value)), quote=True)

    result = snapshot.result
    mode = "self-heal" if snapshot.self_heal else "detect only"
    refresh = int(min(60, max(5, snapshot.interval)))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>reconcile watch: {e(_RESULT_WORDS[result])}</title>",
        f'<meta http-equiv="refresh" content="{refresh}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>reconcile watch</h1>",
        f"<p>Target <code>{e(snapshot.target)}</code>, every {e(f'{snapshot.interval:g}')} s, "
        f"{e(mode)}. Ready: {'yes' if ready else 'no'}.</p>",
        f'<p id="result" class="banner {e(result or "none")}">{e(_headline(snapshot))}</p>',
        *_last_run(snapshot, e),
        *_providers(snapshot, e),
        *_errors(snapshot, e),
        *_warnings(snapshot, e),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _headline(snapshot: Snapshot) -> str:
    count = len(snapshot.remaining)
    changes = f"{count} change{'s' if count != 1 else ''}"
    if snapshot.result is None:
        return "Not run yet."
    if snapshot.result == "error":
        return "Error: see the last error below."
    if snapshot.result == "healed":
        return f"Healed: applied {len(snapshot.changes)} to match the configuration."
    if snapshot.result == "drift":
        return f"Drift: the target differs from the configuration by {changes}."
    return "In sync: the target matches the configuration."


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _last_run(snapshot: Snapshot, e: Callable[[object], str]) -> Iterable[str]:
    yield '<h2>Last run</h2><table class="facts">'
    rows = [
        ("Run", str(snapshot.run)),
        ("Started", _when(snapshot.started_at)),
        ("Result", _RESULT_WORDS[snapshot.result]),
        ("Took", f"{snapshot.duration:.2f} s"),
        ("Next run in", f"{snapshot.next_run_in:.1f} s"),
        ("Last successful observation", _when(snapshot.last_success_at)),
    ]
    for label, value in rows:
        yield f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>"
    yield "</table>"
    if snapshot.result == "healed" and snapshot.changes:
        yield "<p>Healed in this run:</p><ul>"
        yield from (f"<li>{e(c.line)}</li>" for c in snapshot.changes)
        yield "</ul>"
    for note in snapshot.notes:
        yield f"<p>{e(note)}</p>"


def _providers(snapshot: Snapshot, e: Callable[[object], str]) -> Iterable[str]:
    yield "<h2>Providers</h2>"
    if not snapshot.providers:
        yield "<p>None observed yet.</p>"
        return
    yield '<table id="providers"><thead><tr><th>Provider</th><th>State</th><th>Change</th>'
    yield "</tr></thead><tbody>"
    words = {"in_sync": "in sync", "drifted": "drifted", "unmanaged": "unmanaged (left alone)"}
    for p in snapshot.providers:
        changes = "".join(f"<li>{e(line)}</li>" for line in p.changes)
        yield (
            f'<tr class="{e(p.state)}" data-provider="{e(p.name)}" data-state="{e(p.state)}">'
            f"<td>{e(p.name)}</td><td>{e(words[p.state])}</td>"
            f"<td>{f'<ul>{changes}</ul>' if changes else ''}</td></tr>"
        )
    yield "</tbody></table>"


def _errors(snapshot: Snapshot, e: Callable[[object], str]) -> Iterable[str]:
    yield "<h2>Last error</h2>"
    if snapshot.last_error is None:
        yield "<p>None.</p>"
    else:
        current = "" if snapshot.error is not None else " (since resolved)"
        yield f"<p>At {e(_when(snapshot.last_error_at))}{e(current)}:</p>"
        yield f'<pre id="last-error">{e(snapshot.last_error)}</pre>'


def _warnings(snapshot: Snapshot, e: Callable[[object], str]) -> Iterable[str]:
    yield "<h2>Configuration</h2>"
    if snapshot.config_error is not None:
        yield "<p>The files do not validate; the last good configuration stays in charge:</p>"
        yield f'<pre id="config-error">{e(snapshot.config_error)}</pre>'
    else:
        yield "<p>The files validate.</p>"
    if snapshot.warnings:
        yield '<p>Warnings:</p><ul id="warnings">'
        yield from (f"<li>{e(w)}</li>" for w in snapshot.warnings)
        yield "</ul>"
