"""OpenRouter's API as the simulator serves it, under ``/api/v1`` (shapes of openrouter.ai).

- ``GET /api/v1/models`` (public) and ``GET /api/v1/models/{author}/{slug}/endpoints``
  (latency/throughput percentiles only for a valid key, as OpenRouter does).
- ``POST /api/v1/chat/completions`` (Bearer key), also at ``/v1/chat/completions`` where a
  Hugging Face token is accepted too (an OpenAI-compatible endpoint URL may point here).
- ``GET /api/v1/key`` (and the older ``/api/v1/auth/key``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request

from simulator import chat
from simulator.config import SimModel
from simulator.state import SimulatorState
from simulator.web import bearer_token, error_response, json_body, json_response

MISSING_KEY = "No auth credentials found"
INVALID_KEY = "User not found."


def register(app: Flask, state: SimulatorState) -> None:
    @app.get("/api/v1/models")
    def list_models() -> Response:
        return json_response({"data": [model_json(model) for model in state.models()]})

    @app.get("/api/v1/models/<author>/<slug>/endpoints")
    def list_endpoints(author: str, slug: str) -> Response:
        model = state.model(f"{author}/{slug}")
        if model is None:
            return error_response(404, f"Model {author}/{slug} not found")
        key = bearer_token(request)
        with_stats = state.config.public_endpoint_stats or bool(key and state.key_is_valid(key))
        endpoints = [] if is_expired(model) else [endpoint_json(model, with_stats=with_stats)]
        return json_response({"data": _model_core(model) | {"endpoints": endpoints}})

    @app.post("/api/v1/chat/completions")
    def chat_completions() -> Response:
        return _chat(state, accept_hf_token=False)

    @app.post("/v1/chat/completions")
    def openai_compatible_chat_completions() -> Response:
        return _chat(state, accept_hf_token=True)

    @app.get("/api/v1/key")
    @app.get("/api/v1/auth/key")
    def current_key() -> Response:
        key = bearer_token(request)
        if key is None:
            return error_response(401, MISSING_KEY)
        if not state.key_is_valid(key):
            return error_response(401, INVALID_KEY)
        return json_response({"data": key_json(state, key)})


def _chat(state: SimulatorState, *, accept_hf_token: bool) -> Response:
    body = json_body(request)
    model_id = body.get("model") if isinstance(body, dict) else None
    stats_id = model_id if isinstance(model_id, str) and model_id else "(no model)"
    key = bearer_token(request)
    valid = key is not None and (
        state.key_is_valid(key) or (accept_hf_token and state.hf_token_is_valid(key))
    )
    if not valid:
        state.count(stats_id, "401")
        return error_response(401, MISSING_KEY if key is None else INVALID_KEY)
    limit = state.config.key_limit
    if limit is not None and key is not None and state.key_usage(key) >= limit:
        state.count(stats_id, "402")
        return error_response(
            402, f"This API key's credit limit of ${limit:g} is reached. Add credits to continue."
        )
    problem = chat.chat_request_problem(body)
    if problem is None and not isinstance(model_id, str):
        problem = "'model' is required"
    if problem is not None:
        state.count(stats_id, "400")
        return error_response(400, problem)
    model = state.model(stats_id)
    if model is None:
        state.count(stats_id, "400")
        return error_response(400, f"{stats_id} is not a valid model ID")
    if is_expired(model):
        state.count(stats_id, "404")
        return error_response(404, f"No endpoints found for {stats_id}.")
    stream = bool(body.get("stream"))
    result = chat.simulate(state, model, body, stream=stream, key=key)
    if isinstance(result, Response):
        return result
    return chat.chat_response(state, result, stream=stream, stats_id=stats_id)


def is_expired(model: SimModel) -> bool:
    today = datetime.now(UTC).date().isoformat()
    return model.expiration_date is not None and model.expiration_date < today


def _architecture(model: SimModel) -> dict[str, Any]:
    return {
        "modality": "text->text",
        "input_modalities": ["text"],
        "output_modalities": ["text"],
        "tokenizer": model.tokenizer,
        "instruct_type": None,
    }


def _model_core(model: SimModel) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "created": model.created,
        "description": model.description or f"{model.name}, served by the Dr.Gero model simulator.",
        "architecture": _architecture(model),
    }


def model_json(model: SimModel) -> dict[str, Any]:
    """One entry of ``GET /api/v1/models``."""
    return _model_core(model) | {
        "canonical_slug": model.id,
        "hugging_face_id": model.hugging_face_id,
        "context_length": model.context_length,
        "pricing": model.pricing.model_dump(),
        "top_provider": {
            "context_length": model.context_length,
            "max_completion_tokens": model.max_completion_tokens,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": model.supported_parameters,
        "default_parameters": {},
        "expiration_date": model.expiration_date,
        "links": {"details": f"/api/v1/models/{model.id}/endpoints"},
    }


def endpoint_json(model: SimModel, *, with_stats: bool) -> dict[str, Any]:
    """The model's one provider endpoint, with statistics derived from its configuration.

    ``latency_last_30m`` is the time to first token in ms (the configured distribution, not
    scaled by ``time_scale``); throughput percentiles fall towards the slow tail.
    """
    latency = {name: round(model.latency_ms.percentile(name), 1) for name in _PERCENTILES}
    tps = model.throughput_tps
    throughput = {name: round(tps * factor, 1) for name, factor in _THROUGHPUT_SHAPE.items()}
    uptime = round(100.0 * (1.0 - model.error_rate), 2)
    return {
        "name": f"{model.provider} | {model.id}",
        "model_id": model.id,
        "model_name": model.name,
        "context_length": model.context_length,
        "pricing": model.pricing.model_dump(),
        "provider_name": model.provider,
        "tag": model.provider.lower().replace(" ", "-"),
        "quantization": model.quantization,
        "max_completion_tokens": model.max_completion_tokens,
        "max_prompt_tokens": model.context_length,
        "supported_parameters": model.supported_parameters,
        "status": 0,
        "uptime_last_30m": uptime,
        "uptime_last_5m": uptime,
        "uptime_last_1d": uptime,
        "supports_implicit_caching": False,
        "latency_last_30m": latency if with_stats else None,
        "throughput_last_30m": throughput if with_stats and tps > 0 else None,
    }


_PERCENTILES = ("p50", "p75", "p90", "p99")
_THROUGHPUT_SHAPE = {"p50": 1.0, "p75": 0.85, "p90": 0.65, "p99": 0.35}


def key_json(state: SimulatorState, key: str) -> dict[str, Any]:
    usage = round(state.key_usage(key), 10)
    limit = state.config.key_limit
    return {
        "label": f"{key[:11]}...{key[-3:]}" if len(key) > 16 else "sk-or-...",
        "limit": limit,
        "limit_remaining": None if limit is None else max(0.0, limit - usage),
        "limit_reset": None,
        "include_byok_in_limit": False,
        "usage": usage,
        "usage_daily": usage,
        "usage_weekly": usage,
        "usage_monthly": usage,
        "byok_usage": 0,
        "is_free_tier": False,
        "is_provisioning_key": False,
        "expires_at": None,
        "rate_limit": {"requests": 100, "interval": "10s"},
    }
