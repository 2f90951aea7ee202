"""ClaraVerse's filters as ``models:`` rules: LIKE read as globs, priorities as a decision
list, and the rules never show a model ClaraVerse hid (checked against the reference in
tests/importing.py, for the documented replay and for any filter list hypothesis makes)."""

from __future__ import annotations

import fnmatch

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.model import ModelRules
from reconciler.core.visibility import wanted_visibility
from reconciler.importers.filters import Filter, convert, glob, like, overlap, tokens
from tests.importing import clara_visible
from tests.importing import like as reference_like


def filters(*rows: tuple[str, str, int]) -> list[Filter]:
    return [Filter(pattern=p, action=a, priority=n, index=i) for i, (p, a, n) in enumerate(rows)]


def shown(rules: ModelRules, ids: list[str]) -> set[str]:
    return {m for m in ids if wanted_visibility(rules, m) is True}


REPLAY = [
    ("gpt-4o*", "include", 20),
    ("*mini*", "exclude", 10),
    ("GPT-4O-MINI-UPPER", "include", 5),
    ("a_b", "include", 1),
    ("moonshotai/*", "include", 0),
]
REPLAY_IDS = [
    "gpt-4o",
    "GPT-4O-MINI-Upper",
    "a+b",
    "moonshotai/Kimi-K2.5-TEE",
    "gpt-4o-mini",
    "50%off",
    "claude-3-haiku",
]


def test_like_patterns_become_case_insensitive_globs() -> None:
    assert glob("gpt-4o*") == "[gG][pP][tT]-4[oO]*"
    assert glob("a_b") == "[aA]?[bB]"
    assert glob("50%") == "50*"
    assert glob("a?[x]") == "[aA][?][[][xX]]"  # LIKE's ? and [ are plain characters
    assert glob(r"100\%") == "100%"  # an escaped % is a literal %
    assert glob(r"x\*") == "[xX]%"  # \* became \% before LIKE saw it: a literal %
    assert fnmatch.fnmatchcase("GPT-4o-2024", glob("gpt-4o*"))


def test_tokens_follow_like() -> None:
    assert tokens("a%%b") == (("lit", "a"), ("any", ""), ("lit", "b"))
    assert tokens("a\\") == (("lit", "a"), ("lit", "\\"))


def test_overlap_finds_an_id_both_patterns_match_or_none() -> None:
    assert overlap("abc", "abd") is None
    assert overlap("gpt-*", "*-mini") == "gpt-mini"
    assert overlap("a_b", "A%") is not None
    example = overlap("%x%y", "y%x%")
    assert example is not None and like("%x%y", example) and like("y%x%", example)


def test_no_filters_show_every_model() -> None:
    conversion = convert([])
    assert conversion.rules == ModelRules(visible=("*",))
    assert conversion.losses == ()


def test_the_documented_replay_is_matched_except_what_it_says() -> None:
    conversion = convert(filters(*REPLAY))
    expected = clara_visible(
        [dict(pattern=p, action=a, priority=n) for p, a, n in REPLAY], REPLAY_IDS
    )
    assert expected == {"gpt-4o", "GPT-4O-MINI-Upper", "a+b", "moonshotai/Kimi-K2.5-TEE"}
    assert shown(conversion.rules, REPLAY_IDS) == expected - {"GPT-4O-MINI-Upper"}
    assert len(conversion.losses) == 2
    assert (
        "include 'GPT-4O-MINI-UPPER' (priority 5) and exclude '*mini*' (priority 10)"
        in (conversion.losses[1])
    )
    assert "'moonshotai/mini'" in conversion.losses[0]


def test_an_exclude_decides_first_only_below_the_includes_in_priority() -> None:
    # The lower priority decides: an exclude under the include hides what it matches...
    hides = convert(filters(("gpt-*", "include", 5), ("*-preview", "exclude", 1)))
    assert hides.rules.hidden == ("*-[pP][rR][eE][vV][iI][eE][wW]",)
    assert hides.losses == ()
    # ...and one above it is overridden wherever the include matches: no hidden rule.
    overridden = convert(filters(("gpt-*", "include", 1), ("*-preview", "exclude", 5)))
    assert overridden.rules == ModelRules(visible=("[gG][pP][tT]-*",), only_listed=True)
    assert overridden.losses == ()


def test_an_empty_pattern_matches_no_model() -> None:
    conversion = convert(filters(("", "include", 1)))
    assert conversion.rules == ModelRules(only_listed=True)


ALPHABET = "aAbB-_%*/.?[\\"
patterns = st.text(alphabet=ALPHABET, min_size=0, max_size=6)
ids = st.lists(st.text(alphabet="aAbB-_%/.?[", min_size=1, max_size=6), max_size=12)
rows = st.lists(
    st.tuples(patterns, st.sampled_from(["include", "exclude"]), st.integers(0, 3)), max_size=6
)


@settings(max_examples=400, deadline=None)
@given(rows=rows, model_ids=ids)
def test_rules_never_show_a_model_clara_hid_and_match_it_when_nothing_is_reported(
    rows: list[tuple[str, str, int]], model_ids: list[str]
) -> None:
    conversion = convert(filters(*rows))
    reference = clara_visible(
        [dict(pattern=p, action=a, priority=n) for p, a, n in rows], model_ids
    )
    ours = shown(conversion.rules, model_ids)
    assert ours <= reference
    if not conversion.losses:
        assert ours == reference


@settings(max_examples=200, deadline=None)
@given(pattern=patterns, model_id=st.text(alphabet=ALPHABET, min_size=1, max_size=8))
def test_the_glob_matches_exactly_what_like_matched(pattern: str, model_id: str) -> None:
    assert fnmatch.fnmatchcase(model_id, glob(pattern)) == reference_like(pattern, model_id)
    assert like(pattern, model_id) == reference_like(pattern, model_id)


@settings(max_examples=200, deadline=None)
@given(a=patterns, b=patterns, model_id=st.text(alphabet="aAbB-_%/.?[", max_size=6))
def test_overlap_is_none_only_when_no_id_matches_both(a: str, b: str, model_id: str) -> None:
    example = overlap(a, b)
    if example is not None:
        assert reference_like(a, example) and reference_like(b, example)
    elif reference_like(a, model_id):
        assert not reference_like(b, model_id)
