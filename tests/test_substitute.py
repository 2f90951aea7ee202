"""${VAR} substitution: set, default, literal, malformed; expanded exactly once."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.config.substitute import Result, substitute


def test_a_reference_expands_to_the_value() -> None:
    assert substitute("Bearer ${TOKEN}!", {"TOKEN": "abc"}) == Result(
        value="Bearer abc!", names=("TOKEN",), missing=(), malformed=()
    )


def test_a_missing_variable_is_reported_and_left_empty() -> None:
    result = substitute("${A}-${B}-${A}", {"B": "b"})
    assert (result.value, result.names, result.missing) == ("-b-", ("A", "B", "A"), ("A", "A"))


def test_a_default_applies_when_the_variable_is_unset_or_empty_as_in_a_shell() -> None:
    assert substitute("${A:-fallback}", {}).value == "fallback"
    assert substitute("${A:-fallback}", {"A": ""}).value == "fallback"
    assert substitute("${A:-fallback}", {"A": "set"}).value == "set"
    assert substitute("${A:-}", {}).value == ""
    assert substitute("${A:-}", {}).missing == ()


def test_a_required_variable_that_is_set_but_empty_is_reported_as_empty() -> None:
    result = substitute("${A}", {"A": ""})
    assert (result.missing, result.empty) == ((), ("A",))
    assert substitute("${A}", {}).missing == ("A",)


def test_a_default_may_hold_any_text_but_a_closing_brace() -> None:
    assert substitute("${A:-http://h:1/x?y=$z}", {}).value == "http://h:1/x?y=$z"


def test_double_dollar_brace_is_a_literal_dollar_brace() -> None:
    result = substitute("$${A} and $${", {"A": "no"})
    assert (result.value, result.names) == ("${A} and ${", ())


def test_other_dollars_are_literal() -> None:
    assert substitute("$A $ $$ a$b $5", {"A": "no"}).value == "$A $ $$ a$b $5"


@pytest.mark.parametrize(
    "token", ["${1X}", "${}", "${A-B}", "${A:default}", "${A B}", "${A", "${A:-${B}"]
)
def test_malformed_references_are_reported_and_left_as_written(token: str) -> None:
    result = substitute(f"x{token}", {"A": "a", "B": "b", "1X": "c"})
    assert result.malformed == (token,)
    assert result.value == f"x{token}"
    assert result.missing == ()


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
# Values full of the characters the syntax uses, so that a second expansion would show.
VALUES = st.text(alphabet=st.sampled_from([*"${}:-_ ", *string.ascii_letters]), max_size=30) | (
    st.builds(lambda n: "${" + n + "}", NAMES)
)


@settings(derandomize=True, max_examples=300)
@given(name=NAMES, value=VALUES, other=VALUES, prefix=st.sampled_from(["", "x", "a:b/"]))
def test_a_reference_expands_to_exactly_its_value_never_again(
    name: str, value: str, other: str, prefix: str
) -> None:
    # Every variable the value could name is set, so any re-expansion would change it.
    env = {"A": other, "B": other, "OTHER": other, name: value}
    result = substitute(f"{prefix}${{{name}}}{prefix}", env)
    assert result.value == f"{prefix}{value}{prefix}"
    assert result.names == (name,)
    assert result.missing == result.malformed == ()


@settings(derandomize=True)
@given(name=NAMES, default=st.text(alphabet=st.characters(blacklist_characters="}$")))
def test_a_default_is_used_verbatim(name: str, default: str) -> None:
    assert substitute(f"${{{name}:-{default}}}", {}).value == default
