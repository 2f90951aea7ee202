"""providers.yaml → Desired: the stages of loading, in order, for every file.

Each file is read strictly (files, yamlsource), its ``${VAR}`` references are expanded
once (substitute), so that the schema check (schema_check) and the per-provider checks
(specs) see the values that will be used; then providers of all files are checked against
each other (checks). Every problem in every file is collected and raised together as one
ConfigError, before anything contacts a target; warnings are returned on the Desired value.
Files that declare environments are read as the selected environment has them
(environments), before any of these stages; the other environments' values are checked
for shape too, since a broken override breaks the file for every environment.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.config import catalog, checks, environments, files, schema_check, specs
from reconciler.config.document import Document, Path
from reconciler.config.substitute import (
    Substituted,
    malformed_message,
    remember_secrets,
    substitute,
    substitute_document,
)
from reconciler.core.model import Desired, keyless_warning
from reconciler.errors import ConfigError, Problem


def load(
    paths: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    require_env: bool = True,
    environment: str | None = None,
) -> Desired:
    """Read, validate and substitute the files; raise ConfigError with every problem.

    ``require_env=False`` (validate --skip-env) reads an unset variable that has no default
    as a placeholder, so that a file can be checked where its secrets are not set.
    ``environment`` selects one of the environments the files declare (``--env``): it is
    required when they declare some, and an error when they declare none.
    """
    with _no_cyclic_gc():
        read = _read(paths)
        selected = _select(read, environment)
        return _load(read, os.environ if env is None else env, require_env, selected)


def load_environments(
    paths: Sequence[str], env: Mapping[str, str] | None = None, *, require_env: bool = True
) -> list[Desired]:
    """The configuration of every environment the files declare (one Desired when they
    declare none), checked at once: a ConfigError lists every environment's problems,
    each named with its environment unless all of them have it."""
    with _no_cyclic_gc():
        read = _read(paths)
        variables = os.environ if env is None else env
        if read.problems or not read.declared.names:
            return [_load(read, variables, require_env, None)]
        loaded: dict[str, Desired] = {}
        failed: dict[str, Sequence[Problem]] = {}
        for name in read.declared.names:
            try:
                # Each environment is loaded here: none needs to check the others.
                loaded[name] = _load(read, variables, require_env, name, others=False)
            except ConfigError as exc:
                failed[name] = exc.problems
        if failed:
            names = read.declared.names
            found = environments.per_environment({n: failed.get(n, ()) for n in names})
            problems = [replace(p, message=f"{at}: {p.message}") if at else p for p, at in found]
            raise ConfigError(_sorted(problems, read.names))
        return [loaded[name] for name in read.declared.names]


def environment_target(
    paths: Sequence[str], environment: str, env: Mapping[str, str] | None = None
) -> str | None:
    """The target the files declare for ``environment`` (substituted), without checking
    the providers: ``export --env`` needs no key of theirs."""
    read = _read(paths)
    _select(read, environment)
    declared = read.declared
    target = (declared.environments.get(environment) or {}).get("target")
    if not isinstance(target, str) or declared.environments_doc is None:
        return None
    values = os.environ if env is None else env
    result = substitute(target, values)
    remember_secrets(result.names, values, key=False)
    at = ("environments", environment, "target")
    doc = declared.environments_doc
    if result.malformed:
        # Quoted as the document's values are: up to ":-", after which a key may be pasted.
        raise ConfigError([doc.problem(at, malformed_message(t)) for t in result.malformed])
    if result.missing or result.empty:
        unset = ", ".join((*result.missing, *result.empty))
        message = f"the target of environment '{environment}' needs {unset}; set it"
        raise ConfigError([doc.problem(at, message)])
    return result.value


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
class _Read:
    """The files as read, before any environment is chosen."""

    names: list[str]
    docs: list[Document]
    problems: list[Problem]
    declared: environments.Declarations


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
    # The substituted values of the top-level environments and prune, where declared.
    settings: dict[str, Any] = field(default_factory=dict)


def _read(paths: Sequence[str]) -> _Read:
    """Every file read strictly, and what they declare for all of them."""
    names = files.expand_paths(paths or [files.DEFAULT_FILE])
    docs, problems = [], []
    for file in names:
        doc, found = files.read(file, named=bool(paths))
        problems.extend(found)
        if doc is not None:
            docs.append(doc)
    declared = environments.declarations(docs)
    return _Read(names, docs, [*problems, *declared.problems], declared)


def _select(read: _Read, environment: str | None) -> str | None:
    """The environment to load, or a ConfigError saying why ``environment`` cannot be."""
    declared = read.declared
    names = ", ".join(declared.names)
    problem = None
    if environment is not None and not declared.names:
        problem = Problem(
            file=read.names[0],
            message=f"--env {environment}: the files declare no environments; remove --env "
            "(and RECONCILE_ENV), or declare them under a top-level 'environments:'",
        )
    elif declared.environments_doc is not None and environment is None:
        problem = declared.environments_doc.problem(
            ("environments",),
            f"the files declare environments ({names}): choose one with --env NAME "
            "(or RECONCILE_ENV=NAME)",
        )
    elif declared.environments_doc is not None and environment not in declared.environments:
        problem = declared.environments_doc.problem(
            ("environments",),
            f"--env {environment}: no such environment; the files declare: {names}",
        )
    if problem is not None:
        raise ConfigError([*read.problems, problem])
    return environment


def _sorted(problems: list[Problem], names: list[str]) -> list[Problem]:
    order = {f: i for i, f in enumerate(names)}
    return sorted(problems, key=lambda p: (order.get(p.file, -1), p.line or 0, p.column or 0))


def _load(
    read: _Read,
    env: Mapping[str, str],
    require_env: bool,
    selected: str | None,
    *,
    others: bool = True,
) -> Desired:
    found = _Found(problems=list(read.problems))
    for doc in read.docs:
        effective = environments.effective(doc, selected, read.declared.names)
        found.problems.extend(effective.problems)
        _load_file(effective, found, env, require_env=require_env)
    if others and selected is not None:
        found.problems.extend(_other_environments(read, selected, found.problems))
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
        raise ConfigError(_sorted(found.problems, read.names))
    specs = tuple(d.spec for d in found.declared)
    keyless = keyless_warning(specs)
    chosen = found.settings.get("environments", {}).get(selected) or {}
    ignore = (found.settings.get("prune") or {}).get("ignore") or ()
    return Desired(
        providers=specs,
        tiers=found.tiers[0].tiers if found.tiers else (),
        files=tuple(read.names),
        warnings=(*found.warnings, *([keyless] if keyless else [])),
        environment=selected,
        target=chosen.get("target"),
        prune_ignore=tuple(ignore),
    )


def _other_environments(read: _Read, selected: str, reported: list[Problem]) -> list[Problem]:
    """The shape errors (schema, URLs, catalog keys) of the environments other than
    ``selected``, each named with its environments: a broken override breaks the file
    whichever environment is deployed. Only what may read differently from ``selected``
    is checked, and no ``${VAR}`` is expanded: the other environments' variables are
    theirs, not needed here, and a value that holds one is left unchecked."""
    names = read.declared.names
    seen = set(reported)
    found: dict[str, list[Problem]] = {selected: []}
    for name in names:
        if name == selected:
            continue
        problems = found.setdefault(name, [])
        for doc in read.docs:
            other = environments.effective(doc, name, names, beside=selected).doc
            problems.extend(p for p in _shape_problems(other) if p not in seen)
    # ``selected`` has none of them: each is named with the environments that have it.
    named = environments.per_environment(found)
    return [replace(p, message=f"{at}: {p.message}") for p, at in named]


def _shape_problems(doc: Document) -> list[Problem]:
    """What is wrong with the shape of ``doc``'s values, its ``${VAR}``s unexpanded."""
    written = Substituted(data=doc.data, reported=set(_references(doc.data, ())))
    schema_problems, broken = schema_check.problems(doc, doc.data, doc.broken | written.reported)
    providers = doc.data.get("providers")
    if broken is None or not isinstance(providers, list):
        return schema_problems
    # Every entry checked as a broken one is: only the checks that need no variable.
    shape = specs.build_specs(doc, written, skip=set(range(len(providers))))
    return [*schema_problems, *shape.problems]


def _references(value: Any, path: Path) -> Iterator[Path]:
    """The paths of the strings in ``value`` that hold a ``${`` (a reference)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _references(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _references(item, (*path, index))
    elif isinstance(value, str) and "${" in value:
        yield path


def _load_file(
    effective: environments.Effective, found: _Found, env: Mapping[str, str], *, require_env: bool
) -> None:
    """One file through every stage that needs no other file; results go to ``found``."""
    doc = effective.doc
    subst = substitute_document(doc, env, require_env=require_env)
    found.problems.extend(subst.problems)
    # Where a value is already reported (a refused tag, a missing variable), the schema
    # would only repeat it in other words.
    schema_problems, broken = schema_check.problems(doc, subst.data, doc.broken | subst.reported)
    found.problems.extend(schema_problems)
    tiers = catalog.read_tiers(doc, subst.data, subst.reported)
    if tiers is not None:
        found.tiers.append(tiers)
    for key in ("environments", "prune"):
        if isinstance(subst.data.get(key), dict):
            found.settings[key] = subst.data[key]
    if broken is None:
        found.all_read = False
        return
    found.broken.extend(checks.names_of_broken(doc, subst.data, broken))
    # Providers the schema accepted are still checked, so that one run reports all.
    built = specs.build_specs(doc, subst, skip=broken)
    found.problems.extend(built.problems)
    found.warnings.extend(built.warnings)
    for declared in built.declared:
        overrides = effective.overrides.get(declared.index)
        if overrides:
            # Where the environment's values came from, for plan --format json.
            declared = replace(declared, spec=replace(declared.spec, overrides=overrides))
        found.declared.append(declared)
