"""Custom endpoints against the simulator: chat / json(field) / text answers, each auth method."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared.providers.base import ChatRequest
from shared.providers.custom import AuthConfig, CustomEndpoint, ResponseFormat, extract_field
from shared.providers.errors import (
    InvalidUpstreamResponse,
    ModelConfigInvalid,
    NotSupported,
    UpstreamAuthFailed,
    UpstreamUnavailable,
)
from simulator.server import Simulator
from tests.providers import SimControl, running_simulator

QUESTION = "How many legs does a spider have?"
ANSWER = "Eight legs."
BEARER = "cust-bearer-secret-0001"
HEADER_TOKEN = "cust-header-secret-0002"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ENDPOINTS = {
    "bearer-chat": {"format": "chat", "auth": "bearer", "token": BEARER},
    "bearer-text": {"format": "text", "auth": "bearer", "token": BEARER},
    "header-json": {
        "format": "json",
        "auth": "header",
        "header_name": "X-Api-Token",
        "token": HEADER_TOKEN,
        "field_path": "data.answer",
    },
    "header-chat": {
        "format": "chat",
        "auth": "header",
        "header_name": "X-Api-Token",
        "token": HEADER_TOKEN,
    },
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with running_simulator(
        tmp_path_factory.mktemp("hf"),
        custom_endpoints=ENDPOINTS,
        answer_key=[{"input": QUESTION, "expected": ANSWER}],
    ) as started:
        yield started


pytestmark = pytest.mark.usefixtures("fresh_simulator")  # tests/providers/conftest.py


NO_AUTH = AuthConfig(method="none", token=None)
BEARER_AUTH = AuthConfig(method="bearer", token=BEARER)
HEADER_AUTH = AuthConfig(method="header", token=HEADER_TOKEN, header_name="X-Api-Token")


def custom(
    sim: Simulator,
    client: httpx.Client,
    name: str,
    *,
    auth: AuthConfig = NO_AUTH,
    response: ResponseFormat,
    model: str | None = None,
) -> CustomEndpoint:
    return CustomEndpoint(
        client=client,
        url=f"{sim.base_url}/custom/{name}",
        auth=auth,
        response=response,
        model=model,
    )


def ask() -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": QUESTION}], max_tokens=32, temperature=0
    )


CHAT = ResponseFormat(kind="chat")
TEXT = ResponseFormat(kind="text")


@pytest.mark.parametrize(
    ("name", "auth", "response"),
    [
        ("chat", NO_AUTH, CHAT),
        ("json", NO_AUTH, ResponseFormat(kind="json", field="result.text")),
        ("text", NO_AUTH, TEXT),
        ("bearer-chat", BEARER_AUTH, CHAT),
        ("bearer-text", BEARER_AUTH, TEXT),
        ("header-json", HEADER_AUTH, ResponseFormat(kind="json", field="data.answer")),
        ("header-chat", HEADER_AUTH, CHAT),
    ],
)
def test_each_answer_format_and_auth_method(
    sim: Simulator, client: httpx.Client, name: str, auth: AuthConfig, response: ResponseFormat
) -> None:
    completion = custom(sim, client, name, auth=auth, response=response).complete(
        ask(), timeout=TIMEOUT
    )
    assert completion.output == ANSWER
    assert completion.latency_ms > 0
    if response.kind == "chat":
        assert completion.prompt_tokens and completion.completion_tokens
        assert completion.finish_reason == "stop"
    else:
        assert completion.prompt_tokens is None and completion.cost_usd is None


def test_the_request_is_an_openai_chat_completions_body(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    completion = custom(sim, client, "chat", response=CHAT, model="team-model-v3").complete(
        ask(), timeout=TIMEOUT
    )
    assert completion.model == "team-model-v3"
    sent = control.last_request()
    assert sent["body"] == {
        "model": "team-model-v3",
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 32,
        "temperature": 0,
    }


@pytest.mark.parametrize(
    ("name", "auth"),
    [
        ("bearer-chat", AuthConfig(method="bearer", token="wrong-secret-9999")),
        ("bearer-chat", NO_AUTH),
        (
            "header-json",
            AuthConfig(method="header", token="wrong-secret-9999", header_name="X-Api-Token"),
        ),
        ("header-json", AuthConfig(method="header", token=HEADER_TOKEN, header_name="X-Other")),
    ],
)
def test_wrong_credentials_are_auth_failures_without_the_secret(
    sim: Simulator, client: httpx.Client, name: str, auth: AuthConfig
) -> None:
    response = ResponseFormat(kind="json", field="data.answer") if "json" in name else CHAT
    with pytest.raises(UpstreamAuthFailed) as info:
        custom(sim, client, name, auth=auth, response=response).complete(ask(), timeout=TIMEOUT)
    assert info.value.status == 401 and not info.value.retryable
    assert "wrong-secret" not in str(info.value) and HEADER_TOKEN not in str(info.value)
    assert info.value.message.startswith(f"custom:127.0.0.1:{sim.port}/custom/{name}: ")


def test_a_missing_json_field_names_what_is_there(sim: Simulator, client: httpx.Client) -> None:
    target = custom(
        sim, client, "json", response=ResponseFormat(kind="json", field="result.answer")
    )
    with pytest.raises(InvalidUpstreamResponse) as info:
        target.complete(ask(), timeout=TIMEOUT)
    assert "'result.answer'" in info.value.message and "keys there: text" in info.value.message
    assert ANSWER not in info.value.message


def test_a_chat_format_endpoint_answering_text_is_invalid(
    sim: Simulator, client: httpx.Client
) -> None:
    with pytest.raises(InvalidUpstreamResponse):
        custom(sim, client, "text", response=CHAT).complete(ask(), timeout=TIMEOUT)


def test_upstream_failures_are_translated(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    control.custom_endpoint("json", error_rate=1.0)
    target = custom(sim, client, "json", response=ResponseFormat(kind="json", field="result.text"))
    with pytest.raises(UpstreamUnavailable) as info:
        target.complete(ask(), timeout=TIMEOUT)
    assert info.value.status == 500 and info.value.retryable


def test_streaming_a_chat_endpoint(sim: Simulator, client: httpx.Client) -> None:
    events = list(
        custom(sim, client, "bearer-chat", auth=BEARER_AUTH, response=CHAT).stream(
            ask(), timeout=TIMEOUT
        )
    )
    assert "".join(event.delta for event in events) == ANSWER
    final = events[-1].completion
    assert final is not None and final.output == ANSWER and final.completion_tokens


def test_streaming_needs_a_chat_endpoint(sim: Simulator, client: httpx.Client) -> None:
    with pytest.raises(NotSupported):
        custom(sim, client, "text", response=TEXT).stream(ask(), timeout=TIMEOUT)


# --- configuration (no network) --------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: AuthConfig(method="bearer", token=None),
        lambda: AuthConfig(method="header", token="t", header_name=None),
        lambda: AuthConfig(method="header", token="t", header_name="Bad Header"),
        lambda: AuthConfig(method="header", token="t", header_name="Metadata-Flavor"),
        lambda: AuthConfig(method="header", token="t", header_name="host"),
        lambda: AuthConfig(method="basic", token="t"),  # type: ignore[arg-type]
        lambda: ResponseFormat(kind="json"),
        lambda: ResponseFormat(kind="json", field="a..b"),
        lambda: ResponseFormat(kind="xml"),  # type: ignore[arg-type]
    ],
)
def test_invalid_configs_are_refused(make: object) -> None:
    with pytest.raises(ModelConfigInvalid):
        make()  # type: ignore[operator]


def test_auth_repr_hides_the_token() -> None:
    assert HEADER_TOKEN not in repr(HEADER_AUTH) and "X-Api-Token" in repr(HEADER_AUTH)


def test_endpoint_url_is_checked(client: httpx.Client) -> None:
    with pytest.raises(ModelConfigInvalid):
        CustomEndpoint(
            client=client,
            url="http://169.254.169.254/computeMetadata/v1/",
            auth=NO_AUTH,
            response=TEXT,
            model=None,
        )


def test_extract_field_paths() -> None:
    data = {"choices": [{"text": "first"}, {"text": "last"}], "n": 3, "obj": {"a": [1]}, "x": None}
    assert extract_field(data, "choices.0.text", label="t") == "first"
    assert extract_field(data, "choices.-1.text", label="t") == "last"
    assert extract_field(data, "n", label="t") == "3"
    assert extract_field(data, "obj", label="t") == '{"a": [1]}'
    for missing in ("choices.2.text", "choices.text", "n.value", "nope"):
        with pytest.raises(InvalidUpstreamResponse):
            extract_field(data, missing, label="t")
    with pytest.raises(InvalidUpstreamResponse, match="null"):
        extract_field(data, "x", label="t")
