"""Endpoint configs: checked before they are stored, and turned into callable endpoints.

Runs and inference both call candidate models; this is the one place that reveals the secrets
an endpoint needs (its own token, the workspace's OpenRouter key) and hands them to the
provider factory. A Dr.Gero model arrives here already resolved to its endpoint. A stored config
that can no longer be built gives an endpoint whose every call fails (a provider error): a run
scores that model's rows as errors rather than failing (and retrying) its whole shard.
"""

from __future__ import annotations

from typing import Any

from shared.bootstrap import Deps
from shared.domain.candidates import CustomModelIn, HuggingFaceModelIn
from shared.errors import ValidationFailed
from shared.providers.base import Endpoint, UnusableEndpoint
from shared.providers.custom import auth_problem
from shared.providers.egress import EgressPolicy
from shared.providers.errors import EndpointNotAllowed, ModelConfigInvalid, RequestNotSendable
from shared.providers.factory import build_endpoint
from shared.providers.http import checked_endpoint_url, credentials_in_url
from shared.services.integrations import openrouter_key


def endpoint_for(deps: Deps, workspace_id: str, config: dict[str, Any]) -> Endpoint:
    secret_ref = config.get("secret_ref")
    secrets = (
        {secret_ref: deps.secrets.reveal(workspace_id, secret_ref) or ""} if secret_ref else {}
    )
    # Only OpenRouter endpoints need the workspace key: don't decrypt it for the others.
    key = openrouter_key(deps, workspace_id) if config["platform"] == "openrouter" else None
    factory_config = dict(config)
    if config["platform"] == "custom" and secret_ref:
        factory_config["auth"] = dict(config.get("auth") or {}) | {"secret_ref": secret_ref}
    try:
        return build_endpoint(
            factory_config,
            client=deps.http(),
            settings=deps.settings,
            openrouter_key=key,
            secrets=secrets,
        )
    except ModelConfigInvalid as exc:  # stored before a check existed: fail its calls, not us
        label = f"{config['platform']}:{config.get('model_id') or config.get('model') or 'model'}"
        return UnusableEndpoint(
            label,
            RequestNotSendable(
                f"{label}: this model's stored config cannot be used ({exc});"
                " set its endpoint again"
            ),
        )


def check_endpoint(deps: Deps, body: CustomModelIn | HuggingFaceModelIn) -> None:
    """Refuse, before anything is stored, an endpoint that could never be called safely.

    The same checks hold for candidates and Dr.Gero models (both store through here): where
    the URL leads (the egress policy, 422 ``endpoint_not_allowed``), credentials in the URL
    (422 ``endpoint_credentials_in_url``: they belong in ``auth``), and a token or header
    name that HTTP cannot carry (422 ``invalid_endpoint_auth``).
    """
    try:
        EgressPolicy.from_settings(deps.settings).check_url(body.endpoint)
    except EndpointNotAllowed as exc:
        raise ValidationFailed(str(exc), code="endpoint_not_allowed", reason=exc.reason) from None
    try:
        checked_endpoint_url(body.endpoint)
    except ModelConfigInvalid as exc:
        raise ValidationFailed(str(exc), code="validation_failed") from None
    credentials = credentials_in_url(body.endpoint)
    if credentials:
        raise ValidationFailed(
            f"{credentials}: the URL is shown in labels and traces. Give the credential as"
            ' auth instead ({"method": "bearer", "token": ...} or {"method": "header",'
            ' "header_name": ..., "token": ...}), which is stored encrypted and never shown',
            code="endpoint_credentials_in_url",
        )
    if isinstance(body, CustomModelIn):
        method, header_name, token = body.auth.method, body.auth.header_name, body.auth.token
    else:
        method, header_name, token = "bearer", None, body.token
    problem = auth_problem(
        method=method,
        header_name=header_name,
        token=token.get_secret_value() if token is not None else None,
        max_token_chars=deps.settings.endpoint_token_max_chars,
    )
    if problem:
        raise ValidationFailed(problem, code="invalid_endpoint_auth")
