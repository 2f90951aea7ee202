"""Plans as GitHub-flavoured Markdown, for pull-request comments. Returns strings.

A comment is read on GitHub, so two things matter: colour and containment.

- Colour: a ```diff block colours only lines that start with ``+`` (green), ``-`` (red)
  and ``!`` (orange, as Atlantis uses it for changes); any other line is grey. So a
  changed value is a ``-`` old / ``+`` new pair, every other change is a ``!`` line, and a
  delete is red in its provider's block as well as in the Deletes section.
- Containment: names, URLs, model ids, reasons and warnings come from files, targets and
  upstreams, and any of them may hold a newline, a backtick fence, ``<!--`` or a bidi
  override. No value may leave its place: inside a fenced block every character that is
  not printable becomes a visible escape (``\\n``, ``\\u202e``) and the fence is longer
  than any backtick run in the block; outside blocks values are code spans, or text with
  Markdown and HTML escaped; in the raw HTML of ``<summary>`` they are HTML-escaped.

Each value is scrubbed of the run's secrets before it is escaped (an escape could split a
key, and the final ``scrub`` would then miss it), and the whole text once more at the end.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from reconciler.core.model import redact_url
from reconciler.core.plan import Action, FieldChange, Plan, count_models
from reconciler.output.escape import visible
from reconciler.output.render import (
    action_lines,
    declared_settings,
    key_desc,
    push_lines,
    retries_line,
    summary_line,
)
from reconciler.output.render_catalog import (
    CATALOG_KINDS,
    catalog_diff_lines,
    delete_text,
    short_quoted,
)
from reconciler.secrets import scrub

__all__ = [
    "code_span",
    "diff_lines",
    "error_markdown",
    "fenced",
    "html_text",
    "md_text",
    "plan_markdown",
    "visible",
]

HEADING = "### reconcile plan"

# Markdown syntax anywhere in a line: GitHub's math ($...$) included, and the colon of a
# URL and the dot of ``www.``, which GitHub would turn into links. An underscore inside a
# word (between letters or digits: api_key) never emphasises, and stays as it is.
_INLINE_SYNTAX = re.compile(
    r"([\\`*\[\]<>&|~$]|(?<![^\W_])_|_(?![^\W_])|:(?=//)|(?<=www)\.)", re.IGNORECASE
)
# Syntax only where a value starts a line or a list item: a heading, a list, a quote.
_LINE_START = re.compile(r"^(?:([#+\-=>])|(\d+)([.)]))")
_BACKTICKS = re.compile(r"`+")


def md_text(text: str) -> str:
    """A value as literal Markdown text (list items, paragraphs): one line, Markdown and
    HTML escaped, so that it renders as written and opens nothing."""
    out = _INLINE_SYNTAX.sub(lambda m: "\\" + m[0], visible(scrub(text)))
    out = _LINE_START.sub(lambda m: "\\" + m[1] if m[1] else f"{m[2]}\\{m[3]}", out, count=1)
    stripped = out.lstrip(" ")
    # Leading spaces would make the rest of a list item an indented code block.
    return "&#32;" * (len(out) - len(stripped)) + stripped


def html_text(text: str) -> str:
    """A value inside raw HTML (``<summary>``): one line, HTML-escaped."""
    return html.escape(visible(scrub(text)), quote=True)


def code_span(text: str) -> str:
    """A value as an inline code span: literal whatever it holds, and no mention, link or
    emoji is made of it."""
    content = visible(scrub(text)) or " "  # `` would not be a code span
    ticks = "`" * (_longest_backtick_run([content]) + 1)
    if content.startswith(("`", " ")) or content.endswith(("`", " ")):
        content = f" {content} "  # Markdown strips one space from each side
    return f"{ticks}{content}{ticks}"


def fenced(info: str, lines: Iterable[str]) -> list[str]:
    """A fenced code block around ``lines`` (already made visible) that none can close."""
    body = list(lines)
    fence = "`" * max(3, _longest_backtick_run(body) + 1)
    return [f"{fence}{info}", *body, fence]


def _longest_backtick_run(lines: Iterable[str]) -> int:
    return max((len(run) for line in lines for run in _BACKTICKS.findall(line)), default=0)


def plan_markdown(plan: Plan, *, target: str, environment: str | None = None) -> str:
    """The plan for a pull-request comment: counts, deletes first, one folded block of
    coloured diff lines per provider."""
    where = f" (environment {code_span(environment)})" if environment else ""
    out = [
        HEADING,
        "",
        f"Target: {code_span(target)}{where}",
        "",
        f"**{md_text(summary_line(plan))}**",
        "",
    ]
    deletes = [a for a in plan.changes if a.kind == "delete"]
    if deletes:
        out.extend(["#### :warning: Deletes", ""])
        out.extend(
            f"- **{code_span(a.provider)}** "
            f"{md_text(delete_text(a).removeprefix(a.provider).strip())} "
            f"({md_text(a.reason or '')})"
            for a in deletes
        )
        out.append("")
    # Notes (what the target cannot compare, a store not made yet) are not warnings: the
    # text plan says "Note:", and a reviewer should not be alarmed by them.
    for title, lines in (("Notes", plan.notes), ("Warnings", plan.warnings)):
        if lines:
            out.extend([f"#### {title}", ""])
            out.extend(f"- {md_text(w)}" for w in lines)
            out.append("")
    for line in (retries_line(plan), *push_lines(plan)):
        if line:
            out.extend([md_text(line), ""])
    by_provider: dict[str, list[Action]] = {}
    for a in plan.changes:
        by_provider.setdefault(a.provider, []).append(a)
    for name, actions in by_provider.items():
        out.extend(_provider_block(name, actions))
    if plan.unmanaged:
        names = ", ".join(code_span(n) for n in plan.unmanaged)
        out.extend([f"Unmanaged (left alone; `--prune` deletes them): {names}", ""])
    if plan.kept:
        out.append("Unmanaged (ignored by prune; `--prune` never deletes them):")
        out.extend(f"- {code_span(k.name)}: {md_text(k.reason)}" for k in plan.kept)
        out.append("")
    return scrub("\n".join(out))


def _provider_block(name: str, actions: list[Action]) -> list[str]:
    """One provider's changes, folded: ``<details>`` around a diff block."""
    kinds = ", ".join(dict.fromkeys(a.kind for a in actions))
    lines = [f"{marker} {visible(scrub(text))}" for a in actions for marker, text in diff_lines(a)]
    return [
        f"<details><summary><b>{html_text(name)}</b>: {kinds}</summary>",
        "",
        *fenced("diff", lines),
        "",
        "</details>",
        "",
    ]


_DETAIL = "    "  # detail lines are indented under their action's line


def diff_lines(action: Action) -> list[tuple[str, str]]:
    """(marker, text) lines of one action: ``+`` adds, ``-`` removes, ``!`` changes."""
    a = action
    if a.kind in CATALOG_KINDS:
        return catalog_diff_lines(a)
    head = action_lines(a)[1][0]
    if a.kind == "create":
        assert a.spec is not None
        details = [f"api_key: {key_desc(a)}"]
        details.extend(f"{n}: {_value(n, v)}" for n, v in declared_settings(a.spec))
        return [("+", head), *(("+", _DETAIL + d) for d in details)]
    if a.kind == "update":
        return [("!", f"update {a.provider}"), *_change_lines(a.changes)]
    if a.kind == "models" and not a.after_fetch:
        out = [("!", f"models of {a.provider}")]
        if a.show:
            out.append(("+", f"{_DETAIL}show {count_models(len(a.show))}: {', '.join(a.show)}"))
        if a.hide:
            out.append(("-", f"{_DETAIL}hide {count_models(len(a.hide))}: {', '.join(a.hide)}"))
        return out
    if a.kind == "delete":
        return [("-", head)]
    return [("!", head)]


def _change_lines(changes: Iterable[FieldChange]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for c in changes:
        if c.field == "api_key":
            # Never values: "set", "removed" or "changed".
            marker = {"set": "+", "removed": "-"}.get(str(c.after), "!")
            out.append((marker, f"{_DETAIL}api_key: {c.after}"))
            continue
        out.append(("-", f"{_DETAIL}{c.field}: {_value(c.field, c.before)}"))
        out.append(("+", f"{_DETAIL}{c.field}: {_value(c.field, c.after)}"))
    return out


def _value(field: str, value: str | bool | None) -> str:
    """A field's value as the file would write it, fit to print on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value or ""
    if field == "base_url":
        # A URL observed on a target may hold credentials or a ?key= query.
        return redact_url(text) if text else "(none)"
    if field in ("system_prompt", "default_model", "favicon"):
        return short_quoted(text)
    return text or "(none)"


def error_markdown(message: str) -> str:
    """A pull-request comment for a plan that could not be made: the message, verbatim
    but contained, in a text block."""
    lines = visible(scrub(message), keep_newlines=True).split("\n")
    return "\n".join(
        [
            HEADING,
            "",
            "**No plan: the configuration or the target needs a fix.**",
            "",
            *fenced("text", lines),
            "",
        ]
    )
