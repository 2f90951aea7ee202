"""Importing ClaraVerse's ``model_aliases`` and ``recommended_models``.

``model_aliases`` becomes ``models.aliases`` (an alias our format refuses stays a comment,
reported); an alias keyed by its own model's id also becomes that model's settings, as
ClaraVerse's sync copied them; ``recommended_models`` stays a comment. The imported file
passes ``reconcile validate``, and applied to the embedded store, the aliases are there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from reconciler import config
from reconciler.core.catalog import Alias, StructuredOutput
from reconciler.targets.sqlite import SqliteTarget
from tests import inprocess
from tests.importing import env_with, run_import, serve_models, variables
from tests.upstreams import running_upstream

EVERY_FIELD = {
    "actual_model": "gpt-4o-mini",
    "display_name": "Fast ${not a variable}",
    "description": "Quick answers",
    "supports_vision": False,
    "agents": True,
    "smart_tool_router": True,
    "free_tier": True,
    "structured_output_support": "Good ",  # ClaraVerse's ENUM ignored case and end spaces
    "structured_output_compliance": 92,
    "structured_output_warning": "May drop fields",
    "structured_output_speed_ms": 900,
    "structured_output_badge": "FASTEST",
    "memory_extractor": True,
    "memory_selector": False,
}
REFUSED: dict[str, Any] = {
    "a/b": {"actual_model": "gpt-4o"},
    ".": {"actual_model": "gpt-4o"},
    "..": {"actual_model": "gpt-4o"},
    "FAST ": {"actual_model": "gpt-4o"},  # the same name as "fast" to ClaraVerse
    "great": {"actual_model": "gpt-4o", "structured_output_support": "great"},
    "over": {"actual_model": "gpt-4o", "structured_output_compliance": 101},
    "under": {"actual_model": "gpt-4o", "structured_output_compliance": -1},
    "badge": {"actual_model": "gpt-4o", "structured_output_badge": "B" * 51},
    "no-model": {"display_name": "Nothing"},
    "empty-model": {"actual_model": ""},
    "null": None,
    "  ": {"actual_model": "gpt-4o"},
    "bell\u0007": {"actual_model": "gpt-4o"},
}


def write_json(tmp_path: Path, providers: list[dict[str, Any]]) -> str:
    path = tmp_path / "providers.json"
    path.write_text(json.dumps({"providers": providers}, indent=1), encoding="utf-8")
    return str(path)


def provider(url: str = "https://p.example/v1", **extra: Any) -> dict[str, Any]:
    return {"name": "P", "base_url": url, "api_key": "${P_KEY}", "enabled": True, **extra}


def imported_models(text: str) -> dict[str, Any]:
    (entry,) = yaml.safe_load(text)["providers"]
    models: dict[str, Any] = entry["models"]
    return models


def comment_text(text: str) -> str:
    """The comments of ``text`` as one line: wrapping and ``#`` markers gone."""
    return " ".join(line.strip().lstrip("#").strip() for line in text.splitlines())


def validate(text: str, tmp_path: Path, names: list[str]) -> None:
    """``reconcile validate`` of the imported file, with its variables set, passes."""
    path = tmp_path / "providers.yaml"
    path.write_text(text, encoding="utf-8")
    done = inprocess.run("validate", "-f", str(path), env=env_with(names))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alias_field_is_carried_and_what_we_refuse_stays_a_comment(
    tmp_path: Path,
) -> None:
    aliases = {"fast": EVERY_FIELD, **REFUSED}
    done = run_import(write_json(tmp_path, [provider(model_aliases=aliases)]))
    assert done.code == 0, done.err
    assert imported_models(done.text)["aliases"] == {
        "fast": {
            "model": "gpt-4o-mini",
            "display_name": "Fast $${not a variable}",  # written literally
            "description": "Quick answers",
            "agents": True,
            "supports_vision": False,
            "smart_tool_router": True,
            "free_tier": True,
            "structured_output": {"support": "good", "compliance": 92, "speed_ms": 900,
                                  "badge": "FASTEST", "warning": "May drop fields"},
            "memory_extractor": True,
            "memory_selector": False,
        }
    }  # fmt: skip
    for reason in (
        "alias 'a/b' is not carried: its name holds '/'",
        "alias '.' is not carried: its name is '.'",
        "alias '..' is not carried: its name is '..'",
        "alias 'FAST ' is not carried: it is the same name as alias 'fast' for ClaraVerse",
        "alias 'great' is not carried: structured_output_support 'great' is not one of",
        "alias 'over' is not carried: structured_output_compliance 101 is not within 0..100",
        "alias 'under' is not carried: structured_output_compliance -1 is not within",
        "alias 'badge' is not carried: structured_output_badge is 51 characters (at most 50)",
        "alias 'no-model' is not carried: it has no actual_model",
        "alias 'empty-model' is not carried: it has no actual_model",
        "alias 'null' is not carried: it has no actual_model",
        "alias '  ' is not carried: its name is empty",
        "alias 'bell\\u0007' is not carried: its name holds a control",
    ):
        assert reason in done.err, reason
    # Each refused alias is a comment beside its provider, its line breaks escaped.
    assert "#   a/b: actual_model=gpt-4o" in done.text
    assert "#   no-model: display_name=Nothing" in done.text
    assert "#   bell\\u0007: actual_model=gpt-4o" in done.text
    # The header says that the list is authoritative.
    header = done.text.split("version: 1")[0]
    assert "models.aliases of 'P' come from 'model_aliases'" in header
    assert "makes them each provider's only aliases" in comment_text(header)
    validate(done.text, tmp_path, ["P_KEY"])
    desired = config.load([str(tmp_path / "providers.yaml")], env_with(["P_KEY"]))
    (alias,) = desired.providers[0].models.aliases or ()
    assert alias.display_name == "Fast ${not a variable}"


def test_without_an_alias_to_carry_no_alias_list_is_declared(tmp_path: Path) -> None:
    # aliases: {} would delete every alias of the provider: a refused list declares none.
    done = run_import(
        write_json(tmp_path, [provider(model_aliases={"a/b": {"actual_model": "x"}})])
    )
    assert done.code == 0, done.err
    assert "aliases" not in imported_models(done.text)
    assert "come from 'model_aliases'" not in done.text
    validate(done.text, tmp_path, ["P_KEY"])


def test_an_alias_keyed_by_its_model_id_also_set_that_models_settings(tmp_path: Path) -> None:
    keyed = {"actual_model": "gpt-4o", "display_name": "GPT-4o", "supports_vision": True,
             "smart_tool_router": False, "agents": True, "description": ""}  # fmt: skip
    with_free_tier = {"actual_model": "o3*", "display_name": "O3", "free_tier": False}
    named = {"actual_model": "gpt-4o-mini", "display_name": "Mini"}
    star = {"actual_model": "m*", "description": "Stars"}
    aliases = {"GPT-4o ": keyed, "o3*": with_free_tier, "mini": named, "M*": star}
    done = run_import(
        write_json(
            tmp_path,
            [
                provider(model_aliases=aliases),
                {**provider(model_aliases=aliases), "name": "Off", "enabled": False},
            ],
        )
    )
    assert done.code == 0, done.err
    on, off = yaml.safe_load(done.text)["providers"]
    # ClaraVerse copied display name, description and vision / router flags (not agents),
    # and failed the whole copy for an alias with free_tier; only for enabled providers.
    assert on["models"]["settings"] == {
        "gpt-4o": {"display_name": "GPT-4o", "supports_vision": True, "smart_tool_router": False},
        "m[*]": {"description": "Stars"},
    }
    assert "settings" not in off["models"] and len(off["models"]["aliases"]) == 4
    assert "alias 'o3*' is keyed by its model's id, so ClaraVerse tried" in done.err
    validate(done.text, tmp_path, ["P_KEY"])


def test_recommended_models_stay_a_comment_saying_how_to_write_tiers(tmp_path: Path) -> None:
    recommended = {"top": "smart", "medium": "", "new": "gpt-5"}
    done = run_import(write_json(tmp_path, [provider(recommended_models=recommended)]))
    assert done.code == 0, done.err
    assert "'recommended_models' is not carried" in done.err
    comments = comment_text(done.text)
    assert "recommended_models (ClaraVerse's per-provider slots; not carried): " \
        "top=smart, new=gpt-5" in comments  # fmt: skip
    for tier in ("tier1 (Elite)", "tier2 (Premium)", "tier3 (Standard)", "tier4 (Fast)",
                 "tier5 (New)", "tier1: {provider: P, model: smart}"):  # fmt: skip
        assert tier in comments
    assert "tiers" not in yaml.safe_load(done.text)
    validate(done.text, tmp_path, ["P_KEY"])


def test_alias_values_claraverse_could_not_read_fail_the_file(tmp_path: Path) -> None:
    aliases = {
        "a": {"actual_model": "x", "structured_output_compliance": 92.5},
        "b": {"actual_model": 4, "agents": "yes"},
        "c": ["not", "an", "object"],
    }
    done = run_import(
        write_json(tmp_path, [provider(model_aliases=aliases, recommended_models={"top": 1})])
    )
    assert done.code == 1 and done.text == ""
    for error in (
        "providers[0].model_aliases['a'].structured_output_compliance: not an integer",
        "providers[0].model_aliases['b'].actual_model: not a string",
        "providers[0].model_aliases['b'].agents: not true or false",
        "providers[0].model_aliases['c']: not an object",
        "providers[0].recommended_models.top: not a string",
    ):
        assert error in done.err, error


def test_an_alias_holding_a_key_is_left_out_entirely(tmp_path: Path) -> None:
    key = "sk-proj-AliasKeyImp0rt-0123456789abcdefghij"
    aliases = {
        "leaky": {"actual_model": "gpt-4o", "description": f"use {key}"},
        "shaped": {"actual_model": "gpt-4o", "display_name": "sk-" + "x" * 40},
        "clean": {"actual_model": "gpt-4o"},
    }
    done = run_import(write_json(tmp_path, [{**provider(model_aliases=aliases), "api_key": key}]))
    assert done.code == 0, done.err
    assert list(imported_models(done.text)["aliases"]) == ["clean"]
    assert "alias #1 of 'model_aliases' holds what looks like a key" in done.err
    assert "alias #2 of 'model_aliases' holds what looks like a key" in done.err
    for text in (done.text, done.err):
        assert key not in text and "x" * 40 not in text and "leaky" not in text


def test_applied_the_aliases_and_settings_are_on_the_target(tmp_path: Path) -> None:
    with running_upstream() as up:
        serve_models(up)
        aliases = {"fast": EVERY_FIELD, "gpt-4o": {"actual_model": "gpt-4o", "display_name": "4o"}}
        done = run_import(
            write_json(tmp_path, [provider(up.base_url("openai"), model_aliases=aliases)])
        )
        assert done.code == 0, done.err
        path = tmp_path / "providers.yaml"
        path.write_text(done.text, encoding="utf-8")
        store = tmp_path / "state.db"
        env = env_with(variables(done.err))
        applied = inprocess.run(
            "apply", "-f", str(path), "--target", f"sqlite:///{store}", "--yes", env=env
        )
        assert applied.returncode == 0, applied.stderr
    target = SqliteTarget(store, lazy=True)
    try:
        (state,) = target.observe().providers
    finally:
        target.close()
    assert {a.name: a for a in state.aliases} == {
        "fast": Alias(
            name="fast",
            model="gpt-4o-mini",
            display_name="Fast ${not a variable}",
            description="Quick answers",
            agents=True,
            supports_vision=False,
            smart_tool_router=True,
            free_tier=True,
            structured_output=StructuredOutput(
                support="good",
                compliance=92,
                speed_ms=900,
                badge="FASTEST",
                warning="May drop fields",
            ),
            memory_extractor=True,
            memory_selector=False,
        ),
        "gpt-4o": Alias(name="gpt-4o", model="gpt-4o", display_name="4o"),
    }
    (model,) = [m for m in state.models if m.id == "gpt-4o"]
    assert model.settings.display_name == "4o"
