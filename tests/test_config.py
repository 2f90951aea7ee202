"""config.load: providers.yaml → Desired; every problem at once, located and explained."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from reconciler import config
from reconciler.core.model import Desired, ModelRules, ProviderSettings, ProviderSpec
from reconciler.errors import ConfigError
from reconciler.secrets import Secret

ROOT = Path(__file__).resolve().parent.parent
HEADER = "version: 1\nproviders:\n"


def load(text: str, env: Mapping[str, str] | None = None, name: str = "p.yaml") -> Desired:
    """Load ``text`` as the file ``name`` in the test's working directory."""
    Path(name).write_text(text, encoding="utf-8")
    return config.load([name], env or {})


def problems(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    """The problems ``text`` has, as the CLI prints them (one line each)."""
    with pytest.raises(ConfigError) as info:
        load(text, env)
    return [str(p) for p in info.value.problems]


def only(desired: Desired) -> ProviderSpec:
    (spec,) = desired.providers
    return spec


# --- valid files ----------------------------------------------------------------------


def test_example_loads_with_defaults_and_no_environment() -> None:
    desired = config.load([str(ROOT / "examples/providers.yaml")], {})
    by_name = {p.name: p for p in desired.providers}
    assert list(by_name) == ["OpenAI", "Anthropic", "Google AI", "Local Ollama", "Team Proxy"]
    assert by_name["Anthropic"].base_url == "https://api.anthropic.com"
    assert by_name["Google AI"].base_url == "https://generativelanguage.googleapis.com/v1beta"
    assert by_name["Local Ollama"].enabled is False
    assert all(p.api_key is None for p in desired.providers)
    # One warning for the four keyless providers, not one each.
    assert desired.warnings == (
        "4 providers have no admin api_key; only users with their own key can use them: "
        f"'OpenAI' ({ROOT}/examples/providers.yaml:11:5), "
        f"'Anthropic' ({ROOT}/examples/providers.yaml:17:5), "
        f"'Google AI' ({ROOT}/examples/providers.yaml:22:5), "
        f"'Team Proxy' ({ROOT}/examples/providers.yaml:35:5)",
    )


def test_example_keys_come_from_the_environment_as_secrets() -> None:
    env = {"OPENAI_API_KEY": "sk-openai-0123456789", "ANTHROPIC_API_KEY": "sk-ant-0123456789"}
    desired = config.load([str(ROOT / "examples/providers.yaml")], env)
    openai = desired.providers[0]
    assert isinstance(openai.api_key, Secret)
    assert openai.api_key.reveal() == "sk-openai-0123456789"
    assert openai.api_key_ref == "${OPENAI_API_KEY}"
    assert [w.split(": ")[1] for w in desired.warnings] == [
        "'Google AI' ("
        + str(ROOT / "examples/providers.yaml")
        + ":22:5), 'Team Proxy' ("
        + str(ROOT / "examples/providers.yaml")
        + ":35:5)"
    ]


def test_default_file_is_providers_yaml_in_the_working_directory() -> None:
    Path("providers.yaml").write_text(HEADER + "  - name: A\n    type: anthropic\n")
    assert [p.name for p in config.load([], {}).providers] == ["A"]


def test_missing_default_file_says_how_to_name_another() -> None:
    with pytest.raises(ConfigError) as info:
        config.load([], {})
    assert str(info.value) == (
        "1 error in the configuration:\n"
        "  providers.yaml: no such file; name your providers file with -f FILE"
    )


def test_default_value_is_used_only_when_the_variable_is_unset() -> None:
    text = (
        HEADER + "  - name: A\n    type: openai\n    base_url: ${RT_URL:-http://localhost:1/v1}\n"
    )
    assert only(load(text)).base_url == "http://localhost:1/v1"
    assert only(load(text, {"RT_URL": "https://set.example/v1"})).base_url == (
        "https://set.example/v1"
    )


def test_a_default_is_used_when_the_variable_is_unset_or_empty() -> None:
    text = HEADER + "  - name: A\n    type: anthropic\n    api_key: ${RT_KEY:-fallback-key}\n"
    for env in ({"RT_KEY": ""}, {}):
        key = only(load(text, env)).api_key
        assert key is not None and key.reveal() == "fallback-key"


def test_a_required_variable_set_but_empty_is_an_error_as_a_missing_ci_secret_is() -> None:
    text = HEADER + "  - name: A\n    type: anthropic\n    api_key: ${RT_KEY}\n"
    assert problems(text, {"RT_KEY": ""}) == [
        "p.yaml:5:5: providers[0].api_key: environment variable RT_KEY is set but empty (CI "
        "gives an empty value for a secret it does not have); set it, or write ${RT_KEY:-} "
        "to allow an empty value"
    ]


def test_empty_default_means_no_admin_key_and_warns() -> None:
    desired = load(HEADER + "  - name: A\n    type: anthropic\n    api_key: ${RT_KEY:-}\n")
    assert only(desired).api_key is None
    assert desired.warnings == (
        "p.yaml:3:5: provider 'A': no admin api_key; only users with their own key can use it",
    )


def test_double_dollar_brace_is_a_literal_and_is_not_expanded() -> None:
    text = HEADER + '  - name: "Costs $${RT_X} and $$ and $5"\n    type: anthropic\n'
    assert only(load(text, {"RT_X": "expanded"})).name == "Costs ${RT_X} and $$ and $5"


def test_a_value_containing_a_reference_is_not_expanded_again() -> None:
    text = HEADER + "  - name: ${RT_NAME}\n    type: anthropic\n    api_key: ${RT_KEY}\n"
    env = {"RT_NAME": "${RT_OTHER}", "RT_KEY": "$${RT_OTHER}", "RT_OTHER": "oops"}
    spec = only(load(text, env))
    assert spec.name == "${RT_OTHER}"
    assert spec.api_key is not None and spec.api_key.reveal() == "$${RT_OTHER}"


def test_substitution_happens_before_validation() -> None:
    text = HEADER + "  - name: A\n    type: ${RT_TYPE}\n"
    assert only(load(text, {"RT_TYPE": "google"})).type == "google"
    assert problems(text, {"RT_TYPE": "gogle"}) == [
        "p.yaml:4:5: providers[0].type: '${RT_TYPE}' is not one of: openai, anthropic, google; "
        "did you mean 'google'?"
    ]


def test_a_literal_api_key_warns_without_showing_it() -> None:
    desired = load(HEADER + "  - name: A\n    type: anthropic\n    api_key: sk-ant-literal-9876\n")
    assert desired.warnings == (
        "p.yaml:3:5: provider 'A': api_key is a literal value in the file; commit a ${VAR} "
        "reference instead and set the variable in CI",
    )
    key = only(desired).api_key
    assert key is not None and key.reveal() == "sk-ant-literal-9876"
    assert only(desired).api_key_ref is None


def test_a_non_empty_default_for_api_key_warns_that_it_commits_a_key() -> None:
    desired = load(
        HEADER + "  - name: A\n    type: anthropic\n    api_key: ${RT_K:-sk-in-git-123}\n"
    )
    assert desired.warnings == (
        "p.yaml:3:5: provider 'A': api_key has a non-empty default (${VAR:-...}), which puts a "
        "key in the file; write ${VAR}, or ${VAR:-} to allow no key",
    )
    assert (
        load(
            HEADER + "  - name: A\n    type: anthropic\n    api_key: ${RT_K:-}\n",
            {"RT_K": "sk-from-env-1"},
        ).warnings
        == ()
    )


@pytest.mark.parametrize(
    ("base_url", "warned"),
    [
        ("http://llm.example.com/v1", True),
        ("http://10.0.0.7:8000/v1", True),
        ("https://llm.example.com/v1", False),
        ("http://localhost:11434/v1", False),
        ("http://127.0.0.1:8000/v1", False),
        ("http://[::1]:8000/v1", False),
    ],
)
def test_a_key_sent_over_plain_http_to_a_remote_host_warns(base_url: str, warned: bool) -> None:
    text = (
        HEADER + f"  - name: A\n    type: openai\n    base_url: {base_url}\n    api_key: ${{K}}\n"
    )
    warnings = load(text, {"K": "sk-abcdefgh12345"}).warnings
    host = base_url.split("//")[1].split(":")[0].split("/")[0]
    expected = (
        f"p.yaml:3:5: provider 'A': api_key would be sent over plain http to {host}; use https"
    )
    assert warnings == ((expected,) if warned else ())


def test_keyless_local_engine_does_not_warn_but_a_keyless_remote_one_does() -> None:
    text = (
        HEADER + "  - name: Local\n    type: openai\n    base_url: http://localhost:11434/v1/\n"
        "  - name: Remote\n    type: openai\n    base_url: https://llm.example.com/v1\n"
    )
    desired = load(text)
    assert desired.providers[0].base_url == "http://localhost:11434/v1"  # trailing / dropped
    assert desired.warnings == (
        "p.yaml:6:5: provider 'Remote': no admin api_key; only users with their own key can use it",
    )


def test_ensure_absent_needs_only_a_name() -> None:
    spec = only(load(HEADER + "  - name: Legacy\n    ensure: absent\n"))
    assert spec == ProviderSpec(name="Legacy", ensure="absent")


def test_all_fields_are_read() -> None:
    text = HEADER + (
        "  - name: Team Proxy\n"
        "    renamed_from: [Old Proxy, Older Proxy]\n"
        "    type: openai\n"
        "    base_url: https://llm.internal.example/v1\n"
        "    api_key: ${RT_PROXY_KEY}\n"
        "    enabled: false\n"
        "    ensure: present\n"
        "    fetch_models: false\n"
        "    models:\n"
        '      visible: ["gpt-4o", "o3*"]\n'
        "      hidden: [gpt-4o-audio*]\n"
        "      only_listed: true\n"
    )
    spec = only(load(text, {"RT_PROXY_KEY": "sk-proxy-123456789"}))
    assert spec == ProviderSpec(
        name="Team Proxy",
        type="openai",
        base_url="https://llm.internal.example/v1",
        api_key=Secret("sk-proxy-123456789"),
        api_key_ref="${RT_PROXY_KEY}",
        enabled=False,
        renamed_from=("Old Proxy", "Older Proxy"),
        fetch_models=False,
        models=ModelRules(visible=("gpt-4o", "o3*"), hidden=("gpt-4o-audio*",), only_listed=True),
    )
    # Each pattern knows its place, for the warning when it matches nothing.
    assert spec.models is not None
    assert [str(spec.models.location("visible", i)) for i in (0, 1)] == [
        "p.yaml:12:17",
        "p.yaml:12:27",
    ]
    assert str(spec.models.location("hidden", 0)) == "p.yaml:13:16"


def test_anchors_and_merge_keys_share_fields_and_explicit_keys_win() -> None:
    text = HEADER + (
        "  - &proxy\n"
        "    name: Proxy A\n"
        "    type: openai\n"
        "    base_url: https://a.example/v1\n"
        "    models: &models\n"
        "      visible: [gpt-4o*]\n"
        "  - <<: *proxy\n"
        "    name: Proxy B\n"
        "    base_url: https://b.example/v1\n"
        "  - name: Proxy C\n"
        "    <<: [*proxy]\n"
        "    enabled: false\n"
        "    models: *models\n"
    )
    a, b, c = load(text).providers
    assert (b.name, b.type, b.base_url, b.models) == (
        "Proxy B",
        "openai",
        "https://b.example/v1",
        ModelRules(visible=("gpt-4o*",)),
    )
    assert (c.name, c.base_url, c.enabled, c.models) == (
        "Proxy C",
        "https://a.example/v1",
        False,
        a.models,
    )


def test_date_like_text_stays_text() -> None:
    assert only(load(HEADER + "  - name: 2024-01-01\n    type: anthropic\n")).name == "2024-01-01"


def test_empty_providers_list_is_valid() -> None:
    assert load("version: 1\nproviders:\n").providers == ()
    assert load("version: 1\nproviders: []\n").providers == ()


def test_several_files_and_folders_merge_in_order() -> None:
    Path("d").mkdir()
    Path("d/2.yml").write_text(HEADER + "  - name: C\n    type: google\n")
    Path("d/1.yaml").write_text(HEADER + "  - name: B\n    type: google\n")
    Path("d/ignored.json").write_text("{}")
    Path("a.yaml").write_text(HEADER + "  - name: A\n    type: google\n")
    desired = config.load(["a.yaml", "d"], {})
    assert [p.name for p in desired.providers] == ["A", "B", "C"]
    assert desired.files == ("a.yaml", str(Path("d/1.yaml")), str(Path("d/2.yml")))


def test_a_folder_without_yaml_files_is_an_error() -> None:
    Path("empty").mkdir()
    with pytest.raises(ConfigError) as info:
        config.load(["empty"], {})
    assert [str(p) for p in info.value.problems] == [
        "empty: the folder holds no *.yaml or *.yml file; pass the folder that holds your "
        "providers files, or the files themselves"
    ]


# --- invalid files (the CLI-level catalogue is tests/data/invalid) ----------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "version: 1\nproviders:\n  name: A\n",
            "p.yaml:2:1: providers: expected a list of providers, got a mapping; start each "
            "provider with '- ', as in '- name: OpenAI'",
            id="providers-is-a-mapping",
        ),
        pytest.param(
            HEADER + "  - name: A\n",
            "p.yaml:3:5: providers[0]: missing required field 'type' (openai, anthropic or "
            "google; Ollama and other local engines are openai)",
            id="missing-type",
        ),
        pytest.param(
            HEADER + "  - type: google\n",
            "p.yaml:3:5: providers[0]: missing required field 'name'; every provider needs a "
            "unique name",
            id="missing-name",
        ),
        pytest.param(
            "version: 1\n",
            "p.yaml:1:1: missing required field 'providers'; add a 'providers:' list",
            id="missing-providers",
        ),
        pytest.param(
            HEADER + "  - name: 123\n    type: google\n",
            "p.yaml:3:5: providers[0].name: expected a string, got a number (put it in quotes)",
            id="number-name",
        ),
        pytest.param(
            HEADER + '  - name: "  "\n    type: google\n',
            "p.yaml:3:5: providers[0].name: must not be blank: give it a value",
            id="blank-name",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: openai\n    base_url:\n",
            "p.yaml:5:5: providers[0].base_url: expected a string, got nothing (null): give it "
            "a value, or remove the line",
            id="null-value",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: ollama\n",
            "p.yaml:4:5: providers[0].type: 'ollama' is not one of: openai, anthropic, google "
            "(Ollama, vLLM and other OpenAI-compatible engines are 'openai')",
            id="type-ollama",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    enabled: ${RT_ENABLED:-true}\n",
            "p.yaml:5:5: providers[0].enabled: expected true or false, got a string: write true "
            "or false, without quotes (a ${VAR} reference always gives text)",
            id="boolean-from-a-reference",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    ensure: gone\n",
            "p.yaml:5:5: providers[0].ensure: 'gone' is not one of: present, absent",
            id="bad-ensure",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    models:\n      visible: [${RT_M}]\n",
            "p.yaml:6:18: providers[0].models.visible[0]: YAML syntax error: inside [...] or "
            "{...}, a ${VAR} reference must be quoted (the braces would end the list): write "
            '"${VAR}"',
            id="unquoted-reference-in-a-flow-list",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    renamed_from: Old\n",
            "p.yaml:5:5: providers[0].renamed_from: expected a list, got a string: write [Old] "
            "for a list of one",
            id="renamed-from-not-a-list",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    renamed_from: [Old, Old]\n",
            "p.yaml:5:5: providers[0].renamed_from: lists the same value twice: remove the "
            "repeated one",
            id="renamed-from-repeated",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    renamed_from: [A]\n",
            "p.yaml:5:20: providers[0].renamed_from[0]: renamed_from lists the provider's own "
            "name 'A': remove it",
            id="renamed-from-itself",
        ),
        pytest.param(
            'version: "1"\nproviders: []\n',
            'p.yaml:1:1: version: must be 1 (without quotes), not "1": 1 is the only format '
            "version this reconciler reads",
            id="version-quoted",
        ),
        pytest.param(
            "version: 1\nprovider: []\nproviders: []\n",
            "p.yaml:2:1: provider: unknown field 'provider'; did you mean 'providers'?",
            id="unknown-top-level-field",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    colour: blue\n",
            "p.yaml:5:5: providers[0].colour: unknown field 'colour'; the known fields are "
            "api_key, audio_only, base_url, default_model, enabled, ensure, environments, "
            "favicon, fetch_models, image_edit_only, image_only, models, name, only_in, "
            "renamed_from, system_prompt, type",
            id="unknown-field-without-close-match",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    models: {visble: [a]}\n",
            "p.yaml:5:14: providers[0].models.visble: unknown field 'visble'; did you mean "
            "'visible'?",
            id="unknown-models-field",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: openai\n    base_url: https://u:p@llm.example/v1\n",
            "p.yaml:5:5: providers[0].base_url: the URL must not hold credentials "
            "(user:password@); put the key in api_key",
            id="url-credentials",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: openai\n    base_url: https://llm.example/v1?x=1\n",
            "p.yaml:5:5: providers[0].base_url: 'https://llm.example/v1?***' must not have a "
            "query (?...) or fragment (#...); give the key in api_key",
            id="url-query",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: openai\n    base_url: https://llm.example:99999/\n",
            "p.yaml:5:5: providers[0].base_url: 'https://llm.example:99999/' is not a valid URL "
            "(Port out of range 0-65535); write e.g. https://api.example.com/v1",
            id="url-bad-port",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: openai\n    base_url: localhost:11434/v1\n",
            "p.yaml:5:5: providers[0].base_url: 'localhost:11434/v1' has no scheme; write "
            "http:// or https:// before the host, e.g. https://localhost:11434/v1",
            id="url-host-port-without-scheme",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: anthropic\n    api_key: ${RT_KEY:default}\n",
            "p.yaml:5:5: providers[0].api_key: '${RT_KEY:default}' is not a valid reference; "
            "for a default write ${NAME:-default}",
            id="default-without-dash",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: anthropic\n    api_key: ${RT_A:-${RT_B}}\n",
            "p.yaml:5:5: providers[0].api_key: '${RT_A:-${RT_B}' nests a reference inside "
            "another, which is not supported; write ${NAME} or ${NAME:-default}, or $${ for a "
            "literal '${'",
            id="nested-reference",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: anthropic\n    api_key: ${}\n",
            "p.yaml:5:5: providers[0].api_key: '${}' is not a valid reference: a variable name "
            "starts with a letter or '_' and holds only letters, digits and '_'; write ${NAME} "
            "or ${NAME:-default}, or $${ for a literal '${'",
            id="empty-reference",
        ),
        pytest.param(
            HEADER + '  - name: A\n    type: google\n    models:\n      visible: ["${RT_M}"]\n',
            "p.yaml:6:17: providers[0].models.visible[0]: environment variable RT_M is not set; "
            "export it (in CI, from a secret), or write ${RT_M:-} to allow an empty value",
            id="missing-variable-in-a-list",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: !Ref google\n",
            "p.yaml:4:11: providers[0].type: the tag '!Ref' is not allowed; only plain values "
            "(text, numbers, true/false, lists, mappings) are: remove the tag",
            id="custom-tag",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    models: !!set {a, b}\n",
            "p.yaml:5:13: providers[0].models: the tag '!!set' is not allowed; only plain "
            "values (text, numbers, true/false, lists, mappings) are: remove the tag",
            id="set-tag-on-a-mapping",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    <<: [1, 2]\n",
            "p.yaml:5:10: providers[0]: '<<' merges the fields of a mapping: write '<<: *name' "
            "where '&name' marks a mapping, not a list or a single value",
            id="merge-of-a-list",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    ? [a, b]\n    : c\n",
            "p.yaml:5:7: providers[0]: a key must be a plain word, not a list, a mapping or a "
            "tagged value",
            id="complex-key",
        ),
        pytest.param(
            HEADER + "  - name: A: B\n    type: google\n",
            "p.yaml:3:12: providers[0]: YAML syntax error: a ': ' is not allowed here: put "
            "a value that contains ': ' in quotes, or fix the indentation of this line",
            id="colon-in-a-plain-value",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: *google\n",
            "p.yaml:4:11: providers[0].type: YAML syntax error: this alias (*name) refers to no "
            "anchor: define '&name' before it, or put the text in quotes if '*' is meant "
            "literally",
            id="undefined-alias",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n    renamed_from: [Old, Older\n",
            "p.yaml:6:1: providers[0].renamed_from[1]: YAML syntax error: the '[' opened at "
            "line 5, column 19 is not closed where expected: add ']', or the ',' missing "
            "between two items",
            id="unclosed-flow-list",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type google\n    enabled: true\n",
            "p.yaml:5:5: providers[0]: YAML syntax error: this line is neither 'key: value' nor "
            "a list item: add ': ' after the key, or indent it as part of the value above",
            id="missing-colon",
        ),
        pytest.param(
            HEADER + "  - name: A\x07B\n    type: google\n",
            "p.yaml:3:12: the character U+0007 is not allowed in YAML: remove it",
            id="control-character",
        ),
        pytest.param(
            HEADER + "  - name: A\n    type: google\n  - name: A\n    ensure: absent\n",
            "p.yaml:5:5: providers[1].name: duplicate provider name 'A' (also declared at "
            "p.yaml:3:5); names must be unique: rename or remove one of them",
            id="absent-and-present-with-one-name",
        ),
        pytest.param(
            "# only a comment\n",
            "p.yaml: the file is empty; start it with 'version: 1' and a 'providers:' list",
            id="comments-only",
        ),
        pytest.param(
            "just text\n",
            "p.yaml:1:1: the file must be a mapping with 'version: 1' and 'providers:', not a "
            "string",
            id="scalar-document",
        ),
    ],
)
def test_invalid_file_is_reported_precisely(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_a_file_that_is_not_utf8_is_reported() -> None:
    Path("latin1.yaml").write_bytes(HEADER.encode() + b"  - name: Caf\xe9\n    type: google\n")
    with pytest.raises(ConfigError) as info:
        config.load(["latin1.yaml"], {})
    assert [str(p) for p in info.value.problems] == [
        "latin1.yaml: is not UTF-8 text; save it as UTF-8"
    ]


def test_explicit_duplicate_after_a_merge_is_an_override_not_a_duplicate() -> None:
    text = HEADER + "  - &a\n    name: A\n    type: google\n  - <<: *a\n    name: B\n    name: C\n"
    assert problems(text) == [
        "p.yaml:8:5: providers[1].name: duplicate key 'name' (first defined at line 7); YAML "
        "would keep only one of them: remove or rename the other"
    ]


def test_all_problems_of_all_files_are_reported_together_in_file_order() -> None:
    Path("b.yaml").write_text(HEADER + "  - name: B\n    type: gogle\n")
    Path("a.yaml").write_text(
        HEADER + "  - name: A\n    type: anthropic\n    api_key: ${RT_A}\n"
        "  - name: A2\n    type: openai\n"
    )
    with pytest.raises(ConfigError) as info:
        config.load(["b.yaml", "a.yaml"], {})
    assert str(info.value) == (
        "3 errors in the configuration:\n"
        "  b.yaml:4:5: providers[0].type: 'gogle' is not one of: openai, anthropic, google; "
        "did you mean 'google'?\n"
        "  a.yaml:5:5: providers[0].api_key: environment variable RT_A is not set; export it "
        "(in CI, from a secret), or write ${RT_A:-} if the provider is to have no admin key "
        "(apply then removes a key the target holds)\n"
        "  a.yaml:6:5: providers[1]: missing required field 'base_url': type openai needs the "
        "endpoint, e.g. https://api.openai.com/v1, or http://localhost:11434/v1 for Ollama"
    )


def test_a_missing_variable_is_not_also_reported_as_a_bad_value() -> None:
    text = HEADER + "  - name: ${RT_NAME}\n    type: ${RT_TYPE}\n    base_url: ${RT_URL}\n"
    assert [p.split(": ", 2)[1] for p in problems(text)] == [
        "providers[0].name",
        "providers[0].type",
        "providers[0].base_url",
    ]


def test_a_malformed_api_key_reference_is_shown_unmasked() -> None:
    # A reference is not a secret: the user must see what to fix.
    assert "'${1X}'" in problems(HEADER + "  - name: A\n    type: google\n    api_key: ${1X}\n")[0]


def test_a_broken_provider_does_not_hide_a_bad_url_in_it() -> None:
    text = HEADER + "  - name: 7\n    type: openai\n    base_url: htp://x\n"
    assert problems(text) == [
        "p.yaml:3:5: providers[0].name: expected a string, got a number (put it in quotes)",
        "p.yaml:5:5: providers[0].base_url: 'htp://x' must be an http(s) URL (it starts with "
        "htp://); an API is reached over http:// or https://",
    ]


def test_config_error_carries_located_problems() -> None:
    with pytest.raises(ConfigError) as info:
        load(HEADER + "  - name: A\n    type: google\n    enabled: yes please\n")
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.column, problem.path) == (
        "p.yaml",
        5,
        5,
        "providers[0].enabled",
    )


def test_a_mistake_repeated_thousands_of_times_is_shown_a_hundred_times() -> None:
    body = "".join(
        f"  - name: p{i}\n    type: anthropic\n    api_key: ${{RT_UNSET_KEY}}\n" for i in range(150)
    )
    with pytest.raises(ConfigError) as caught:
        load(HEADER + body)
    assert len(caught.value.problems) == 150
    lines = str(caught.value).splitlines()
    assert lines[0] == "150 errors in the configuration:"
    assert len(lines) == 1 + 100 + 1
    assert lines[-1] == "  ... and 50 more (reconcile validate --format json lists them all)"


def test_an_absent_entry_keeps_its_fields_unused_and_its_variables_need_not_be_set() -> None:
    entry = (
        "  - name: Legacy\n    ensure: absent\n    type: openai\n"
        "    base_url: https://legacy.example/v1\n    api_key: ${GONE_KEY}\n"
        "    image_only: true\n"
    )
    desired = load(HEADER + entry, env={})
    (spec,) = desired.providers
    assert (spec.name, spec.ensure, spec.api_key, spec.type) == ("Legacy", "absent", None, None)


def test_an_absent_entry_is_still_checked_for_shape() -> None:
    text = HEADER + "  - name: Legacy\n    ensure: absent\n    enabled: maybe\n"
    (problem,) = problems(text)
    assert problem.startswith("p.yaml:5:5: providers[0].enabled: expected true or false")


def test_a_reference_without_braces_is_pointed_out() -> None:
    desired = load(HEADER + "  - name: A\n    type: anthropic\n    api_key: $OPENAI_API_KEY\n")
    assert desired.warnings == (
        "p.yaml:3:5: provider 'A': api_key is the literal text '$OPENAI_API_KEY'; did you mean "
        "${OPENAI_API_KEY}? Only ${...} references are substituted",
    )


def test_a_blank_key_is_an_error() -> None:
    text = HEADER + "  - name: A\n    type: anthropic\n    api_key: ${RT_KEY}\n"
    assert problems(text, {"RT_KEY": "   "}) == [
        "p.yaml:5:5: providers[0].api_key: api_key is blank (only spaces); set a key or remove "
        "the field"
    ]


def test_top_level_x_fields_hold_anchors_for_providers() -> None:
    text = (
        "version: 1\nx-defaults: &d\n  type: openai\n  fetch_models: false\nproviders:\n"
        "  - name: A\n    <<: *d\n    base_url: http://127.0.0.1:9/v1\n"
    )
    spec = only(load(text))
    assert (spec.type, spec.fetch_models) == ("openai", False)


def test_the_same_file_named_twice_is_read_once() -> None:
    Path("a.yaml").write_text(HEADER + "  - name: A\n    type: anthropic\n    api_key: ${RT_K:-}\n")
    desired = config.load(["a.yaml", "./a.yaml"], {})
    assert [p.name for p in desired.providers] == ["A"]


def test_a_folder_skips_hidden_files_and_reads_upper_case_suffixes() -> None:
    Path("d").mkdir()
    Path("d/.backup.yaml").write_text("not: [valid")
    Path("d/B.YAML").write_text(
        HEADER + "  - name: B\n    type: anthropic\n    api_key: ${RT_K:-}\n"
    )
    desired = config.load(["d"], {})
    assert [p.name for p in desired.providers] == ["B"]


def test_messages_quote_values_as_written_never_the_substituted_secret() -> None:
    text = HEADER + (
        "  - name: Gemini\n    type: google\n"
        "    base_url: https://generativelanguage.googleapis.com/v1beta?key=${RT_GKEY}\n"
        "    api_key: ${RT_GKEY}\n"
        "  - name: Proxy\n    type: openai\n"
        '    base_url: "https://proxy:${RT_PASS}@llm.example.com/v1 "\n'
        "  - name: Bad\n    type: ${RT_OKEY}\n"
    )
    env = {"RT_GKEY": "AIzaLEAKED0123456789", "RT_PASS": "hunter2-pass", "RT_OKEY": "sk-LEAK-99"}
    found = problems(text, env)
    assert len(found) == 3
    for message in found:
        for value in env.values():
            assert value not in message
    assert "'${RT_OKEY}' is not one of" in found[2]


def test_a_literal_url_with_credentials_is_quoted_masked() -> None:
    text = (
        HEADER + "  - name: P\n    type: openai\n    base_url: https://u:p4ss@h.example/v1?k=1 x\n"
    )
    (message,) = problems(text)
    assert "p4ss" not in message and "k=1" not in message


def test_an_unclosed_reference_does_not_quote_its_default() -> None:
    text = HEADER + "  - name: A\n    type: anthropic\n    api_key: ${K:-sk-LITERALkey0123456789\n"
    (message,) = problems(text)
    assert "sk-LITERAL" not in message
    assert "'${K:-...' is not closed" in message


def test_a_duplicate_name_is_reported_even_when_the_entry_has_other_errors() -> None:
    text = HEADER + (
        "  - name: G\n    type: gogle\n"
        "  - name: G\n    type: openai\n    base_url: http://127.0.0.1:9/v1\n"
    )
    found = problems(text)
    assert len(found) == 2
    assert found[0].startswith(
        "p.yaml:3:5: providers[0].name: duplicate provider name 'G' (also declared at p.yaml:5:5)"
    )


# --- provider settings (ClaraVerse's own six) ---------------------------------------------

IMAGES = "  - name: Images\n    type: openai\n    base_url: https://api.openai.com/v1\n"


def test_provider_settings_are_read() -> None:
    text = (
        HEADER
        + IMAGES
        + (
            "    image_only: true\n"
            "    default_model: dall-e-3\n"
            '    system_prompt: "Draw in the house style."\n'
            "    favicon: https://cdn.example.com/openai.png\n"
        )
    )
    assert only(load(text)).settings == ProviderSettings(
        image_only=True,
        default_model="dall-e-3",
        system_prompt="Draw in the house style.",
        favicon="https://cdn.example.com/openai.png",
    )


def test_settings_the_file_leaves_out_are_the_defaults() -> None:
    assert only(load(HEADER + IMAGES)).settings == ProviderSettings()
    spec = only(load(HEADER + IMAGES + "    audio_only: false\n    favicon: ''\n"))
    assert spec.settings == ProviderSettings()


@pytest.mark.parametrize("flag", ["audio_only", "image_only", "image_edit_only"])
def test_one_kind_flag_alone_is_valid(flag: str) -> None:
    others = "".join(f"    {f}: false\n" for f in ("audio_only", "image_only") if f != flag)
    spec = only(load(HEADER + IMAGES + f"    {flag}: true\n" + others))
    assert spec.settings.value(flag) is True


def test_string_settings_take_references_like_other_values() -> None:
    text = (
        HEADER
        + IMAGES
        + (
            "    default_model: ${RT_IMAGE_MODEL:-dall-e-3}\n"
            '    system_prompt: "You work for ${RT_TEAM}; $${literal}"\n'
            "    favicon: ${RT_CDN}/icon.png\n"
        )
    )
    env = {"RT_TEAM": "Team B", "RT_CDN": "https://cdn.example.com"}
    settings = only(load(text, env)).settings
    assert (settings.default_model, settings.system_prompt, settings.favicon) == (
        "dall-e-3",
        "You work for Team B; ${literal}",
        "https://cdn.example.com/icon.png",
    )
    assert problems(text, {"RT_TEAM": "Team B"}) == [
        "p.yaml:8:5: providers[0].favicon: environment variable RT_CDN is not set; export it "
        "(in CI, from a secret), or write ${RT_CDN:-} to allow an empty value"
    ]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param(
            ("image_only", "image_edit_only"),
            "p.yaml:3:5: providers[0]: image_only and image_edit_only are both true, but "
            "ClaraVerse treats a provider as one kind (chat, audio, image generation or image "
            "editing), so at most one of audio_only, image_only and image_edit_only may be "
            "true: keep the one this provider is for and remove the other, or declare another "
            "provider (another name, same base_url and api_key) for the other kind",
            id="two",
        ),
        pytest.param(
            ("image_edit_only", "audio_only", "image_only"),
            "p.yaml:3:5: providers[0]: audio_only, image_only and image_edit_only are all "
            "true, but ClaraVerse treats a provider as one kind (chat, audio, image generation "
            "or image editing), so at most one of audio_only, image_only and image_edit_only "
            "may be true: keep the one this provider is for and remove the others, or declare "
            "another provider (another name, same base_url and api_key) for each other kind",
            id="three",
        ),
    ],
)
def test_several_kinds_of_provider_at_once_are_an_error_at_the_provider(
    flags: tuple[str, ...], expected: str
) -> None:
    text = HEADER + IMAGES + "".join(f"    {flag}: true\n" for flag in flags)
    assert problems(text) == [expected]


def test_two_kinds_are_reported_with_the_entrys_other_errors() -> None:
    text = HEADER + (
        "  - name: Broken\n    type: opnai\n    audio_only: true\n    image_only: true\n"
        "  - name: Bad URL\n    type: openai\n    base_url: ftp://x\n"
        "    image_only: true\n    image_edit_only: true\n"
    )
    assert [p.split(": ", 2)[1] for p in problems(text)] == [
        "providers[0]",
        "providers[0].type",
        "providers[1]",
        "providers[1].base_url",
    ]


def test_a_provider_with_two_kinds_still_counts_for_duplicate_names() -> None:
    text = HEADER + IMAGES + "    image_only: true\n    audio_only: true\n" + IMAGES
    found = problems(text)
    assert [p.split(": ", 2)[1] for p in found] == ["providers[0]", "providers[1].name"]
    assert "duplicate provider name 'Images'" in found[1]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "image_only: yes please",
            "providers[0].image_only: expected true or false, got a string: write true or "
            "false, without quotes (a ${VAR} reference always gives text)",
        ),
        (
            "audio_only: ${RT_AUDIO:-true}",
            "providers[0].audio_only: expected true or false, got a string: write true or "
            "false, without quotes (a ${VAR} reference always gives text)",
        ),
        (
            "default_model: 3",
            "providers[0].default_model: expected a string, got a number (put it in quotes)",
        ),
        (
            "favicon:",
            "providers[0].favicon: expected a string, got nothing (null): give it a value, or "
            "remove the line",
        ),
        (
            "imageonly: true",
            "providers[0].imageonly: unknown field 'imageonly'; did you mean 'image_only'?",
        ),
    ],
)
def test_settings_of_the_wrong_type_are_explained(line: str, expected: str) -> None:
    assert problems(HEADER + IMAGES + f"    {line}\n") == [f"p.yaml:6:5: {expected}"]


def test_a_short_admin_key_for_a_remote_upstream_is_refused() -> None:
    text = HEADER + "  - name: A\n    type: anthropic\n    api_key: ${SHORT}\n"
    (problem,) = problems(text, env={"SHORT": "k7q2"})
    assert problem.startswith("p.yaml:5:5: providers[0].api_key: api_key is 4 characters long")


def test_a_short_placeholder_key_for_a_local_engine_is_fine() -> None:
    text = (
        HEADER + "  - name: Ollama\n    type: openai\n    base_url: http://localhost:11434/v1\n"
        "    api_key: ${OLLAMA:-ollama}\n"
    )
    (spec,) = load(text, env={}).providers
    assert spec.api_key is not None and spec.api_key.reveal() == "ollama"


def test_a_key_in_the_base_url_path_is_refused() -> None:
    key = "sk-" + "a1B2c3D4" * 5
    text = HEADER + f"  - name: P\n    type: openai\n    base_url: https://proxy.example/{key}/v1\n"
    (problem,) = problems(text)
    assert "base_url holds what looks like an API key" in problem
    assert key not in problem
