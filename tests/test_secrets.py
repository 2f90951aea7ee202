"""Secret never shows its value by accident; scrub removes the values known to the run
from free text, and runs do not share them."""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import pickle
import traceback
from pathlib import Path

import pytest

from reconciler import config
from reconciler.core.diff import make_plan
from reconciler.core.execute import execute
from reconciler.core.model import ProviderSpec
from reconciler.core.plan import Options
from reconciler.errors import ConfigError, TargetError
from reconciler.output.render import problems_data
from reconciler.secrets import (
    MASK,
    Secret,
    current_registry,
    fingerprint,
    new_salt,
    scrub,
    scrubbing_run,
)
from reconciler.targets.sqlite import SqliteTarget
from tests.factories import desired, spec
from tests.inprocess import run

VALUE = "sk-live-7d3f9a1c5e8b2046af13"


@pytest.fixture
def secret() -> Secret:
    return Secret(VALUE)


def test_str_repr_and_formatting_are_masked(secret: Secret) -> None:
    shown = [
        str(secret),
        repr(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret!s}",
        f"{secret!a}",
        f"{secret=}",
        f"{secret:>40}",
        "%s" % secret,  # noqa: UP031 - %-formatting is what is tested
        "%r" % (secret,),  # noqa: UP031
        "{}".format(secret),  # noqa: UP032
        format(secret),
        format(secret, "s"),
        str([secret, {"k": secret}]),
        repr((secret,)),
    ]
    for text in shown:
        assert VALUE not in text
        assert MASK in text


def test_logging_masks_args_messages_and_exceptions(secret: Secret) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.secrets")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.info("key is %s", secret)
        logger.warning("key is %r", secret)
        logger.error(secret)
        logger.debug("mapping %(key)s", {"key": secret})
        try:
            raise ValueError("bad key", secret)
        except ValueError:
            logger.exception("failed with %s", secret)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert output.count(MASK) >= 6
    assert VALUE not in output


def test_exception_text_and_traceback_are_masked(secret: Secret) -> None:
    try:
        raise RuntimeError(secret)
    except RuntimeError as exc:
        texts = [
            str(exc),
            repr(exc),
            traceback.format_exc(),
            "".join(traceback.format_exception(exc)),
        ]
    for text in texts:
        assert VALUE not in text
    assert texts[2].rstrip().endswith(f"RuntimeError: {MASK}")


def test_json_refuses_a_secret(secret: Secret) -> None:
    with pytest.raises(TypeError):
        json.dumps({"api_key": secret})
    # default=str is the usual escape hatch: it masks too.
    assert json.dumps({"api_key": secret}, default=str) == f'{{"api_key": "{MASK}"}}'


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_is_refused(secret: Secret, protocol: int) -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret, protocol=protocol)


def test_copies_and_comparisons_work_without_revealing(secret: Secret) -> None:
    assert copy.deepcopy(secret) is secret
    assert secret == Secret(VALUE)
    assert secret != Secret(VALUE + "x")
    assert hash(secret) == hash(Secret(VALUE))
    assert secret.reveal() == VALUE
    assert bool(secret) and not Secret("")


def test_a_secret_wraps_only_text() -> None:
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_fingerprints_are_salted_and_never_the_value(secret: Secret) -> None:
    salt = new_salt()
    assert secret.fingerprint(salt) == fingerprint(VALUE, salt)
    assert secret.fingerprint(salt) != secret.fingerprint(new_salt())
    assert VALUE not in secret.fingerprint(salt)
    assert len(salt) == 32 and new_salt() != salt


def test_scrub_removes_every_known_value_longest_first() -> None:
    Secret("sk-short-0123")
    Secret("sk-short-0123-and-longer")
    text = "upstream said: bad key sk-short-0123-and-longer (or sk-short-0123?)"
    assert scrub(text) == f"upstream said: bad key {MASK} (or {MASK}?)"


def test_scrub_masks_short_values_only_where_they_stand_alone() -> None:
    Secret("test")
    assert scrub("tests/data/test.yaml: a test") == f"tests/data/test.yaml: a {MASK}"
    Secret("sk-1234")
    assert scrub("upstream rejected api_key 'sk-1234'; key=sk-1234") == (
        f"upstream rejected api_key '{MASK}'; key={MASK}"
    )
    assert scrub("http://host/sk-1234x and sk-12345") == "http://host/sk-1234x and sk-12345"


def test_scrub_leaves_text_without_secrets_alone() -> None:
    assert scrub("nothing to hide here") == "nothing to hide here"


def test_loaded_keys_never_appear_in_errors_warnings_or_reprs() -> None:
    literal = "sk-ant-literal-5a6b7c8d9e0f"
    from_env = "sk-env-0f9e8d7c6b5a4321"
    text = (
        "version: 1\nproviders:\n"
        f"  - name: Literal\n    type: anthropic\n    api_key: {literal}\n"
        "  - name: Remote\n    type: openai\n    base_url: http://llm.example.com/v1\n"
        "    api_key: ${RT_SECRET_KEY}\n"
    )
    Path("ok.yaml").write_text(text)
    Path("bad.yaml").write_text(text + "  - name: Remote\n    type: google\n")
    env = {"RT_SECRET_KEY": from_env}
    desired = config.load(["ok.yaml"], env)
    with pytest.raises(ConfigError) as info:
        config.load(["bad.yaml"], env)
    outputs = [
        repr(desired),
        str(desired),
        "\n".join(desired.warnings),
        str(info.value),
        repr(info.value.problems),
        json.dumps(problems_data(info.value.problems, desired.warnings)),
    ]
    for output in outputs:
        assert literal not in output
        assert from_env not in output
    assert [p.api_key.reveal() for p in desired.providers if p.api_key] == [literal, from_env]


# --- one registry per run ---------------------------------------------------------------

RUN_VALUE = "sk-run-only-4f1d2c3b5a6e7f80"
OTHER_RUN_VALUE = "sk-other-run-90a8b7c6d5e4f3a2"
WORKER_VALUE = "tok-made-in-a-worker-5e6f7a8b9c"


def test_a_run_scrubs_its_own_secrets_and_not_another_runs() -> None:
    with scrubbing_run():
        Secret(RUN_VALUE)
        assert scrub(f"key {RUN_VALUE}") == f"key {MASK}"
    with scrubbing_run():
        Secret(OTHER_RUN_VALUE)
        assert scrub(RUN_VALUE) == RUN_VALUE
        assert scrub(OTHER_RUN_VALUE) == MASK
    # The next run starts clean. (Outside any run the process-wide registry holds what
    # library use made, other tests' secrets included: not a clean slate to test against.)
    with scrubbing_run():
        assert scrub(f"{RUN_VALUE} {OTHER_RUN_VALUE}") == f"{RUN_VALUE} {OTHER_RUN_VALUE}"


def test_the_registry_before_a_run_is_back_after_it() -> None:
    before = current_registry()
    with scrubbing_run() as registry:
        assert current_registry() is registry
        assert registry is not before
    assert current_registry() is before


class _QuotingTarget(SqliteTarget):
    """Learns a secret on a worker thread (a refreshed token, say), then quotes it."""

    def create(self, spec: ProviderSpec) -> str:
        Secret(WORKER_VALUE)
        raise TargetError(f"refused with token {WORKER_VALUE}")


def test_a_secret_made_on_a_worker_thread_is_scrubbed_from_the_whole_run(tmp_path: Path) -> None:
    with scrubbing_run():
        target = _QuotingTarget(tmp_path / "state.db")
        try:
            plan = make_plan(desired(spec("P")), target.observe(), Options())
            report = execute(plan, target, parallelism=2)
        finally:
            target.close()
        assert [o.message for o in report.outcomes] == [f"refused with token {MASK}"]
        # The worker ran in a copy of the run's context: the run's registry learned it.
        assert scrub(WORKER_VALUE) == MASK
    assert scrub(WORKER_VALUE) == WORKER_VALUE


def test_a_cli_run_keeps_its_secrets_to_itself(tmp_path: Path) -> None:
    value = "sk-cli-run-0a1b2c3d4e5f6a7b"
    (tmp_path / "providers.yaml").write_text(
        "version: 1\nproviders:\n  - name: A\n    type: anthropic\n    api_key: ${RUN_KEY}\n"
    )
    result = run("validate", env={**os.environ, "RUN_KEY": value})
    assert (result.returncode, result.stdout) == (0, "Valid: 1 provider in 1 file.\n")
    assert scrub(value) == value
