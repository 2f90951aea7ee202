"""``${VAR}`` substitution: in one string, and in every string value of a document.

Grammar: ``${NAME}`` must be set and not empty; ``${NAME:-default}`` falls back to the
literal default when NAME is unset or empty (as in a shell); ``$${`` is a literal ``${``;
any other ``$`` is literal. The result is never expanded again, so a value that itself
contains ``${`` stays as it is.

Empty counts as missing for ``${NAME}`` because that is what CI gives for a secret it does
not have: GitHub Actions expands ``${{ secrets.NOPE }}`` to an empty string.

A document is substituted before it is validated, so that the schema and the checks see
the values that will be used; problems are located at the value that holds the reference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.config.document import Document, Path, shown
from reconciler.errors import Problem
from reconciler.secrets import remember

_TOKEN = re.compile(
    r"\$\$\{"  # escaped literal
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\$\{(?P<bad>[^}]*)\}?"
)


@dataclass(frozen=True)
class Result:
    """The substituted value, the variables it referenced, and what went wrong."""

    value: str
    names: tuple[str, ...]
    missing: tuple[str, ...]
    malformed: tuple[str, ...]
    # Referenced as ${NAME} (no default), set, but empty.
    empty: tuple[str, ...] = ()


def substitute(text: str, env: Mapping[str, str]) -> Result:
    """Expand the references in ``text`` once, from ``env``."""
    names: list[str] = []
    missing: list[str] = []
    malformed: list[str] = []
    empty: list[str] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        name = match.group("name")
        default = match.group("default")
        if name is None or (default is not None and "${" in default):
            # A nested ``${A:-${B}}`` is refused rather than half-expanded.
            malformed.append(token)
            return token
        names.append(name)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        (missing if value is None else empty).append(name)
        return ""

    value = _TOKEN.sub(replace, text)
    return Result(value, tuple(names), tuple(missing), tuple(malformed), tuple(empty))


# Variables named like these hold secrets wherever the file uses them.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASS|PWD|CREDENTIAL", re.IGNORECASE)


@dataclass
class Substituted:
    """A document's data with ``${VAR}`` references expanded, and what that found."""

    data: Any
    problems: list[Problem] = field(default_factory=list)
    # Paths whose value could not be expanded: reported, left as written, not used.
    reported: set[Path] = field(default_factory=set)
    # Per provider index: the variables its api_key references (empty: a literal).
    key_names: dict[int, tuple[str, ...]] = field(default_factory=dict)


def substitute_document(doc: Document, env: Mapping[str, str], *, require_env: bool) -> Substituted:
    """Expand every string value of ``doc`` once; ``require_env=False`` reads an unset
    variable as a placeholder (``unset-name``) instead of reporting it."""
    out = Substituted(data=None)

    def substituted(value: Any, path: Path, required: bool) -> Any:
        if isinstance(value, dict):
            # An entry to delete is checked for shape only: the secret of a provider
            # that is going away may be gone from CI already.
            if len(path) == 2 and path[0] == "providers" and value.get("ensure") == "absent":
                required = False
            return {k: substituted(v, (*path, k), required) for k, v in value.items()}
        if isinstance(value, list):
            return [substituted(v, (*path, i), required) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        return _substitute_value(doc, value, path, env, required, out)

    out.data = substituted(doc.data, (), require_env)
    return out


def remember_secrets(names: Sequence[str], env: Mapping[str, str], *, key: bool) -> None:
    """Scrub, from every message from now on, the values of key variables (``key``) and of
    variables named like secrets, wherever the file happens to use them."""
    for name in names:
        if key or _SECRET_NAME.search(name):
            remember(env.get(name) or "")


def _substitute_value(
    doc: Document,
    value: str,
    path: Path,
    env: Mapping[str, str],
    require_env: bool,
    out: Substituted,
) -> str:
    """One string value, expanded; what goes wrong is recorded in ``out``."""
    result = substitute(value, env)
    remember_secrets(result.names, env, key=path[-1:] == ("api_key",))
    unset = (*result.missing, *result.empty)
    if unset and not require_env and not result.malformed:
        placeholders = {name: f"unset-{name.lower()}" for name in unset}
        result = substitute(value, {**env, **placeholders})
    if result.missing:
        is_key = bool(path) and path[-1] == "api_key"
        out.problems.append(doc.problem(path, _missing_message(result.missing, is_key=is_key)))
    for name in map(shown, dict.fromkeys(result.empty)):
        out.problems.append(
            doc.problem(
                path,
                f"environment variable {name} is set but empty (CI gives an empty value "
                f"for a secret it does not have); set it, or write ${{{name}:-}} to allow "
                "an empty value",
            )
        )
    for token in result.malformed:
        out.problems.append(doc.problem(path, malformed_message(token)))
    if result.missing or result.empty or result.malformed:
        out.reported.add(path)
        return value
    if len(path) == 3 and path[0] == "providers" and path[2] == "api_key":
        index = path[1]
        assert isinstance(index, int)
        out.key_names[index] = result.names
    return result.value


def _missing_message(names: Sequence[str], *, is_key: bool = False) -> str:
    unique = [shown(n) for n in dict.fromkeys(names)]
    # For a key, an empty value is no admin key, and apply removes the one a server holds:
    # the advice says so rather than offer it as a harmless way out.
    empty = (
        "if the provider is to have no admin key (apply then removes a key the target holds)"
        if is_key
        else "to allow an empty value"
    )
    if len(unique) == 1:
        name = unique[0]
        return (
            f"environment variable {name} is not set; export it (in CI, from a secret), "
            f"or write ${{{name}:-}} {empty}"
        )
    listed = ", ".join(unique[:-1]) + f" and {unique[-1]}"
    return (
        f"environment variables {listed} are not set; export them (in CI, from secrets), "
        f"or write ${{NAME:-}} {empty}"
    )


def malformed_message(token: str) -> str:
    fix = "write ${NAME} or ${NAME:-default}, or $${ for a literal '${'"
    if not token.endswith("}"):
        # Quote only up to a default: what follows ":-" may be a key pasted in.
        head = token.split(":-", 1)[0]
        return (
            f"'{shown(head)}{':-...' if ':-' in token else ''}' is not closed: add '}}', or {fix}"
        )
    quoted = f"'{shown(token)}'"
    if "${" in token[2:]:
        return f"{quoted} nests a reference inside another, which is not supported; {fix}"
    inner = token[2:-1]
    if ":" in inner and ":-" not in inner:
        return f"{quoted} is not a valid reference; for a default write ${{NAME:-default}}"
    return (
        f"{quoted} is not a valid reference: a variable name starts with a letter or '_' "
        f"and holds only letters, digits and '_'; {fix}"
    )
