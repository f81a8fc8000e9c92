"""OpenRouter endpoint and catalog against the simulator: shapes, cost, errors, retries, SSE."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from shared.providers.base import ChatRequest, Endpoint, StreamEvent
from shared.providers.errors import (
    MissingCredentials,
    RateLimited,
    UpstreamAuthFailed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shared.providers.http import call_with_retries
from shared.providers.openrouter import OpenRouterCatalog, OpenRouterEndpoint
from simulator.server import Simulator
from tests.providers import (
    OPENROUTER_KEY,
    SimControl,
    never_sleep,
    running_simulator,
)

MODEL = "acme/fast-8b"
QUESTION = "What is the capital of France?"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MODELS = [
    {
        "id": MODEL,
        "name": "Acme Fast 8B",
        "hugging_face_id": "acme/fast-8b-instruct",
        "context_length": 32768,
        "pricing": {"prompt": "0.000001", "completion": "0.000002"},
        "created": 1_720_000_000,
    },
    {
        "id": "acme/old-70b",
        "pricing": {"prompt": "0.00001", "completion": "0.00003"},
        "expiration_date": "2031-06-30",
        # Published statistics come from these; only this model's calls would be slow.
        "latency_ms": {"median": 200, "p99": 900},
        "throughput_tps": 80,
    },
    {"id": "openrouter/auto", "router_targets": [MODEL], "pricing": {"prompt": "-1"}},
]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with running_simulator(
        tmp_path_factory.mktemp("hf"),
        models=MODELS,
        answer_key=[{"input": QUESTION, "expected": "Paris"}],
        retry_after_seconds=2,
    ) as started:
        yield started


pytestmark = pytest.mark.usefixtures("fresh_simulator")  # tests/providers/conftest.py


def endpoint(sim: Simulator, client: httpx.Client, *, key: str = OPENROUTER_KEY) -> Endpoint:
    return OpenRouterEndpoint(
        client=client,
        base_url=sim.openrouter_base_url,
        api_key=key,
        model_id=MODEL,
        extra_headers={"HTTP-Referer": "https://drgero.example"},
    )


def ask(question: str = QUESTION) -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": question}], max_tokens=64, temperature=0.0
    )


# --- completions -----------------------------------------------------------------------------


def test_completion_shape_cost_and_latency(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    control.model(id=MODEL, latency_ms={"fixed": 150})
    completion = endpoint(sim, client).complete(ask(), timeout=TIMEOUT)
    assert completion.output == "Paris"
    assert completion.model == MODEL
    assert completion.finish_reason == "stop"
    assert completion.refusal is False
    assert completion.prompt_tokens and completion.completion_tokens
    expected_cost = completion.prompt_tokens * 1e-6 + completion.completion_tokens * 2e-6
    assert completion.cost_usd == pytest.approx(expected_cost)
    assert completion.latency_ms >= 150


def test_request_body_and_headers(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    endpoint(sim, client).complete(ask(), timeout=TIMEOUT)
    sent = control.last_request()
    assert sent["path"] == "/api/v1/chat/completions"
    assert sent["body"]["model"] == MODEL
    assert sent["body"]["usage"] == {"include": True}
    assert sent["body"]["max_tokens"] == 64
    assert sent["headers"]["X-Title"] == "Dr.Gero"
    assert sent["headers"]["Http-Referer"] == "https://drgero.example"


def test_content_filter_is_a_refusal_not_an_error(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    control.model(id=MODEL, refusal_rate=1.0)
    completion = endpoint(sim, client).complete(ask(), timeout=TIMEOUT)
    assert completion.refusal is True
    assert completion.finish_reason == "content_filter"


# --- errors and retries ----------------------------------------------------------------------


def test_429_is_rate_limited_and_retry_after_is_honoured(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    control.model(id=MODEL, rate_limit_rate=1.0)
    target = endpoint(sim, client)
    with pytest.raises(RateLimited) as info:
        target.complete(ask(), timeout=TIMEOUT)
    assert info.value.status == 429
    assert info.value.retry_after == 2.0
    assert info.value.retryable
    assert "rate-limited" in (info.value.provider_message or "")

    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the upstream recovers while we wait
        slept.append(seconds)
        control.model(id=MODEL, rate_limit_rate=0.0)

    completion = call_with_retries(
        lambda: target.complete(ask(), timeout=TIMEOUT), base_delay=0.01, sleep=sleep
    )
    assert completion.output == "Paris"
    assert slept == [2.0]


def test_500_is_retried_then_succeeds(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    control.model(id=MODEL, error_rate=1.0)
    target = endpoint(sim, client)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            control.model(id=MODEL, error_rate=0.0)

    completion = call_with_retries(lambda: target.complete(ask(), timeout=TIMEOUT), sleep=sleep)
    assert completion.output == "Paris"
    calls = control.calls(MODEL)
    assert (calls["500"], calls["ok"]) == (2, 1)


def test_exhausted_retries_raise_the_last_error(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    control.model(id=MODEL, error_rate=1.0)
    target = endpoint(sim, client)
    with pytest.raises(UpstreamUnavailable) as info:
        call_with_retries(
            lambda: target.complete(ask(), timeout=TIMEOUT), attempts=3, sleep=lambda _: None
        )
    assert info.value.status == 500
    assert control.calls(MODEL)["500"] == 3


def test_401_is_auth_failed_and_not_retried(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    bad_key = "not-an-openrouter-key-123456"
    target = endpoint(sim, client, key=bad_key)
    with pytest.raises(UpstreamAuthFailed) as info:
        call_with_retries(lambda: target.complete(ask(), timeout=TIMEOUT), sleep=never_sleep)
    assert info.value.status == 401 and not info.value.retryable
    assert control.calls(MODEL)["401"] == 1
    assert bad_key not in str(info.value)


def test_unknown_model_is_rejected(sim: Simulator, client: httpx.Client) -> None:
    target = OpenRouterEndpoint(
        client=client, base_url=sim.openrouter_base_url, api_key=OPENROUTER_KEY, model_id="no/such"
    )
    with pytest.raises(UpstreamRejected) as info:
        target.complete(ask(), timeout=TIMEOUT)
    assert info.value.status == 400
    assert "no/such" in (info.value.provider_message or "")


def test_slow_upstream_times_out(sim: Simulator, client: httpx.Client, control: SimControl) -> None:
    control.model(id=MODEL, latency_ms={"fixed": 2000})
    with pytest.raises(UpstreamTimeout) as info:
        endpoint(sim, client).complete(ask(), timeout=httpx.Timeout(0.3, connect=2.0))
    assert info.value.retryable
    assert info.value.message.startswith(f"openrouter:{MODEL}: ")


def test_connection_refused_is_unavailable(client: httpx.Client) -> None:
    target = OpenRouterEndpoint(
        client=client, base_url="http://127.0.0.1:9/api/v1", api_key=OPENROUTER_KEY, model_id=MODEL
    )
    with pytest.raises(UpstreamUnavailable) as info:
        target.complete(ask(), timeout=TIMEOUT)
    assert info.value.retryable and info.value.status is None


# --- streaming -------------------------------------------------------------------------------


def test_stream_deltas_concatenate_to_the_answer_with_final_usage(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    long_question = "Describe the weather in Paris in spring, in a few sentences."
    answer = "Mild days, cool nights and frequent light showers across the city in April."
    control.answer_key([{"input": long_question, "expected": answer}])
    events: list[StreamEvent] = list(
        endpoint(sim, client).stream(ask(long_question), timeout=TIMEOUT)
    )
    *deltas, last = events
    assert len(deltas) > 1 and all(event.delta and event.completion is None for event in deltas)
    assert "".join(event.delta for event in deltas) == answer
    final = last.completion
    assert final is not None and last.delta == ""
    assert final.output == answer
    assert final.finish_reason == "stop"
    assert final.prompt_tokens and final.completion_tokens and final.cost_usd
    assert final.model == MODEL


def test_stream_errors_surface_on_first_next(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    control.model(id=MODEL, rate_limit_rate=1.0)
    events = endpoint(sim, client).stream(ask(), timeout=TIMEOUT)
    assert control.calls(MODEL) == {}  # nothing is sent before iteration
    with pytest.raises(RateLimited):
        next(iter(events))


def test_closing_a_stream_early_is_clean(sim: Simulator, client: httpx.Client) -> None:
    events = endpoint(sim, client).stream(ask(), timeout=TIMEOUT)
    first = next(iter(events))
    assert first.delta
    events.close()  # type: ignore[attr-defined]
    assert endpoint(sim, client).complete(ask(), timeout=TIMEOUT).output == "Paris"


# --- catalog ---------------------------------------------------------------------------------


def catalog(sim: Simulator, client: httpx.Client, key: str | None) -> OpenRouterCatalog:
    return OpenRouterCatalog(client=client, base_url=sim.openrouter_base_url, api_key=key)


def test_models(sim: Simulator, client: httpx.Client) -> None:
    models = {model.id: model for model in catalog(sim, client, None).models()}
    fast = models[MODEL]
    assert fast.name == "Acme Fast 8B"
    assert fast.context_length == 32768
    assert fast.hugging_face_id == "acme/fast-8b-instruct"
    assert fast.prompt_price == pytest.approx(1e-6)
    assert fast.completion_price == pytest.approx(2e-6)
    assert fast.created == 1_720_000_000
    assert fast.expiration_date is None and not fast.is_router
    old = models["acme/old-70b"]
    assert old.expiration_date == date(2031, 6, 30)
    assert old.hugging_face_id is None
    router = models["openrouter/auto"]
    assert router.is_router and router.prompt_price is None


def test_endpoint_stats_with_a_key(sim: Simulator, client: httpx.Client) -> None:
    stats = catalog(sim, client, OPENROUTER_KEY).endpoint_stats("acme/old-70b")
    assert stats.endpoints == 1
    assert stats.latency_p50 == pytest.approx(200, rel=0.01)
    assert stats.latency_p99 == pytest.approx(900, rel=0.01)
    assert stats.latency_p50 < stats.latency_p75 < stats.latency_p90 < stats.latency_p99  # type: ignore[operator]
    assert stats.throughput_p50 == pytest.approx(80)


def test_endpoint_stats_are_unpublished_without_a_key(sim: Simulator, client: httpx.Client) -> None:
    stats = catalog(sim, client, None).endpoint_stats("acme/old-70b")
    assert stats.endpoints == 1
    assert stats.latency_p50 is None and stats.throughput_p50 is None


def test_endpoint_stats_of_an_unknown_model(sim: Simulator, client: httpx.Client) -> None:
    with pytest.raises(UpstreamRejected) as info:
        catalog(sim, client, OPENROUTER_KEY).endpoint_stats("acme/nothing")
    assert info.value.status == 404
    with pytest.raises(ValueError, match="author/slug"):
        catalog(sim, client, OPENROUTER_KEY).endpoint_stats("no-slash")


def test_check_key(sim: Simulator, client: httpx.Client) -> None:
    endpoint(sim, client).complete(ask(), timeout=TIMEOUT)  # spend something
    info = catalog(sim, client, OPENROUTER_KEY).check_key()
    assert info.label and OPENROUTER_KEY not in info.label
    assert info.usage is not None and info.usage > 0
    assert info.limit is None and info.is_free_tier is False


def test_check_key_refused(sim: Simulator, client: httpx.Client) -> None:
    with pytest.raises(UpstreamAuthFailed):
        catalog(sim, client, "bogus-key-000000000").check_key()
    with pytest.raises(MissingCredentials):
        catalog(sim, client, None).check_key()
