"""providers.yaml → Desired: read strictly, validate against the schema, substitute, check.

Every problem in every file is collected and raised together as one ConfigError, before
anything contacts a target; warnings are returned on the Desired value.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path as FsPath
from typing import Any
from urllib.parse import urlsplit

from reconciler import yamlsource
from reconciler.errors import ConfigError, Problem
from reconciler.model import (
    DEFAULT_BASE_URLS,
    Desired,
    Location,
    ModelRules,
    ProviderSpec,
    is_loopback,
    needs_key,
)
from reconciler.secrets import Secret
from reconciler.substitute import substitute
from reconciler.yamlsource import Document, Path

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
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise ConfigError(
                    [
                        Problem(
                            file=raw,
                            line=None,
                            column=None,
                            path="",
                            message="the folder holds no *.yaml or *.yml file",
                        )
                    ]
                )
            out.extend(str(f) for f in found)
        else:
            out.append(raw)
    return out


def load(paths: Sequence[str], env: Mapping[str, str] | None = None) -> Desired:
    """Read, validate and substitute the files; raise ConfigError with every problem."""
    env = os.environ if env is None else env
    files = expand_paths(paths or [DEFAULT_FILE])
    problems: list[Problem] = []
    warnings: list[str] = []
    specs: list[ProviderSpec] = []
    for file in files:
        try:
            text = FsPath(file).read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append(_file_problem(file, "no such file; pass the right path with -f"))
            continue
        except IsADirectoryError:
            problems.append(_file_problem(file, "is a folder"))
            continue
        except UnicodeDecodeError:
            problems.append(_file_problem(file, "is not UTF-8 text"))
            continue
        except OSError as exc:
            problems.append(_file_problem(file, f"cannot be read: {exc.strerror}"))
            continue
        doc, found = yamlsource.load(file, text)
        problems.extend(found)
        if doc is None:
            continue
        schema_problems, broken = _validate_schema(doc)
        problems.extend(schema_problems)
        if broken is None:
            continue
        # Providers the schema accepted are still checked, so that one run reports all.
        file_specs, file_problems, file_warnings = _build_specs(doc, env, skip=broken)
        problems.extend(file_problems)
        warnings.extend(file_warnings)
        specs.extend(file_specs)
    problems.extend(_cross_checks(specs))
    if problems:
        order = {f: i for i, f in enumerate(files)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0, p.column or 0))
        raise ConfigError(problems)
    return Desired(providers=tuple(specs), files=tuple(files), warnings=tuple(warnings))


def _file_problem(file: str, message: str) -> Problem:
    return Problem(file=file, line=None, column=None, path="", message=message)


# --- schema ---------------------------------------------------------------------------


def _validate_schema(doc: Document) -> tuple[list[Problem], set[int] | None]:
    """Schema problems, and the indexes of broken providers (None: nothing is usable)."""
    from jsonschema import Draft202012Validator

    if not isinstance(doc.data, dict):
        return [
            doc.problem(
                (),
                f"the file must be a mapping with 'version: 1' and 'providers:', "
                f"not {_TYPE_NAMES.get(type(doc.data), 'a value')}",
            )
        ], None
    validator = Draft202012Validator(schema())
    problems: list[Problem] = []
    broken: set[int] = set()
    usable = True
    for error in validator.iter_errors(doc.data):
        path: Path = tuple(error.absolute_path)
        problems.extend(_explain(doc, path, error))
        if len(path) >= 2 and path[0] == "providers" and isinstance(path[1], int):
            broken.add(path[1])
        else:
            usable = False
    problems.sort(key=lambda p: (p.line or 0, p.column or 0, p.message))
    return problems, broken if usable else None


def _explain(doc: Document, path: Path, error: Any) -> list[Problem]:
    kind = error.validator
    value = error.instance
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        out = []
        for key in sorted(set(value) - set(allowed)):
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(allowed)}"
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
            msgs.append(doc.problem(path, f"missing required field '{key}'{extra}"))
        return msgs
    if kind == "type":
        expected = error.validator_value
        expected = expected if isinstance(expected, list) else [expected]
        want = " or ".join(_JSON_TYPE_NAMES.get(t, t) for t in expected if t != "null")
        got = _TYPE_NAMES.get(type(value), type(value).__name__)
        hint = ""
        if "string" in expected and isinstance(value, bool):
            hint = " (YAML reads yes/no/on/off/true/false as booleans: put the text in quotes)"
        elif "string" in expected and isinstance(value, int | float):
            hint = " (put it in quotes)"
        return [doc.problem(path, f"expected {want}, got {got}{hint}")]
    if kind == "enum":
        options = [str(o) for o in error.validator_value]
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return [doc.problem(path, f"'{value}' is not one of: {', '.join(options)}{hint}")]
    if kind == "const":
        return [doc.problem(path, f"must be {json.dumps(error.validator_value)}")]
    if kind == "minLength":
        return [doc.problem(path, "must not be empty")]
    if kind == "maxLength":
        return [doc.problem(path, f"is longer than {error.validator_value} characters")]
    if kind == "pattern":
        return [doc.problem(path, "must not be blank")]
    if kind == "uniqueItems":
        return [doc.problem(path, "lists the same value twice")]
    return [doc.problem(path, error.message)]  # pragma: no cover - schema keywords above


# --- building specs -------------------------------------------------------------------


def _build_specs(
    doc: Document, env: Mapping[str, str], skip: set[int]
) -> tuple[list[ProviderSpec], list[Problem], list[str]]:
    problems: list[Problem] = []
    warnings: list[str] = []
    specs: list[ProviderSpec] = []
    for index, raw in enumerate(doc.data.get("providers") or []):
        if index in skip:
            continue
        base: Path = ("providers", index)
        values: dict[str, Any] = {}
        key_names: tuple[str, ...] = ()
        key_literal = False
        for key, value in raw.items():
            if isinstance(value, str):
                result = substitute(value, env)
                for name in result.missing:
                    problems.append(
                        doc.problem(
                            (*base, key),
                            f"environment variable {name} is not set; export it, or write "
                            f"${{{name}:-}} to allow an empty value",
                        )
                    )
                for token in result.malformed:
                    problems.append(
                        doc.problem(
                            (*base, key),
                            f"'{token}' is not a valid reference; write ${{NAME}} or "
                            "${NAME:-default}, or $${ for a literal '${'",
                        )
                    )
                if key == "api_key":
                    key_names = result.names
                    key_literal = not result.names and bool(value)
                values[key] = result.value
            elif isinstance(value, list):
                values[key] = [
                    _sub_item(doc, (*base, key, i), v, env, problems) for i, v in enumerate(value)
                ]
            elif isinstance(value, dict):
                values[key] = {
                    k: [
                        _sub_item(doc, (*base, key, k, i), v, env, problems)
                        for i, v in enumerate(v)
                    ]
                    if isinstance(v, list)
                    else v
                    for k, v in value.items()
                }
            else:
                values[key] = value
        spec, spec_problems, spec_warnings = _spec(doc, base, values, key_names, key_literal)
        problems.extend(spec_problems)
        warnings.extend(spec_warnings)
        if spec is not None:
            specs.append(spec)
    return specs, problems, warnings


def _sub_item(
    doc: Document, path: Path, value: Any, env: Mapping[str, str], problems: list[Problem]
) -> Any:
    if not isinstance(value, str):
        return value
    result = substitute(value, env)
    for name in result.missing:
        problems.append(doc.problem(path, f"environment variable {name} is not set"))
    return result.value


def _spec(
    doc: Document,
    base: Path,
    values: dict[str, Any],
    key_names: tuple[str, ...],
    key_literal: bool,
) -> tuple[ProviderSpec | None, list[Problem], list[str]]:
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
        return (
            ProviderSpec(name=name, ensure="absent", renamed_from=renamed_from, location=location),
            [],
            [],
        )
    ptype = values["type"]
    base_url = values.get("base_url")
    if base_url is None:
        if ptype in DEFAULT_BASE_URLS:
            base_url = DEFAULT_BASE_URLS[ptype]
        else:
            problems.append(
                doc.problem(
                    base,
                    "missing required field 'base_url' (type openai needs the "
                    "endpoint, e.g. https://api.openai.com/v1 or "
                    "http://localhost:11434/v1 for Ollama)",
                )
            )
    else:
        url_problem = check_url(base_url)
        if url_problem:
            problems.append(doc.problem((*base, "base_url"), url_problem))
        base_url = base_url.rstrip("/")
    raw_key = values.get("api_key")
    api_key = Secret(raw_key) if raw_key else None
    api_key_ref = "".join(f"${{{n}}}" for n in key_names) or None
    if key_literal:
        warnings.append(
            f"{where}: api_key is a literal value in the file; commit a ${{VAR}} reference "
            "instead and set the variable in CI"
        )
    if base_url and not problems:
        host = urlsplit(base_url).hostname or ""
        loopback = is_loopback(host)
        if api_key is None and needs_key(ptype, base_url):
            warnings.append(f"{where}: no admin api_key; only users with their own key can use it")
        if api_key is not None and base_url.startswith("http://") and not loopback:
            warnings.append(f"{where}: api_key would be sent over plain http to {host}; use https")
    rules = None
    if "models" in values:
        m = values["models"]
        rules = ModelRules(
            visible=tuple(m.get("visible", ())),
            hidden=tuple(m.get("hidden", ())),
            only_listed=bool(m.get("only_listed", False)),
        )
    if problems:
        return None, problems, warnings
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


def check_url(url: str) -> str | None:
    """Why ``url`` is not a usable base URL, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"'{url}' is not a valid URL ({exc}); write e.g. https://api.example.com/v1"
    if parts.scheme not in ("http", "https"):
        return f"'{url}' must start with http:// or https://"
    if not parts.hostname:
        return f"'{url}' has no host; write e.g. https://api.example.com/v1"
    if parts.query or parts.fragment:
        return f"'{url}' must not have a query (?...) or fragment (#...)"
    if parts.username or parts.password:
        return "the URL must not hold credentials; put the key in api_key"
    return None


def _cross_checks(specs: Sequence[ProviderSpec]) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, ProviderSpec] = {}
    for spec in specs:
        if spec.name in first:
            problems.append(
                _at(
                    spec,
                    f"duplicate provider name '{spec.name}' (also declared at "
                    f"{first[spec.name].location}); names must be unique",
                )
            )
        else:
            first[spec.name] = spec
    claimed: dict[str, ProviderSpec] = {}
    for spec in specs:
        for old in spec.renamed_from:
            if old == spec.name:
                problems.append(_at(spec, f"renamed_from lists the provider's own name '{old}'"))
            elif old in first:
                problems.append(
                    _at(
                        spec,
                        f"renamed_from names '{old}', which is declared as a provider "
                        f"at {first[old].location}; a provider cannot be renamed into two",
                    )
                )
            elif old in claimed:
                problems.append(
                    _at(
                        spec,
                        f"renamed_from names '{old}', also claimed by provider "
                        f"'{claimed[old].name}'",
                    )
                )
            else:
                claimed[old] = spec
    return problems


def _at(spec: ProviderSpec, message: str) -> Problem:
    loc = spec.location
    return Problem(
        file=loc.file if loc else "?",
        line=loc.line if loc else None,
        column=loc.column if loc else None,
        path="",
        message=message,
    )
