"""Strict YAML reading: plain values only, duplicate keys and alias bombs refused, marks kept."""

from __future__ import annotations

import pytest

from reconciler.config import yamlsource
from reconciler.config.document import Document, Mark, format_path
from reconciler.errors import Problem


def load_ok(text: str) -> Document:
    doc, problems = yamlsource.load("f.yaml", text)
    assert problems == []
    assert doc is not None
    return doc


def messages(text: str) -> list[str]:
    _, problems = yamlsource.load("f.yaml", text)
    return [str(p) for p in problems]


def test_plain_values_are_read_with_yaml_types() -> None:
    doc = load_ok("a: 1\nb: 1.5\nc: true\nd: ~\ne: text\nf: [x, 'y']\ng: {h: i}\n")
    assert doc.data == {
        "a": 1,
        "b": 1.5,
        "c": True,
        "d": None,
        "e": "text",
        "f": ["x", "y"],
        "g": {"h": "i"},
    }


def test_every_value_has_a_mark_keys_point_at_the_key() -> None:
    doc = load_ok("version: 1\nproviders:\n  - name: A\n    type: openai\n")
    assert doc.mark(()) == Mark(1, 1)
    assert doc.mark(("providers",)) == Mark(2, 1)
    assert doc.mark(("providers", 0)) == Mark(3, 5)
    assert doc.mark(("providers", 0, "type")) == Mark(4, 5)


def test_a_missing_path_is_located_at_its_nearest_ancestor() -> None:
    doc = load_ok("providers:\n  - name: A\n")
    assert doc.mark(("providers", 0, "base_url")) == Mark(2, 5)
    assert doc.problem(("providers", 0, "base_url"), "m") == Problem(
        file="f.yaml", line=2, column=5, path="providers[0].base_url", message="m"
    )


def test_format_path_joins_keys_with_dots_and_indexes_with_brackets() -> None:
    assert format_path(()) == ""
    assert format_path(("providers", 2, "base_url")) == "providers[2].base_url"
    assert format_path(("providers", 0, "models", "visible", 3)) == (
        "providers[0].models.visible[3]"
    )


def test_duplicate_keys_are_refused_at_every_depth() -> None:
    assert messages("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n") == [
        "f.yaml:4:3: b.c: duplicate key 'c' (first defined at line 3); YAML would keep only "
        "one of them: remove or rename the other",
        "f.yaml:5:1: a: duplicate key 'a' (first defined at line 1); YAML would keep only one "
        "of them: remove or rename the other",
    ]


def test_merge_keys_bring_fields_that_explicit_keys_override() -> None:
    doc = load_ok(
        "base: &b {x: 1, y: 2}\nmore: &m {z: 3}\none: {<<: *b, y: 20}\ntwo: {y: 20, <<: [*b, *m]}\n"
    )
    assert doc.data["one"] == {"x": 1, "y": 20}
    assert doc.data["two"] == {"y": 20, "x": 1, "z": 3}


def test_an_anchor_reused_a_few_times_is_fine() -> None:
    uses = "\n".join("  - *d" for _ in range(50))
    doc = load_ok(f"d: &d {{a: [1, 2, 3], b: {{c: 4}}}}\nlist:\n{uses}\n")
    assert len(doc.data["list"]) == 50
    assert doc.data["list"][49] == {"a": [1, 2, 3], "b": {"c": 4}}


def test_a_large_file_without_aliases_is_not_mistaken_for_a_bomb() -> None:
    items = "\n".join(f"  - {{name: p{i}, type: openai, n: [1, 2, 3]}}" for i in range(2000))
    doc = load_ok(f"providers:\n{items}\n")
    assert len(doc.data["providers"]) == 2000


def _laughs(levels: int) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_quickly_and_located_where_it_explodes() -> None:
    # 10**9 strings if expanded: that the call returns at all shows the bound holds.
    doc, problems = yamlsource.load("f.yaml", _laughs(9))
    assert doc is None
    assert [str(p) for p in problems] == [
        "f.yaml:4:5: l3: anchors and aliases here expand to ten times more values than the "
        "file holds, which looks like an alias bomb (nested aliases that multiply); write the "
        "values out instead of nesting aliases"
    ]


def test_a_merge_key_bomb_is_refused_too() -> None:
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    for i in range(1, 9):
        lines.append(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}")
    doc, problems = yamlsource.load("f.yaml", "\n".join(lines) + "\n")
    assert doc is None
    assert [(p.line, p.path) for p in problems] == [(4, "m3")]
    assert "alias bomb" in problems[0].message


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/object/apply:os.system ['true']", "!!python/object/apply:os.system"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!!python/object:collections.OrderedDict {}", "!!python/object:collections.OrderedDict"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!omap [{a: 1}]", "!!omap"),
        ("!Secret abc", "!Secret"),
    ],
)
def test_tags_beyond_plain_values_are_refused(value: str, tag: str) -> None:
    assert messages(f"key: {value}\n") == [
        f"f.yaml:1:6: key: the tag '{tag}' is not allowed; only plain values (text, numbers, "
        "true/false, lists, mappings) are: remove the tag"
    ]


def test_a_refused_value_is_marked_broken_so_later_checks_stay_quiet() -> None:
    doc, _ = yamlsource.load("f.yaml", "a: !x 1\nb:\n  ? [c]\n  : d\n")
    assert doc is not None
    assert doc.broken == {("a",), ("b",)}
    assert doc.data == {"a": None, "b": {}}


def test_explicit_core_tags_are_plain_values() -> None:
    assert load_ok("a: !!str 12\nb: !!int '3'\n").data == {"a": "12", "b": 3}


def test_dates_stay_text() -> None:
    assert load_ok("a: 2024-01-01\nb: 2024-01-01T10:00:00Z\n").data == {
        "a": "2024-01-01",
        "b": "2024-01-01T10:00:00Z",
    }


def test_empty_and_comment_only_files_are_empty() -> None:
    for text in ("", "\n\n", "# nothing\n", "---\n"):
        doc, problems = yamlsource.load("f.yaml", text)
        assert doc is None
        assert [p.message for p in problems] == [
            "the file is empty; start it with 'version: 1' and a 'providers:' list"
        ]


def test_several_documents_are_refused_at_the_second() -> None:
    assert messages("a: 1\n---\nb: 2\n") == [
        "f.yaml:3:1: the file holds several YAML documents (separated by '---'); put each "
        "in its own file and pass them all with -f, or pass their folder"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "a:\n  b: 'open\n  c: 1\n",
            "f.yaml:2:6: a.b: YAML syntax error: this quoted text is never closed: add the "
            "closing quote",
            id="unclosed-quote",
        ),
        pytest.param(
            "a:\n\tb: 1\n",
            "f.yaml:2:1: a: YAML syntax error: a tab character is used for indentation; YAML "
            "allows only spaces: replace the tab with spaces",
            id="tab",
        ),
        pytest.param(
            'a: "C:\\path"\n',
            "f.yaml:1:7: a: YAML syntax error: unknown escape sequence in a double-quoted "
            "string: write '\\\\' for a backslash, or use single quotes",
            id="bad-escape",
        ),
        pytest.param(
            "a: {b: 1\n",
            "f.yaml:2:1: a: YAML syntax error: the '{' opened at line 1, column 4 is not closed "
            "where expected: add '}', or the ',' missing between two items",
            id="unclosed-flow-mapping",
        ),
        pytest.param(
            "a: @x\n",
            "f.yaml:1:4: a: YAML syntax error: this character cannot start a value: put the "
            "value in quotes",
            id="reserved-character",
        ),
        pytest.param(
            "%YAML 2.0\n---\na: 1\n",
            "f.yaml:1:1: YAML syntax error: only YAML 1.x is read: remove the %YAML line",
            id="yaml-2",
        ),
    ],
)
def test_syntax_errors_are_explained_with_location_and_path(text: str, expected: str) -> None:
    assert messages(text) == [expected]


# --- hostile input: every file gives problems, never an exception ------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        pytest.param("x-r: &r [*r]\n", "x-r[0]", id="list-in-itself"),
        pytest.param("x-r: &r {a: *r}\n", "x-r.a", id="mapping-in-itself"),
        pytest.param("x-r: &r {a: 1, <<: *r}\n", "x-r", id="mapping-merging-itself"),
        pytest.param("x-r: &r [a, {b: [*r]}]\n", "x-r[1].b[0]", id="deeper-in-itself"),
    ],
)
def test_an_alias_inside_its_own_anchor_is_a_cycle_not_a_crash(text: str, path: str) -> None:
    doc, problems = yamlsource.load("f.yaml", text)
    assert [(p.line, p.column, p.path) for p in problems] == [(1, 6, path)]
    assert problems[0].message == (
        "this alias names a list or mapping that contains the alias itself, so its value "
        "would never end: alias a value defined outside it, or write the value out"
    )
    assert doc is not None and doc.broken == {tuple(_parts(path))}


def _parts(path: str) -> list[str | int]:
    out: list[str | int] = []
    for piece in path.replace("]", "").replace("[", ".").split("."):
        out.append(int(piece) if piece.isdigit() else piece)
    return out


def test_an_anchor_used_inside_another_anchor_is_not_a_cycle() -> None:
    doc = load_ok("a: &a [1]\nb: &b [*a, *a]\nc: {<<: [{x: *b}, {y: *a}]}\n")
    assert doc.data["c"] == {"x": [[1], [1]], "y": [1]}


def _nested(levels: int) -> str:
    return "a: " + "[" * levels + "]" * levels + "\n"


def test_nesting_is_read_up_to_the_bound() -> None:
    doc = load_ok(_nested(yamlsource.MAX_DEPTH))
    value = doc.data["a"]
    for _ in range(yamlsource.MAX_DEPTH - 1):
        (value,) = value
    assert value == []


def test_nesting_beyond_the_bound_is_reported_once_where_it_goes_too_deep() -> None:
    doc, problems = yamlsource.load("f.yaml", _nested(150))
    assert [str(p) for p in problems] == [
        "f.yaml:1:104: a[0][0][0][0][0][0][0][0][0][0][0]…: lists and mappings are nested more "
        "than 100 levels deep here; a providers file needs only a few levels: flatten this value"
    ]
    assert doc is not None


def test_nesting_that_libyaml_itself_refuses_is_explained_in_the_same_words() -> None:
    assert messages("x: " + "{a: " * 1200 + "}" * 1200 + "\n") == [
        "f.yaml:1:4000: x.a.a.a.a.a.a.a.a.a.a.a…: YAML syntax error: lists and mappings are "
        "nested more than 100 levels deep here; a providers file needs only a few levels: "
        "flatten this value"
    ]


def test_a_long_value_aliased_over_and_over_is_refused_by_the_size_it_expands_to() -> None:
    # Few nodes, so the count of values stays small; but 2 MB × 9,000 is 18 GB of text.
    text = "a: &a " + "x" * 2_000_000 + "\nb: [" + ", ".join(["*a"] * 9000) + "]\n"
    doc, problems = yamlsource.load("f.yaml", text)
    assert doc is None
    # Refused at the 15th alias: 30 MB, ten times the file plus a slack of 10 MB.
    assert [(p.line, p.path) for p in problems] == [(2, "b[14]")]
    assert problems[0].message == (
        "anchors and aliases here repeat long values until they are ten times the size of "
        "the file, which looks like an alias bomb (a long value aliased over and over); write "
        "the values out, or alias shorter ones"
    )


def test_a_long_value_shared_by_many_entries_is_fine() -> None:
    # A 10,000-character system prompt shared by 500 providers: 5 MB of text in all.
    prompt = "x" * 10_000
    entries = "".join(f"  - {{name: p{i}, system_prompt: *p}}\n" for i in range(500))
    doc = load_ok(f"x-prompt: &p {prompt}\nproviders:\n{entries}")
    assert doc.data["providers"][499]["system_prompt"] == prompt


def test_long_keys_are_cut_in_messages() -> None:
    key = "k" * 3000
    (message,) = messages(f"a:\n  ? {key}\n  : 1\n  ? {key}\n  : 2\n")
    assert message == (
        f"f.yaml:4:5: a.{'k' * 40}…: duplicate key '{'k' * 80}…' (first defined at line 2); "
        "YAML would keep only one of them: remove or rename the other"
    )


def test_long_values_are_not_remembered_by_the_tag_cache() -> None:
    value = "v" * 5000
    load_ok(f"a: {value}\n")
    assert not any(key[1] == value for key in yamlsource._Loader._resolved)


def test_a_cycle_reached_again_through_a_merge_is_reported_once() -> None:
    doc, problems = yamlsource.load("f.yaml", "d: &d {a: 1, <<: *d}\nuse: {<<: *d, b: 2}\n")
    assert [(p.line, p.column, p.path) for p in problems] == [(1, 4, "d")]
    assert doc is not None and doc.broken == {("d",), ("use",)}
