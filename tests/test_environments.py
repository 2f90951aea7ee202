"""Environments in the files: the merge of overrides, only_in, where errors point, and
validation of every environment at once (config.load on real files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import config
from reconciler.core.model import Desired, ProviderSpec
from reconciler.errors import ConfigError

KEYS = {"BASE_KEY": "sk-base-0123456789", "STAGING_KEY": "sk-staging-0123456789"}

TWO = """\
version: 1
environments:
  staging: {target: "sqlite:///staging.db"}
  production: {target: "sqlite:///production.db"}
"""


def write(text: str, name: str = "providers.yaml") -> str:
    Path(name).write_text(text, encoding="utf-8")
    return name


def load(env: str | None, *files: str, **variables: str) -> Desired:
    return config.load(list(files) or ["providers.yaml"], {**KEYS, **variables}, environment=env)


def errors(env: str | None, *files: str, **variables: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(env, *files, **variables)
    return [str(p) for p in caught.value.problems]


def by_name(desired: Desired) -> dict[str, ProviderSpec]:
    return {p.name: p for p in desired.providers}


def test_an_override_merges_mappings_and_replaces_lists_and_values() -> None:
    write(
        TWO
        + """\
providers:
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    api_key: ${BASE_KEY}
    enabled: true
    models: {visible: ["gpt-4o", "gpt-4o-mini"], hidden: ["*-preview"], only_listed: true}
    environments:
      staging:
        enabled: false
        models: {visible: ["*"]}
"""
    )
    production = by_name(load("production"))["OpenAI"]
    staging = by_name(load("staging"))["OpenAI"]
    assert production.enabled is True and staging.enabled is False
    assert production.models is not None and staging.models is not None
    assert production.models.visible == ("gpt-4o", "gpt-4o-mini")
    # The list is replaced; the rest of the mapping is the base entry's.
    assert staging.models.visible == ("*",)
    assert staging.models.hidden == ("*-preview",) and staging.models.only_listed is True
    assert [(o.field, o.source) for o in staging.overrides] == [
        ("enabled", "providers.yaml:14"),
        ("models", "providers.yaml:15"),
    ]
    assert production.overrides == ()
    # A pattern of the override is located where the override writes it.
    assert str(staging.models.visible_at[0]) == "providers.yaml:15:28"


def test_only_in_limits_an_entry_to_its_environments() -> None:
    write(
        TWO
        + """\
providers:
  - name: Experimental
    only_in: [staging]
    type: openai
    base_url: http://127.0.0.1:9/v1
"""
    )
    assert list(by_name(load("staging"))) == ["Experimental"]
    assert load("production").providers == ()


def test_only_the_selected_environments_variables_are_needed() -> None:
    write(
        TWO
        + """\
providers:
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    api_key: ${BASE_KEY}
    environments:
      staging: {api_key: "${ONLY_STAGING_KEY}"}
  - name: Lab
    only_in: [staging]
    type: openai
    base_url: http://127.0.0.1:9/v1
    api_key: ${LAB_KEY}
"""
    )
    production = load("production")
    assert [p.name for p in production.providers] == ["OpenAI"]
    assert production.target == "sqlite:///production.db"
    assert production.environment == "production"
    assert errors("staging") == [
        "providers.yaml:11:17: providers[0].environments.staging.api_key: environment "
        "variable ONLY_STAGING_KEY is not set; export it (in CI, from a secret), or write "
        "${ONLY_STAGING_KEY:-} if the provider is to have no admin key (apply then removes a "
        "key the target holds)",
        "providers.yaml:16:5: providers[1].api_key: environment variable LAB_KEY is not set; "
        "export it (in CI, from a secret), or write ${LAB_KEY:-} if the provider is to have "
        "no admin key (apply then removes a key the target holds)",
    ]


def test_errors_in_an_override_point_at_the_override() -> None:
    write(
        TWO
        + """\
providers:
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    environments:
      staging:
        type: openia
        base_url: "not a url"
        enabeld: false
"""
    )
    expected = [
        "providers.yaml:11:9: providers[0].environments.staging.type: {}'openia' is not one "
        "of: openai, anthropic, google; did you mean 'openai'?",
        "providers.yaml:12:9: providers[0].environments.staging.base_url: {}'not a url' "
        "contains spaces; remove them",
        "providers.yaml:13:9: providers[0].environments.staging.enabeld: {}unknown field "
        "'enabeld'; did you mean 'enabled'?",
    ]
    assert errors("staging") == [e.format("") for e in expected]
    # The file is broken for production too: staging's errors, named as staging's.
    assert errors("production") == [e.format("environment 'staging': ") for e in expected]


def test_what_an_override_cannot_hold_and_unknown_environments_are_errors() -> None:
    write(
        TWO
        + """\
providers:
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    only_in: [staging, prod]
    environments:
      staging: {name: Other, only_in: [staging]}
      qa: {enabled: false}
      production: false
"""
    )
    expected = [
        "providers.yaml:9:24: providers[0].only_in[1]: environment 'prod' is not declared "
        "(the files declare: production, staging); fix the name, or declare it under the "
        "top-level 'environments:'",
        "providers.yaml:11:17: providers[0].environments.staging.name: the name is the "
        "provider's identity and cannot differ per environment; declare another provider "
        "with only_in instead",
        "providers.yaml:11:30: providers[0].environments.staging.only_in: only_in belongs to "
        "the entry itself, not to an override",
        "providers.yaml:12:7: providers[0].environments.qa: environment 'qa' is not declared "
        "(the files declare: production, staging); fix the name, or declare it under the "
        "top-level 'environments:'",
        "providers.yaml:13:7: providers[0].environments.production: an override must be a "
        "mapping of the fields that differ in this environment, e.g. {enabled: false}",
    ]
    assert errors("staging") == expected
    assert errors("production") == expected


def test_overrides_without_declared_environments_are_errors() -> None:
    write(
        """\
version: 1
providers:
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    only_in: [staging]
"""
    )
    assert errors(None) == [
        "providers.yaml:6:15: providers[0].only_in[0]: environment 'staging' is not declared: "
        "the files declare no environments; add a top-level 'environments:' mapping"
    ]


def test_env_is_required_known_and_refused_without_environments() -> None:
    write(TWO + "providers: []\n")
    assert errors(None) == [
        "providers.yaml:2:1: environments: the files declare environments (production, "
        "staging): choose one with --env NAME (or RECONCILE_ENV=NAME)"
    ]
    assert errors("prod") == [
        "providers.yaml:2:1: environments: --env prod: no such environment; the files "
        "declare: production, staging"
    ]
    write("version: 1\nproviders: []\n", "plain.yaml")
    assert errors("staging", "plain.yaml") == [
        "plain.yaml: --env staging: the files declare no environments; remove --env (and "
        "RECONCILE_ENV), or declare them under a top-level 'environments:'"
    ]


def test_environments_and_prune_are_declared_in_one_file_only() -> None:
    write(TWO + "prune: {ignore: [a]}\nproviders: []\n", "a.yaml")
    write("version: 1\nenvironments: {qa: {}}\nprune: {ignore: [b]}\nproviders: []\n", "b.yaml")
    assert errors("staging", "a.yaml", "b.yaml") == [
        "b.yaml:2:1: environments: environments is also declared at a.yaml:2:1; declare it "
        "in one file only (the one every environment reads)",
        "b.yaml:3:1: prune: prune is also declared at a.yaml:5:1; declare it in one file only "
        "(the one every environment reads)",
    ]


def test_several_files_share_the_environments_of_one() -> None:
    write(TWO + "prune: {ignore: ['team-b-*', Shared Proxy]}\nproviders: []\n", "a.yaml")
    write(
        """\
version: 1
providers:
  - name: Lab
    only_in: [staging]
    type: openai
    base_url: http://127.0.0.1:9/v1
""",
        "b.yaml",
    )
    staging = load("staging", "a.yaml", "b.yaml")
    assert [p.name for p in staging.providers] == ["Lab"]
    assert staging.prune_ignore == ("team-b-*", "Shared Proxy")
    assert load("production", "a.yaml", "b.yaml").providers == ()


def test_validate_checks_every_environment_and_names_the_one_an_error_belongs_to() -> None:
    write(
        TWO
        + """\
providers:
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    colour: blue
    environments:
      staging: {enabled: "no"}
"""
    )
    with pytest.raises(ConfigError) as caught:
        config.load_environments(["providers.yaml"], KEYS)
    assert [str(p) for p in caught.value.problems] == [
        # In every environment: said once, with no environment named.
        "providers.yaml:9:5: providers[0].colour: unknown field 'colour'; the known fields "
        "are api_key, audio_only, base_url, default_model, enabled, ensure, environments, "
        "favicon, fetch_models, image_edit_only, image_only, models, name, only_in, "
        "renamed_from, system_prompt, type",
        "providers.yaml:11:17: providers[0].environments.staging.enabled: environment "
        "'staging': expected true or false, got a string: write true or false, without "
        "quotes (a ${VAR} reference always gives text)",
    ]


def test_validate_of_valid_environments_gives_each_configuration() -> None:
    write(TWO + "providers:\n  - {name: A, type: anthropic, only_in: [production]}\n")
    loaded = config.load_environments(["providers.yaml"], KEYS)
    assert [(d.environment, len(d.providers)) for d in loaded] == [
        ("production", 1),
        ("staging", 0),
    ]
    write("version: 1\nproviders: []\n")
    assert [d.environment for d in config.load_environments(["providers.yaml"], KEYS)] == [None]


def test_a_file_without_environments_loads_as_before() -> None:
    write("version: 1\nproviders:\n  - {name: A, type: anthropic, api_key: '${BASE_KEY}'}\n")
    desired = load(None)
    assert desired.environment is None and desired.target is None
    assert desired.prune_ignore == () and desired.providers[0].overrides == ()


def test_an_environment_target_is_read_without_the_providers_keys() -> None:
    write(
        "version: 1\nenvironments:\n  staging: {target: '${STAGING_URL}'}\n"
        "providers:\n  - {name: A, type: anthropic, api_key: '${NOT_SET_KEY}'}\n"
    )
    assert (
        config.environment_target(
            ["providers.yaml"], "staging", {"STAGING_URL": "https://s.example"}
        )
        == "https://s.example"
    )
    with pytest.raises(ConfigError) as caught:
        config.environment_target(["providers.yaml"], "staging", {})
    assert "the target of environment 'staging' needs STAGING_URL" in str(caught.value)


def test_a_malformed_environment_target_is_quoted_without_what_follows_its_default() -> None:
    # Quoted as the document's values are: a key may be pasted after ":-".
    write(
        "version: 1\nenvironments:\n"
        "  prod: {target: '${CV_URL:-https://admin:sk-SECRETSECRETSECRET@cv.example'}\n"
        "providers: []\n"
    )
    with pytest.raises(ConfigError) as caught:
        config.environment_target(["providers.yaml"], "prod", {})
    assert "SECRETSECRET" not in str(caught.value)
    assert "environments.prod.target" in str(caught.value)


def test_every_environments_shape_is_checked_whichever_is_loaded() -> None:
    write(
        """\
version: 1
environments:
  staging: {target: 5}
  production: {target: "sqlite:///production.db"}
  qa: {}
providers:
  - name: Shared
    type: openai
    base_url: http://127.0.0.1:9/v1
    colour: blue
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    enabled: "no"
    environments:
      production: {enabled: false}
      staging: {base_url: "${STAGING_URL}", api_key: "${STAGING_ONLY_KEY}", colour: red}
  - name: Lab
    only_in: [staging]
    type: openai
    base_url: "not a url"
    models: {aliases: {"a/b": {model: x}}}
"""
    )
    assert errors("production") == [
        "providers.yaml:3:13: environments.staging.target: environment 'staging': expected "
        "a string, got a number (put it in quotes)",
        # Every environment's error: said once, with no environment named.
        "providers.yaml:10:5: providers[0].colour: unknown field 'colour'; the known fields "
        "are api_key, audio_only, base_url, default_model, enabled, ensure, environments, "
        "favicon, fetch_models, image_edit_only, image_only, models, name, only_in, "
        "renamed_from, system_prompt, type",
        # Production overrides it; staging and qa read it as written.
        "providers.yaml:14:5: providers[1].enabled: environments 'qa', 'staging': expected "
        "true or false, got a string: write true or false, without quotes (a ${VAR} "
        "reference always gives text)",
        # In an override, the known fields are what an override can hold.
        "providers.yaml:17:77: providers[1].environments.staging.colour: environment "
        "'staging': unknown field 'colour'; the known fields are api_key, audio_only, "
        "base_url, default_model, enabled, ensure, favicon, fetch_models, image_edit_only, "
        "image_only, models, renamed_from, system_prompt, type",
        # Only in staging: still the file's, so still an error.
        "providers.yaml:21:5: providers[2].base_url: environment 'staging': 'not a url' "
        "contains spaces; remove them",
        "providers.yaml:22:24: providers[2].models.aliases.a/b: environment 'staging': alias "
        "name 'a/b' contains '/', and ClaraVerse cannot delete such an alias (its admin API "
        "takes the name in the URL path); use another character, e.g. '-'",
    ]
    # Staging's unset variables were never needed: only their shape is checked.


def test_another_environments_variables_are_not_needed_to_load_one() -> None:
    write(
        TWO
        + """\
providers:
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    environments:
      staging: {base_url: "${STAGING_URL}", api_key: "${STAGING_ONLY_KEY}"}
"""
    )
    assert by_name(load("production"))["OpenAI"].base_url == "http://127.0.0.1:9/v1"
    staging = load("staging", STAGING_URL="http://127.0.0.1:8/v1", STAGING_ONLY_KEY="sk-s-123456")
    assert by_name(staging)["OpenAI"].base_url == "http://127.0.0.1:8/v1"
