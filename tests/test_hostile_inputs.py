"""Hostile input files: each ends in a located ConfigError, never another exception or a hang.

The corpus is tests/data/invalid (each file with its expected message); the fuzz test
mutates valid files at random (seeded, so a failure is reproducible) and checks only
the contract: config.load returns, or raises ConfigError with short one-line problems.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import config
from reconciler.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
INVALID = Path("tests/data/invalid")  # relative: messages name the path as passed


def _cases() -> list[tuple[str, list[str]]]:
    cases = []
    for expected in sorted((ROOT / INVALID).glob("*.expected")):
        single = INVALID / f"{expected.stem}.yaml"
        if (ROOT / single).is_file():
            cases.append((expected.stem, [str(single)]))
        else:  # a folder of files passed one by one
            folder = sorted((ROOT / INVALID / expected.stem).glob("*.yaml"))
            cases.append((expected.stem, [str(INVALID / expected.stem / f.name) for f in folder]))
    return cases


@pytest.mark.parametrize(("name", "paths"), _cases(), ids=[c[0] for c in _cases()])
def test_every_broken_file_gives_exactly_its_expected_problems(
    name: str, paths: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(ConfigError) as info:
        config.load(paths, {})
    expected = (ROOT / INVALID / f"{name}.expected").read_text(encoding="utf-8")
    # The first line is the CLI's heading; the problems follow, one a line.
    assert [f"  {p}" for p in info.value.problems] == expected.splitlines()[1:]


# --- a seeded fuzz over mutated valid files ----------------------------------------------

VALID_SEED = """\
version: 1
x-defaults: &defaults {type: openai, enabled: true, fetch_models: false}
x-prompt: &prompt "You are helpful."
providers:
  - <<: *defaults
    name: OpenAI
    base_url: https://api.openai.com/v1
    api_key: ${OPENAI_API_KEY:-}
    models:
      visible: ["gpt-4o", "o3*"]
      hidden: [gpt-4o-mini]
      only_listed: false
  - name: Images
    type: openai
    base_url: https://api.openai.com/v1
    image_only: true
    default_model: dall-e-3
    system_prompt: *prompt
  - name: Team Proxy
    renamed_from: [Old Proxy]
    type: openai
    base_url: http://localhost:11434/v1
  - name: Legacy
    ensure: absent
"""

# What an adversary types: YAML 1.1 forms, tags, anchors, deep nests, long and
# invisible text, references, document markers.
FRAGMENTS = [
    "&a ",
    "*a",
    "&r [*r]",
    "<<: *a\n",
    "<<: [*a, *a]\n",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!null ",
    "!!timestamp ",
    "!!str ",
    "!!map ",
    "!!seq ",
    "!!binary ",
    "!!python/object/apply:os.system ",
    "!Ref ",
    "0b_",
    "0x_",
    "-0b_",
    "1:_",
    "._",
    "9" * 4301,
    "0x" + "f" * 5000,
    "[" * 120,
    "]" * 120,
    "{a: " * 60,
    "- " * 40,
    '"\\u202e"',
    '"\\e[31m"',
    '"a\\nb"',
    "\u202e",
    "\u2066",
    "\x85",
    "\u2028",
    "\ufeff",
    "\t",
    "\n",
    "\r\n",
    ": ",
    "? ",
    "- ",
    "#",
    "'",
    '"',
    "|",
    ">-\n",
    "${",
    "${X}",
    "${1}",
    "${A:-${B}}",
    "$${",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "x" * 3000,
    "yes",
    "~",
    "null",
    "1e400",
    ".nan",
]


def _mutate(text: str, rng: random.Random) -> str:
    """``text`` with one to four random edits."""
    for _ in range(rng.randint(1, 4)):
        lines = text.split("\n")
        edit = rng.randrange(5)
        at = rng.randrange(len(text) + 1)
        if edit == 0:  # insert a fragment anywhere
            text = text[:at] + rng.choice(FRAGMENTS) + text[at:]
        elif edit == 1:  # delete a span
            text = text[:at] + text[at + rng.randint(1, 40) :]
        elif edit == 2:  # repeat a line
            i = rng.randrange(len(lines))
            text = "\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
        elif edit == 3:  # swap two lines
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        else:  # replace the value after a colon
            i = rng.randrange(len(lines))
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {rng.choice(FRAGMENTS)}"
            text = "\n".join(lines)
    return text


def _seeds() -> tuple[list[str], list[str]]:
    """Valid files, and the broken ones: near-valid files that a mutation may repair."""
    valid = [(ROOT / "examples/providers.yaml").read_text(encoding="utf-8"), VALID_SEED]
    broken = [p.read_text(encoding="utf-8") for p in sorted((ROOT / INVALID).glob("*.yaml"))]
    return valid, broken


# Longer than any message written for a person; a value echoed whole would exceed it.
MESSAGE_BOUND = 600


def test_mutated_files_load_or_raise_config_error_with_short_one_line_problems() -> None:
    assert config.load([str(ROOT / "examples/providers.yaml")], {})
    Path("seed.yaml").write_text(VALID_SEED, encoding="utf-8")
    assert len(config.load(["seed.yaml"], {}).providers) == 4
    valid, broken = _seeds()
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(200):
        rng = random.Random(case)
        text = _mutate(rng.choice(valid if rng.random() < 0.75 else broken), rng)
        Path("fuzz.yaml").write_text(text, encoding="utf-8", newline="")
        try:
            desired = config.load(["fuzz.yaml"], {"X": "value"})
        except ConfigError as exc:
            outcomes["refused"] += 1
            lines = [str(p) for p in exc.problems]
        except Exception as exc:  # the contract is broken: show the input that broke it
            raise AssertionError(f"case {case} raised {exc!r} for:\n{text[:2000]}") from exc
        else:
            outcomes["loaded"] += 1
            lines = list(desired.warnings)
        for line in lines:
            assert len(line) <= MESSAGE_BOUND and "\n" not in line, (case, line[:300])
    # Both sides of the contract were exercised.
    assert min(outcomes.values()) >= 10, outcomes


# --- as a user runs it ---------------------------------------------------------------------

HOSTILE = [
    "anchor_inside_itself",
    "nested_too_deep",
    "integer_too_long",
    "yaml11_binary_number_without_digits",
    "bool_tag_on_maybe",
    "alias_of_a_long_value_repeated",
    "name_with_bidi_override",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """``python -m reconciler validate FILE`` for each hostile file, all started at once."""
    files = {name: str(INVALID / f"{name}.yaml") for name in HOSTILE}
    if Path("/dev/zero").exists():
        files["device"] = "/dev/zero"
    if hasattr(os, "mkfifo"):
        fifo = tmp_path_factory.mktemp("fifo") / "providers.yaml"
        os.mkfifo(fifo)
        files["fifo"] = str(fifo)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "reconciler", "validate", path],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for name, path in files.items()
    }
    yield started
    for process in started.values():
        if process.poll() is None:  # pragma: no cover - only if a run hangs
            process.kill()
            process.wait()


@pytest.mark.parametrize("name", [*HOSTILE, "device", "fifo"])
def test_the_cli_exits_1_with_the_error_and_no_traceback(
    name: str, runs: dict[str, subprocess.Popen[str]]
) -> None:
    if name not in runs:
        pytest.skip(f"no {name} on this platform")
    stdout, stderr = runs[name].communicate(timeout=60)
    assert (runs[name].returncode, stdout) == (1, "")
    assert stderr.startswith("Error: 1 error in the configuration:\n  "), stderr
    assert "Traceback" not in stderr
    if name in HOSTILE:
        assert stderr == (ROOT / INVALID / f"{name}.expected").read_text(encoding="utf-8")
    else:
        assert "not a regular file: pass the providers file itself" in stderr
