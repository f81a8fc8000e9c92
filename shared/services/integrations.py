"""Integrations: a workspace's OpenRouter key and Hugging Face token.

Stored encrypted (``shared.storage.secrets``), shown masked (``sk-or-...abcd``), validated
against the provider itself: the OpenRouter key with ``GET /api/v1/key``, the Hugging Face token
with ``GET /api/whoami-v2``. Saving validates by default, so a typo is caught at once; the
result of the last validation is kept and shown.

A workspace without its own OpenRouter key falls back to the deployment's ``OPENROUTER_API_KEY``
when one is configured (the local stack's simulator); production leaves it unset.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.bootstrap import Deps
from shared.clock import iso
from shared.domain.tokens import Scope
from shared.errors import NotFound, ValidationFailed
from shared.logs import scrub
from shared.providers.errors import ProviderError, UpstreamAuthFailed
from shared.providers.huggingface import HuggingFaceHub
from shared.providers.openrouter import OpenRouterCatalog
from shared.services.auth import Principal

Provider = Literal["openrouter", "huggingface"]
SECRET_NAMES: dict[str, str] = {
    "openrouter": "integration:openrouter",
    "huggingface": "integration:huggingface",
}
PREFIXES = {"openrouter": "sk-or-", "huggingface": "hf_"}


class IntegrationPut(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    # Sent as an HTTP header to the provider: printable ASCII, no spaces.
    secret: Annotated[str, Field(min_length=8, max_length=500, pattern=r"^[!-~]+$")]
    validate_now: bool = Field(default=True, alias="validate")


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    provider: Provider | None = None


def openrouter_key(deps: Deps, workspace_id: str) -> str | None:
    own = deps.secrets.reveal(workspace_id, SECRET_NAMES["openrouter"])
    if own:
        return own
    fallback = deps.settings.openrouter_api_key
    return fallback.get_secret_value() if fallback is not None else None


def openrouter_catalog(deps: Deps, key: str) -> OpenRouterCatalog:
    """The OpenRouter catalog client, with ``key`` (a workspace's, or one being checked)."""
    return OpenRouterCatalog(
        client=deps.http(), base_url=deps.settings.openrouter_base_url, api_key=key
    )


def workspace_catalog(deps: Deps, workspace_id: str) -> OpenRouterCatalog | None:
    """The catalog as the workspace sees it (its own key, else the deployment's); None
    without a key."""
    key = openrouter_key(deps, workspace_id)
    return openrouter_catalog(deps, key) if key else None


def hf_token(deps: Deps, workspace_id: str) -> str | None:
    return deps.secrets.reveal(workspace_id, SECRET_NAMES["huggingface"])


def list_integrations(deps: Deps, principal: Principal) -> dict[str, Any]:
    principal.require(Scope.WORKSPACE_ADMIN)
    stored = deps.secrets.describe(principal.workspace_id, list(SECRET_NAMES.values()))
    out: dict[str, Any] = {}
    for provider, name in SECRET_NAMES.items():
        secret = stored[name]
        out[provider] = {
            "configured": secret is not None,
            "masked": f"{PREFIXES[provider]}...{secret.last4}" if secret else None,
            "updated_at": iso(secret.updated_at) if secret else None,
            "validated_at": iso(secret.validated_at) if secret else None,
            "valid": secret.valid if secret else None,
            "detail": secret.detail if secret else None,
        }
    out["openrouter"]["deployment_fallback"] = deps.settings.openrouter_api_key is not None
    return out


def put_integration(
    deps: Deps, principal: Principal, provider: str, body: IntegrationPut
) -> dict[str, Any]:
    principal.require(Scope.WORKSPACE_ADMIN)
    name = _secret_name(provider)
    if body.validate_now:
        valid, detail = _check(deps, provider, body.secret)
        if not valid:
            raise ValidationFailed(
                f"the {provider} credential was refused: {detail}",
                code="integration_invalid",
                provider=provider,
            )
    deps.secrets.put(principal.workspace_id, name, body.secret)
    if body.validate_now:
        deps.secrets.record_validation(principal.workspace_id, name, valid=True, detail=detail)
    return list_integrations(deps, principal)[provider]


def delete_integration(deps: Deps, principal: Principal, provider: str) -> None:
    principal.require(Scope.WORKSPACE_ADMIN)
    deps.secrets.delete(principal.workspace_id, _secret_name(provider))


def validate_integrations(
    deps: Deps, principal: Principal, body: ValidateRequest
) -> dict[str, Any]:
    """Check the stored credentials against the providers and remember the outcome."""
    principal.require(Scope.WORKSPACE_ADMIN)
    providers = [body.provider] if body.provider else list(SECRET_NAMES)
    results: dict[str, Any] = {}
    for provider in providers:
        name = SECRET_NAMES[provider]
        secret = deps.secrets.reveal(principal.workspace_id, name)
        if secret is None:
            results[provider] = {"configured": False, "valid": None, "detail": "not configured"}
            continue
        valid, detail = _check(deps, provider, secret)
        deps.secrets.record_validation(principal.workspace_id, name, valid=valid, detail=detail)
        results[provider] = {"configured": True, "valid": valid, "detail": detail}
    return results


def _secret_name(provider: str) -> str:
    if provider not in SECRET_NAMES:
        raise NotFound(
            f"unknown integration {provider!r}; one of {', '.join(SECRET_NAMES)}",
            code="integration_not_found",
        )
    return SECRET_NAMES[provider]


def _check(deps: Deps, provider: str, secret: str) -> tuple[bool, str]:
    """(valid, a sentence about it); an unreachable provider is not the credential's fault."""
    try:
        if provider == "openrouter":
            info = openrouter_catalog(deps, secret).check_key()
            limit = "no limit" if info.limit is None else f"limit ${info.limit}"
            return True, f"key accepted ({limit}, used ${info.usage})"
        hub = HuggingFaceHub(client=deps.http(), endpoint=deps.settings.hf_endpoint, token=secret)
        who = hub.whoami()
        return True, f"token accepted for {who.get('name', 'an unnamed account')}"
    except UpstreamAuthFailed as exc:
        return False, scrub(exc.provider_message or exc.message or "refused")
    except ProviderError as exc:
        raise ValidationFailed(
            f"could not reach {provider} to check the credential: {scrub(str(exc))}",
            code="integration_unreachable",
        ) from exc


def reencrypt_secrets(
    deps: Deps, *, page_size: int = 200, workspace_id: str | None = None
) -> dict[str, Any]:
    """Re-encrypt every stored integration and endpoint token with the first configured key.

    The step after putting a new key first in ``DRGERO_SECRETS_KEY``; once it reports no
    ``unreadable`` secret the old key can be removed. Paged (``page_size`` documents per
    query), idempotent (a secret already under the first key is not rewritten), and safe
    while the service runs (a secret saved meanwhile is never overwritten).
    """
    totals: dict[str, Any] = {
        "re_encrypted": 0, "current": 0, "unreadable": 0, "unreadable_names": [],
    }  # fmt: skip
    cursor = None
    while True:
        page, cursor = deps.secrets.reencrypt_page(
            workspace_id=workspace_id, limit=page_size, after=cursor
        )
        totals["re_encrypted"] += page.re_encrypted
        totals["current"] += page.current
        totals["unreadable"] += len(page.unreadable)
        totals["unreadable_names"].extend(page.unreadable)
        if cursor is None:
            return totals
