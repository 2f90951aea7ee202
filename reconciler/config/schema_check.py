"""The schema check: a document against the shipped JSON Schema, each error explained.

The schema is the one definition of the format. A compiled validator answers the common
case (a valid file) quickly, and picks the providers of an invalid one that need
explaining; jsonschema then lists their every error, and each error is put in the user's
terms: which field, what was expected, how to fix it.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Callable, Hashable, Iterator, Set
from functools import cache
from importlib import resources
from typing import Any

from reconciler.config import catalog
from reconciler.config.document import TYPE_NAMES, UNPRINTABLE, Document, Path, escape, shown
from reconciler.config.environments import NOT_IN_OVERRIDES
from reconciler.errors import Problem

_JSON_TYPE_NAMES = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "array": "a list",
    "object": "a mapping",
    "null": "nothing",
}
# What to add when a required field is missing: what to write, or why it is needed.
_REQUIRED_HINTS = {
    "type": " (openai, anthropic or google; Ollama and other local engines are openai)",
    "version": "; add 'version: 1' at the top",
    "providers": "; add a 'providers:' list",
    "name": "; every provider needs a unique name",
}


@cache
def schema() -> dict[str, Any]:
    """The providers.yaml JSON Schema shipped inside the package."""
    text = resources.files("reconciler").joinpath("schemas/providers.schema.json").read_text()
    result: dict[str, Any] = json.loads(text)
    return result


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


def is_valid_fast(data: Any) -> bool:
    """True when the document is valid; a fast check (10x jsonschema) for the common case.
    jsonschema then explains the problems of an invalid document, all of them."""
    import fastjsonschema

    try:
        _fast_validator()(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def problems(
    doc: Document, data: dict[str, Any], reported: Set[Path]
) -> tuple[list[Problem], set[int] | None]:
    """Schema problems of ``data`` (``doc`` substituted), except at the ``reported`` paths;
    and the indexes of broken providers (None: the providers list itself is unusable)."""
    broken: set[int] = {
        p[1] for p in reported if len(p) >= 2 and p[0] == "providers" and isinstance(p[1], int)
    }
    # Providers can still be checked one by one unless the list itself is unreadable.
    usable = isinstance(data.get("providers"), list | None) and ("providers",) not in reported
    if is_valid_fast(data):
        return [], broken if usable else None

    found: list[Problem] = []
    unexplained = 0
    for path, error in _errors(data):
        if len(path) >= 2 and path[0] == "providers" and isinstance(path[1], int):
            broken.add(path[1])
        # Each prefix looked up, not each reported path compared: both can be many.
        if any(path[:i] in reported for i in range(len(path) + 1)):
            continue
        if error is None:  # past the bound of providers explained: said once
            unexplained += 1
            if unexplained == 1:
                found.append(
                    doc.problem(
                        path,
                        "this provider and the ones after it are not checked against the "
                        f"schema: {EXPLAINED:,} providers above already have errors; fix "
                        "those first",
                    )
                )
            continue
        if "propertyNames" in error.schema_path:
            # A bad key (an alias name): pointed at the key itself, not at its mapping.
            path = (*path, error.instance)
        explain = _EXPLAIN.get(error.validator, _as_jsonschema_says)
        found.extend(explain(doc, path, error))
    # jsonschema reports each missing required field, and each names all of them.
    found = list(dict.fromkeys(found))
    found.sort(key=lambda p: (p.line or 0, p.column or 0, p.message))
    return found, broken if usable else None


# jsonschema takes about 0.1 ms per provider; a file of a million broken entries would take
# minutes to explain, for messages no one reads past the first ones.
EXPLAINED = 10_000


def _errors(data: dict[str, Any]) -> Iterator[tuple[Path, Any]]:
    """The schema errors of ``data`` with their paths: the document without its providers,
    then each provider the fast validator refuses on its own; once EXPLAINED providers are,
    each provider after that with None instead."""
    validator = _validator()
    providers = data.get("providers")
    if not isinstance(providers, list):
        for error in validator.iter_errors(data):
            yield tuple(error.absolute_path), error
        return
    for error in validator.iter_errors({**data, "providers": []}):
        yield tuple(error.absolute_path), error
    explained = 0
    for index, provider in enumerate(providers):
        if explained == EXPLAINED:
            # The rest is not even checked: the file is refused anyway.
            yield ("providers", index), None
            continue
        alone = {"version": 1, "providers": [provider]}
        if is_valid_fast(alone):
            continue
        explained += 1
        for error in validator.iter_errors(alone):
            yield ("providers", index, *tuple(error.absolute_path)[2:]), error


@cache
def _validator() -> Any:
    """jsonschema's 2020-12 validator for the schema, with a uniqueItems check that hashes:
    its own compares every pair of items of a list it cannot sort (mixed types, mappings),
    which takes minutes on a long list."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    def unique_items(validator: Any, unique: bool, instance: Any, _: Any) -> Iterator[Any]:
        if unique and validator.is_type(instance, "array"):
            frozen = [_frozen(item) for item in instance]
            if len(set(frozen)) < len(frozen):
                yield ValidationError("has non-unique elements")

    extended = validators.extend(Draft202012Validator, {"uniqueItems": unique_items})
    return extended(schema())


def _frozen(value: Any) -> Hashable:
    """``value`` as a hashable, equal where JSON Schema calls values equal (1 and 1.0 are,
    true and 1 are not)."""
    if isinstance(value, dict):
        return frozenset((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, list):
        return ("list", tuple(_frozen(v) for v in value))
    if isinstance(value, bool):
        return ("bool", value)
    hashable: Hashable = value
    return hashable


# Fields of the model catalog that belong to the other kind of entry: said so, rather
# than offering a misspelling. (ClaraVerse refuses free_tier on a model outright.)
def _unknown_fields(doc: Document, path: Path, error: Any) -> list[Problem]:
    allowed = sorted(error.schema.get("properties", {}))
    own = "^x-" in error.schema.get("patternProperties", {})
    out = []
    for key in sorted(set(error.instance) - set(allowed)):
        if own and key.startswith("x-"):
            continue
        offered = allowed
        source = doc.source((*path, key))
        if source[:1] == ("providers",) and source[2:3] == ("environments",):
            # Written in an override, which cannot hold these: not offered as known.
            offered = [k for k in allowed if k not in NOT_IN_OVERRIDES]
        hint = catalog.unknown_field_hint(path, key)
        if hint is None:
            close = _close_match(key, offered)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"the known fields are {', '.join(offered)}"
                + (" (name your own fields x-..., e.g. x-defaults for anchors)" if own else "")
            )
        out.append(doc.problem((*path, key), f"unknown field '{shown(key)}'; {hint}"))
    return out


def _close_match(value: Any, options: list[str]) -> list[str]:
    """The option ``value`` is probably a misspelling of, if any. A long value is none:
    comparing it costs time in proportion to its length, and names here are short."""
    text = str(value)
    return difflib.get_close_matches(text, options, n=1) if len(text) <= 100 else []


def _missing_fields(doc: Document, path: Path, error: Any) -> list[Problem]:
    missing = [k for k in error.validator_value if k not in error.instance]
    return [
        doc.problem(
            path,
            f"missing required field '{key}'"
            + (catalog.required_hint(path, key) or _REQUIRED_HINTS.get(key, "")),
        )
        for key in missing
    ]


def _wrong_type(doc: Document, path: Path, error: Any) -> list[Problem]:
    return [doc.problem(path, _type_message(path, error.validator_value, error.instance))]


def _not_an_option(doc: Document, path: Path, error: Any) -> list[Problem]:
    options = [str(o) for o in error.validator_value]
    close = _close_match(error.instance, options)
    if close:
        hint = f"; did you mean '{close[0]}'?"
    elif path[-1:] == ("type",):
        hint = " (Ollama, vLLM and other OpenAI-compatible engines are 'openai')"
    else:
        hint = ""
    value = doc.as_written(path, error.instance)
    quoted = f"'{shown(value)}'" if isinstance(value, str) else shown(json.dumps(value))
    return [doc.problem(path, f"{quoted} is not one of: {', '.join(options)}{hint}")]


def _not_the_constant(doc: Document, path: Path, error: Any) -> list[Problem]:
    want = json.dumps(error.validator_value)
    hint = " (without quotes)" if isinstance(error.instance, str) else ""
    return [
        doc.problem(
            path,
            f"must be {want}{hint}, not {shown(json.dumps(error.instance))}: {want} is the only "
            "format version this reconciler reads",
        )
    ]


def _empty(doc: Document, path: Path, error: Any) -> list[Problem]:
    if path[-1:] == ("",):  # an empty key (see propertyNames above)
        return [doc.problem(path, "a key must not be empty: name it, or remove the entry")]
    return [doc.problem(path, "must not be empty: give it a value")]


def _too_long(doc: Document, path: Path, error: Any) -> list[Problem]:
    return [doc.problem(path, f"is longer than {error.validator_value} characters")]


def _out_of_range(doc: Document, path: Path, error: Any) -> list[Problem]:
    bound = error.validator_value
    side = f"at least {bound}" if error.validator == "minimum" else f"at most {bound}"
    return [doc.problem(path, f"must be {side}, not {shown(json.dumps(error.instance))}")]


def _unwanted(doc: Document, path: Path, error: Any) -> list[Problem]:
    """A name with a character that hides or reorders text, or with no text at all."""
    found = UNPRINTABLE.search(error.instance)
    if found:
        char = found.group(0)
        kind = "a bidirectional-text control" if ord(char) >= 0x200E else "a control character"
        if char in "\n\r":
            kind = "a line break"
        elif char == "\t":
            kind = "a tab"
        return [
            doc.problem(
                path,
                f'contains {kind} ("{escape(char)}"); a name must be plain text on one line, '
                "shown the same everywhere: remove it",
            )
        ]
    if error.instance == "":
        return []  # minLength says it
    return [doc.problem(path, "must not be blank: give it a value")]


def _repeated(doc: Document, path: Path, error: Any) -> list[Problem]:
    return [doc.problem(path, "lists the same value twice: remove the repeated one")]


def _as_jsonschema_says(  # pragma: no cover - every keyword the schema uses is explained
    doc: Document, path: Path, error: Any
) -> list[Problem]:
    return [doc.problem(path, error.message)]


# Per schema keyword, the function that puts its error in the user's terms.
_EXPLAIN: dict[str, Callable[[Document, Path, Any], list[Problem]]] = {
    "additionalProperties": _unknown_fields,
    "required": _missing_fields,
    "type": _wrong_type,
    "enum": _not_an_option,
    "const": _not_the_constant,
    "minLength": _empty,
    "maxLength": _too_long,
    "minimum": _out_of_range,
    "maximum": _out_of_range,
    "pattern": _unwanted,
    "uniqueItems": _repeated,
}


def _type_message(path: Path, expected: Any, value: Any) -> str:
    expected = expected if isinstance(expected, list) else [expected]
    got = TYPE_NAMES.get(type(value), type(value).__name__)
    if path == ("providers",):
        return (
            f"expected a list of providers, got {got}; start each provider with '- ', "
            "as in '- name: OpenAI'"
        )
    if len(path) == 2 and path[0] == "providers":
        hint = f": write '- name: {shown(value)}'" if isinstance(value, str) else ""
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
        hint = f": write [{shown(value)}] for a list of one"
    return f"expected {want}, got {got}{hint}"
