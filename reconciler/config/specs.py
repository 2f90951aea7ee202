"""Building specs: each schema-valid provider entry becomes a ProviderSpec, with defaults.

What the schema cannot say is checked here, one provider at a time: a usable base URL, a
key that is not blank, at most one kind of provider. Warnings (a literal key, a key sent
over plain http) are collected for the caller to show.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from reconciler.config import catalog
from reconciler.config.document import UNPRINTABLE, Document, Path, PathPart, escape
from reconciler.config.document import shown as cut
from reconciler.config.substitute import Substituted
from reconciler.core.model import (
    DEFAULT_BASE_URLS,
    KIND_SETTINGS,
    SETTING_NAMES,
    ModelRules,
    ProviderSettings,
    ProviderSpec,
    is_local_url,
    redact_url,
)
from reconciler.errors import Problem
from reconciler.secrets import Secret, looks_like_key

_KEY_DEFAULT = re.compile(r"(?<!\$)\$\{[A-Za-z_][A-Za-z0-9_]*:-[^}]+\}")
_SPACE = re.compile(r"\s")
_BARE_REFERENCE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# A scheme that is not followed by "//" (javascript:, data:, mailto:), told apart from a
# host and port without a scheme (localhost:11434/v1) by what follows the colon.
_OTHER_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?![0-9]+(?:[/?#]|$))")


@dataclass(frozen=True)
class Declared:
    """A provider spec, and where in which document it was declared."""

    spec: ProviderSpec
    doc: Document
    index: int

    def problem(self, message: str, *path: PathPart) -> Problem:
        """A Problem located at ``path`` inside this provider's entry."""
        return self.doc.problem(("providers", self.index, *path), message)


@dataclass
class Built:
    """The specs of one document, and what building them found."""

    declared: list[Declared]
    problems: list[Problem]
    warnings: list[str]


def build_specs(doc: Document, subst: Substituted, skip: set[int]) -> Built:
    """The specs of every provider of ``doc`` but the ``skip`` ones (already reported)."""
    out = Built([], [], [])
    for index, raw in enumerate(subst.data.get("providers") or []):
        if index in skip:
            # Already reported, but what can still be checked is worth reporting in the
            # same run, so that fixing those errors reveals no new one.
            out.problems.extend(_checks_of_broken(doc, subst, index, raw))
            continue
        spec, problems, warnings = _spec(doc, index, raw, subst.key_names.get(index))
        out.problems.extend(problems)
        out.warnings.extend(warnings)
        if spec is not None:
            out.declared.append(Declared(spec, doc, index))
    return out


def _checks_of_broken(doc: Document, subst: Substituted, index: int, raw: Any) -> list[Problem]:
    """The checks that need only one field of an entry that has schema errors elsewhere."""
    if not isinstance(raw, dict):
        return []
    problems = []
    url = raw.get("base_url")
    url_path: Path = ("providers", index, "base_url")
    if isinstance(url, str) and url and url_path not in subst.reported:
        url_problem = check_url(url, doc.as_written(url_path, url))
        if url_problem:
            problems.append(doc.problem(url_path, url_problem))
    kinds = _kinds_problem(doc, ("providers", index), raw)
    if raw.get("ensure") != "absent":
        problems.extend(
            catalog.alias_problems(doc, ("providers", index, "models"), raw.get("models"))
        )
    return [*problems, kinds] if kinds else problems


def _spec(
    doc: Document, index: int, values: dict[str, Any], key_names: tuple[str, ...] | None
) -> tuple[ProviderSpec | None, list[Problem], list[str]]:
    """One provider from its schema-valid, substituted values: defaults and checks."""
    base: Path = ("providers", index)
    name = values["name"].strip()
    location = doc.location(base)
    renamed_from = tuple(values.get("renamed_from", ()))
    if values.get("ensure") == "absent":
        # Its other fields were checked for shape only, and mean nothing: removing the
        # ensure line brings the entry back as it was.
        absent = ProviderSpec(
            name=name, ensure="absent", renamed_from=renamed_from, location=location
        )
        return absent, [], []
    kinds = _kinds_problem(doc, base, values)
    problems = [kinds] if kinds else []
    problems.extend(catalog.alias_problems(doc, (*base, "models"), values.get("models")))
    base_url = _base_url(doc, base, values)
    if isinstance(base_url, Problem):
        return None, [*problems, base_url], []
    raw_key = values.get("api_key")
    if raw_key is not None and raw_key != "" and not raw_key.strip():
        blank = "api_key is blank (only spaces); set a key or remove the field"
        return None, [*problems, doc.problem((*base, "api_key"), blank)], []
    unsafe = _unsafe_key(doc, base, raw_key, base_url)
    if unsafe is not None:
        return None, [*problems, unsafe], []
    # "$NAME" is a reference without braces, sent as written: quoted by the warning below,
    # so not scrubbed from output (it is in the file, and no key).
    bare = not key_names and _BARE_REFERENCE.fullmatch(raw_key or "") is not None
    api_key = Secret(raw_key, scrubbed=not bare) if raw_key else None
    spec = ProviderSpec(
        name=name,
        type=values["type"],
        base_url=base_url,
        api_key=api_key,
        api_key_ref="".join(f"${{{n}}}" for n in key_names or ()) or None,
        enabled=values.get("enabled", True),
        renamed_from=renamed_from,
        fetch_models=values.get("fetch_models", True),
        settings=_settings(values),
        models=_model_rules(values.get("models"), doc, (*base, "models")),
        location=location,
    )
    warnings = _key_warnings(doc, base, spec, raw_key, key_names)
    return spec, problems, warnings


_MIN_KEY_LENGTH = 8


def _unsafe_key(doc: Document, base: Path, raw_key: str | None, base_url: str) -> Problem | None:
    """A key in the base_url, or an admin key too short to be a real one (and short
    enough to be guessed from a fingerprint), for an upstream that is not on this host."""
    if looks_like_key(base_url):
        return doc.problem(
            (*base, "base_url"),
            "base_url holds what looks like an API key; put the key in api_key (as a "
            "${VAR} reference) and keep the URL without it",
        )
    short = raw_key and len(raw_key) < _MIN_KEY_LENGTH and not raw_key.startswith("unset-")
    if short and not is_local_url(base_url):
        return doc.problem(
            (*base, "api_key"),
            f"api_key is {len(raw_key or '')} characters long: too short for a real key (and "
            "easy to guess); a placeholder such as 'ollama' is fine only for an engine on "
            "localhost; write the real key's ${VAR}, or leave api_key out",
        )
    return None


def _base_url(doc: Document, base: Path, values: Mapping[str, Any]) -> str | Problem:
    """The provider's base URL (the type's default if none is written), or why not."""
    raw_url: str | None = values.get("base_url")
    if raw_url is None:
        if values["type"] in DEFAULT_BASE_URLS:
            return DEFAULT_BASE_URLS[values["type"]]
        return doc.problem(
            base,
            "missing required field 'base_url': type openai needs the endpoint, "
            "e.g. https://api.openai.com/v1, or http://localhost:11434/v1 for Ollama",
        )
    url_problem = check_url(raw_url, doc.as_written((*base, "base_url"), raw_url))
    if url_problem:
        return doc.problem((*base, "base_url"), url_problem)
    return raw_url.rstrip("/")


def _settings(values: Mapping[str, Any]) -> ProviderSettings:
    """The provider settings the entry declares; the file is authoritative, so a setting
    it leaves out is the default, whatever the target has now."""
    return ProviderSettings(**{name: values[name] for name in SETTING_NAMES if name in values})


def _model_rules(models: Mapping[str, Any] | None, doc: Document, at: Path) -> ModelRules | None:
    if models is None:
        return None
    visible = tuple(models.get("visible", ()))
    hidden = tuple(models.get("hidden", ()))
    return ModelRules(
        visible=visible,
        hidden=hidden,
        only_listed=bool(models.get("only_listed", False)),
        visible_at=tuple(doc.location((*at, "visible", i)) for i in range(len(visible))),
        hidden_at=tuple(doc.location((*at, "hidden", i)) for i in range(len(hidden))),
        settings=catalog.setting_rules(models, doc, at),
        aliases=catalog.aliases(models, doc, at),
    )


def _kinds_problem(doc: Document, base: Path, values: Mapping[str, Any]) -> Problem | None:
    """Two or three of the ``*_only`` flags true at once: ClaraVerse gives a provider one
    kind (its image generation takes image_only providers; chat lists leave out all three)."""
    chosen = [kind for kind in KIND_SETTINGS if values.get(kind) is True]
    if len(chosen) < 2:
        return None
    listed = ", ".join(chosen[:-1]) + f" and {chosen[-1]}"
    both, others, kinds = ("both", "other", "the other kind")
    if len(chosen) > 2:
        both, others, kinds = ("all", "others", "each other kind")
    return doc.problem(
        base,
        f"{listed} are {both} true, but ClaraVerse treats a provider as one kind (chat, "
        "audio, image generation or image editing), so at most one of audio_only, image_only "
        f"and image_edit_only may be true: keep the one this provider is for and remove the "
        f"{others}, or declare another provider (another name, same base_url and api_key) "
        f"for {kinds}",
    )


def _key_warnings(
    doc: Document,
    base: Path,
    spec: ProviderSpec,
    raw_key: str | None,
    key_names: tuple[str, ...] | None,
) -> list[str]:
    """What is risky but allowed about the provider's key: a literal, a default in the
    file, one sent over plain http. (None where one is needed: the loader warns once for
    all such providers.)"""
    where = f"{spec.location}: provider '{spec.name}'"
    warnings = []
    bare = _BARE_REFERENCE.fullmatch(raw_key or "")
    if raw_key and not key_names and bare:
        warnings.append(
            f"{where}: api_key is the literal text '{cut(raw_key)}'; did you mean "
            f"${{{cut(bare.group(1))}}}? Only ${{...}} references are substituted"
        )
    elif raw_key and not key_names:
        warnings.append(
            f"{where}: api_key is a literal value in the file; commit a ${{VAR}} reference "
            "instead and set the variable in CI"
        )
    written = doc.raw((*base, "api_key"))
    if isinstance(written, str) and _KEY_DEFAULT.search(written):
        warnings.append(
            f"{where}: api_key has a non-empty default (${{VAR:-...}}), which puts a key in "
            "the file; write ${VAR}, or ${VAR:-} to allow no key"
        )
    base_url = spec.base_url or ""
    if spec.api_key is not None and base_url.startswith("http://") and not is_local_url(base_url):
        host = urlsplit(base_url).hostname or ""
        warnings.append(f"{where}: api_key would be sent over plain http to {cut(host)}; use https")
    return warnings


def check_url(url: str, shown: str | None = None) -> str | None:
    """Why ``url`` is not a usable base URL (and how to fix it), or None. Messages quote
    ``shown`` (the text as written in the file) rather than the substituted value, with
    any credentials or query masked: either may hold a key."""
    example = "write e.g. https://api.example.com/v1"
    written = redact_url(shown if shown is not None else url)
    quoted = f"'{cut(written)}'"
    if _SPACE.search(url):
        return f"{quoted} contains spaces; remove them"
    hidden = UNPRINTABLE.search(url)
    if hidden:
        return f'{quoted} contains "{escape(hidden.group(0))}", which a URL cannot hold; remove it'
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        # urlsplit's words, unless they quote a piece of the (possibly substituted) URL.
        why = str(exc) if "'" not in str(exc) else "check the host and port"
        return f"{quoted} is not a valid URL ({why}); {example}"
    if "://" not in url and not _OTHER_SCHEME.match(url):
        return (
            f"{quoted} has no scheme; write http:// or https:// before the host, e.g. "
            f"https://{cut(written)}"
        )
    if parts.scheme not in ("http", "https"):
        # javascript:..., file:///..., ftp://...: say what is wanted, not what was found.
        start = url[: len(parts.scheme) + (3 if "://" in url else 1)]
        return (
            f"{quoted} must be an http(s) URL (it starts with {cut(start)}); an API is "
            "reached over http:// or https://"
        )
    if not parts.hostname:
        return f"{quoted} has no host; {example}"
    if parts.username or parts.password:
        return "the URL must not hold credentials (user:password@); put the key in api_key"
    if parts.query or parts.fragment:
        return f"{quoted} must not have a query (?...) or fragment (#...); give the key in api_key"
    return None
