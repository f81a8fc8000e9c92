"""From a stored endpoint config to a callable model endpoint, with its credentials.

Runs and inference both call candidate models; this is the one place that reveals the secrets
an endpoint needs (its own token, the workspace's OpenRouter key) and hands them to the
provider factory. A Dr.Gero model arrives here already resolved to its endpoint. A stored config
that can no longer be built gives an endpoint whose every call fails (a provider error): a run
scores that model's rows as errors rather than failing (and retrying) its whole shard.
"""

from __future__ import annotations

from typing import Any

from shared.providers.base import Endpoint, UnusableEndpoint
from shared.providers.errors import ModelConfigInvalid, RequestNotSendable
from shared.providers.factory import build_endpoint
from shared.services.integrations import openrouter_key
from shared.wiring import Deps


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
