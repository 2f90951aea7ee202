"""providers.yaml → Desired: the stages of loading, in order, for every file.

Each file is read strictly (files, yamlsource), its ``${VAR}`` references are expanded
once (substitute), so that the schema check (schema_check) and the per-provider checks
(specs) see the values that will be used; then providers of all files are checked against
each other (checks). Every problem in every file is collected and raised together as one
ConfigError, before anything contacts a target; warnings are returned on the Desired value.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.config import catalog, checks, files, schema_check, specs
from reconciler.config.substitute import substitute_document
from reconciler.core.model import Desired, keyless_warning
from reconciler.errors import ConfigError, Problem


def load(
    paths: Sequence[str], env: Mapping[str, str] | None = None, *, require_env: bool = True
) -> Desired:
    """Read, validate and substitute the files; raise ConfigError with every problem.

    ``require_env=False`` (validate --skip-env) reads an unset variable that has no default
    as a placeholder, so that a file can be checked where its secrets are not set.
    """
    with _no_cyclic_gc():
        return _load(paths, os.environ if env is None else env, require_env)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cycle collector: reading a large file allocates hundreds of thousands of
    small objects that live on, and the collector would rescan them over and over (half
    the time of loading 10,000 providers). Any cyclic garbage is collected once it resumes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class _Found:
    """What loading the files has found so far."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    declared: list[specs.Declared] = field(default_factory=list)
    broken: list[checks.Named] = field(default_factory=list)
    tiers: list[catalog.DeclaredTiers] = field(default_factory=list)
    # False when a file's providers list could not be read: a tier's provider cannot
    # then be said to be undeclared.
    all_read: bool = True


def _load(paths: Sequence[str], env: Mapping[str, str], require_env: bool) -> Desired:
    names = files.expand_paths(paths or [files.DEFAULT_FILE])
    found = _Found()
    for file in names:
        _load_file(file, found, env, named=bool(paths), require_env=require_env)
    found.problems.extend(checks.cross_checks(found.declared, found.broken))
    found.problems.extend(
        catalog.tier_problems(
            found.tiers,
            [d.spec for d in found.declared],
            [b.name for b in found.broken],
            all_read=found.all_read,
        )
    )
    if found.problems:
        order = {f: i for i, f in enumerate(names)}
        found.problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0, p.column or 0))
        raise ConfigError(found.problems)
    specs = tuple(d.spec for d in found.declared)
    keyless = keyless_warning(specs)
    return Desired(
        providers=specs,
        tiers=found.tiers[0].tiers if found.tiers else (),
        files=tuple(names),
        warnings=(*found.warnings, *([keyless] if keyless else [])),
    )


def _load_file(
    file: str, found: _Found, env: Mapping[str, str], *, named: bool, require_env: bool
) -> None:
    """One file through every stage that needs no other file; results go to ``found``."""
    doc, problems = files.read(file, named=named)
    found.problems.extend(problems)
    if doc is None:
        return
    subst = substitute_document(doc, env, require_env=require_env)
    found.problems.extend(subst.problems)
    # Where a value is already reported (a refused tag, a missing variable), the schema
    # would only repeat it in other words.
    schema_problems, broken = schema_check.problems(doc, subst.data, doc.broken | subst.reported)
    found.problems.extend(schema_problems)
    tiers = catalog.read_tiers(doc, subst.data, subst.reported)
    if tiers is not None:
        found.tiers.append(tiers)
    if broken is None:
        found.all_read = False
        return
    found.broken.extend(checks.names_of_broken(doc, subst.data, broken))
    # Providers the schema accepted are still checked, so that one run reports all.
    built = specs.build_specs(doc, subst, skip=broken)
    found.problems.extend(built.problems)
    found.warnings.extend(built.warnings)
    found.declared.extend(built.declared)
