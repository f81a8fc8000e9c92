"""Stored candidate-model configs built into endpoints, and called through the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.providers.base import ChatRequest, Endpoint, GuardedEndpoint
from shared.providers.custom import CustomEndpoint
from shared.providers.errors import MissingCredentials, ModelConfigInvalid, ProviderError
from shared.providers.factory import build_endpoint
from shared.providers.huggingface import HuggingFaceEndpoint
from shared.providers.openrouter import OpenRouterEndpoint
from shared.settings import Settings
from simulator.server import Simulator
from tests.providers import HF_TOKEN, OPENROUTER_KEY, SimControl, running_simulator

QUESTION = "What colour is the sky on a clear day?"
ANSWER = "Blue"
MODEL = "acme/small-3b"
CUSTOM_TOKEN = "custom-factory-secret-42"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with running_simulator(
        tmp_path_factory.mktemp("hf"),
        models=[{"id": MODEL, "pricing": {"prompt": "0.000001", "completion": "0.000001"}}],
        custom_endpoints={
            "team": {
                "format": "json",
                "auth": "header",
                "header_name": "X-Team-Key",
                "token": CUSTOM_TOKEN,
                "field_path": "output.text",
            },
            "hf-llm": {"auth": "bearer", "token": HF_TOKEN},
        },
        answer_key=[{"input": QUESTION, "expected": ANSWER}],
    ) as started:
        yield started


@pytest.fixture(scope="module")
def settings(sim: Simulator) -> Settings:
    return Settings().model_copy(
        update={"openrouter_base_url": sim.openrouter_base_url, "hf_endpoint": sim.base_url}
    )


SECRETS = {"ref-custom": CUSTOM_TOKEN, "ref-hf": HF_TOKEN}


def build(
    model: dict[str, Any],
    client: httpx.Client,
    settings: Settings,
    key: str | None = OPENROUTER_KEY,
) -> Endpoint:
    return build_endpoint(
        model, client=client, settings=settings, openrouter_key=key, secrets=SECRETS
    )


def configs(sim: Simulator) -> dict[str, dict[str, Any]]:
    return {
        "openrouter": {"platform": "openrouter", "model_id": MODEL},
        "custom": {
            "platform": "custom",
            "endpoint": f"{sim.base_url}/custom/team",
            "auth": {"method": "header", "header_name": "X-Team-Key", "secret_ref": "ref-custom"},
            "response": {"format": "json", "field": "output.text"},
        },
        "huggingface": {
            "platform": "huggingface",
            "endpoint": f"{sim.base_url}/endpoints/hf-llm",
            "secret_ref": "ref-hf",
        },
    }


@pytest.mark.parametrize(
    ("platform", "kind"),
    [
        ("openrouter", OpenRouterEndpoint),
        ("custom", CustomEndpoint),
        ("huggingface", HuggingFaceEndpoint),
    ],
)
def test_each_platform_builds_and_answers(
    sim: Simulator, client: httpx.Client, settings: Settings, platform: str, kind: type
) -> None:
    request = ChatRequest(messages=[{"role": "user", "content": QUESTION}])
    target = build(configs(sim)[platform], client, settings)
    assert isinstance(target, GuardedEndpoint) and isinstance(target.inner, kind)
    assert target.label.startswith(platform + ":")
    assert target.complete(request, timeout=TIMEOUT).output == ANSWER


def test_openrouter_calls_carry_the_app_headers(
    sim: Simulator, client: httpx.Client, settings: Settings
) -> None:
    control = SimControl(sim)
    try:
        target = build(configs(sim)["openrouter"], client, settings)
        target.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}]), timeout=TIMEOUT)
        headers = control.last_request()["headers"]
    finally:
        control.close()
    assert headers["Http-Referer"] == settings.public_base_url
    assert headers["X-Title"] == "Dr.Gero"


def test_openrouter_without_a_key_is_missing_credentials(
    sim: Simulator, client: httpx.Client, settings: Settings
) -> None:
    with pytest.raises(MissingCredentials, match="OpenRouter key") as info:
        build(configs(sim)["openrouter"], client, settings, key=None)
    assert isinstance(info.value, ProviderError) and not info.value.retryable


@pytest.mark.parametrize(
    "model",
    [
        {
            "platform": "custom",
            "endpoint": "https://x.example/api",
            "auth": {"method": "bearer", "secret_ref": "ref-gone"},
        },
        {"platform": "custom", "endpoint": "https://x.example/api", "auth": {"method": "bearer"}},
        {"platform": "huggingface", "endpoint": "https://x.example", "secret_ref": "ref-gone"},
    ],
)
def test_missing_secrets_are_missing_credentials(
    client: httpx.Client, settings: Settings, model: dict[str, Any]
) -> None:
    with pytest.raises(MissingCredentials):
        build(model, client, settings)


@pytest.mark.parametrize(
    "model",
    [
        {"platform": "bedrock", "model_id": "x"},
        {},
        {"platform": "openrouter"},
        {"platform": "custom"},
        {"platform": "custom", "endpoint": "ftp://x.example"},
        {"platform": "custom", "endpoint": "https://x.example", "response": {"format": "json"}},
        {"platform": "huggingface", "endpoint": "https://x.example", "model": 7},
        {"platform": "drgero"},
    ],
)
def test_invalid_configs_are_model_config_invalid(
    client: httpx.Client, settings: Settings, model: dict[str, Any]
) -> None:
    with pytest.raises(ModelConfigInvalid):
        build(model, client, settings)


def test_hf_endpoint_without_secret_ref_has_no_token(
    sim: Simulator, client: httpx.Client, settings: Settings
) -> None:
    target = build({"platform": "huggingface", "endpoint": "https://x.example"}, client, settings)
    assert isinstance(target.inner, HuggingFaceEndpoint)
