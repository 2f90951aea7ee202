"""Saved plans: sealed with a digest, holding fingerprints and references, never keys;
refused when the files, keys, target or options are not as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.diff import make_plan
from reconciler.core.model import Desired
from reconciler.core.plan import Options
from reconciler.errors import ReconcilerError
from reconciler.output import planfile
from tests.factories import desired, observed, spec, state

KEY = "sk-planfile-SECRET-0123456789"


def saved(tmp_path: Path, want: Desired, **options: bool) -> tuple[Path, dict[str, object]]:
    (tmp_path / "providers.yaml").write_text("version: 1\n", encoding="utf-8")
    want = Desired(providers=want.providers, files=(str(tmp_path / "providers.yaml"),))
    seen = observed(state("Old", enabled=False))
    plan = make_plan(want, seen, Options(**options))
    data = planfile.build(plan, desired=want, observed=seen, options=Options(**options), target="t")
    path = tmp_path / "plan.json"
    path.write_text(planfile.dumps(data), encoding="utf-8")
    return path, data


def test_a_saved_plan_holds_a_fingerprint_and_the_reference_never_the_key(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, desired(spec("P", api_key=KEY, api_key_ref="${P_KEY}")))
    text = path.read_text(encoding="utf-8")
    assert KEY not in text
    keys = json.loads(text)["keys"]
    assert keys["P"]["ref"] == "${P_KEY}" and len(keys["P"]["fingerprint"]) == 64


def test_a_plan_reads_back_with_its_options(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, desired(spec("P")), prune=True, allow_delete_enabled=True)
    data = planfile.read(str(path))
    assert planfile.options_of(data) == Options(prune=True, allow_delete_enabled=True)
    assert planfile.files_of(data) == [str(tmp_path / "providers.yaml")]


def test_an_edited_plan_is_refused(tmp_path: Path) -> None:
    path, data = saved(tmp_path, desired(spec("P")))
    data["options"] = {"prune": True}  # type: ignore[index]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReconcilerError, match="modified after it was made"):
        planfile.read(str(path))


def test_a_different_key_or_a_changed_file_makes_the_plan_stale(tmp_path: Path) -> None:
    want = desired(spec("P", api_key=KEY, api_key_ref="${P_KEY}"))
    path, _ = saved(tmp_path, want)
    data = planfile.read(str(path))
    files = (str(tmp_path / "providers.yaml"),)
    rotated = Desired(
        providers=(spec("P", api_key="sk-other", api_key_ref="${P_KEY}"),), files=files
    )
    seen = observed(state("Old", enabled=False))
    plan = make_plan(rotated, seen)
    with pytest.raises(planfile.StalePlan, match=r"the key of provider 'P' \(\$\{P_KEY\}\)"):
        planfile.refuse_if_stale(data, desired=rotated, observed=seen, plan=plan, target="t")
    (tmp_path / "providers.yaml").write_text("version: 1\n# edited\n", encoding="utf-8")
    same = Desired(providers=want.providers, files=files)
    with pytest.raises(planfile.StalePlan, match="configuration files changed"):
        planfile.refuse_if_stale(
            data, desired=same, observed=seen, plan=make_plan(same, seen), target="t"
        )


def test_a_plan_for_another_target_or_a_changed_target_is_refused(tmp_path: Path) -> None:
    want = desired(spec("P"))
    path, _ = saved(tmp_path, want)
    data = planfile.read(str(path))
    files = (str(tmp_path / "providers.yaml"),)
    same = Desired(providers=want.providers, files=files)
    seen = observed(state("Old", enabled=False))
    with pytest.raises(planfile.StalePlan, match="made for t, not u"):
        planfile.refuse_if_stale(
            data, desired=same, observed=seen, plan=make_plan(same, seen), target="u"
        )
    moved = observed(state("Old", enabled=True))
    with pytest.raises(planfile.StalePlan, match="target changed"):
        planfile.refuse_if_stale(
            data, desired=same, observed=moved, plan=make_plan(same, moved), target="t"
        )


def test_a_file_that_is_not_a_plan_says_so(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"kind": "something"}', encoding="utf-8")
    with pytest.raises(ReconcilerError, match="not a plan file written by 'reconcile plan -o'"):
        planfile.read(str(other))
    with pytest.raises(ReconcilerError, match="no such plan file"):
        planfile.read(str(tmp_path / "missing.json"))


def test_key_fingerprints_in_a_plan_are_scrypt_not_a_fast_hash(tmp_path: Path) -> None:
    import hashlib

    _, data = saved(tmp_path, desired(spec("P", api_key="k7q2", base_url="http://127.0.0.1/v1")))
    salt = data["key_salt"]
    stored = data["keys"]["P"]["fingerprint"]  # type: ignore[index]
    assert stored != hashlib.sha256(f"{salt}\0k7q2".encode()).hexdigest()
    scrypt = hashlib.scrypt(b"k7q2", salt=str(salt).encode(), n=2**14, r=8, p=1, dklen=32)
    assert stored == scrypt.hex()


def resealed(path: Path, data: dict[str, object]) -> None:
    """Write ``data`` as a plan file with its digest recomputed, as a forger would."""
    import hashlib

    body = {k: v for k, v in data.items() if k != "digest"}
    body["digest"] = hashlib.sha256(planfile._canonical(body)).hexdigest()
    path.write_text(json.dumps(body), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d.pop("options"), "'options' is a required property"),
        (lambda d: d.pop("keys"), "'keys' is a required property"),
        (lambda d: d["options"].update(prune="no"), "options/prune: 'no' is not of type"),
        (lambda d: d.update(inputs="providers.yaml"), "inputs: 'providers.yaml' is not of type"),
        (lambda d: d.update(extra=1), "Additional properties are not allowed"),
    ],
)
def test_a_forged_plan_with_its_digest_recomputed_is_refused_by_its_shape(
    tmp_path: Path, change: object, said: str
) -> None:
    path, data = saved(tmp_path, desired(spec("P")))
    change(data)  # type: ignore[operator]
    resealed(path, data)
    with pytest.raises(ReconcilerError, match="not a plan file as plan -o writes it") as raised:
        planfile.read(str(path))
    assert said in str(raised.value)
