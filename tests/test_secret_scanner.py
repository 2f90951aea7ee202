"""No key, raw or encoded, in any output or file but the store: every command and output
format, on the embedded store and on the sandbox, with keys made of the characters that
encodings change (quote, backslash, percent, slash, non-ASCII), and an upstream that echoes
the key into its model ids."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.secrets import encoded_forms
from tests.sandbox import Sandbox, reconcile, running_sandbox, write
from tests.upstreams import Upstream, running_upstream

KEYS = {
    "QUOTE_KEY": 'sk-quote"and\\back-0123456789',
    "URL_KEY": "sk-url/100%/plus+sign-abcdef",
    "UNICODE_KEY": "sk-ünïcödé-ключ-9876543210",
}


def every_form(value: str) -> set[str]:
    """What a careless output could show of ``value``: the encodings scrub knows, and a
    few it does not need to (base64, hex), which no output of ours uses at all."""
    raw = value.encode()
    return encoded_forms(value) | {base64.b64encode(raw).decode(), raw.hex()}


def assert_clean(*texts: str) -> None:
    for text in texts:
        for key in KEYS.values():
            for form in every_form(key):
                assert form not in text, f"a form of a key reached output: {form!r}"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with running_upstream() as up:
        # Every key is accepted, and each listing echoes the key it was sent as a model id.
        up.state.api_keys = {}
        yield up


def providers(upstream: Upstream) -> Path:
    entries = "".join(
        f"""\
  - name: P {name}
    type: openai
    base_url: {upstream.base_url("openai")}
    api_key: ${{{name}}}
    models: {{visible: ["*"]}}
"""
        for name in KEYS
    )
    return write(Path("providers.yaml"), f"version: 1\nproviders:\n{entries}")


def run_everything(target: list[str], sandbox: Sandbox | None) -> list[str]:
    """Every command and format, twice around an apply; their outputs and written files."""
    outputs: list[str] = []

    def cli(*args: str) -> None:
        done = reconcile(*args, sandbox=sandbox, **KEYS)
        outputs.extend([done.stdout, done.stderr])

    cli("validate")
    cli("validate", "--format", "json")
    for fmt in ("text", "json", "markdown"):
        cli("plan", *target, "--format", fmt)
    cli("plan", *target, "-o", "plan.json")
    cli("apply", *target, "--yes", "--format", "json")
    cli("apply", *target, "--yes")
    for fmt in ("text", "json", "markdown"):
        cli("plan", *target, "--format", fmt)
    cli("export", *target, "-o", "exported.yaml")
    cli("export", *target)
    for written in ("plan.json", "exported.yaml"):
        outputs.append(Path(written).read_text(encoding="utf-8"))
    return outputs


def echo_keys_as_model_ids(upstream: Upstream) -> None:
    # The fake upstream lists these ids for every provider: each key, as is and in JSON.
    upstream.state.set_models("openai", ["gpt-4o", *KEYS.values()])


def test_no_form_of_a_key_leaves_the_embedded_store(upstream: Upstream) -> None:
    providers(upstream)
    echo_keys_as_model_ids(upstream)
    outputs = run_everything(["--target", "sqlite:///state.db"], None)
    assert_clean(*outputs)
    assert any("held a key" in text for text in outputs)  # said, without the key


def test_no_form_of_a_key_leaves_a_server_target(tmp_path: Path, upstream: Upstream) -> None:
    providers(upstream)
    echo_keys_as_model_ids(upstream)
    with running_sandbox(tmp_path / "sandbox.db") as sandbox:
        outputs = run_everything([], sandbox)
    assert_clean(*outputs)
