"""Hostile values in a valid-looking file: named as escapes, cut short, never echoed whole."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from reconciler import config
from reconciler.core.model import Desired, ProviderSpec
from reconciler.errors import ConfigError

HEADER = "version: 1\nproviders:\n"


def load(text: str, env: Mapping[str, str] | None = None) -> Desired:
    Path("p.yaml").write_text(text, encoding="utf-8")
    return config.load(["p.yaml"], env or {})


def problems(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text, env)
    return [str(p) for p in info.value.problems]


def only(desired: Desired) -> ProviderSpec:
    (spec,) = desired.providers
    return spec


@pytest.mark.parametrize(
    ("written", "kind", "escape"),
    [
        pytest.param('"A\\nB"', "a line break", "\\n", id="newline"),
        pytest.param('"A\\rB"', "a line break", "\\r", id="carriage-return"),
        pytest.param('"A\\tB"', "a tab", "\\t", id="tab"),
        pytest.param('"A\\aB"', "a control character", "\\u0007", id="bell"),
        pytest.param('"A\\eB"', "a control character", "\\u001b", id="escape"),
        pytest.param('"A\\x7fB"', "a control character", "\\u007f", id="delete"),
        pytest.param('"A\\NB"', "a control character", "\\u0085", id="next-line"),
        pytest.param('"A\\x9bB"', "a control character", "\\u009b", id="c1-csi"),
        pytest.param("A\u202eB", "a bidirectional-text control", "\\u202e", id="rlo"),
        pytest.param("A\u2066B", "a bidirectional-text control", "\\u2066", id="lri"),
        pytest.param("A\u200fB", "a bidirectional-text control", "\\u200f", id="rlm"),
    ],
)
def test_a_name_with_a_control_or_bidi_character_is_refused_naming_it(
    written: str, kind: str, escape: str
) -> None:
    assert problems(HEADER + f"  - name: {written}\n    type: google\n") == [
        f'p.yaml:3:5: providers[0].name: contains {kind} ("{escape}"); a name must be plain '
        "text on one line, shown the same everywhere: remove it"
    ]


def test_a_name_from_the_environment_is_checked_after_substitution_and_not_echoed() -> None:
    text = HEADER + "  - name: ${RT_NAME}\n    type: google\n"
    assert problems(text, {"RT_NAME": "Prod\n# injected"}) == [
        'p.yaml:3:5: providers[0].name: contains a line break ("\\n"); a name must be plain '
        "text on one line, shown the same everywhere: remove it"
    ]


def test_a_former_name_with_a_bidi_override_is_refused() -> None:
    text = HEADER + '  - name: A\n    type: google\n    renamed_from: [Old, "B\\u202eC"]\n'
    assert problems(text) == [
        "p.yaml:5:25: providers[0].renamed_from[1]: contains a bidirectional-text control "
        '("\\u202e"); a name must be plain text on one line, shown the same everywhere: remove it'
    ]


def test_names_in_any_script_are_still_valid() -> None:
    text = HEADER + "  - name: Café ☕ 日本語\n    type: google\n    renamed_from: [Ünïcode]\n"
    assert only(load(text)).name == "Café ☕ 日本語"


@pytest.mark.parametrize(
    ("url", "start"),
    [
        ("javascript:alert(1)", "javascript:"),
        ("file:///etc/passwd", "file://"),
        ("data:text/plain,x", "data:"),
        ("gopher://files.example.com/v1", "gopher://"),
    ],
)
def test_a_url_of_another_scheme_must_be_an_http_url(url: str, start: str) -> None:
    text = HEADER + f"  - name: A\n    type: openai\n    base_url: {url}\n"
    assert problems(text) == [
        f"p.yaml:5:5: providers[0].base_url: '{url}' must be an http(s) URL (it starts with "
        f"{start}); an API is reached over http:// or https://"
    ]


def test_a_host_and_port_without_a_scheme_is_still_told_to_add_one() -> None:
    text = HEADER + "  - name: A\n    type: openai\n    base_url: localhost:8080\n"
    assert problems(text) == [
        "p.yaml:5:5: providers[0].base_url: 'localhost:8080' has no scheme; write http:// or "
        "https:// before the host, e.g. https://localhost:8080"
    ]


def test_a_long_value_is_cut_in_messages() -> None:
    text = HEADER + "  - name: A\n    type: " + "x" * 2_000_000 + "\n"
    assert problems(text) == [
        f"p.yaml:4:5: providers[0].type: '{'x' * 80}…' is not one of: openai, anthropic, "
        "google (Ollama, vLLM and other OpenAI-compatible engines are 'openai')"
    ]


def test_long_urls_names_and_variable_names_are_cut_in_messages() -> None:
    long = "y" * 5000
    text = (
        HEADER
        + f"  - name: A\n    type: openai\n    base_url: https://{long}/ x\n"
        + f"  - name: B\n    type: google\n    api_key: ${{{long}}}\n"
        + f"  - name: {long}\n    type: google\n  - name: {long}\n    type: google\n"
    )
    found = problems(text)
    assert len(found) == 5 and max(map(len, found)) < 400
    assert found[0].endswith(f"'https://{'y' * 72}…' contains spaces; remove them")
    assert f"environment variable {'y' * 80}… is not set" in found[1]
    assert f"duplicate provider name '{'y' * 80}…'" in found[4]


def test_a_long_key_in_a_misspelled_field_is_cut() -> None:
    key = "k" * 600
    (message,) = problems(HEADER + f"  - name: A\n    type: google\n    ? {key}\n    : 1\n")
    assert message.startswith(f"p.yaml:5:7: providers[0].{'k' * 40}…: unknown field '{'k' * 80}…';")


@pytest.mark.parametrize(("char", "escape"), [("\x1b", "\\u001b"), ("\u202e", "\\u202e")])
def test_a_url_with_a_control_character_is_refused(char: str, escape: str) -> None:
    text = HEADER + "  - name: A\n    type: openai\n    base_url: ${RT_URL}\n"
    assert problems(text, {"RT_URL": f"https://api{char}.example/v1"}) == [
        f"p.yaml:5:5: providers[0].base_url: '${{RT_URL}}' contains \"{escape}\", which a URL "
        "cannot hold; remove it"
    ]


def test_providers_past_the_explained_bound_are_skipped_not_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reconciler.config import schema_check

    monkeypatch.setattr(schema_check, "EXPLAINED", 1)
    text = HEADER + "  - x\n  - name: A\n    type: google\n  - y\n  - {name: 3}\n"
    assert problems(text) == [
        "p.yaml:3:5: providers[0]: a provider must be a mapping of fields (name:, type:, "
        "base_url:...), got a string: write '- name: x', with its other fields indented "
        "below it",
        "p.yaml:4:5: providers[1]: this provider and the ones after it are not checked "
        "against the schema: 1 providers above already have errors; fix those first",
    ]


def test_an_exported_name_with_a_line_break_is_refused_when_the_export_is_validated() -> None:
    # A target may hold such a name (set through its own UI); the file written for it
    # does not validate until the provider is renamed, and says why.
    from reconciler.core.model import Observed
    from reconciler.output.export import export
    from tests.factories import FULL, state

    observed = Observed(providers=(state("Line\nbreak\u202e", models=()),), capabilities=FULL)
    text, _ = export(observed, target="t")
    (message,) = problems(text)
    assert message.endswith(
        'providers[0].name: contains a line break ("\\n"); a name must be plain text on one '
        "line, shown the same everywhere: remove it"
    )
