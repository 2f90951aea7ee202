"""A ``Source`` written as a commented providers.yaml, with the report that goes with it.

Keys are written as ``${VAR}`` references only: a variable the source named keeps its
name; a literal key gets ``${<NAME>_API_KEY}``, named as ``reconcile export`` names them
(two providers with the same literal key share one variable). A base URL that holds
credentials or a query is not written either: it becomes ``${<NAME>_BASE_URL}``. Every
other string is written literally (a ``${`` in it is escaped). What could not be carried
is a comment above its provider, and a line of the report.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from reconciler.core.catalog import Alias
from reconciler.core.model import DEFAULT_SETTINGS, SETTING_NAMES, ModelRules, redact_url
from reconciler.importers.common import Imported, Note, Source
from reconciler.output.export import env_name
from reconciler.output.export_catalog import literal
from reconciler.secrets import Secret, remember

LABELS = {
    "claraverse": "ClaraVerse providers.json",
    "litellm": "LiteLLM proxy config",
    "librechat": "LibreChat librechat.yaml",
    "openwebui": "Open WebUI settings",
}
_LONGEST_NAME = 200
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

HEADER = """\
# Imported by `reconcile import` from {file} ({label}).
# Keys are not in this file: set each ${{...}} variable (in CI, from a secret) before plan
# or apply. Notes above a provider say what of the source it does not carry, and why.
"""


@dataclass(frozen=True)
class Written:
    """The file's text; report lines (``file:line: provider 'X': ...``); each variable to
    set, with the providers that use it; how many providers the file declares."""

    text: str
    report: tuple[str, ...]
    variables: tuple[tuple[str, tuple[str, ...]], ...]
    providers: int


@dataclass
class _Variables:
    """The variables the file references, and the names given to literal values."""

    taken: set[str]
    users: dict[str, list[str]] = field(default_factory=dict)
    literals: list[tuple[Secret, str]] = field(default_factory=list)

    def use(self, variable: str, provider: str) -> str:
        users = self.users.setdefault(variable, [])
        if provider not in users:
            users.append(provider)
        return f"${{{variable}}}"

    def for_literal(self, value: Secret, wanted: str, provider: str) -> str:
        """The variable for a literal value: the same value shares one."""
        for known, variable in self.literals:
            if value and known == value:
                return self.use(variable, provider)
        candidate, n = wanted, 2
        while candidate in self.taken:
            candidate = re.sub(r"(_API_KEY|_BASE_URL)$", rf"_{n}\1", wanted)
            n += 1
        self.taken.add(candidate)
        self.literals.append((value, candidate))
        return self.use(candidate, provider)


def write(source: Source, reserved: Iterable[str] = ()) -> Written:
    """The providers.yaml text for ``source``, its report and the variables to set; a
    generated variable takes none of the ``reserved`` names (those the source uses)."""
    # Parsing remembered them in the registry of its run; a Source written in another run
    # (a script, a test) must be scrubbed all the same.
    for secret in source.secrets:
        remember(secret.reveal())
    providers = _named(source.providers)
    variables = _Variables(taken=_referenced(providers) | set(reserved))
    blocks: list[str] = []
    report = [_located(source.file, n) for n in source.notes]
    for p in providers:
        entry, url_note = _entry(p, variables)
        if url_note is not None:
            p = replace(p, notes=(*p.notes, url_note))
        blocks.append(_block(p, entry))
        report.extend(_located(source.file, n, p.name) for n in p.notes)
    header = HEADER.format(file=_comment_text(source.file), label=LABELS[source.format])
    header += "".join(
        f"# {line}\n"
        for n in source.notes
        for line in _wrapped(f"Note{_where(n)}: {_comment_text(n.message)}", 96)
    )
    body = "version: 1\nproviders:" + ("\n" + "\n".join(blocks) if blocks else " []\n")
    used = tuple((v, tuple(users)) for v, users in variables.users.items())
    return Written(header + body, tuple(report), used, len(providers))


def _named(providers: tuple[Imported, ...]) -> list[Imported]:
    """Providers with unique names (ClaraVerse compares names without case)."""
    taken: set[str] = set()
    out = []
    for p in providers:
        base = p.name.strip()[:_LONGEST_NAME]  # the schema's limit
        name, n = base, 2
        while name.casefold() in taken:
            name = f"{base[: _LONGEST_NAME - 6]} {n}"
            n += 1
        taken.add(name.casefold())
        if name != p.name:
            note = Note(f"named '{name}': '{p.name}' is taken, or too long", p.line)
            p = replace(p, name=name, notes=(note, *p.notes))
        out.append(p)
    return out


def _referenced(providers: list[Imported]) -> set[str]:
    names = {p.key.variable for p in providers if p.key and p.key.variable}
    for p in providers:
        names.update(_REFERENCE.findall(p.base_url or ""))
    return names


def _entry(p: Imported, variables: _Variables) -> tuple[dict[str, Any], Note | None]:
    """The provider as a providers.yaml entry, and a note if its URL had to be hidden."""
    entry: dict[str, Any] = {"name": literal(p.name), "type": p.type}
    url_note = None
    if p.base_url is not None:
        for variable in _REFERENCE.findall(p.base_url):
            variables.use(variable, p.name)
        if "${" not in p.base_url and redact_url(p.base_url) != p.base_url:
            # Credentials or ?key= in a URL must not land in git: reference it.
            wanted = env_name(p.name).removesuffix("_API_KEY") + "_BASE_URL"
            entry["base_url"] = variables.for_literal(Secret(p.base_url), wanted, p.name)
            url_note = Note(
                f"its base_url holds credentials or a query ({redact_url(p.base_url)}): "
                f"written as {entry['base_url']}; set it, or better, move the key to api_key",
                p.line,
            )
        else:
            entry["base_url"] = p.base_url
    if p.key is not None and p.key.variable is not None:
        entry["api_key"] = variables.use(p.key.variable, p.name)
    elif p.key is not None:
        # A literal, or a key the source holds where we cannot read it: its own variable.
        secret = p.key.literal if p.key.literal is not None else Secret("")
        entry["api_key"] = variables.for_literal(secret, env_name(p.name), p.name)
    if not p.enabled:
        entry["enabled"] = False
    if not p.fetch_models:
        entry["fetch_models"] = False
    for name in SETTING_NAMES:
        value = p.settings.value(name)
        if value != DEFAULT_SETTINGS.value(name):
            entry[name] = literal(value) if isinstance(value, str) else value
    if p.models is not None:
        entry["models"] = _models(p.models)
    return entry, url_note


def _models(rules: ModelRules) -> dict[str, Any]:
    """``models:``: visibility, then the catalog. Mapping keys are never substituted, so
    patterns and alias names as keys are written as they are; values literally."""
    models: dict[str, Any] = {}
    if rules.visible:
        models["visible"] = [literal(v) for v in rules.visible]
    if rules.hidden:
        models["hidden"] = [literal(h) for h in rules.hidden]
    if rules.only_listed:
        models["only_listed"] = True
    if rules.settings:
        models["settings"] = {
            rule.pattern: _literals(rule.settings.declared()) for rule in rules.settings
        }
    if rules.aliases is not None:
        models["aliases"] = {alias.name: _alias(alias) for alias in rules.aliases}
    return models


def _alias(alias: Alias) -> dict[str, Any]:
    """One alias: ``model`` first, then each field that has a value."""
    out: dict[str, Any] = {"model": alias.model}
    if alias.display_name:
        out["display_name"] = alias.display_name
    out["description"] = alias.description
    for flag in ("agents", "supports_vision", "smart_tool_router", "free_tier"):
        out[flag] = getattr(alias, flag)
    so = alias.structured_output
    shown = {"support": so.support, "compliance": so.compliance, "speed_ms": so.speed_ms}
    shown.update(badge=so.badge, warning=so.warning)
    out["structured_output"] = _literals(shown) or None
    out["memory_extractor"] = alias.memory_extractor
    out["memory_selector"] = alias.memory_selector
    return _literals(out)


def _literals(values: Mapping[Any, Any]) -> dict[str, Any]:
    """``values`` without the unset ones, strings written literally (``${`` escaped)."""
    return {k: literal(v) if isinstance(v, str) else v for k, v in values.items() if v is not None}


def _block(p: Imported, entry: dict[str, Any]) -> str:
    """The entry as YAML under ``providers:``, its comments above it."""
    comments = []
    if p.line is not None:
        comments.append(f"From line {p.line}.")
    comments.extend(f"Note{_where(n)}: {n.message}" for n in p.notes)
    comments.extend(p.comments)
    lines = [f"  # {line}" for c in comments for line in _wrapped(_comment_text(c))]
    dumped = yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, width=100)
    lines.extend(f"  {line}" for line in dumped.splitlines())
    return "\n".join(lines) + "\n"


def _wrapped(text: str, width: int = 94) -> list[str]:
    """A long comment over several lines, continuation lines indented."""
    indent = " " * (len(text) - len(text.lstrip(" "))) + "  "
    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False) or [""]


def _where(note: Note) -> str:
    return f" (line {note.line})" if note.line is not None else ""


def _located(file: str, note: Note, provider: str | None = None) -> str:
    where = f"{file}:{note.line}" if note.line is not None else file
    about = f" provider '{provider}':" if provider else ""
    return f"{where}:{about} {note.message}"


def _comment_text(text: str) -> str:
    """``text`` fit for one comment line: YAML ends a comment at any line break (including
    U+2028 and U+0085), which would let a source's text become YAML of ours."""
    return "".join(_printable(c) for c in text)


def _printable(char: str) -> str:
    if char == "\t" or unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp", "Cs"):
        return char
    return f"\\u{ord(char):04x}"


def lines_of(written: Written) -> Iterator[str]:
    """The report as the command prints it: notes, then the variables to set."""
    yield from written.report
    if written.variables:
        yield "Set these variables before plan or apply (values are not in the file):"
        for variable, users in written.variables:
            yield f"  {variable}  ({', '.join(users)})"
