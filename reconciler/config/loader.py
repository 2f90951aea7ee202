"""providers.yaml → Desired: read strictly, substitute, validate against the schema, check.

``${VAR}`` references are expanded first (once), so that the schema and the checks see the
values that will be used. Every problem in every file is collected and raised together as
one ConfigError, before anything contacts a target; warnings are returned on the Desired
value.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import gc
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path as FsPath
from typing import Any
from urllib.parse import urlsplit

from reconciler.config import yamlsource
from reconciler.config.substitute import substitute
from reconciler.config.yamlsource import Document, Path, PathPart
from reconciler.core.model import (
    DEFAULT_BASE_URLS,
    Desired,
    Location,
    ModelRules,
    ProviderSpec,
    is_loopback,
    needs_key,
    redact_url,
)
from reconciler.errors import ConfigError, Problem
from reconciler.secrets import Secret, remember

DEFAULT_FILE = "providers.yaml"
_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "a mapping",
    type(None): "nothing (null)",
}
_JSON_TYPE_NAMES = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "array": "a list",
    "object": "a mapping",
    "null": "nothing",
}


@cache
def schema() -> dict[str, Any]:
    """The providers.yaml JSON Schema shipped inside the package."""
    text = resources.files("reconciler").joinpath("schemas/providers.schema.json").read_text()
    result: dict[str, Any] = json.loads(text)
    return result


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files named directly, plus the *.yaml / *.yml files of named folders, in order."""
    out: list[str] = []
    for raw in paths:
        p = FsPath(raw)
        if p.is_dir():
            # Hidden files (editor backups, .yamllint.yaml) are not providers files.
            found = sorted(
                f
                for f in p.iterdir()
                if f.suffix.lower() in (".yaml", ".yml")
                and not f.name.startswith(".")
                and f.is_file()
            )
            if not found:
                raise ConfigError(
                    [
                        Problem(
                            file=raw,
                            line=None,
                            column=None,
                            path="",
                            message="the folder holds no *.yaml or *.yml file; pass the "
                            "folder that holds your providers files, or the files themselves",
                        )
                    ]
                )
            out.extend(str(f) for f in found)
        else:
            out.append(raw)
    # The same file named twice (-f a.yaml -f ./a.yaml) is read once, not reported as
    # declaring every provider twice.
    seen: set[FsPath] = set()
    unique = []
    for f in out:
        key = FsPath(f).resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


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


def _load(paths: Sequence[str], env: Mapping[str, str], require_env: bool) -> Desired:
    files = expand_paths(paths or [DEFAULT_FILE])
    problems: list[Problem] = []
    warnings: list[str] = []
    declared: list[_Declared] = []
    names_of_broken: list[tuple[str, Document, int]] = []
    for file in files:
        try:
            text = FsPath(file).read_text(encoding="utf-8")
        except FileNotFoundError:
            hint = "name your providers file with -f FILE" if not paths else "check the path"
            problems.append(_file_problem(file, f"no such file; {hint}"))
            continue
        except IsADirectoryError:  # pragma: no cover - expand_paths expands folders
            problems.append(_file_problem(file, "is a folder"))
            continue
        except UnicodeDecodeError:
            problems.append(_file_problem(file, "is not UTF-8 text; save it as UTF-8"))
            continue
        except OSError as exc:
            problems.append(_file_problem(file, f"cannot be read: {exc.strerror}"))
            continue
        doc, found = yamlsource.load(file, text)
        problems.extend(found)
        if doc is None:
            continue
        if not isinstance(doc.data, dict):
            if () in doc.broken:
                continue  # a refused tag on the whole document: already reported
            hint = (
                ": write 'version: 1' and 'providers:' first, and indent the list under them"
                if isinstance(doc.data, list)
                else ""
            )
            problems.append(
                doc.problem(
                    (),
                    "the file must be a mapping with 'version: 1' and 'providers:', "
                    f"not {_TYPE_NAMES.get(type(doc.data), 'a single value')}{hint}",
                )
            )
            continue
        subst = _substitute(doc, env, require_env=require_env)
        problems.extend(subst.problems)
        # Where a value is already reported (a refused tag, a missing variable), the schema
        # would only repeat it in other words.
        reported = doc.broken | subst.reported
        schema_problems, broken = _validate_schema(doc, subst.data, reported)
        problems.extend(schema_problems)
        if broken is None:
            continue
        # Broken providers still take part in the duplicate-name check, so that fixing
        # their schema errors does not reveal a new error in the next run.
        items = subst.data.get("providers") or []
        for index in sorted(broken):
            item = items[index] if index < len(items) else None
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name.strip():
                names_of_broken.append((name.strip(), doc, index))
        # Providers the schema accepted are still checked, so that one run reports all.
        file_declared, file_problems, file_warnings = _build_specs(doc, subst, skip=broken)
        problems.extend(file_problems)
        warnings.extend(file_warnings)
        declared.extend(file_declared)
    problems.extend(_cross_checks(declared))
    problems.extend(_duplicates_among_broken(declared, names_of_broken))
    if problems:
        order = {f: i for i, f in enumerate(files)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0, p.column or 0))
        raise ConfigError(problems)
    return Desired(
        providers=tuple(d.spec for d in declared), files=tuple(files), warnings=tuple(warnings)
    )


def _file_problem(file: str, message: str) -> Problem:
    return Problem(file=file, line=None, column=None, path="", message=message)


# --- substitution ---------------------------------------------------------------------


@dataclass
class _Substituted:
    """A document's data with ``${VAR}`` references expanded, and what that found."""

    data: Any
    problems: list[Problem] = field(default_factory=list)
    # Paths whose value could not be expanded: reported, left as written, not used.
    reported: set[Path] = field(default_factory=set)
    # Per provider index: the variables its api_key references (empty: a literal).
    key_names: dict[int, tuple[str, ...]] = field(default_factory=dict)


def _substitute(doc: Document, env: Mapping[str, str], *, require_env: bool) -> _Substituted:
    """Expand every string value once, before validation, so that checks see real values."""
    out = _Substituted(data=None)

    def walk(value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        result = substitute(value, env)
        for name in result.names:
            # Values of key variables, and of variables named like secrets, are scrubbed
            # from every message from now on, wherever the file happens to use them.
            if path[-1:] == ("api_key",) or _SECRET_NAME.search(name):
                remember(env.get(name) or "")
        unset = (*result.missing, *result.empty)
        if unset and not require_env and not result.malformed:
            placeholders = {name: f"unset-{name.lower()}" for name in unset}
            result = substitute(value, {**env, **placeholders})
        if result.missing:
            out.problems.append(doc.problem(path, _missing_message(result.missing)))
        for name in dict.fromkeys(result.empty):
            out.problems.append(
                doc.problem(
                    path,
                    f"environment variable {name} is set but empty (CI gives an empty value "
                    f"for a secret it does not have); set it, or write ${{{name}:-}} to allow "
                    "an empty value",
                )
            )
        for token in result.malformed:
            out.problems.append(doc.problem(path, _malformed_message(token)))
        if result.missing or result.empty or result.malformed:
            out.reported.add(path)
            return value
        if len(path) == 3 and path[0] == "providers" and path[2] == "api_key":
            index = path[1]
            assert isinstance(index, int)
            out.key_names[index] = result.names
        return result.value

    out.data = walk(doc.data, ())
    return out


def _missing_message(names: Sequence[str]) -> str:
    unique = list(dict.fromkeys(names))
    if len(unique) == 1:
        name = unique[0]
        return (
            f"environment variable {name} is not set; export it (in CI, from a secret), "
            f"or write ${{{name}:-}} to allow an empty value"
        )
    listed = ", ".join(unique[:-1]) + f" and {unique[-1]}"
    return (
        f"environment variables {listed} are not set; export them (in CI, from secrets), "
        "or write ${NAME:-} to allow an empty value"
    )


def _malformed_message(token: str) -> str:
    fix = "write ${NAME} or ${NAME:-default}, or $${ for a literal '${'"
    if not token.endswith("}"):
        # Quote only up to a default: what follows ":-" may be a key pasted in.
        shown = token.split(":-", 1)[0] + (":-..." if ":-" in token else "")
        return f"'{shown}' is not closed: add '}}', or {fix}"
    if "${" in token[2:]:
        return f"'{token}' nests a reference inside another, which is not supported; {fix}"
    inner = token[2:-1]
    if ":" in inner and ":-" not in inner:
        return f"'{token}' is not a valid reference; for a default write ${{NAME:-default}}"
    return (
        f"'{token}' is not a valid reference: a variable name starts with a letter or '_' "
        f"and holds only letters, digits and '_'; {fix}"
    )


# --- schema ---------------------------------------------------------------------------


@cache
def _fast_validator() -> Callable[[Any], Any]:
    import fastjsonschema

    # The same schema, compiled to Python code. fastjsonschema knows draft-07, whose
    # meaning is the same for every keyword this schema uses (a test checks that both
    # validators agree on generated documents).
    # A deep copy: compiling annotates the schema it is given, and schema() is shared.
    draft07 = {**copy.deepcopy(schema()), "$schema": "http://json-schema.org/draft-07/schema#"}
    validate: Callable[[Any], Any] = fastjsonschema.compile(draft07)
    return validate


def _is_valid_fast(data: Any) -> bool:
    """True when the document is valid; a fast check (10x jsonschema) for the common case.
    jsonschema then explains the problems of an invalid document, all of them."""
    import fastjsonschema

    try:
        _fast_validator()(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _validate_schema(
    doc: Document, data: dict[str, Any], reported: Set[Path]
) -> tuple[list[Problem], set[int] | None]:
    """Schema problems, and the indexes of broken providers (None: nothing is usable)."""
    broken: set[int] = {
        p[1] for p in reported if len(p) >= 2 and p[0] == "providers" and isinstance(p[1], int)
    }
    # Providers can still be checked one by one unless the list itself is unreadable.
    usable = isinstance(data.get("providers"), list | None) and ("providers",) not in reported
    if _is_valid_fast(data):
        return [], broken if usable else None

    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema())
    problems: list[Problem] = []
    for error in validator.iter_errors(data):
        path: Path = tuple(error.absolute_path)
        if len(path) >= 2 and path[0] == "providers" and isinstance(path[1], int):
            broken.add(path[1])
        if any(path[: len(r)] == r for r in reported):
            continue
        problems.extend(_explain(doc, path, error))
    problems.sort(key=lambda p: (p.line or 0, p.column or 0, p.message))
    return problems, broken if usable else None


def _explain(doc: Document, path: Path, error: Any) -> list[Problem]:
    kind = error.validator
    value = error.instance
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        own = "^x-" in error.schema.get("patternProperties", {})
        out = []
        for key in sorted(set(value) - set(allowed)):
            if own and key.startswith("x-"):
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"the known fields are {', '.join(allowed)}"
                + (" (name your own fields x-..., e.g. x-defaults for anchors)" if own else "")
            )
            out.append(doc.problem((*path, key), f"unknown field '{key}'; {hint}"))
        return out
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value]
        msgs = []
        for key in missing:
            extra = ""
            if key == "type":
                extra = " (openai, anthropic or google; Ollama and other local engines are openai)"
            elif key == "version":
                extra = "; add 'version: 1' at the top"
            elif key == "providers":
                extra = "; add a 'providers:' list"
            elif key == "name":
                extra = "; every provider needs a unique name"
            msgs.append(doc.problem(path, f"missing required field '{key}'{extra}"))
        return msgs
    if kind == "type":
        return [doc.problem(path, _type_message(path, error.validator_value, value))]
    if kind == "enum":
        options = [str(o) for o in error.validator_value]
        close = difflib.get_close_matches(str(value), options, n=1)
        if close:
            hint = f"; did you mean '{close[0]}'?"
        elif path[-1:] == ("type",):
            hint = " (Ollama, vLLM and other OpenAI-compatible engines are 'openai')"
        else:
            hint = ""
        value = _as_written(doc, path, value)
        shown = json.dumps(value) if not isinstance(value, str) else f"'{value}'"
        return [doc.problem(path, f"{shown} is not one of: {', '.join(options)}{hint}")]
    if kind == "const":
        want = json.dumps(error.validator_value)
        hint = " (without quotes)" if isinstance(value, str) else ""
        return [
            doc.problem(
                path,
                f"must be {want}{hint}, not {json.dumps(value)}: {want} is the only format "
                "version this reconciler reads",
            )
        ]
    if kind == "minLength":
        return [doc.problem(path, "must not be empty: give it a value")]
    if kind == "maxLength":
        return [doc.problem(path, f"is longer than {error.validator_value} characters")]
    if kind == "pattern":
        if value == "":
            return []  # minLength says it
        return [doc.problem(path, "must not be blank: give it a value")]
    if kind == "uniqueItems":
        return [doc.problem(path, "lists the same value twice: remove the repeated one")]
    return [doc.problem(path, error.message)]  # pragma: no cover - schema keywords above


def _type_message(path: Path, expected: Any, value: Any) -> str:
    expected = expected if isinstance(expected, list) else [expected]
    got = _TYPE_NAMES.get(type(value), type(value).__name__)
    if path == ("providers",):
        return (
            f"expected a list of providers, got {got}; start each provider with '- ', "
            "as in '- name: OpenAI'"
        )
    if len(path) == 2 and path[0] == "providers":
        hint = f": write '- name: {value}'" if isinstance(value, str) else ""
        return (
            f"a provider must be a mapping of fields (name:, type:, base_url:...), "
            f"got {got}{hint}, with its other fields indented below it"
        )
    want = " or ".join(_JSON_TYPE_NAMES.get(t, t) for t in expected if t != "null")
    hint = ""
    if "string" in expected and isinstance(value, bool):
        hint = " (YAML reads yes/no/on/off/true/false as booleans: put the text in quotes)"
    elif "string" in expected and isinstance(value, int | float):
        hint = " (put it in quotes)"
    elif value is None:
        hint = ": give it a value, or remove the line"
    elif "boolean" in expected and isinstance(value, str):
        hint = ": write true or false, without quotes (a ${VAR} reference always gives text)"
    elif "array" in expected and isinstance(value, str):
        hint = f": write [{value}] for a list of one"
    return f"expected {want}, got {got}{hint}"


# --- building specs -------------------------------------------------------------------


@dataclass(frozen=True)
class _Declared:
    """A provider spec, and where in which document it was declared."""

    spec: ProviderSpec
    doc: Document
    index: int

    def problem(self, message: str, *path: PathPart) -> Problem:
        return self.doc.problem(("providers", self.index, *path), message)


def _build_specs(
    doc: Document, subst: _Substituted, skip: set[int]
) -> tuple[list[_Declared], list[Problem], list[str]]:
    problems: list[Problem] = []
    warnings: list[str] = []
    declared: list[_Declared] = []
    for index, raw in enumerate(subst.data.get("providers") or []):
        if index in skip:
            # Already reported, but a bad URL is worth reporting in the same run.
            url = raw.get("base_url") if isinstance(raw, dict) else None
            url_path: Path = ("providers", index, "base_url")
            if isinstance(url, str) and url and url_path not in subst.reported:
                url_problem = check_url(url, _as_written(doc, url_path, url))
                if url_problem:
                    problems.append(doc.problem(url_path, url_problem))
            continue
        spec, spec_problems, spec_warnings = _spec(doc, index, raw, subst.key_names.get(index))
        problems.extend(spec_problems)
        warnings.extend(spec_warnings)
        if spec is not None:
            declared.append(_Declared(spec, doc, index))
    return declared, problems, warnings


def _spec(
    doc: Document,
    index: int,
    values: dict[str, Any],
    key_names: tuple[str, ...] | None,
) -> tuple[ProviderSpec | None, list[Problem], list[str]]:
    """One provider from its schema-valid, substituted values: defaults and checks."""
    base: Path = ("providers", index)
    problems: list[Problem] = []
    warnings: list[str] = []
    name = values["name"].strip()
    mark = doc.mark(base)
    location = Location(
        file=doc.file, line=mark.line if mark else None, column=mark.column if mark else None
    )
    where = f"{location}: provider '{name}'"
    renamed_from = tuple(values.get("renamed_from", ()))
    if values.get("ensure") == "absent":
        extra = sorted(set(values) - {"name", "ensure"})
        if extra:
            # Silently ignoring `enabled: false` here would send a user who follows the
            # "disable it first" advice round in circles.
            return (
                None,
                [
                    doc.problem(
                        (*base, extra[0]),
                        f"an entry with 'ensure: absent' takes only 'name' (found "
                        f"{', '.join(extra)}); to disable the provider first, set "
                        "'enabled: false' on its normal entry (without 'ensure: absent'), apply, "
                        "then replace the entry with 'ensure: absent'",
                    )
                ],
                [],
            )
        return (
            ProviderSpec(name=name, ensure="absent", renamed_from=renamed_from, location=location),
            [],
            [],
        )
    ptype = values["type"]
    raw_url: str | None = values.get("base_url")
    if raw_url is None and ptype not in DEFAULT_BASE_URLS:
        problems.append(
            doc.problem(
                base,
                "missing required field 'base_url': type openai needs the endpoint, "
                "e.g. https://api.openai.com/v1, or http://localhost:11434/v1 for Ollama",
            )
        )
        return None, problems, warnings
    if raw_url is None:
        base_url = DEFAULT_BASE_URLS[ptype]
    else:
        url_problem = check_url(raw_url, _as_written(doc, (*base, "base_url"), raw_url))
        if url_problem:
            return None, [doc.problem((*base, "base_url"), url_problem)], warnings
        base_url = raw_url.rstrip("/")
    raw_key = values.get("api_key")
    api_key = Secret(raw_key) if raw_key else None
    api_key_ref = "".join(f"${{{n}}}" for n in key_names or ()) or None
    if raw_key is not None and raw_key != "" and not raw_key.strip():
        problems.append(
            doc.problem(
                (*base, "api_key"), "api_key is blank (only spaces); set a key or remove the field"
            )
        )
        return None, problems, warnings
    bare = _BARE_REFERENCE.fullmatch(raw_key or "")
    if raw_key and not key_names and bare:
        warnings.append(
            f"{where}: api_key is the literal text '{raw_key}'; did you mean "
            f"${{{bare.group(1)}}}? Only ${{...}} references are substituted"
        )
    elif raw_key and not key_names:
        warnings.append(
            f"{where}: api_key is a literal value in the file; commit a ${{VAR}} reference "
            "instead and set the variable in CI"
        )
    written = _raw(doc, (*base, "api_key"))
    if isinstance(written, str) and _KEY_DEFAULT.search(written):
        warnings.append(
            f"{where}: api_key has a non-empty default (${{VAR:-...}}), which puts a key in "
            "the file; write ${VAR}, or ${VAR:-} to allow no key"
        )
    host = urlsplit(base_url).hostname or ""
    if api_key is None and needs_key(ptype, base_url):
        warnings.append(f"{where}: no admin api_key; only users with their own key can use it")
    if api_key is not None and base_url.startswith("http://") and not is_loopback(host):
        warnings.append(f"{where}: api_key would be sent over plain http to {host}; use https")
    rules = None
    if "models" in values:
        m = values["models"]
        rules = ModelRules(
            visible=tuple(m.get("visible", ())),
            hidden=tuple(m.get("hidden", ())),
            only_listed=bool(m.get("only_listed", False)),
        )
    spec = ProviderSpec(
        name=name,
        type=ptype,
        base_url=base_url,
        api_key=api_key,
        api_key_ref=api_key_ref,
        enabled=values.get("enabled", True),
        renamed_from=renamed_from,
        fetch_models=values.get("fetch_models", True),
        models=rules,
        location=location,
    )
    return spec, problems, warnings


_KEY_DEFAULT = re.compile(r"(?<!\$)\$\{[A-Za-z_][A-Za-z0-9_]*:-[^}]+\}")


def _raw(doc: Document, path: Path) -> Any:
    """The value at ``path`` as written in the file, before substitution."""
    value: Any = doc.data
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


_SPACE = re.compile(r"\s")
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASS|PWD|CREDENTIAL", re.IGNORECASE)
_BARE_REFERENCE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def check_url(url: str, shown: str | None = None) -> str | None:
    """Why ``url`` is not a usable base URL (and how to fix it), or None. Messages quote
    ``shown`` (the text as written in the file) rather than the substituted value, with
    any credentials or query masked: either may hold a key."""
    example = "write e.g. https://api.example.com/v1"
    quoted = f"'{redact_url(shown if shown is not None else url)}'"
    if _SPACE.search(url):
        return f"{quoted} contains spaces; remove them"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        # urlsplit's words, unless they quote a piece of the (possibly substituted) URL.
        why = str(exc) if "'" not in str(exc) else "check the host and port"
        return f"{quoted} is not a valid URL ({why}); {example}"
    if "://" not in url:
        return (
            f"{quoted} has no scheme; write http:// or https:// before the host, e.g. "
            f"https://{redact_url(shown if shown is not None else url)}"
        )
    if parts.scheme not in ("http", "https"):
        return f"{quoted} uses {parts.scheme}://; an API is reached over http:// or https://"
    if not parts.hostname:
        return f"{quoted} has no host; {example}"
    if parts.username or parts.password:
        return "the URL must not hold credentials (user:password@); put the key in api_key"
    if parts.query or parts.fragment:
        return f"{quoted} must not have a query (?...) or fragment (#...); give the key in api_key"
    return None


def _as_written(doc: Document, path: Path, value: Any) -> Any:
    """What to quote in a message: the text as written when ``${...}`` was substituted
    into ``value`` (the value may be a secret), else the value itself."""
    raw = _raw(doc, path)
    return raw if isinstance(raw, str) and raw != value and "${" in raw else value


def _duplicates_among_broken(
    declared: Sequence[_Declared], broken: Sequence[tuple[str, Document, int]]
) -> list[Problem]:
    """Duplicate names where at least one of the two entries has other errors."""
    first: dict[str, str] = {d.spec.name: str(d.spec.location) for d in declared}
    problems = []
    for name, doc, index in broken:
        mark = doc.mark(("providers", index))
        here = f"{doc.file}:{mark.line}:{mark.column}" if mark else doc.file
        if name in first:
            problems.append(
                doc.problem(
                    ("providers", index, "name"),
                    f"duplicate provider name '{name}' (also declared at {first[name]}); "
                    "names must be unique: rename or remove one of them",
                )
            )
        else:
            first[name] = here
    return problems


def _cross_checks(declared: Sequence[_Declared]) -> list[Problem]:
    """Checks across all providers of all files: unique names, unambiguous renames."""
    problems: list[Problem] = []
    first: dict[str, _Declared] = {}
    for d in declared:
        name = d.spec.name
        if name in first:
            problems.append(
                d.problem(
                    f"duplicate provider name '{name}' (also declared at "
                    f"{first[name].spec.location}); names must be unique: rename or remove "
                    "one of them",
                    "name",
                )
            )
        else:
            first[name] = d
    claimed: dict[str, _Declared] = {}
    for d in declared:
        for i, old in enumerate(d.spec.renamed_from):
            if old == d.spec.name:
                problems.append(
                    d.problem(
                        f"renamed_from lists the provider's own name '{old}': remove it",
                        "renamed_from",
                        i,
                    )
                )
            elif old in first:
                problems.append(
                    d.problem(
                        f"renamed_from names '{old}', but a provider '{old}' is also declared "
                        f"(at {first[old].spec.location}); a provider cannot be renamed and "
                        f"kept: remove '{old}' from renamed_from, or remove that provider",
                        "renamed_from",
                        i,
                    )
                )
            elif old in claimed:
                problems.append(
                    d.problem(
                        f"renamed_from names '{old}', which provider '{claimed[old].spec.name}' "
                        f"(at {claimed[old].spec.location}) already renames; only one provider "
                        f"can take over its models: remove '{old}' from one of them",
                        "renamed_from",
                        i,
                    )
                )
            else:
                claimed[old] = d
    return problems
