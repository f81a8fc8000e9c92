"""OpenRouter: chat completions for a candidate model, and the catalog used to pick models.

:class:`OpenRouterEndpoint` calls ``POST {base}/chat/completions`` (OpenAI's shape, with
``usage.cost`` in USD) and streams it over SSE. :class:`OpenRouterCatalog` reads the model list
(prices per token, ``hugging_face_id``, expiry), each model's published endpoint statistics
(``latency_last_30m`` = time to first token in ms, ``throughput_last_30m`` in tokens/s) and
the key's own limits (``GET {base}/key``). The base URL is the only switch between the real
service (``https://openrouter.ai/api/v1``) and the local simulator.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from shared.providers.base import ChatRequest, Completion, StreamEvent
from shared.providers.chat_format import chat_body, float_or_none, open_chat_stream, post_chat
from shared.providers.errors import InvalidUpstreamResponse, MissingCredentials
from shared.providers.http import json_of, send

APP_TITLE = "Dr.Gero"
CATALOG_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class OpenRouterEndpoint:
    """One OpenRouter model, called with the workspace's key."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        base_url: str,
        api_key: str,
        model_id: str,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        if not api_key:
            raise MissingCredentials(f"openrouter:{model_id}: no OpenRouter key")
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self.model_id = model_id
        self.label = f"openrouter:{model_id}"
        # Attribution headers OpenRouter reads (HTTP-Referer is the app's URL, X-Title its name).
        self._headers = {"X-Title": APP_TITLE, **(extra_headers or {})}
        self._headers["Authorization"] = f"Bearer {api_key}"

    def complete(self, request: ChatRequest, *, timeout: httpx.Timeout | float) -> Completion:
        return post_chat(
            self._client, self._url, body=self._body(request), headers=self._headers,
            label=self.label, timeout=timeout, secrets=[self._api_key],
        )  # fmt: skip

    def stream(
        self, request: ChatRequest, *, timeout: httpx.Timeout | float
    ) -> Iterator[StreamEvent]:
        return open_chat_stream(
            self._client, self._url, body=self._body(request), headers=self._headers,
            label=self.label, timeout=timeout, secrets=[self._api_key],
        )  # fmt: skip

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        # usage.include makes OpenRouter report the call's cost in USD.
        return {**chat_body(request, self.model_id), "usage": {"include": True}}


@dataclass(frozen=True)
class CatalogModel:
    id: str
    name: str
    context_length: int | None
    hugging_face_id: str | None  # set for open-weight models
    prompt_price: float | None  # USD per input token
    completion_price: float | None  # USD per output token
    created: int | None  # Unix seconds
    expiration_date: date | None
    is_router: bool  # "openrouter/*" picks another model per request


@dataclass(frozen=True)
class EndpointStats:
    """Best published figures over a model's endpoints; None when OpenRouter publishes none.

    Latency is time to first token in milliseconds (lower is better); throughput is output
    tokens per second (higher is better). Each percentile is the best endpoint's value.
    """

    latency_p50: float | None
    latency_p75: float | None
    latency_p90: float | None
    latency_p99: float | None
    throughput_p50: float | None
    throughput_p75: float | None
    throughput_p90: float | None
    throughput_p99: float | None
    endpoints: int


@dataclass(frozen=True)
class KeyInfo:
    label: str | None
    limit: float | None  # USD credit limit of the key; None = unlimited
    usage: float | None  # USD spent with the key
    is_free_tier: bool
    limit_remaining: float | None = None


class OpenRouterCatalog:
    """OpenRouter's model list, endpoint statistics and key check."""

    def __init__(self, *, client: httpx.Client, base_url: str, api_key: str | None) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self.label = "openrouter"

    def models(self) -> list[CatalogModel]:
        data = self._get("/models")
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise InvalidUpstreamResponse("openrouter: the model list has no data array")
        return [model for item in items if (model := _catalog_model(item)) is not None]

    def endpoint_stats(self, model_id: str) -> EndpointStats:
        author, _, slug = model_id.partition("/")
        if not author or not slug:
            raise ValueError(f"an OpenRouter model id is author/slug, not {model_id!r}")
        path = f"/models/{quote(author, safe='')}/{quote(slug, safe='')}/endpoints"
        data = self._get(path)
        inner = data.get("data") if isinstance(data, dict) else None
        endpoints = inner.get("endpoints") if isinstance(inner, dict) else None
        if not isinstance(endpoints, list):
            raise InvalidUpstreamResponse(f"openrouter:{model_id}: no endpoints array")
        endpoints = [e for e in endpoints if isinstance(e, dict)]
        latency = [_percentiles(e.get("latency_last_30m")) for e in endpoints]
        throughput = [_percentiles(e.get("throughput_last_30m")) for e in endpoints]
        return EndpointStats(
            latency_p50=_best(latency, "p50", min),
            latency_p75=_best(latency, "p75", min),
            latency_p90=_best(latency, "p90", min),
            latency_p99=_best(latency, "p99", min),
            throughput_p50=_best(throughput, "p50", max),
            throughput_p75=_best(throughput, "p75", max),
            throughput_p90=_best(throughput, "p90", max),
            throughput_p99=_best(throughput, "p99", max),
            endpoints=len(endpoints),
        )

    def check_key(self) -> KeyInfo:
        if not self._api_key:
            raise MissingCredentials("openrouter: no OpenRouter key to check")
        data = self._get("/key")
        info = data.get("data") if isinstance(data, dict) else None
        if not isinstance(info, dict):
            raise InvalidUpstreamResponse("openrouter: the key answer has no data object")
        return KeyInfo(
            label=info.get("label") if isinstance(info.get("label"), str) else None,
            limit=_price(info.get("limit")),
            usage=_price(info.get("usage")),
            is_free_tier=info.get("is_free_tier") is True,
            limit_remaining=_price(info.get("limit_remaining")),
        )

    def _get(self, path: str) -> Any:
        # Endpoint latency figures are published only to authenticated callers.
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        response = send(
            self._client,
            "GET",
            self._base + path,
            label=self.label,
            timeout=CATALOG_TIMEOUT,
            secrets=[self._api_key],
            headers=headers,
        )
        return json_of(response, label=self.label)


def _catalog_model(item: Any) -> CatalogModel | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return None
    model_id: str = item["id"]
    pricing = item.get("pricing")
    if not isinstance(pricing, dict):
        pricing = {}
    hf_id = item.get("hugging_face_id")
    context = item.get("context_length")
    created = item.get("created")
    return CatalogModel(
        id=model_id,
        name=item["name"] if isinstance(item.get("name"), str) else model_id,
        context_length=context if isinstance(context, int) else None,
        hugging_face_id=hf_id if isinstance(hf_id, str) and hf_id else None,
        prompt_price=_price(pricing.get("prompt")),
        completion_price=_price(pricing.get("completion")),
        created=created if isinstance(created, int) else None,
        expiration_date=_date(item.get("expiration_date")),
        is_router=model_id.startswith("openrouter/"),
    )


def _price(value: Any) -> float | None:
    """A USD amount (OpenRouter sends prices as strings); routers' "-1" means unknown."""
    number = float_or_none(value)
    return None if number is None or number < 0 else number


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _percentiles(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    return {k: float(v) for k, v in value.items() if isinstance(v, int | float) and v >= 0}


def _best(stats: list[dict[str, float]], key: str, pick: Any) -> float | None:
    values = [s[key] for s in stats if key in s]
    return float(pick(values)) if values else None
