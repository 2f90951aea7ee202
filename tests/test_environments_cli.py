"""One repository for staging and production: the CLI as users run it (in this process),
against two embedded stores that the file's environments name as their targets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.targets.sqlite import SqliteTarget
from tests import inprocess

STAGING_KEY = "sk-staging-SECRET-0123456789"
PROD_KEY = "sk-prod-SECRET-9876543210"
LAB_KEY = "sk-lab-SECRET-5555555555"
KEYS = {"PROD_API_KEY": PROD_KEY, "STAGING_API_KEY": STAGING_KEY, "LAB_API_KEY": LAB_KEY}

# Loopback URLs and fetch_models: false: no test contacts an upstream.
FILE = """\
version: 1
environments:
  staging: {target: "sqlite:///staging.db"}
  production: {target: "sqlite:///production.db"}
prune:
  ignore: ["team-b-*", "Shared Proxy"]
providers:
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    api_key: ${PROD_API_KEY}
    fetch_models: false
    system_prompt: Be brief.
    environments:
      staging:
        api_key: ${STAGING_API_KEY}
        base_url: http://127.0.0.1:10/v1
  - name: Experimental
    only_in: [staging]
    type: openai
    base_url: http://127.0.0.1:11/v1
    api_key: ${LAB_API_KEY}
    fetch_models: false
"""


def reconcile(*args: str, **extra: str) -> inprocess.Result:
    """The CLI with the keys set; nothing it prints or writes holds a key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILE_", "CLARAVERSE_"))}
    result = inprocess.run(*args, env={**env, **KEYS, **extra})
    for text in (result.stdout, result.stderr):
        for key in KEYS.values():
            assert key not in text
        assert "Traceback" not in text
    return result


def providers(store: str) -> dict[str, tuple[str, bool, str]]:
    """Name → (base_url, enabled, system_prompt), as the store holds them."""
    target = SqliteTarget(Path(store), lazy=True)
    try:
        return {
            p.name: (p.base_url or "", p.enabled, p.settings.system_prompt)
            for p in target.observe().providers
        }
    finally:
        target.close()


def write(text: str = FILE) -> None:
    Path("providers.yaml").write_text(text, encoding="utf-8")


def test_each_environment_gets_its_own_providers_and_a_second_apply_changes_nothing() -> None:
    write()
    staging = reconcile("apply", "--env", "staging", "--yes")
    assert staging.returncode == 0, staging.stderr
    assert staging.stdout.startswith("Target: sqlite:///staging.db (environment staging)\n")
    production = reconcile("apply", "--yes", RECONCILE_ENV="production")
    assert production.returncode == 0, production.stderr
    assert providers("staging.db") == {
        "OpenAI": ("http://127.0.0.1:10/v1", True, "Be brief."),
        "Experimental": ("http://127.0.0.1:11/v1", True, ""),
    }
    assert providers("production.db") == {"OpenAI": ("http://127.0.0.1:9/v1", True, "Be brief.")}
    for env in ("staging", "production"):
        again = reconcile("apply", "--env", env, "--yes")
        assert again.returncode == 0, again.stderr
        assert "No changes. The target matches the configuration." in again.stdout
        plan = reconcile("plan", "--env", env, "--detailed-exitcode")
        assert plan.returncode == 0, plan.stdout


def test_plan_and_apply_need_env_and_name_the_environments() -> None:
    write()
    for command in ("plan", "apply"):
        result = reconcile(command, "--yes") if command == "apply" else reconcile(command)
        assert result.returncode == 1
        assert result.stderr == (
            "Error: 1 error in the configuration:\n  providers.yaml:2:1: environments: the "
            "files declare environments (production, staging): choose one with --env NAME "
            "(or RECONCILE_ENV=NAME)\n"
        )
    unknown = reconcile("plan", "--env", "qa")
    assert "--env qa: no such environment; the files declare: production, staging" in unknown.stderr
    assert not Path("staging.db").exists() and not Path("production.db").exists()


def test_target_wins_over_the_environments_own() -> None:
    write()
    result = reconcile("apply", "--env", "staging", "--target", "sqlite:///other.db", "--yes")
    assert result.returncode == 0, result.stderr
    assert sorted(providers("other.db")) == ["Experimental", "OpenAI"]
    assert not Path("staging.db").exists()


def test_validate_checks_every_environment_and_names_the_one_with_the_error() -> None:
    write(FILE.replace("        base_url: http://127.0.0.1:10/v1\n", "        enabled: maybe\n"))
    result = reconcile("validate")
    assert result.returncode == 1
    assert result.stderr == (
        "Error: 1 error in the configuration:\n"
        "  providers.yaml:17:9: providers[0].environments.staging.enabled: environment "
        "'staging': expected true or false, got a string: write true or false, without "
        "quotes (a ${VAR} reference always gives text)\n"
    )
    # A broken override breaks the file for every environment: said the same way.
    only_production = reconcile("validate", "--env", "production")
    assert (only_production.returncode, only_production.stderr) == (1, result.stderr)
    write()
    result = reconcile("validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Valid (environment production): 1 provider in 1 file.\n"
        "Valid (environment staging): 2 providers in 1 file.\n"
    )


# The user trial's file: production's values are fine, staging's override is not.
TRIAL = """\
version: 1
environments:
  staging: {target: "sqlite:///staging.db"}
  production: {target: "sqlite:///production.db"}
providers:
  - name: OpenAI
    type: openai
    base_url: http://127.0.0.1:9/v1
    api_key: ${PROD_API_KEY}
    fetch_models: false
    environments: {staging: {enabled: "yes", models: {visble: ["*"]}}}
"""
TRIAL_ERRORS = (
    "  bad.yaml:11:30: providers[0].environments.staging.enabled: environment 'staging': "
    "expected true or false, got a string: write true or false, without quotes (a ${VAR} "
    "reference always gives text)\n"
    "  bad.yaml:11:55: providers[0].environments.staging.models.visble: environment "
    "'staging': unknown field 'visble'; did you mean 'visible'?\n"
)


def test_a_broken_override_of_staging_fails_every_command_for_production() -> None:
    Path("bad.yaml").write_text(TRIAL, encoding="utf-8")
    expected = "Error: 2 errors in the configuration:\n" + TRIAL_ERRORS
    for args in (
        ("validate", "-f", "bad.yaml", "--env", "production"),
        ("validate", "-f", "bad.yaml"),
        ("plan", "-f", "bad.yaml", "--env", "production"),
        ("apply", "-f", "bad.yaml", "--env", "production", "--yes"),
    ):
        result = reconcile(*args)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", expected), args
    assert not Path("production.db").exists()


def test_another_environments_unset_variables_are_not_needed() -> None:
    write(
        FILE.replace("${STAGING_API_KEY}", "${STAGING_ONLY_KEY}").replace(
            "http://127.0.0.1:10/v1", "${STAGING_URL}"
        )
    )
    plan = reconcile("plan", "--env", "production")
    assert plan.returncode == 0, plan.stderr
    assert "+ create OpenAI (openai, http://127.0.0.1:9/v1, enabled)" in plan.stdout
    staging = reconcile("plan", "--env", "staging")
    assert staging.returncode == 1
    assert "STAGING_ONLY_KEY is not set" in staging.stderr
    assert "STAGING_URL is not set" in staging.stderr


def test_validate_without_the_keys_checks_every_environment() -> None:
    write()
    result = inprocess.run("validate", "--skip-env", "--each", "providers.yaml", env={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Valid (environment") == 2


def test_prune_never_deletes_what_prune_ignore_matches() -> None:
    write(
        """\
version: 1
providers:
  - {name: team-b-chat, type: openai, base_url: http://127.0.0.1:12/v1, enabled: false}
  - {name: Shared Proxy, type: openai, base_url: http://127.0.0.1:13/v1, enabled: false}
  - {name: Old, type: openai, base_url: http://127.0.0.1:14/v1, enabled: false}
""",
    )
    assert reconcile("apply", "--target", "sqlite:///staging.db", "--yes").returncode == 0
    write()
    plan = reconcile("plan", "--env", "staging", "--prune")
    assert "  - delete Old and its 0 models (--prune)" in plan.stdout
    assert (
        "Unmanaged (ignored by prune; --prune never deletes them):\n"
        "  Shared Proxy: matches prune.ignore 'Shared Proxy'\n"
        "  team-b-chat: matches prune.ignore 'team-b-*'\n"
    ) in plan.stdout
    data = json.loads(reconcile("plan", "--env", "staging", "--prune", "--format", "json").stdout)
    assert data["unmanaged"] == []
    assert data["kept"] == [
        {"name": "Shared Proxy", "reason": "matches prune.ignore 'Shared Proxy'"},
        {"name": "team-b-chat", "reason": "matches prune.ignore 'team-b-*'"},
    ]
    applied = reconcile("apply", "--env", "staging", "--prune", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert sorted(providers("staging.db")) == [
        "Experimental",
        "OpenAI",
        "Shared Proxy",
        "team-b-chat",
    ]
    markdown = reconcile("plan", "--env", "staging", "--prune", "--format", "markdown").stdout
    assert "- `team-b-chat`: matches prune.ignore 'team-b-\\*'" in markdown


def test_a_saved_plan_records_its_environment_and_refuses_another() -> None:
    write()
    made = reconcile("plan", "--env", "staging", "-o", "plan.json")
    assert made.returncode == 0, made.stderr
    saved = Path("plan.json").read_text(encoding="utf-8")
    assert json.loads(saved)["environment"] == "staging"
    other = reconcile("apply", "plan.json", "--env", "production")
    assert other.returncode == 1
    assert other.stderr == (
        "Error: the plan was made for environment 'staging', not 'production'; make a plan "
        "for it with: reconcile plan --env production -o PLAN.json\n"
    )
    assert not Path("staging.db").exists() and not Path("production.db").exists()
    applied = reconcile("apply", "plan.json", RECONCILE_ENV="staging")
    assert applied.returncode == 0, applied.stderr
    assert sorted(providers("staging.db")) == ["Experimental", "OpenAI"]


def test_a_plan_made_without_env_is_refused_for_an_environment() -> None:
    write("version: 1\nproviders:\n  - {name: A, type: openai, base_url: http://127.0.0.1:9/v1}\n")
    assert reconcile("plan", "-o", "plan.json").returncode == 0
    refused = reconcile("apply", "plan.json", "--env", "staging")
    assert refused.returncode == 1
    assert "the plan was made without --env, not for environment 'staging'" in refused.stderr


def test_overrides_say_where_values_came_from_and_never_carry_a_key() -> None:
    write()
    plan = reconcile("plan", "--env", "staging", "--format", "json")
    data = json.loads(plan.stdout)
    assert data["environment"] == "staging"
    create = next(a for a in data["actions"] if a["provider"] == "OpenAI")
    assert create["after"]["api_key"] == "${STAGING_API_KEY}"
    assert create["overrides"] == [
        {"field": "api_key", "from": "providers.yaml:16"},
        {"field": "base_url", "from": "providers.yaml:17"},
    ]
    lab = next(a for a in data["actions"] if a["provider"] == "Experimental")
    assert "overrides" not in lab
    assert reconcile("plan", "--env", "staging", "-o", "plan.json").returncode == 0
    reconcile("apply", "--env", "staging", "--yes", "--format", "json")
    for name in ("plan.json",):
        text = Path(name).read_text(encoding="utf-8")
        assert '"from": "providers.yaml:16"' in text
        assert all(key not in text for key in KEYS.values())


def test_export_of_an_environment_reads_its_target() -> None:
    write()
    assert reconcile("apply", "--env", "production", "--yes").returncode == 0
    exported = reconcile("export", "--env", "production")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(
        "# Exported by `reconcile export` from sqlite:///production.db.\n"
    )
    assert "# The providers of environment production:" in exported.stdout
    assert "name: OpenAI" in exported.stdout and "Experimental" not in exported.stdout
    no_env = reconcile("export", "-f", "providers.yaml")
    assert no_env.returncode == 1
    assert "give --env" in no_env.stderr


def test_env_on_a_file_without_environments_is_an_error() -> None:
    write("version: 1\nproviders: []\n")
    result = reconcile("plan", "--env", "staging")
    assert result.returncode == 1
    assert result.stderr == (
        "Error: 1 error in the configuration:\n  providers.yaml: --env staging: the files "
        "declare no environments; remove --env (and RECONCILE_ENV), or declare them under a "
        "top-level 'environments:'\n"
    )


def test_watch_reads_the_files_for_its_environment_at_every_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reconciler import config
    from reconciler.watch import loop
    from reconciler.watch.logs import Log

    write()
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    lines: list[str] = []
    desired = config.load(["providers.yaml"], environment="staging")
    settings = loop.Settings(
        files=("providers.yaml",),
        interval=0.1,
        target_url=desired.target,
        self_heal=True,
        environment="staging",
    )
    watcher = loop.Watcher(settings, desired, log=Log(lines.append))
    assert watcher.run_once().result == "healed"
    assert watcher.run_once().result == "in_sync"
    watcher.close()
    assert sorted(providers("staging.db")) == ["Experimental", "OpenAI"]
    assert all(key not in "\n".join(lines) for key in KEYS.values())
