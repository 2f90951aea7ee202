"""``reconcile import`` as users run it: the format told from the content, -o and --force,
errors that say what to do, and no key in any output, whatever the format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciler import config
from reconciler.secrets import encoded_forms
from tests.importing import DATA, SAMPLE_SECRETS, env_with, run_import, variables

SAMPLES = {
    "claraverse-providers.json": "ClaraVerse providers.json",
    "litellm-config.yaml": "LiteLLM proxy config",
    "librechat.yaml": "LibreChat librechat.yaml",
    "openwebui.env": "Open WebUI settings",
    "openwebui-compose.yaml": "Open WebUI settings",
    "openwebui-config.json": "Open WebUI settings",
}


def assert_no_secret(*texts: str, secrets: tuple[str, ...] = SAMPLE_SECRETS) -> None:
    for text in texts:
        for secret in secrets:
            for form in encoded_forms(secret):
                assert form not in text, f"a form of a secret reached output: {form!r}"


@pytest.mark.parametrize("name", SAMPLES)
def test_the_format_is_told_from_the_content(name: str) -> None:
    done = run_import(str(DATA / name))
    assert done.code == 0, done.err
    assert done.err.startswith("Imported ") and f"({SAMPLES[name]})." in done.err.splitlines()[0]
    assert done.text.startswith("# Imported by `reconcile import` from ")
    assert yaml.safe_load(done.text)["version"] == 1


@pytest.mark.parametrize("name", SAMPLES)
def test_no_key_reaches_stdout_stderr_or_the_file(name: str, tmp_path: Path) -> None:
    to_stdout = run_import(str(DATA / name))
    to_file = run_import(str(DATA / name), "-o", str(tmp_path / "out.yaml"))
    assert to_file.code == 0 and "Wrote " in to_file.err
    assert_no_secret(to_stdout.text, to_stdout.err, to_file.text, to_file.err)
    # The file names variables instead, and says which to set.
    assert variables(to_stdout.err)
    assert all(f"${{{v}}}" in to_stdout.text for v in variables(to_stdout.err))


def test_an_unknown_format_is_an_error_that_lists_the_four(tmp_path: Path) -> None:
    path = tmp_path / "notes.yaml"
    path.write_text("shopping: [milk, bread]\n", encoding="utf-8")
    done = run_import(str(path))
    assert done.code == 1 and done.text == ""
    for fmt in ("claraverse", "litellm", "librechat", "openwebui"):
        assert fmt in done.err
    assert "give it with --from" in done.err


def test_an_unknown_from_is_refused_by_the_option() -> None:
    done = run_import(str(DATA / "librechat.yaml"), "--from", "ollama")
    assert done.code == 1
    assert "'claraverse', 'litellm', 'librechat', 'openwebui'" in done.err


def test_the_wrong_from_says_what_the_file_is_not() -> None:
    done = run_import(str(DATA / "librechat.yaml"), "--from", "litellm")
    assert done.code == 1 and "not a LiteLLM config (no 'model_list' list)" in done.err


def test_a_providers_yaml_is_not_imported(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text("version: 1\nproviders:\n  - {name: A, type: openai}\n", encoding="utf-8")
    done = run_import(str(path))
    assert done.code == 1 and "already a providers.yaml" in done.err


def test_a_missing_file_is_an_error() -> None:
    done = run_import("nowhere.json")
    assert done.code == 1 and "nowhere.json: no such file" in done.err


def test_out_is_never_overwritten_without_force(tmp_path: Path) -> None:
    out = tmp_path / "providers.yaml"
    out.write_text("# mine\n", encoding="utf-8")
    refused = run_import(str(DATA / "librechat.yaml"), "-o", str(out))
    assert refused.code == 1 and "exists; add --force to overwrite it" in refused.err
    assert out.read_text(encoding="utf-8") == "# mine\n"
    forced = run_import(str(DATA / "librechat.yaml"), "-o", str(out), "--force")
    assert forced.code == 0 and forced.text.startswith("# Imported by")


def test_out_is_never_the_file_being_imported(tmp_path: Path) -> None:
    source = tmp_path / "librechat.yaml"
    source.write_text((DATA / "librechat.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    done = run_import(str(source), "-o", str(source), "--force")
    assert done.code == 1 and "is the file being imported" in done.err


def test_source_text_cannot_break_out_of_a_comment(tmp_path: Path) -> None:
    evil = "x\nproviders: []\u2028  - name: Injected\x85# z"
    path = tmp_path / "providers.json"
    path.write_text(
        json.dumps(
            {
                "providers": [
                    {
                        "name": "Team ${HOME}",
                        "base_url": "https://llm.example.com/v1",
                        "enabled": True,
                        "model_aliases": {evil: {"actual_model": evil, "display_name": evil}},
                        "filters": [{"pattern": evil, "action": "include", "priority": 1}],
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    done = run_import(str(path))
    assert done.code == 0, done.err
    out = tmp_path / "providers.yaml"
    out.write_text(done.text, encoding="utf-8")
    (provider,) = config.load([str(out)], {}).providers
    assert provider.name == "Team ${HOME}"  # written as $${HOME}: a literal, not a reference


def test_a_url_with_credentials_becomes_a_variable(tmp_path: Path) -> None:
    path = tmp_path / "librechat.yaml"
    path.write_text(
        "version: 1.2.8\nendpoints:\n  custom:\n"
        "    - name: Proxy\n      apiKey: ${PROXY_KEY}\n"
        "      baseURL: https://bob:hunter2-Imp0rt@proxy.example.com/v1\n"
        "      models: {default: [gpt-4o]}\n",
        encoding="utf-8",
    )
    done = run_import(str(path))
    assert done.code == 0, done.err
    (entry,) = yaml.safe_load(done.text)["providers"]
    assert entry["base_url"] == "${PROXY_BASE_URL}" and entry["api_key"] == "${PROXY_KEY}"
    assert "holds credentials or a query (https://***@proxy.example.com/v1)" in done.err
    assert_no_secret(done.text, done.err, secrets=("hunter2-Imp0rt",))
    assert variables(done.err) == ["PROXY_BASE_URL", "PROXY_KEY"]


keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=8, max_size=30
).filter(lambda k: k.strip() == k and "${" not in k and not k.startswith("os.environ/"))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=keys)
def test_no_literal_key_of_any_shape_reaches_output(key: str, tmp_path: Path) -> None:
    _write_sources(tmp_path, "sk-reference-Key-0")
    # A key that is a word of the output itself ("provider") would be scrubbed out of the
    # file's own structure: no real key is, and the test is about keys, not words.
    reference = [run_import(str(tmp_path / name)) for name in ("config.yaml", "providers.json")]
    assume(not any(key in r.text + r.err for r in reference))
    litellm, clara = _write_sources(tmp_path, key)
    for source in (litellm, clara):
        done = run_import(str(source))
        assert done.code == 0, done.err
        assert_no_secret(done.text, done.err, secrets=(key,))
        out = tmp_path / "providers.yaml"
        out.write_text(done.text, encoding="utf-8")
        (provider,) = config.load([str(out)], env_with(variables(done.err), key)).providers
        assert provider.api_key is not None and provider.api_key.reveal() == key


def _write_sources(tmp_path: Path, key: str) -> tuple[Path, Path]:
    """A LiteLLM config and a ClaraVerse providers.json, each with ``key`` as a literal."""
    litellm = tmp_path / "config.yaml"
    litellm.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "m",
                        "litellm_params": {
                            "model": "openai/gpt-4o",
                            "api_base": "https://llm.example.com/v1",
                            "api_key": key,
                        },
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    clara = tmp_path / "providers.json"
    clara.write_text(
        json.dumps(
            {"providers": [{"name": "P", "base_url": "https://x.example/v1", "api_key": key}]}
        ),
        encoding="utf-8",
    )
    return litellm, clara
