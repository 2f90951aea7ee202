"""Checks across all providers of all files: unique names, unambiguous renames."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.config.document import Document, shown
from reconciler.config.specs import Declared
from reconciler.core.model import Location
from reconciler.errors import Problem


@dataclass(frozen=True)
class Named:
    """A provider entry's name, and where it is declared."""

    name: str
    doc: Document
    index: int


def names_of_broken(doc: Document, data: dict[str, Any], broken: Iterable[int]) -> list[Named]:
    """The names of entries with schema errors, where they have one: such entries still
    take part in the duplicate-name check, so that fixing their errors does not reveal a
    new error in the next run."""
    items = data.get("providers") or []
    out = []
    for index in sorted(broken):
        item = items[index] if index < len(items) else None
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name.strip():
            out.append(Named(name.strip(), doc, index))
    return out


def cross_checks(declared: Sequence[Declared], broken: Sequence[Named]) -> list[Problem]:
    """Every problem between providers: duplicate names, then renames that clash."""
    valid = [Named(d.spec.name, d.doc, d.index) for d in declared]
    # Valid entries first: where a valid and a broken entry share a name, the broken one
    # is reported, next to the errors it has anyway.
    return [*_duplicate_names([*valid, *broken]), *_rename_clashes(declared)]


def _duplicate_names(entries: Iterable[Named]) -> list[Problem]:
    first: dict[str, Location] = {}
    problems = []
    for entry in entries:
        if entry.name in first:
            problems.append(
                entry.doc.problem(
                    ("providers", entry.index, "name"),
                    f"duplicate provider name '{shown(entry.name)}' (also declared at "
                    f"{first[entry.name]}); names must be unique: rename or remove one of them",
                )
            )
        else:
            first[entry.name] = entry.doc.location(("providers", entry.index))
    return problems


def _rename_clashes(declared: Sequence[Declared]) -> list[Problem]:
    """renamed_from naming the provider itself, a provider that is kept, or a provider
    that another one already renames."""
    first: dict[str, Declared] = {}
    for d in declared:
        first.setdefault(d.spec.name, d)
    problems: list[Problem] = []
    claimed: dict[str, Declared] = {}
    for d in declared:
        for i, old in enumerate(d.spec.renamed_from):
            if old == d.spec.name:
                message = f"renamed_from lists the provider's own name '{shown(old)}': remove it"
            elif old in first:
                message = (
                    f"renamed_from names '{shown(old)}', but a provider '{shown(old)}' is also "
                    f"declared (at {first[old].spec.location}); a provider cannot be renamed "
                    f"and kept: remove '{shown(old)}' from renamed_from, or remove that provider"
                )
            elif old in claimed:
                message = (
                    f"renamed_from names '{shown(old)}', which provider "
                    f"'{claimed[old].spec.name}' (at {claimed[old].spec.location}) already "
                    f"renames; only one provider can take over its models: remove "
                    f"'{shown(old)}' from one of them"
                )
            else:
                claimed[old] = d
                continue
            problems.append(d.problem(message, "renamed_from", i))
    return problems
