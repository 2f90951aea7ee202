"""The schema check: every error explained in the user's words, in time linear in the file."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.config import schema_check
from reconciler.config.document import Document


def _check(data: dict[str, Any], reported: Any = frozenset()) -> list[str]:
    doc = Document(file="f.yaml", data=data, marks={})
    problems, _ = schema_check.problems(doc, data, reported)
    return [str(p) for p in problems]


def test_two_missing_required_fields_are_reported_once_each() -> None:
    assert _check({}) == [
        "f.yaml: missing required field 'providers'; add a 'providers:' list",
        "f.yaml: missing required field 'version'; add 'version: 1' at the top",
    ]


def test_repeated_items_are_found_by_hashing_not_by_comparing_every_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # jsonschema's own check compares every pair of a list it cannot sort: minutes for a
    # list of 20,000 mixed items.
    import jsonschema._keywords

    def pairwise(_: object) -> bool:
        raise AssertionError("compared pairwise")

    monkeypatch.setattr(jsonschema._keywords, "uniq", pairwise)
    repeated = (
        "f.yaml: providers[0].renamed_from: lists the same value twice: remove the repeated one"
    )
    for items, unique in [
        ([1, "1"], True),
        ([1, 1.0], False),
        ([True, 1], True),
        ([{"a": [1]}, {"a": [1]}], False),
        ([{"a": [1]}, {"a": [True]}], True),
        ([[1, 2], [2, 1]], True),
        ([*range(20_000), "x"], True),
    ]:
        data = {"version": 1, "providers": [{"name": "A", "type": "google", "renamed_from": items}]}
        assert (repeated in _check(data)) is not unique, items


class _CountedScans(frozenset):  # type: ignore[type-arg]
    scans = 0

    def __iter__(self) -> Any:
        type(self).scans += 1
        return super().__iter__()


def test_paths_already_reported_are_looked_up_not_scanned_for_each_error() -> None:
    # Scanning every reported path for every error is quadratic: minutes for a file with
    # tens of thousands of missing variables and schema errors.
    data = {"version": 1, "providers": [{"name": "A", "type": "gogle"}, {"name": 1, "x": 2}]}
    reported = _CountedScans({("providers", 0, "type")})
    assert _check(data, reported) == [
        "f.yaml: providers[1].name: expected a string, got a number (put it in quotes)",
        "f.yaml: providers[1]: missing required field 'type' (openai, anthropic or google; "
        "Ollama and other local engines are openai)",
        "f.yaml: providers[1].x: unknown field 'x'; the known fields are api_key, audio_only, "
        "base_url, default_model, enabled, ensure, environments, favicon, fetch_models, "
        "image_edit_only, image_only, models, name, only_in, renamed_from, system_prompt, type",
    ]
    assert _CountedScans.scans == 1  # once, to find the broken providers


def test_a_long_value_is_not_compared_for_a_close_match(monkeypatch: pytest.MonkeyPatch) -> None:
    # Comparing costs time in proportion to the length: seconds for 95 values of 100,000
    # characters, for a hint that cannot match names of a few letters anyway.
    import difflib

    compared: list[str] = []
    close_matches = difflib.get_close_matches

    def recorded(word: str, *args: Any, **kwargs: Any) -> list[str]:
        compared.append(word)
        return close_matches(word, *args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", recorded)
    long = "y" * 101
    data = {"version": 1, "providers": [{"name": "A", "type": long, long: 1, "tpye": "x"}]}
    problems = _check(data)
    assert compared == ["tpye"]  # the short unknown key only
    assert f"'{long[:80]}…' is not one of: openai, anthropic, google" in "\n".join(problems)


def test_only_the_providers_the_fast_validator_refuses_are_explained_one_by_one() -> None:
    providers: list[Any] = [{"name": f"P{i}", "type": "google"} for i in range(50)]
    providers[7] = {"name": "Seven", "type": "gogle"}
    providers[42] = "Forty-two"
    data = {"version": 2, "providers": providers}
    assert _check(data) == [
        "f.yaml: providers[7].type: 'gogle' is not one of: openai, anthropic, google; did you "
        "mean 'google'?",
        "f.yaml: providers[42]: a provider must be a mapping of fields (name:, type:, "
        "base_url:...), got a string: write '- name: Forty-two', with its other fields "
        "indented below it",
        "f.yaml: version: must be 1, not 2: 1 is the only format version this reconciler reads",
    ]


def test_past_a_bound_providers_are_not_checked_but_marked_broken_and_summed_up_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # jsonschema takes about 0.1 ms a provider: a million broken entries would take minutes.
    monkeypatch.setattr(schema_check, "EXPLAINED", 2)
    data = {"version": 1, "providers": ["a", {"name": "B", "type": "google"}, "c", "d", "e"]}
    problems, broken = schema_check.problems(Document("f.yaml", data, {}), data, frozenset())
    assert [(p.path, p.message[:40]) for p in problems] == [
        ("providers[0]", "a provider must be a mapping of fields ("),
        ("providers[2]", "a provider must be a mapping of fields ("),
        ("providers[3]", "this provider and the ones after it are "),
    ]
    # What is not checked is not built either: the file is refused anyway.
    assert broken == {0, 2, 3, 4}
