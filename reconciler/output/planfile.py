"""Saved plans: what ``plan -o plan.json`` writes and ``apply plan.json`` trusts.

A plan file holds the rendered plan (``render.plan_data``), the options it was made with,
the folder it was made in (its file paths are relative to it), the input files with their
SHA-256, a digest of what the target looked like, and for every declared key its
``${VAR}`` reference with a salted scrypt fingerprint — never a value. A digest
over all of it detects hand edits. Applying a saved plan re-reads the files, re-resolves
the keys and re-observes the target; if anything differs from what was reviewed, the
apply is refused, so ``apply plan.json`` applies exactly the reviewed plan or nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from reconciler.core.model import Desired, Observed
from reconciler.core.plan import Options, Plan
from reconciler.errors import ReconcilerError
from reconciler.output.render import FORMAT_VERSION, plan_data
from reconciler.secrets import hard_fingerprint, new_salt

KIND = "reconciler-plan"


class StalePlan(ReconcilerError):
    """The saved plan no longer describes what apply would do."""


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def observed_digest(observed: Observed) -> str:
    """SHA-256 over everything observed, in a canonical order."""
    rows = []
    for p in sorted(observed.providers, key=lambda p: p.name):
        row = asdict(p)
        row["models"] = sorted(row["models"], key=lambda m: m["id"])
        rows.append(row)
    if not observed.tiers:
        return hashlib.sha256(_canonical(rows)).hexdigest()
    # The tiers are global, not a provider's: beside the providers (and only when there
    # are any, so that the digest of a target without them is what it always was).
    tiers = sorted([t.tier, t.provider_id, t.model_id] for t in observed.tiers)
    return hashlib.sha256(_canonical({"providers": rows, "tiers": tiers})).hexdigest()


def file_digests(paths: Sequence[str]) -> list[dict[str, str]]:
    """Each input file with the SHA-256 of its bytes."""
    return [{"path": p, "sha256": hashlib.sha256(Path(p).read_bytes()).hexdigest()} for p in paths]


def _key_entries(desired: Desired, salt: str) -> dict[str, dict[str, str | None]]:
    out: dict[str, dict[str, str | None]] = {}
    for spec in desired.providers:
        if spec.ensure == "present" and spec.api_key is not None:
            out[spec.name] = {
                "ref": spec.api_key_ref,
                "fingerprint": hard_fingerprint(spec.api_key.reveal(), salt),
            }
    return out


def build(
    plan: Plan,
    *,
    desired: Desired,
    observed: Observed,
    options: Options,
    target: str,
    folder: str | None = None,
) -> dict[str, Any]:
    """The plan file's content, sealed with its digest; ``folder`` is where the relative
    paths in it start (default: the working directory)."""
    salt = new_salt()
    data: dict[str, Any] = {
        "kind": KIND,
        **plan_data(plan, target=target, environment=desired.environment),
        "options": asdict(options),
        "folder": os.path.abspath(folder or os.getcwd()),
        "inputs": file_digests(desired.files),
        "observed_digest": observed_digest(observed),
        "key_salt": salt,
        "keys": _key_entries(desired, salt),
    }
    data["digest"] = hashlib.sha256(_canonical(data)).hexdigest()
    return data


def dumps(data: dict[str, Any]) -> str:
    """The plan file's text."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def read(path: str) -> dict[str, Any]:
    """Load a plan file and check that nobody edited it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReconcilerError(f"{path}: no such plan file") from None
    except (ValueError, UnicodeDecodeError):
        raise ReconcilerError(
            f"{path}: not a plan file (not JSON); make one with plan -o"
        ) from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ReconcilerError(f"{path}: not a plan file written by 'reconcile plan -o'")
    if data.get("format_version") != FORMAT_VERSION:
        raise ReconcilerError(
            f"{path}: plan format {data.get('format_version')} is not {FORMAT_VERSION}; "
            "make the plan again with this version of reconciler"
        )
    claimed = data.pop("digest", None)
    if claimed != hashlib.sha256(_canonical(data)).hexdigest():
        raise ReconcilerError(
            f"{path}: the plan file was modified after it was made; run plan again"
        )
    data["digest"] = claimed
    _check_shape(path, data)
    return data


def _check_shape(path: str, data: dict[str, Any]) -> None:
    """Refuse a plan whose fields are not what plan -o writes (a digest recomputed over a
    hand-made file): every type, every required field, nothing else."""
    from jsonschema import Draft202012Validator  # only a saved plan pays for it

    schema = json.loads(
        resources.files("reconciler").joinpath("schemas/plan.schema.json").read_text("utf-8")
    )
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "the top level"
        message = errors[0].message
        message = message if len(message) <= 120 else message[:117] + "..."
        raise ReconcilerError(
            f"{path}: not a plan file as plan -o writes it ({where}: {message}); make the "
            "plan again with plan -o"
        )


def options_of(data: dict[str, Any]) -> Options:
    """The diff options the plan was made with."""
    return Options(**{k: v for k, v in data["options"].items() if k in Options.__annotations__})


def environment_of(data: dict[str, Any]) -> str | None:
    """The environment the plan was made for (``plan --env``), if any."""
    environment = data.get("environment")
    return environment if isinstance(environment, str) else None


def refuse_other_environment(data: dict[str, Any], environment: str | None) -> None:
    """Refuse a plan made for another environment than ``environment``."""
    made_for = environment_of(data)
    if made_for == environment:
        return
    if made_for is None:
        raise StalePlan(
            f"the plan was made without --env, not for environment '{environment}'; "
            f"make a plan for it with: reconcile plan --env {environment} -o PLAN.json"
        )
    fix = f"reconcile plan --env {environment} -o PLAN.json" if environment else "plan"
    raise StalePlan(
        f"the plan was made for environment '{made_for}', not "
        f"{repr(environment) if environment else 'without --env'}; make a plan for it with: {fix}"
    )


def files_of(data: dict[str, Any]) -> list[str]:
    """The input files the plan was made from."""
    return [entry["path"] for entry in data["inputs"]]


def _elsewhere(data: dict[str, Any]) -> str:
    """What to add to a refusal when apply runs in another folder than plan did: the plan's
    relative paths (files, a ``sqlite:///`` target) start in the folder plan ran in."""
    folder = data.get("folder")  # plans made before it was recorded have none
    if not isinstance(folder, str) or Path(folder).resolve() == Path.cwd().resolve():
        return ""
    return (
        f" (the plan was made in {folder}, and its paths are relative to that folder: "
        "run apply there)"
    )


def refuse_if_moved(data: dict[str, Any]) -> None:
    """Refuse, before the files are read, when an input file of the plan is missing; from
    another folder than plan's, the refusal names that folder."""
    missing = [path for path in files_of(data) if not Path(path).is_file()]
    if missing:
        raise StalePlan(f"an input file of the plan is missing: {missing[0]}{_elsewhere(data)}")


def refuse_if_stale(
    data: dict[str, Any], *, desired: Desired, observed: Observed, plan: Plan, target: str
) -> None:
    """Refuse unless environment, files, keys, target and the recomputed plan match the
    saved plan."""
    refuse_other_environment(data, desired.environment)
    if data["target"] != target:
        raise StalePlan(f"the plan was made for {data['target']}, not {target}")
    try:
        current_files = file_digests(files_of(data))
    except FileNotFoundError as exc:
        raise StalePlan(f"an input file of the plan is gone: {exc.filename}") from None
    if current_files != data["inputs"]:
        raise StalePlan(
            "the configuration files changed since this plan was made; run plan again"
            + _elsewhere(data)
        )
    salt = data["key_salt"]
    keys_now = _key_entries(desired, salt)
    for name in sorted(set(keys_now) | set(data["keys"])):
        if keys_now.get(name) != data["keys"].get(name):
            ref = (data["keys"].get(name) or keys_now.get(name) or {}).get("ref") or "api_key"
            raise StalePlan(
                f"the key of provider '{name}' ({ref}) is not the one the plan was made "
                "with; set the same value or run plan again"
            )
    if observed_digest(observed) != data["observed_digest"]:
        raise StalePlan(
            "the target changed since this plan was made; run plan again" + _elsewhere(data)
        )
    # Same files, keys and target state make the same plan; checked all the same, so that
    # a plan from another version of the diff is never applied as something else.
    if plan_data(plan, target=target)["actions"] != data["actions"]:
        raise StalePlan("this version of reconciler would apply a different plan; run plan again")
