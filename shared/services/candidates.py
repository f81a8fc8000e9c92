"""Candidate models of a leaderboard: add, list, remove (auto-select is ``auto_select``).

Manual adds are checked where they can be: an OpenRouter id against the catalog (and its
expiry), a Dr.Gero model against the workspace. A PUSH leaderboard accepts models only once its
consolidated dataset holds ``push_min_rows_for_models`` rows (100 by default), as the product
guides. OpenRouter publishes p50/p75/p90/p99 latencies but no p95, so **P95 is read as the
linear interpolation between p90 and p99: p90 + (p99 - p90) * 5/9**.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from shared.bootstrap import Deps
from shared.clock import iso, utcnow
from shared.domain.candidates import (
    CandidateModelIn,
    CustomModelIn,
    DrGeroModelIn,
    HuggingFaceModelIn,
    OpenRouterModelIn,
)
from shared.domain.entities import CandidateModel
from shared.domain.tokens import Scope
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.providers.errors import ProviderError
from shared.providers.http import endpoint_display
from shared.providers.openrouter import CatalogModel, EndpointStats, OpenRouterCatalog
from shared.services.auth import Principal, load_leaderboard
from shared.services.endpoints import check_endpoint
from shared.services.integrations import workspace_catalog
from shared.services.run_guard import change_leaderboard, digest_of, refuse_during_run
from shared.storage.leaderboards import Change
from shared.storage.records import LeaderboardRecord

HIDDEN = "stored (hidden)"


def endpoint_key(config: dict[str, Any]) -> str:
    """What identifies an endpoint across leaderboards (for measured latencies)."""
    platform = config["platform"]
    if platform == "openrouter":
        return f"openrouter:{config['model_id']}"
    if platform == "drgero":
        return f"drgero:{config['model_id']}"
    return f"{platform}:{config['endpoint']}"


def add_model(
    deps: Deps, principal: Principal, leaderboard_id: str, body: CandidateModelIn
) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    refuse_during_run(leaderboard, "adding a candidate model")  # before any check's requests
    require_enough_rows(deps, leaderboard)
    model_id = "m_" + uuid.uuid4().hex[:16]
    config, published = _checked_config(deps, leaderboard, body, model_id)
    candidate = CandidateModel(
        id=model_id,
        label=body.label or _default_label(config),
        platform=config["platform"],
        config=config,
        source="manual",
        reason=None,
        published=published,
        added_at=utcnow(),
        added_by=principal.token_id,
    )
    try:
        commit_candidates(deps, leaderboard, "adding a candidate model", added=[candidate])
    except BaseException:
        if candidate.secret_ref:  # stored by the checks: not left behind a refusal
            deps.secrets.delete(leaderboard.workspace_id, candidate.secret_ref)
        raise
    return public_model(candidate)


def list_models(deps: Deps, principal: Principal, leaderboard_id: str) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    return {"items": [public_model(m) for m in deps.candidates.find_all(leaderboard.id)]}


def remove_model(deps: Deps, principal: Principal, leaderboard_id: str, model_id: str) -> None:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    removed = commit_candidates(deps, leaderboard, "removing a candidate model", removed=model_id)
    if removed is not None and removed.secret_ref:
        deps.secrets.delete(leaderboard.workspace_id, removed.secret_ref)


def commit_candidates(
    deps: Deps,
    leaderboard: LeaderboardRecord,
    action: str,
    *,
    added: Sequence[CandidateModel] = (),
    removed: str | None = None,
) -> CandidateModel | None:
    """Add or remove candidates, checked and committed on the leaderboard as read (see
    ``run_guard``): refused during a run, and the limit and duplicate checks are exact (two
    concurrent adds are ordered, the second one sees the first). Returns the removed model."""
    gone: CandidateModel | None = None

    def build(fresh: LeaderboardRecord) -> Change:
        nonlocal gone
        refuse_during_run(fresh, action)
        candidates = {m.id: m for m in deps.candidates.find_all(fresh.id)}
        writes = []
        if removed is not None:
            gone = candidates.pop(removed, None)
            if gone is None:
                raise NotFound(f"model {removed} is not a candidate here", code="model_not_found")
            if (fresh.selection or {}).get("model_id") == removed:
                raise Conflict(
                    f"{removed} is the leaderboard's production model; pin another model"
                    " (PUT .../selection) or run the leaderboard again first",
                    code="model_in_production",
                )
            writes.append(deps.candidates.delete(fresh.id, removed))
        if added:
            require_room(deps, len(candidates), len(added))
            present = {endpoint_key(m.config) for m in candidates.values()}
            for model in added:
                if endpoint_key(model.config) in present:
                    raise Conflict(
                        "this model is already a candidate of the leaderboard",
                        code="model_already_added",
                    )
                candidates[model.id] = model
                writes.append(deps.candidates.add(fresh.id, model))
        fields = {"candidates_digest": digest_of(candidates.values())}
        return Change(fields | {"updated_at": utcnow()}, writes)

    change_leaderboard(deps, leaderboard, build)
    return gone


def public_endpoint(config: dict[str, Any]) -> dict[str, Any]:
    """A stored endpoint config as clients see it: the token's reference becomes "hidden"."""
    shown = {k: v for k, v in config.items() if k != "secret_ref"}
    if config.get("secret_ref"):
        shown["token"] = HIDDEN
    return shown


def public_model(candidate: CandidateModel) -> dict[str, Any]:
    """A candidate as the API shows it (its endpoint token only as "hidden")."""
    return {
        "id": candidate.id,
        "label": candidate.label,
        "platform": candidate.platform,
        "config": public_endpoint(candidate.config),
        "source": candidate.source,
        "reason": candidate.reason,
        "published": candidate.published,
        "measured": candidate.measured,
        "added_at": iso(candidate.added_at),
    }


# -- checks ------------------------------------------------------------------------------------


def require_room(deps: Deps, present: int, adding: int) -> None:
    """At most ``max_candidates_per_leaderboard`` candidates: every run calls each on every
    row. Exact: adds are committed on the leaderboard as read (``commit_candidates``)."""
    cap = deps.settings.max_candidates_per_leaderboard
    if present + adding > cap:
        raise Conflict(
            f"a leaderboard holds at most {cap} candidate models; it has {present}, and"
            f" {adding} more would pass the limit: remove some first",
            code="candidate_limit_reached",
            max_candidates=cap,
            candidates=present,
        )


def require_enough_rows(deps: Deps, leaderboard: LeaderboardRecord) -> None:
    if not leaderboard.is_push:
        return
    need = deps.settings.push_min_rows_for_models
    have = leaderboard.dataset_version.rows if leaderboard.dataset_version else 0
    if have < need:
        raise Conflict(
            f"this PUSH dataset has {have} consolidated rows; models can be added from {need}."
            " Push more rows, then consolidate",
            code="dataset_too_small",
            rows=have,
            required_rows=need,
        )


def openrouter_catalog(deps: Deps, workspace_id: str) -> OpenRouterCatalog:
    """The workspace's OpenRouter catalog; 422 ``openrouter_not_configured`` without a key."""
    catalog = workspace_catalog(deps, workspace_id)
    if catalog is None:
        raise ValidationFailed(
            "OpenRouter models need the workspace's OpenRouter key:"
            " PUT /v1/integrations/openrouter",
            code="openrouter_not_configured",
        )
    return catalog


def catalog_models(catalog: OpenRouterCatalog) -> list[CatalogModel]:
    try:
        return catalog.models()
    except ProviderError as exc:
        raise ValidationFailed(
            f"could not read the OpenRouter catalog: {exc}", code="catalog_unavailable"
        ) from exc


def _checked_config(
    deps: Deps, leaderboard: LeaderboardRecord, body: Any, model_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if isinstance(body, OpenRouterModelIn):
        catalog = openrouter_catalog(deps, leaderboard.workspace_id)
        models = {m.id: m for m in catalog_models(catalog)}
        found = models.get(body.model_id)
        if found is None:
            raise ValidationFailed(
                f"{body.model_id!r} is not in the OpenRouter catalog", code="unknown_model"
            )
        if found.expiration_date is not None and found.expiration_date < utcnow().date():
            raise ValidationFailed(
                f"{body.model_id!r} expired on {found.expiration_date}", code="model_expired"
            )
        return {"platform": "openrouter", "model_id": body.model_id}, published_figures(found, None)
    if isinstance(body, CustomModelIn | HuggingFaceModelIn):
        return store_endpoint_config(
            deps, leaderboard.workspace_id, body, f"model:{leaderboard.id}:{model_id}"
        ), None
    assert isinstance(body, DrGeroModelIn)
    if deps.drgero_models.get(leaderboard.workspace_id, body.model_id) is None:
        raise ValidationFailed(
            f"no Dr.Gero model {body.model_id} in this workspace", code="unknown_model"
        )
    return {"platform": "drgero", "model_id": body.model_id}, None


def store_endpoint_config(
    deps: Deps, workspace_id: str, body: CustomModelIn | HuggingFaceModelIn, secret_ref: str
) -> dict[str, Any]:
    """The stored form of an endpoint: its token moves to the encrypted secret store."""
    check_endpoint(deps, body)
    config: dict[str, Any] = {
        "platform": body.platform,
        "endpoint": body.endpoint,
        "model": body.model,
    }
    if body.pricing is not None:
        config["pricing"] = body.pricing.model_dump()
    token = None
    if isinstance(body, CustomModelIn):
        config["auth"] = {"method": body.auth.method, "header_name": body.auth.header_name}
        config["response"] = body.response.model_dump()
        token = body.auth.token
    else:
        token = body.token
    if token is not None:
        deps.secrets.put(workspace_id, secret_ref, token.get_secret_value())
        config["secret_ref"] = secret_ref
    return config


def _default_label(config: dict[str, Any]) -> str:
    """The model's name; for an endpoint without one, its host and path (never its query,
    which every inference caller would see in /v1/models and traces)."""
    if config["platform"] in ("openrouter", "drgero"):
        return str(config["model_id"])
    return str(config.get("model") or endpoint_display(config["endpoint"]))


def published_figures(model: CatalogModel, stats: EndpointStats | None) -> dict[str, Any]:
    return {
        "prompt_price_per_million": _per_million(model.prompt_price),
        "completion_price_per_million": _per_million(model.completion_price),
        "context_length": model.context_length,
        "hugging_face_id": model.hugging_face_id or None,
        "latency_p50_ms": stats.latency_p50 if stats else None,
        "latency_p90_ms": stats.latency_p90 if stats else None,
        "latency_p95_ms": p95_from_published(stats) if stats else None,
        "latency_p99_ms": stats.latency_p99 if stats else None,
    }


def _per_million(price: float | None) -> float | None:
    return None if price is None else round(price * 1_000_000, 6)


def p95_from_published(stats: EndpointStats) -> float | None:
    """OpenRouter publishes p90 and p99 but no p95: interpolate linearly between them."""
    if stats.latency_p90 is None or stats.latency_p99 is None:
        return None
    return stats.latency_p90 + (stats.latency_p99 - stats.latency_p90) * 5 / 9
