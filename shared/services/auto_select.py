"""Auto-select: candidate models picked from the OpenRouter catalog under constraints.

Auto-select reads the OpenRouter catalog, drops routers (``openrouter/*``), expired models and
everything outside the constraints, and picks ``count`` models, one per author first so that the
comparison is diverse, newest first, then cheapest. Latency limits use, in this order: latencies
we measured in this workspace's earlier runs, else OpenRouter's published latency of the last 30
minutes (p95 interpolated between p90 and p99: ``candidates.p95_from_published``). Every pick
says why.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from shared.bootstrap import Deps
from shared.clock import utcnow
from shared.domain.candidates import AutoSelectIn
from shared.domain.entities import CandidateModel
from shared.domain.tokens import Scope
from shared.providers.errors import ProviderError
from shared.providers.openrouter import CatalogModel, EndpointStats, OpenRouterCatalog
from shared.services.auth import Principal, load_leaderboard
from shared.services.candidates import (
    catalog_models,
    commit_candidates,
    endpoint_key,
    openrouter_catalog,
    p95_from_published,
    public_model,
    published_figures,
    require_enough_rows,
    require_room,
)
from shared.services.run_guard import refuse_during_run


def auto_select(
    deps: Deps, principal: Principal, leaderboard_id: str, body: AutoSelectIn
) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    if not body.dry_run:
        refuse_during_run(leaderboard, "adding candidate models")
        require_enough_rows(deps, leaderboard)
    candidates = deps.candidates.find_all(leaderboard.id)
    if not body.dry_run:
        require_room(deps, len(candidates), 1)
    catalog = openrouter_catalog(deps, leaderboard.workspace_id)
    present = {endpoint_key(m.config) for m in candidates}
    today = utcnow().date()
    excluded: dict[str, int] = {
        "router": 0,
        "expired": 0,
        "closed_source": 0,
        "price": 0,
        "latency": 0,
        "already_added": 0,
    }
    pool: list[CatalogModel] = []
    for model in catalog_models(catalog):
        reason = _price_filter(model, body, today, present)
        if reason:
            excluded[reason] += 1
        else:
            pool.append(model)

    latencies = _latencies(deps, catalog, leaderboard.workspace_id, pool, body)
    eligible = []
    for model in pool:
        latency = latencies.get(model.id)
        if _too_slow(latency, body):
            excluded["latency"] += 1
            continue
        eligible.append((model, latency))
    picks = _diverse_picks(eligible, body.count)
    if not body.dry_run:
        require_room(deps, len(candidates), len(picks))

    added = [
        CandidateModel(
            id="m_" + uuid.uuid4().hex[:16],
            label=model.name or model.id,
            platform="openrouter",
            config={"platform": "openrouter", "model_id": model.id},
            source="auto_select",
            reason=_explain(model, latency, body),
            published=published_figures(model, latency["stats"] if latency else None),
            added_at=utcnow(),
            added_by=principal.token_id,
        )
        for model, latency in picks
    ]
    if not body.dry_run and added:
        commit_candidates(deps, leaderboard, "adding candidate models", added=added)
    return {
        "dry_run": body.dry_run,
        "selected": [public_model(candidate) for candidate in added],
        "considered": len(pool),
        "eligible": len(eligible),
        "excluded": excluded,
        "p95_rule": "published p95 = p90 + (p99 - p90) * 5/9; measured latencies win when known",
    }


def _price_filter(
    model: CatalogModel, body: AutoSelectIn, today: date, present: set[str]
) -> str | None:
    if model.is_router:
        return "router"
    if model.expiration_date is not None and model.expiration_date < today:
        return "expired"
    if f"openrouter:{model.id}" in present:
        return "already_added"
    if body.open_source_only and not model.hugging_face_id:
        return "closed_source"
    if body.max_input_price_per_million is not None and (
        model.prompt_price is None or model.prompt_price * 1e6 > body.max_input_price_per_million
    ):
        return "price"
    if body.max_output_price_per_million is not None and (
        model.completion_price is None
        or model.completion_price * 1e6 > body.max_output_price_per_million
    ):
        return "price"
    return None


def _latencies(
    deps: Deps,
    catalog: OpenRouterCatalog,
    workspace_id: str,
    pool: list[CatalogModel],
    body: AutoSelectIn,
) -> dict[str, dict[str, Any]]:
    """p95/p99 per model: measured in our runs when we have them, else published."""
    measured = deps.drgero_models.measured(workspace_id, [f"openrouter:{m.id}" for m in pool])
    out: dict[str, dict[str, Any]] = {}
    need_published = []
    for model in pool:
        ours = measured.get(f"openrouter:{model.id}")
        if ours and ours.get("p95_ms") is not None:
            out[model.id] = {
                "source": "measured",
                "p95": ours["p95_ms"],
                "p99": ours.get("p99_ms"),
                "stats": None,
                "runs": ours.get("runs"),
            }
        else:
            need_published.append(model)

    def published(model: CatalogModel) -> tuple[str, EndpointStats | None]:
        try:
            return model.id, catalog.endpoint_stats(model.id)
        except ProviderError:
            return model.id, None

    with ThreadPoolExecutor(max_workers=16) as pool_executor:
        for model_id, stats in pool_executor.map(published, need_published):
            if stats is not None:
                out[model_id] = {
                    "source": "published",
                    "p95": p95_from_published(stats),
                    "p99": stats.latency_p99,
                    "stats": stats,
                }
    return out


def _too_slow(latency: dict[str, Any] | None, body: AutoSelectIn) -> bool:
    limits = ((body.max_p95_latency_ms, "p95"), (body.max_p99_latency_ms, "p99"))
    for limit, field in limits:
        if limit is None:
            continue
        value = latency.get(field) if latency else None
        if value is None or value > limit:  # unknown latency cannot promise a limit
            return True
    return False


def _diverse_picks(
    eligible: list[tuple[CatalogModel, dict[str, Any] | None]], count: int
) -> list[tuple[CatalogModel, dict[str, Any] | None]]:
    def order(item: tuple[CatalogModel, dict[str, Any] | None]) -> tuple[float, float, str]:
        model = item[0]
        price = (model.prompt_price or 0) + (model.completion_price or 0)
        return (-(model.created or 0), price, model.id)

    ranked = sorted(eligible, key=order)
    picks: list[tuple[CatalogModel, dict[str, Any] | None]] = []
    authors: set[str] = set()
    for item in ranked:  # first pass: one per author
        author = item[0].id.split("/", 1)[0]
        if author not in authors and len(picks) < count:
            picks.append(item)
            authors.add(author)
    for item in ranked:  # then fill up
        if len(picks) >= count:
            break
        if item not in picks:
            picks.append(item)
    return picks


def _explain(model: CatalogModel, latency: dict[str, Any] | None, body: AutoSelectIn) -> str:
    parts = [f"newest eligible model of {model.id.split('/', 1)[0]}"]
    prices = published_figures(model, None)
    prompt, completion = prices["prompt_price_per_million"], prices["completion_price_per_million"]
    parts.append(f"${prompt}/M input, ${completion}/M output")
    if latency and latency.get("p95") is not None:
        basis = (
            "measured in earlier runs"
            if latency["source"] == "measured"
            else "published p90/p99, interpolated"
        )
        parts.append(f"p95 ≈ {latency['p95']:.0f} ms ({basis})")
    if body.open_source_only:
        parts.append(f"open weights: {model.hugging_face_id}")
    return "; ".join(parts)
