"""Turn a stored candidate-model config into an :class:`~shared.providers.base.Endpoint`.

The one place that knows the config shapes (as stored on a leaderboard and snapshotted in a
run)::

    {"platform": "openrouter", "model_id": "meta-llama/llama-3.1-8b-instruct"}
    {"platform": "custom", "endpoint": "https://...", "model"?: "...",
     "auth": {"method": "none" | "bearer" | "header", "header_name"?: "...", "secret_ref"?: "..."},
     "response": {"format": "chat" | "json" | "text", "field"?: "result.text"}}
    {"platform": "huggingface", "endpoint": "https://...", "secret_ref"?: "...", "model"?: "..."}

A Dr.Gero model (``{"platform": "drgero", "model_id": ...}``) never builds here: the services
resolve it to its stored endpoint, one of the shapes above, before they call the factory.

Every endpoint built here sits behind the provider boundary (``GuardedEndpoint``): whatever a
call raises leaves it as a ProviderError.

Secrets are never in a config: ``secret_ref`` names one in ``secrets``, which the caller has
already decrypted. A config we cannot build raises ModelConfigInvalid (a ValueError); a model
whose credential is missing raises MissingCredentials (a ProviderError), before any call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from shared.providers.base import Endpoint, GuardedEndpoint
from shared.providers.custom import AuthConfig, CustomEndpoint, ResponseFormat
from shared.providers.errors import MissingCredentials, ModelConfigInvalid
from shared.providers.huggingface import HuggingFaceEndpoint
from shared.providers.openrouter import OpenRouterEndpoint
from shared.settings import Settings


def build_endpoint(
    model: Mapping[str, Any],
    *,
    client: httpx.Client,
    settings: Settings,
    openrouter_key: str | None,
    secrets: Mapping[str, str],
) -> GuardedEndpoint:
    """The endpoint behind the provider boundary (see :class:`GuardedEndpoint`)."""
    return GuardedEndpoint(
        _build(
            model, client=client, settings=settings, openrouter_key=openrouter_key, secrets=secrets
        )
    )


def _build(
    model: Mapping[str, Any],
    *,
    client: httpx.Client,
    settings: Settings,
    openrouter_key: str | None,
    secrets: Mapping[str, str],
) -> Endpoint:
    platform = model.get("platform")
    if platform == "drgero":
        raise ModelConfigInvalid(
            "a Dr.Gero model is resolved to its endpoint before an endpoint is built"
        )
    if platform == "openrouter":
        return _openrouter(model, client=client, settings=settings, key=openrouter_key)
    if platform == "custom":
        return _custom(model, client=client, secrets=secrets)
    if platform == "huggingface":
        return HuggingFaceEndpoint(
            client=client,
            url=_required_str(model, "endpoint"),
            token=_secret(model.get("secret_ref"), secrets, what="Hugging Face endpoint token"),
            model=_optional_str(model, "model"),
        )
    raise ModelConfigInvalid(
        f"unknown platform {platform!r}: use openrouter, custom, huggingface or drgero"
    )


def _openrouter(
    model: Mapping[str, Any], *, client: httpx.Client, settings: Settings, key: str | None
) -> Endpoint:
    model_id = _required_str(model, "model_id")
    if not key:
        raise MissingCredentials(
            f"OpenRouter model {model_id} needs the workspace's OpenRouter key: "
            "add it in integrations"
        )
    return OpenRouterEndpoint(
        client=client,
        base_url=settings.openrouter_base_url,
        api_key=key,
        model_id=model_id,
        extra_headers={"HTTP-Referer": settings.public_base_url},
    )


def _custom(
    model: Mapping[str, Any], *, client: httpx.Client, secrets: Mapping[str, str]
) -> Endpoint:
    auth = model.get("auth") or {"method": "none"}
    response = model.get("response") or {"format": "chat"}
    if not isinstance(auth, Mapping) or not isinstance(response, Mapping):
        raise ModelConfigInvalid("custom model: auth and response must be objects")
    method = auth.get("method", "none")
    token = None
    if method in ("bearer", "header"):
        token = _secret(auth.get("secret_ref"), secrets, what="custom endpoint token")
        if token is None:
            raise MissingCredentials(
                f"custom endpoint auth {method} needs a token: set one on the model"
            )
    return CustomEndpoint(
        client=client,
        url=_required_str(model, "endpoint"),
        auth=AuthConfig(method=method, token=token, header_name=auth.get("header_name")),
        response=ResponseFormat(kind=response.get("format", "chat"), field=response.get("field")),
        model=_optional_str(model, "model"),
    )


def _secret(ref: Any, secrets: Mapping[str, str], *, what: str) -> str | None:
    if ref is None:
        return None
    if not isinstance(ref, str) or ref not in secrets:
        raise MissingCredentials(f"the {what} is missing: set it again on the model")
    return secrets[ref]


def _required_str(model: Mapping[str, Any], key: str) -> str:
    value = model.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ModelConfigInvalid(f"{model.get('platform')} model: {key} is required")
    return value.strip()


def _optional_str(model: Mapping[str, Any], key: str) -> str | None:
    value = model.get(key)
    if value is not None and not isinstance(value, str):
        raise ModelConfigInvalid(f"{model.get('platform')} model: {key} must be a string")
    return value or None
