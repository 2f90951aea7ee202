"""Environments: one set of files for several instances (staging, production...).

The top-level ``environments:`` names the instances (each with its default target);
a provider entry may hold ``environments: {NAME: {...}}``, partial entries merged over
it, and ``only_in: [NAME...]``, the environments it exists in. ``prune:`` says which
providers no file declares are still never pruned.

The merge happens before anything else reads a document: ``effective`` turns the
document of a file into the document of one environment, whose entries are then
substituted, schema-checked and built exactly as plain entries are. Only the selected
environment's values are substituted (an override's ``${VAR}`` for another environment
need not be set), and each merged value keeps the place it is written, so that an error
in an override points at the override.

The shape of every environment's values is checked whichever one is loaded (a wrong type
in staging's override is a broken file, also for production): ``effective(..., beside=)``
gives another environment's document reduced to what may differ from the loaded one's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.config.document import Document, Path, shown
from reconciler.core.model import Override
from reconciler.errors import Problem

# What an override cannot hold: the entry's identity, and the environment keys themselves.
_NOT_OVERRIDDEN = {
    "name": "the name is the provider's identity and cannot differ per environment; "
    "declare another provider with only_in instead",
    "environments": "an override cannot hold overrides: write its values directly",
    "only_in": "only_in belongs to the entry itself, not to an override",
}
# The provider fields an override cannot hold (the schema check's hints leave them out).
NOT_IN_OVERRIDES = frozenset(_NOT_OVERRIDDEN)
# Environment names are typed on command lines and kept in plan files: plain words.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@dataclass
class Declarations:
    """What the files declare for all of them: environments and prune, each in one file."""

    environments: dict[str, Any] = field(default_factory=dict)  # name -> its mapping
    environments_doc: Document | None = None
    prune_doc: Document | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The declared environment names, sorted."""
        return sorted(self.environments)


def declarations(docs: Sequence[Document]) -> Declarations:
    """The ``environments`` and ``prune`` of the files; a second declaration is an error
    naming both places (which one counts would depend on the order of -f)."""
    out = Declarations()
    for doc in docs:
        for key in ("environments", "prune"):
            if key not in doc.data:
                continue
            first = out.environments_doc if key == "environments" else out.prune_doc
            if first is not None:
                message = (
                    f"{key} is also declared at {first.location((key,))}; declare it in "
                    "one file only (the one every environment reads)"
                )
                out.problems.append(doc.problem((key,), message))
            elif key == "environments":
                out.environments_doc = doc
                _read_environments(doc, out)
            else:
                out.prune_doc = doc
    return out


def _read_environments(doc: Document, out: Declarations) -> None:
    """The names of the ``environments`` mapping (its shape is the schema's to check)."""
    declared = doc.data["environments"]
    if not isinstance(declared, dict):
        return
    for name, value in declared.items():
        if _NAME.fullmatch(name) is None:
            out.problems.append(
                doc.problem(
                    ("environments", name),
                    f"'{shown(name)}' is not a usable environment name: start with a letter "
                    "or digit, then letters, digits, '_', '-' or '.' (at most 63)",
                )
            )
            continue
        out.environments[name] = value


def refers_to_environments(doc: Document) -> bool:
    """Whether any entry of ``doc`` has overrides or only_in (else it is used as it is)."""
    providers = doc.data.get("providers")
    if "environments" in doc.data:
        return True
    if not isinstance(providers, list):
        return False
    return any(isinstance(p, dict) and ("environments" in p or "only_in" in p) for p in providers)


@dataclass
class Effective:
    """A file's document as one environment reads it."""

    doc: Document
    # Per provider index of ``doc``: the fields the environment's override set.
    overrides: dict[int, tuple[Override, ...]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def effective(
    doc: Document, name: str | None, names: Iterable[str], *, beside: str | None = None
) -> Effective:
    """``doc`` as environment ``name`` reads it (None: no environment is selected): entries
    not for it left out, its overrides merged, the other environments' values gone.
    Problems with the overrides themselves (an unknown environment, a name overridden)
    are the same for every environment.

    ``beside``: only what may differ from environment ``beside``'s document is kept (the
    entries whose only_in or overrides tell the two apart, the top-level ``version`` and
    ``name``'s declaration): the rest is checked as ``beside`` reads it."""
    if not refers_to_environments(doc):
        return Effective(doc) if beside is None else Effective(_without_providers(doc))
    known = set(names)
    out = Effective(doc)
    data = dict(doc.data)
    if beside is not None:
        data = {k: v for k, v in data.items() if k in ("version", "environments", "providers")}
        if not isinstance(data.get("providers"), list):
            data["providers"] = []
    if name is not None and isinstance(data.get("environments"), dict):
        # The other environments' targets are theirs: not substituted, not required.
        data["environments"] = {k: v for k, v in data["environments"].items() if k == name}
    origin: dict[Path, Path] = {}
    providers = data.get("providers")
    if isinstance(providers, list):
        kept: list[Any] = []
        for index, entry in enumerate(providers):
            merged = _entry(doc, (index, entry), (name, beside), known, out, origin, len(kept))
            if merged is not None:
                kept.append(merged)
        data["providers"] = kept
    # Values that could not be read as written are found at their paths in this document.
    broken = frozenset(p for p in (_effective_path(b, origin) for b in doc.broken) if p)
    out.doc = Document(file=doc.file, data=data, marks=doc.marks, broken=broken, origin=origin)
    return out


def _entry(
    doc: Document,
    indexed: tuple[int, Any],
    names: tuple[str | None, str | None],
    known: set[str],
    out: Effective,
    origin: dict[Path, Path],
    at: int,
) -> Any:
    """The entry at ``index`` as environment ``name`` has it (None: not in it, or, with
    ``beside``, the same as there), to be the ``at``-th entry of the effective document."""
    index, entry = indexed
    name, beside = names
    base: Path = ("providers", index)
    if not isinstance(entry, dict):
        if beside is not None:
            return None  # the same in every environment
        origin[("providers", at)] = base
        return entry
    # Checked whether or not the entry is in this environment: the same for all.
    only_in = _only_in(doc, base, entry.get("only_in"), known, out)
    overrides = _overrides(doc, base, entry.get("environments"), known, out)
    if only_in is not None and name is not None and name not in only_in:
        return None
    if beside is not None and not _differs(only_in, overrides, name, beside):
        return None
    origin[("providers", at)] = base
    merged = {k: v for k, v in entry.items() if k not in ("environments", "only_in")}
    for env, override in overrides:
        if env != name:
            continue
        where: Path = (*base, "environments", env)
        merged = _merge(merged, override, ("providers", at), where, origin)
        line = doc.location(where).line
        out.overrides[at] = tuple(
            Override(field=key, source=f"{doc.file}:{doc.location((*where, key)).line or line}")
            for key in override
        )
    return merged


def _without_providers(doc: Document) -> Document:
    """``doc`` with no entry: a file that refers to no environment reads the same in all."""
    data = {k: v for k, v in doc.data.items() if k == "version"}
    return Document(
        file=doc.file, data={**data, "providers": []}, marks=doc.marks, broken=doc.broken
    )


def _differs(
    only_in: set[str] | None,
    overrides: list[tuple[str, dict[str, Any]]],
    name: str | None,
    beside: str,
) -> bool:
    """Whether an entry may read differently in environments ``name`` and ``beside``."""
    if only_in is not None and (name in only_in) != (beside in only_in):
        return True
    return any(env in (name, beside) for env, _ in overrides)


def _only_in(
    doc: Document, base: Path, value: Any, known: set[str], out: Effective
) -> set[str] | None:
    """The environments ``only_in`` lists (None: every one); problems go to ``out``."""
    if value is None:
        return None
    at: Path = (*base, "only_in")
    if not isinstance(value, list) or not value:
        out.problems.append(
            doc.problem(at, "only_in must be a list of environment names, e.g. [staging]")
        )
        return None
    listed = set()
    for i, env in enumerate(value):
        if isinstance(env, str) and env in known:
            listed.add(env)
        else:
            out.problems.append(doc.problem((*at, i), _unknown(env, known)))
    return listed


def _overrides(
    doc: Document, base: Path, value: Any, known: set[str], out: Effective
) -> list[tuple[str, dict[str, Any]]]:
    """The usable overrides of an entry, by environment; problems go to ``out``."""
    if value is None:
        return []
    at: Path = (*base, "environments")
    if not isinstance(value, dict):
        out.problems.append(
            doc.problem(
                at,
                "environments of a provider must map environment names to overrides, "
                "e.g. staging: {enabled: false}",
            )
        )
        return []
    usable = []
    for env, override in value.items():
        if env not in known:
            out.problems.append(doc.problem((*at, env), _unknown(env, known)))
            continue
        if not isinstance(override, dict):
            out.problems.append(
                doc.problem(
                    (*at, env),
                    "an override must be a mapping of the fields that differ in this "
                    "environment, e.g. {enabled: false}",
                )
            )
            continue
        refused = [k for k in override if k in _NOT_OVERRIDDEN]
        for key in refused:
            out.problems.append(doc.problem((*at, env, key), _NOT_OVERRIDDEN[key]))
        usable.append((env, {k: v for k, v in override.items() if k not in refused}))
    return usable


def _unknown(env: Any, known: set[str]) -> str:
    listed = ", ".join(sorted(known))
    if not known:
        return (
            f"environment '{shown(str(env))}' is not declared: the files declare no "
            "environments; add a top-level 'environments:' mapping"
        )
    return (
        f"environment '{shown(str(env))}' is not declared (the files declare: {listed}); "
        "fix the name, or declare it under the top-level 'environments:'"
    )


def _merge(
    base: dict[str, Any],
    override: dict[str, Any],
    at: Path,
    written: Path,
    origin: dict[Path, Path],
) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge, lists and scalars replace. ``origin``
    learns where each value from the override is written (``written``)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, (*at, key), (*written, key), origin)
        else:
            out[key] = value
            origin[(*at, key)] = (*written, key)
    return out


def _effective_path(path: Path, origin: dict[Path, Path]) -> Path | None:
    """The path in the effective document of the file's ``path`` (None: not in it)."""
    best: tuple[int, Path] | None = None
    for eff, src in origin.items():
        if path[: len(src)] == src and (best is None or len(src) > best[0]):
            best = (len(src), (*eff, *path[len(src) :]))
    return best[1] if best else (path if path[:1] != ("providers",) else None)


def per_environment(found: Mapping[str, Sequence[Any]]) -> list[tuple[Any, str | None]]:
    """What each environment found (problems, warnings), once: with the names of the
    environments it belongs to (None: it belongs to all of them)."""
    everyone = len(found)
    where: dict[Any, list[str]] = {}
    for name, items in found.items():
        for item in items:
            envs = where.setdefault(item, [])
            if name not in envs:
                envs.append(name)
    out: list[tuple[Any, str | None]] = []
    for item, envs in where.items():
        if len(envs) == everyone:
            out.append((item, None))
        else:
            quoted = ", ".join(f"'{e}'" for e in envs)
            out.append((item, f"environment{'s' if len(envs) > 1 else ''} {quoted}"))
    return out
