"""Properties over random stores and random files (hypothesis).

- apply(plan(desired, observed)) then plan again is empty, and a second apply makes no
  write at all;
- no plan or report, in any format, contains a secret value.

Every example gets a fresh SQLite file. Base URLs are loopback only: providers whose
models are fetched point at a fake upstream served by this module; the others have
``fetch_models: false``, or no key where their type needs one, so nothing is contacted.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.core.diff import make_plan
from reconciler.core.execute import converge, execute
from reconciler.core.model import Desired, ModelRules, ProviderSettings, ProviderSpec, ProviderType
from reconciler.core.plan import Options
from reconciler.errors import PlanRefused
from reconciler.output import apply_report, markdown, render
from reconciler.secrets import Secret
from reconciler.targets.sqlite import Store
from tests.factories import CountingTarget
from tests.upstreams import Upstream, running_upstream

NAMES = ("Alpha", "beta", "Gamma", "Team Proxy", "Ωmega", "z")
TYPES: tuple[ProviderType, ...] = ("openai", "anthropic", "google")
MODEL_IDS = ("gpt-4o", "gpt-4o-mini", "claude-opus-4-1", "gemini-2.5-pro", "old-model")
PATTERNS = ("gpt-4o*", "claude-*", "gemini-2.5-pro", "o3*", "*")
# Off-line loopback URLs: nothing listens there, and nothing is ever fetched from them.
DEAD_URLS = ("http://127.0.0.1:9/v1", "http://localhost:9/api", "http://[::1]:9/v1")

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with running_upstream() as up:
        yield up


# Keys: long enough to be real-looking, distinct from any name or URL in these tests.
keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=24).map(
    lambda s: f"sk-{s}"
)


@dataclass(frozen=True)
class StoredProvider:
    name: str
    type: ProviderType
    base_url: str
    key: str | None
    enabled: bool
    models: tuple[tuple[str, bool], ...] | None  # None: never fetched
    fetch_error: str | None
    settings: ProviderSettings


# At most one of the *_only flags, as validate demands.
provider_settings = st.builds(
    ProviderSettings,
    audio_only=st.just(False),
    image_only=st.booleans(),
    default_model=st.sampled_from(("", "dall-e-3")),
    system_prompt=st.sampled_from(("", "Be brief.")),
    favicon=st.sampled_from(("", "https://example.com/icon.png")),
)


@st.composite
def stored_providers(draw: st.DrawFn, upstream: Upstream) -> list[StoredProvider]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=5))
    out = []
    for name in names:
        ptype = draw(st.sampled_from(TYPES))
        model_ids = draw(st.lists(st.sampled_from(MODEL_IDS), unique=True, max_size=3))
        out.append(
            StoredProvider(
                name=name,
                type=ptype,
                base_url=draw(st.sampled_from((upstream.base_url(ptype), *DEAD_URLS))),
                key=draw(st.none() | keys),
                enabled=draw(st.booleans()),
                models=draw(
                    st.none() | st.just(tuple((m, draw(st.booleans())) for m in model_ids))
                ),
                fetch_error=draw(st.none() | st.sampled_from(("401 Unauthorized", "timeout"))),
                settings=draw(provider_settings),
            )
        )
    return out


@st.composite
def desired_files(draw: st.DrawFn, upstream: Upstream) -> Desired:
    """A configuration as config.load would accept it: unique names, sane renames."""
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=5))
    unclaimed = [n for n in NAMES if n not in names]
    specs: list[ProviderSpec] = []
    for name in names:
        if draw(st.integers(0, 5)) == 0:
            specs.append(ProviderSpec(name=name, ensure="absent"))
            continue
        ptype = draw(st.sampled_from(TYPES))
        fetch = draw(st.booleans())
        base_url = upstream.base_url(ptype) if fetch else draw(st.sampled_from(DEAD_URLS))
        renamed_from: tuple[str, ...] = ()
        if unclaimed and draw(st.booleans()):
            old = draw(st.sampled_from(unclaimed))
            unclaimed.remove(old)
            renamed_from = (old,)
        rules = None
        if draw(st.booleans()):
            rules = ModelRules(
                visible=tuple(draw(st.lists(st.sampled_from(PATTERNS), unique=True, max_size=2))),
                hidden=tuple(draw(st.lists(st.sampled_from(PATTERNS), unique=True, max_size=1))),
                only_listed=draw(st.booleans()),
            )
        key = draw(st.none() | keys)
        specs.append(
            ProviderSpec(
                name=name,
                type=ptype,
                base_url=base_url,
                api_key=None if key is None else Secret(key),
                api_key_ref=None if key is None else f"${{KEY_{len(specs)}}}",
                enabled=draw(st.booleans()),
                renamed_from=renamed_from,
                fetch_models=fetch,
                settings=draw(provider_settings),
                models=rules,
            )
        )
    return Desired(providers=tuple(specs), files=("providers.yaml",))


options = st.builds(
    Options,
    prune=st.booleans(),
    allow_delete_enabled=st.booleans(),
    allow_empty=st.booleans(),
    refetch=st.booleans(),
)


def fill(store: Store, providers: list[StoredProvider]) -> None:
    for p in providers:
        pid = store.create_provider(
            name=p.name,
            type=p.type,
            base_url=p.base_url,
            api_key=None if p.key is None else Secret(p.key),
            enabled=p.enabled,
            settings=p.settings,
        )
        if p.models is not None:
            store.replace_models(pid, [(m, None) for m, _ in p.models])
            store.set_visibility(pid, [m for m, shown in p.models if shown], True)
        if p.fetch_error is not None:
            store.record_fetch_error(pid, p.fetch_error)


def fresh_target(folder: str, providers: list[StoredProvider]) -> CountingTarget:
    target = CountingTarget(Path(folder) / "state.db", fetch_timeout=5, fetch_retries=0)
    fill(target.store, providers)
    return target


@SETTINGS
@given(data=st.data(), opts=options)
def test_apply_then_plan_is_empty_and_a_second_apply_writes_nothing(
    upstream: Upstream, data: st.DataObject, opts: Options
) -> None:
    stored = data.draw(stored_providers(upstream), label="store")
    want = data.draw(desired_files(upstream), label="file")
    with tempfile.TemporaryDirectory(dir=".") as folder:
        target = fresh_target(folder, stored)
        try:
            try:
                plan = make_plan(want, target.observe(), opts)
            except PlanRefused:
                event("refused")
                assert target.writes == []
                return
            # What converge observes again uses the same options, minus --refetch: a
            # refetch is asked for once, not forever.
            again = Options(
                prune=opts.prune,
                allow_delete_enabled=opts.allow_delete_enabled,
                allow_empty=opts.allow_empty,
            )
            report = converge(plan, target, lambda: make_plan(want, target.observe(), again))
            for kind in sorted({a.kind for a in plan.actions}):
                event(f"plans a {kind}")  # shown by --hypothesis-show-statistics
            assert not report.failed, [o.message for o in report.outcomes]
            assert report.by_status("warning") == []
            assert report.converged, report.remaining

            target.writes.clear()
            second = execute(make_plan(want, target.observe(), again), target)
            assert second.outcomes == []
            assert target.writes == []
        finally:
            target.close()


def _no_scrub(text: str) -> str:
    return text


@SETTINGS
@given(data=st.data(), opts=options)
def test_no_plan_or_report_contains_a_secret_value(
    upstream: Upstream, data: st.DataObject, opts: Options
) -> None:
    stored = data.draw(stored_providers(upstream), label="store")
    want = data.draw(desired_files(upstream), label="file")
    secrets = [p.key for p in stored if p.key] + [
        s.api_key.reveal() for s in want.providers if s.api_key is not None
    ]
    # The renderers must not see a secret at all: take away their last line of defence
    # (scrub, which masks every key this process knows) and look at what they produce.
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory(dir=".") as folder:
        mp.setattr(render, "scrub", _no_scrub)
        mp.setattr(markdown, "scrub", _no_scrub)
        target = fresh_target(folder, stored)
        try:
            try:
                plan = make_plan(want, target.observe(), opts)
            except PlanRefused as exc:
                outputs = [str(exc)]
            else:
                report = converge(
                    plan, target, lambda: make_plan(want, target.observe(), Options())
                )
                outputs = [
                    render.plan_text(plan, target=target.description),
                    render.plan_text(plan, target=target.description, colour=True),
                    json.dumps(render.plan_data(plan, target=target.description)),
                    render.plan_json(plan, target=target.description),
                    render.plan_markdown(plan, target=target.description),
                    apply_report.report_text(report),
                    json.dumps(apply_report.report_data(report, target="t")),
                    repr(plan),
                    repr(report),
                ]
        finally:
            target.close()
    for secret in secrets:
        for output in outputs:
            assert secret not in output
