"""What the import tests share: the sample files, running ``reconcile import`` in this
process, and applying an imported file to the embedded store against a loopback upstream.

The sample files in ``tests/data/import/`` name real hosts (api.openai.com...), as real
files do. To apply one, a test first points its URLs at the fake upstream with
``rewrite``; import itself never contacts anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler import config
from reconciler.targets.sqlite import SqliteTarget
from tests import inprocess
from tests.upstreams import Upstream

DATA = Path(__file__).resolve().parent / "data" / "import"
# Every literal key and secret the sample files hold: none may ever reach an output.
SAMPLE_SECRETS = (
    "sk-proj-Imp0rtTestKeyOpenAI1234567890abcdef",
    "sk-ant-api03-Imp0rtTestKeyAnthropic0987654321",
    "zai-Imp0rtTestKey-5566778899",
    "your-api-key-here",
    "gsk_Imp0rtTestKeyGroq112233445566",
    "sk-broken-Imp0rtTestKey-000111222",
    "sk-ant-api03-LiteLLMImp0rtKey-abcdefabcdef",
    "vllm-Imp0rtKey-99887766",
    "sk-litellm-master-Imp0rt-4242424242",
    "dbpassword9090",
    "sk-eu-proxy-Imp0rtKey-5151515151",
    "sk-ant-api03-LibreChatImp0rtKey-1234",
    "t0p-s3cret-webui-Imp0rt-key",
    "sk-proj-OpenWebUIImp0rtKey-777888999",
    "mistral-Imp0rtKey-4455667788",
    "sk-or-v1-Imp0rtKey-121212121212",
)
# What the fake upstream lists for every OpenAI-style provider: some each sample names,
# some none does, and ids whose case differs from the patterns that select them.
UPSTREAM_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "GPT-4O-MINI-Upper",
    "gpt-3.5-turbo",
    "gpt-4o-2024-08-06",
    "o3-mini",
    "claude-3-haiku",
    "Claude-3-Opus",
    "claude-sonnet-4-5",
    "a+b",
    "50%off",
    "moonshotai/Kimi-K2.5-TEE",
    "glm-4.6",
    "glm-4.5-air",
    "glm-4-preview",
    "dall-e-3",
    "text-embedding-3-small",
    "whisper-1",
    "llama3:latest",
    "command-r",
    "mistral-small",
    "meta-llama/llama-3-70b-instruct",
    "Qwen/Qwen2.5-7B-Instruct",
)


@dataclass(frozen=True)
class Imported:
    """One run of ``reconcile import``."""

    code: int
    text: str  # stdout, or the -o file
    err: str


def run_import(*args: str, env: Mapping[str, str] | None = None) -> Imported:
    """``reconcile import *args``; the output file's text when ``-o`` is given."""
    result = inprocess.run("import", *args, env=env)
    text = result.stdout
    if "-o" in args:
        out = Path(args[args.index("-o") + 1])
        text = out.read_text(encoding="utf-8") if out.exists() else ""
    return Imported(result.returncode, text, result.stderr)


def variables(err: str) -> list[str]:
    """The variables import asked to set, from its stderr."""
    section = err.split("Set these variables before plan or apply", 1)
    if len(section) < 2:
        return []
    return re.findall(r"^  ([A-Z_][A-Z0-9_]*)  \(", section[1], re.MULTILINE)


def rewrite(text: str, urls: Mapping[str, str]) -> str:
    """``text`` with each URL in ``urls`` replaced: real hosts → the loopback upstream."""
    for old, new in urls.items():
        text = text.replace(old, new)
    return text


def sample(name: str, tmp: Path, urls: Mapping[str, str] | None = None) -> Path:
    """A copy of a sample file in ``tmp``, its URLs rewritten."""
    text = (DATA / name).read_text(encoding="utf-8")
    path = tmp / name
    path.write_text(rewrite(text, urls or {}), encoding="utf-8")
    return path


def env_with(names: list[str], value: str = "sk-e2e-0123456789") -> dict[str, str]:
    """This process's environment plus each variable set (to one key the upstream takes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILE_", "CLARA"))}
    env.update({n: value for n in names})
    return env


def apply_and_observe(
    text: str, tmp: Path, env: Mapping[str, str]
) -> dict[str, tuple[bool, frozenset[str]]]:
    """Validate the imported file, apply it to a fresh embedded store, and return each
    provider's enabled flag and visible model ids as the store has them."""
    path = tmp / "providers.yaml"
    path.write_text(text, encoding="utf-8")
    config.load([str(path)], env)  # valid, with every variable set
    store = tmp / "state.db"
    done = inprocess.run(
        "apply", "-f", str(path), "--target", f"sqlite:///{store}", "--yes", env=dict(env)
    )
    assert done.returncode == 0, done.stderr
    target = SqliteTarget(store, lazy=True)
    try:
        providers = target.observe().providers
    finally:
        target.close()
    return {p.name: (p.enabled, frozenset(m.id for m in p.models if m.visible)) for p in providers}


def serve_models(upstream: Upstream, ids: tuple[str, ...] = UPSTREAM_MODELS) -> None:
    """Every OpenAI-style provider lists ``ids``; anthropic and google list their own."""
    upstream.state.set_models("openai", ids)


# -- ClaraVerse's filters, as its backend applied them ------------------------------------


def like(pattern: str, text: str) -> bool:
    """MySQL ``text LIKE pattern`` (collation *_ci: case ignored), after ClaraVerse turned
    each ``*`` into ``%``: ``%`` any text, ``_`` one character, ``\\`` escapes."""
    p = pattern.replace("*", "%")
    regex, i = "", 0
    while i < len(p):
        if p[i] == "\\" and i + 1 < len(p):
            regex += re.escape(p[i + 1])
            i += 2
            continue
        regex += ".*" if p[i] == "%" else "." if p[i] == "_" else re.escape(p[i])
        i += 1
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL) is not None


def clara_visible(filters: list[dict[str, object]], ids: list[str] | tuple[str, ...]) -> set[str]:
    """The models ClaraVerse's ApplyFilters left visible: with no filters all of them;
    else all hidden, then one UPDATE per filter, highest priority first (ties in file
    order), include showing and exclude hiding what matches its id (= its name)."""
    if not filters:
        return set(ids)
    visible = dict.fromkeys(ids, False)
    for f in sorted(filters, key=lambda f: -int(str(f.get("priority", 0)))):
        action = str(f.get("action", "")).lower()
        if action not in ("include", "exclude"):
            continue
        for model_id in ids:
            if like(str(f.get("pattern", "")), model_id):
                visible[model_id] = action == "include"
    return {m for m, shown in visible.items() if shown}
