"""Upstream model listings against a fake upstream served over real HTTP on loopback."""

from __future__ import annotations

import logging
import socket
import string
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse, RedirectResponse

from reconciler.core.model import ProviderType
from reconciler.errors import FetchError
from reconciler.secrets import Secret
from reconciler.upstream.discovery import DiscoveredModel, FetchSettings, list_models
from reconciler.upstream.retry import RetryPolicy
from tests.upstreams import FakeModel, Upstream, running_upstream

KEY = "sk-test-5f1c0e9a7b2d4c6e8f0a1b3c5d7e9f11"
FAST = FetchSettings(
    connect_timeout=1.0,
    read_timeout=10.0,  # generous: a loaded machine must not turn a scripted answer into a retry
    retry=RetryPolicy(max_attempts=4, backoff_base=0.01, max_backoff=0.05),
)


@pytest.fixture(scope="module")
def module_upstream() -> Iterator[Upstream]:
    with running_upstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(module_upstream: Upstream) -> Upstream:
    module_upstream.state.reset()
    return module_upstream


class RecordingSleep:
    """Stands in for time.sleep: remembers the pauses instead of taking them."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


def fetch(
    upstream: Upstream,
    provider_type: ProviderType,
    *,
    key: str | None = KEY,
    name: str = "Prov",
    base_url: str | None = None,
    fetch_settings: FetchSettings = FAST,
    sleep: RecordingSleep | None = None,
) -> list[DiscoveredModel]:
    return list_models(
        provider_name=name,
        provider_type=provider_type,
        base_url=base_url if base_url is not None else upstream.base_url(provider_type),
        api_key=Secret(key) if key is not None else None,
        settings=fetch_settings,
        sleep=sleep if sleep is not None else RecordingSleep(),
    )


def ids(models: list[DiscoveredModel]) -> list[str]:
    return [m.id for m in models]


# -- the three dialects ----------------------------------------------------------------


def test_openai_lists_models_sorted_with_a_bearer_key(upstream: Upstream) -> None:
    upstream.state.api_key = KEY

    models = fetch(upstream, "openai")

    assert models == [
        DiscoveredModel(id="gpt-4o"),
        DiscoveredModel(id="gpt-4o-mini"),
        DiscoveredModel(id="o3-mini"),
    ]
    [request] = upstream.state.requests
    assert request.path == "/openai/v1/models"
    assert request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("key", [None, ""], ids=["no-key", "empty-key"])
def test_openai_keyless_sends_no_authorization_header(upstream: Upstream, key: str | None) -> None:
    models = fetch(upstream, "openai", key=key)

    assert ids(models) == ["gpt-4o", "gpt-4o-mini", "o3-mini"]
    [request] = upstream.state.requests
    assert "authorization" not in request.headers


def test_openai_compatible_answer_without_object_field_is_accepted(upstream: Upstream) -> None:
    upstream.state.then(JSONResponse({"data": [{"id": "llama3.2"}, {"id": "qwen2.5"}]}))

    assert ids(fetch(upstream, "openai", key=None)) == ["llama3.2", "qwen2.5"]


def test_models_are_deduplicated(upstream: Upstream) -> None:
    upstream.state.set_models("openai", ["b", "a", "b", "c", "a"])

    assert ids(fetch(upstream, "openai")) == ["a", "b", "c"]


def test_base_url_with_trailing_slash_joins_cleanly(upstream: Upstream) -> None:
    fetch(upstream, "openai", base_url=upstream.base_url("openai") + "/")

    assert [r.path for r in upstream.state.requests] == ["/openai/v1/models"]


def test_anthropic_follows_pages_with_its_headers(upstream: Upstream) -> None:
    upstream.state.api_key = KEY
    upstream.state.page_size = 2

    models = fetch(upstream, "anthropic")

    assert models == [
        DiscoveredModel(id="claude-3-5-haiku-20241022", display_name="Claude Haiku 3.5"),
        DiscoveredModel(id="claude-opus-4-1", display_name="Claude Opus 4.1"),
        DiscoveredModel(id="claude-sonnet-4-5", display_name="Claude Sonnet 4.5"),
    ]
    first, second = upstream.state.requests
    assert first.path == second.path == "/anthropic/v1/models"
    assert "after_id" not in first.query
    assert second.query["after_id"] == "claude-opus-4-1"
    for request in (first, second):
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers


def test_google_follows_pages_strips_prefix_and_keeps_chat_models(upstream: Upstream) -> None:
    upstream.state.api_key = KEY
    upstream.state.page_size = 2
    upstream.state.set_models(
        "google",
        [
            FakeModel("gemini-2.5-pro", "Gemini 2.5 Pro"),
            FakeModel("text-embedding-004", "Embedding", ("embedContent",)),
            FakeModel("gemini-2.5-flash", "Gemini 2.5 Flash"),
            FakeModel("aqa", "AQA", ("generateAnswer",)),
            FakeModel("gemini-2.0-flash", "Gemini 2.0 Flash"),
        ],
    )

    models = fetch(upstream, "google")

    assert models == [
        DiscoveredModel(id="gemini-2.0-flash", display_name="Gemini 2.0 Flash"),
        DiscoveredModel(id="gemini-2.5-flash", display_name="Gemini 2.5 Flash"),
        DiscoveredModel(id="gemini-2.5-pro", display_name="Gemini 2.5 Pro"),
    ]
    requests = upstream.state.requests
    assert len(requests) == 3
    assert "pageToken" not in requests[0].query
    assert [r.query.get("pageToken") for r in requests[1:]] == ["offset-2", "offset-4"]
    for request in requests:
        assert request.headers["x-goog-api-key"] == KEY
        assert KEY not in request.url
        assert "key" not in request.query


def test_uses_the_given_client_and_leaves_it_open(upstream: Upstream) -> None:
    with httpx.Client() as client:
        list_models(
            provider_name="OpenAI",
            provider_type="openai",
            base_url=upstream.base_url("openai"),
            api_key=None,
            settings=FAST,
            client=client,
        )
        assert not client.is_closed
        list_models(
            provider_name="OpenAI",
            provider_type="openai",
            base_url=upstream.base_url("openai"),
            api_key=None,
            settings=FAST,
            client=client,
        )
    assert len(upstream.state.requests) == 2


# -- what the upstream says no with ------------------------------------------------------


def test_unauthorized_names_provider_status_and_key(upstream: Upstream) -> None:
    upstream.state.api_key = "sk-the-right-one"

    with pytest.raises(FetchError) as caught:
        fetch(upstream, "openai", name="OpenAI")

    url = upstream.base_url("openai") + "/models"
    assert str(caught.value) == (
        f"provider 'OpenAI': upstream answered 401 Unauthorized at GET {url}; check its api_key"
    )
    assert caught.value.status == 401
    assert len(upstream.state.requests) == 1


def test_missing_key_says_none_is_set(upstream: Upstream) -> None:
    upstream.state.api_key = KEY

    with pytest.raises(FetchError, match=r"401 Unauthorized .*check its api_key \(none is set\)"):
        fetch(upstream, "anthropic", key=None)


def test_google_bad_key_is_a_400_about_the_key(upstream: Upstream) -> None:
    upstream.state.api_key = "AIza-the-right-one"

    with pytest.raises(FetchError, match=r"400 Bad Request .*check its api_key$") as caught:
        fetch(upstream, "google", name="Gemini")

    assert caught.value.status == 400


def test_wrong_base_url_404_says_check_base_url(upstream: Upstream) -> None:
    with pytest.raises(FetchError) as caught:
        fetch(upstream, "openai", name="Local", base_url=upstream.url + "/nothing/here")

    assert str(caught.value) == (
        f"provider 'Local': upstream answered 404 Not Found at GET "
        f"{upstream.url}/nothing/here/models; check its base_url"
    )
    assert caught.value.status == 404


def test_redirect_is_reported_not_followed(upstream: Upstream) -> None:
    upstream.state.then(RedirectResponse("https://elsewhere.example/v1/models"))

    with pytest.raises(FetchError, match=r"307 Temporary Redirect .*check its base_url$"):
        fetch(upstream, "anthropic")

    assert len(upstream.state.requests) == 1


def test_rate_limit_honours_retry_after_then_succeeds(upstream: Upstream) -> None:
    upstream.state.then("429", "ok")
    sleep = RecordingSleep()
    patient = FetchSettings(read_timeout=0.3, retry=RetryPolicy(backoff_base=0.01))

    models = fetch(upstream, "openai", sleep=sleep, fetch_settings=patient)

    assert ids(models) == ["gpt-4o", "gpt-4o-mini", "o3-mini"]
    assert len(upstream.state.requests) == 2
    assert sleep.pauses == [1.0]


def test_server_error_500_is_not_retried(upstream: Upstream) -> None:
    upstream.state.then("500", "ok")

    with pytest.raises(FetchError) as caught:
        fetch(upstream, "openai", name="OpenAI")

    assert str(caught.value).endswith(
        "upstream answered 500 Internal Server Error at GET "
        f"{upstream.base_url('openai')}/models; upstream unavailable, try again later"
    )
    assert caught.value.status == 500
    assert len(upstream.state.requests) == 1


def test_unavailable_503_is_retried_then_succeeds(upstream: Upstream) -> None:
    upstream.state.retry_after = None
    upstream.state.then("503", "503", "ok")
    sleep = RecordingSleep()

    assert ids(fetch(upstream, "openai", sleep=sleep)) == ["gpt-4o", "gpt-4o-mini", "o3-mini"]
    assert len(upstream.state.requests) == 3
    assert len(sleep.pauses) == 2


def test_unavailable_every_time_gives_up_after_max_attempts(upstream: Upstream) -> None:
    upstream.state.then(*["503"] * 10)

    with pytest.raises(FetchError, match=r"503 Service Unavailable .*try again later$") as caught:
        fetch(upstream, "google")

    assert caught.value.status == 503
    assert len(upstream.state.requests) == FAST.retry.max_attempts


def test_slow_upstream_times_out(upstream: Upstream) -> None:
    upstream.state.then("slow", "slow")
    two_tries = FetchSettings(
        connect_timeout=1.0, read_timeout=0.3, retry=RetryPolicy(max_attempts=2, backoff_base=0)
    )

    with pytest.raises(FetchError) as caught:
        fetch(upstream, "openai", name="Slow", fetch_settings=two_tries)

    assert str(caught.value) == (
        f"provider 'Slow': no answer within 0.3 s at GET {upstream.base_url('openai')}/models; "
        "upstream unavailable or slow, try again later"
    )
    assert caught.value.status is None
    assert len(upstream.state.requests) == 2


def test_invalid_json_is_reported(upstream: Upstream) -> None:
    upstream.state.then("invalid-json")

    with pytest.raises(FetchError, match=r"200 OK but not with JSON .*check its base_url$"):
        fetch(upstream, "openai")


@pytest.mark.parametrize(
    ("provider_type", "expected"),
    [
        ("openai", "expected a JSON object with a 'data' list"),
        ("anthropic", "expected a JSON object with a 'data' list"),
        ("google", "expected a JSON object with a 'models' list"),
    ],
)
def test_unexpected_shape_is_reported(
    upstream: Upstream, provider_type: ProviderType, expected: str
) -> None:
    upstream.state.then("wrong-shape")

    with pytest.raises(FetchError) as caught:
        fetch(upstream, provider_type)

    assert f"unexpected shape at GET {upstream.base_url(provider_type)}" in str(caught.value)
    assert expected in str(caught.value)


def test_entry_without_id_is_an_unexpected_shape(upstream: Upstream) -> None:
    upstream.state.then(JSONResponse({"object": "list", "data": [{"name": "gpt-4o"}]}))

    with pytest.raises(FetchError, match="expected each entry of 'data' to have a string 'id'"):
        fetch(upstream, "openai")


def test_google_empty_listing_is_an_empty_list(upstream: Upstream) -> None:
    upstream.state.set_models("google", [])

    assert fetch(upstream, "google") == []


@pytest.mark.parametrize("provider_type", ["anthropic", "google"])
def test_pagination_loop_is_an_error(upstream: Upstream, provider_type: ProviderType) -> None:
    upstream.state.loop_pages = True

    with pytest.raises(FetchError, match="pagination loops"):
        fetch(upstream, provider_type)

    assert len(upstream.state.requests) == 2


def test_connection_refused_says_could_not_connect() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there now.
    sleep = RecordingSleep()

    with pytest.raises(FetchError) as caught:
        list_models(
            provider_name="Local Ollama",
            provider_type="openai",
            base_url=f"http://127.0.0.1:{port}/v1",
            api_key=None,
            settings=FAST,
            sleep=sleep,
        )

    message = str(caught.value)
    assert message.startswith(f"provider 'Local Ollama': could not connect to 127.0.0.1:{port} (")
    assert message.endswith("check its base_url, or the upstream is down")
    assert len(sleep.pauses) == FAST.retry.max_attempts - 1


def test_invalid_base_url_is_reported_without_a_request() -> None:
    with pytest.raises(FetchError, match="not an http"):
        list_models(
            provider_name="Typo", provider_type="openai", base_url="localhost:11434", api_key=None
        )


# -- keys never leak -------------------------------------------------------------------


def test_the_fake_echo_really_returns_the_key(upstream: Upstream) -> None:
    # Guards the tests below: they would pass vacuously against a fake that echoes nothing.
    upstream.state.then("echo")

    response = httpx.get(upstream.base_url("anthropic") + "/v1/models", headers={"x-api-key": KEY})

    assert response.status_code == 401
    assert KEY in response.text


@pytest.mark.parametrize("behaviour", ["echo", "echo-400"])
@pytest.mark.parametrize("provider_type", ["openai", "anthropic", "google"])
def test_error_echoing_the_key_never_shows_it(
    upstream: Upstream,
    provider_type: ProviderType,
    behaviour: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream.state.then(behaviour)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(FetchError) as caught:
        fetch(upstream, provider_type)

    # The fake really did send the key back: the point is that we did not pass it on.
    assert caught.value.status in (400, 401)
    error = caught.value
    for text in (str(error), repr(error), *map(str, error.args)):
        assert KEY not in text
        assert "received_headers" not in text
    assert KEY not in caplog.text


def test_key_with_a_newline_is_refused_without_showing_it(upstream: Upstream) -> None:
    key = "sk-line-one\nline-two-of-the-key"

    with pytest.raises(FetchError, match="cannot carry") as caught:
        fetch(upstream, "anthropic", key=key)

    assert "sk-line-one" not in str(caught.value)
    assert upstream.state.requests == []


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=16, max_size=64),
    provider_type=st.sampled_from(["openai", "anthropic", "google"]),
    behaviour=st.sampled_from(["echo", "echo-400", "401", "403", "500"]),
)
def test_no_error_message_contains_the_key(
    module_upstream: Upstream, key: str, provider_type: ProviderType, behaviour: str
) -> None:
    module_upstream.state.reset()
    module_upstream.state.then(behaviour)

    with pytest.raises(FetchError) as caught:
        fetch(module_upstream, provider_type, key=key)

    assert key not in str(caught.value)
    assert key not in repr(caught.value)
