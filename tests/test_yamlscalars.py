"""YAML scalars read safely: number look-alikes, tags that do not fit, integer limits."""

from __future__ import annotations

import pytest

from reconciler.config import yamlsource
from reconciler.config.document import Document


def load_ok(text: str) -> Document:
    doc, problems = yamlsource.load("f.yaml", text)
    assert problems == []
    assert doc is not None
    return doc


def messages(text: str) -> list[str]:
    _, problems = yamlsource.load("f.yaml", text)
    return [str(p) for p in problems]


_NUMBER_LOOKALIKE = (
    "looks like a YAML 1.1 number (0b... binary, 0x... hex, 0... octal, 1:30 base 60, 1_000) "
    "but is not a valid one: put it in quotes if it is text"
)


@pytest.mark.parametrize("text", ["0b_", "0x_", "-0b_", "+0x__"])
def test_yaml11_number_forms_without_digits_are_reported(text: str) -> None:
    assert messages(f"a: {text}\n") == [f"f.yaml:1:4: a: '{text}' {_NUMBER_LOOKALIKE}"]


def test_yaml11_number_forms_with_digits_are_still_numbers() -> None:
    assert load_ok("a: 0b101\nb: 0x_1f\nc: 017\nd: 1:30\ne: 1_000\n").data == {
        "a": 5,
        "b": 31,
        "c": 15,
        "d": 90,
        "e": 1000,
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!int abc", "the tag '!!int' says this is a whole number, but 'abc' is not"),
        ("!!int ''", "the tag '!!int' says this is a whole number, but '' is not"),
        ("!!int 1:_", "the tag '!!int' says this is a whole number, but '1:_' is not"),
        ("!!float abc", "the tag '!!float' says this is a number, but 'abc' is not"),
        ("!!bool maybe", "the tag '!!bool' says this is true or false, but 'maybe' is not"),
        ("!!null x", "the tag '!!null' says this is nothing (~ or null), but 'x' is not"),
        ("!!timestamp soon", "the tag '!!timestamp' says this is a date, but 'soon' is not"),
        ("!!map x", "the tag '!!map' says this is a mapping, not a single value"),
        ("!!seq {b: 1}", "the tag '!!seq' says this is a list, not a mapping"),
        ("!!str [b]", "the tag '!!str' says this is text, not a list"),
        ("!!int [b]", "the tag '!!int' says this is a whole number, not a list"),
    ],
)
def test_a_core_tag_on_a_value_that_does_not_fit_it_is_reported(value: str, message: str) -> None:
    doc, problems = yamlsource.load("f.yaml", f"a: {value}\nb: 1\n")
    assert [str(p) for p in problems] == [f"f.yaml:1:4: a: {message}: remove the tag"]
    assert doc is not None and doc.data == {"a": None, "b": 1} and doc.broken == {("a",)}


def test_core_tags_on_values_that_fit_them_still_read() -> None:
    text = "a: !!float 1\nb: !!bool yes\nc: !!null ~\nd: !!timestamp 2024-01-01\ne: !!map {}\n"
    assert load_ok(text).data == {"a": 1.0, "b": True, "c": None, "d": "2024-01-01", "e": {}}


def test_a_tagged_key_that_does_not_fit_its_tag_is_refused() -> None:
    assert messages("a:\n  !!int abc: 1\n") == [
        "f.yaml:2:3: a: the tag '!!int' says this is a whole number, but 'abc' is not: "
        "remove the tag"
    ]


def test_an_alias_of_a_refused_value_is_broken_too_but_reported_once() -> None:
    doc, problems = yamlsource.load("f.yaml", "a: &x !!int abc\nb: *x\n")
    assert [p.path for p in problems] == ["a"]
    assert doc is not None and doc.broken == {("a",), ("b",)}


_TOO_LONG = "a number longer than 4,300 digits is not read: put it in quotes if it is text"


def test_integers_are_read_up_to_pythons_limit_of_4300_digits() -> None:
    assert load_ok("a: " + "9" * 4300 + "\n").data["a"] == int("9" * 4300)
    assert load_ok("a: 1" + "_0" * 4299 + "\n").data["a"] == 10**4299


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("9" * 4301, id="decimal"),
        pytest.param("0x" + "f" * 4000, id="hex-beyond-4300-decimal-digits"),
        pytest.param("1" + ":59" * 3000, id="base-60"),
        pytest.param("-" + "1_" * 5000 + "1", id="underscores"),
    ],
)
def test_longer_integers_are_reported_not_converted(text: str) -> None:
    assert messages(f"a: {text}\n") == [f"f.yaml:1:4: a: {_TOO_LONG}"]


def test_a_long_tag_is_cut_in_its_message() -> None:
    tag = "!" + "t" * 500
    assert messages(f"key: {tag} x\n") == [
        f"f.yaml:1:6: key: the tag '{tag[:80]}…' is not allowed; only plain values (text, "
        "numbers, true/false, lists, mappings) are: remove the tag"
    ]


def test_a_tag_on_the_wrong_kind_of_node_is_reported_once_however_often_aliased() -> None:
    doc, problems = yamlsource.load("f.yaml", "a: &x !!str [b]\nb: *x\nc: [*x]\n")
    assert [p.path for p in problems] == ["a"]
    assert doc is not None and doc.broken == {("a",), ("b",), ("c", 0)}
