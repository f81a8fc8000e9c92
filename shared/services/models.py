"""Candidate models of a leaderboard: add (manual or auto-selected), list, remove.

Manual adds are checked where they can be: an OpenRouter id against the catalog (and its
expiry), a Dr.Gero model against the workspace. A PUSH leaderboard accepts models only once its
consolidated dataset holds ``push_min_rows_for_models`` rows (100 by default), as the product
guides.

Auto-select reads the OpenRouter catalog, drops routers (``openrouter/*``), expired models and
everything outside the constraints, and picks ``count`` models, one per author first so that the
comparison is diverse, newest first, then cheapest. Latency limits use, in this order: latencies
we measured in this workspace's earlier runs, else OpenRouter's published latency of the last 30
minutes. OpenRouter publishes p50/p75/p90/p99 but no p95, so **P95 is read as the linear
interpolation between p90 and p99: p90 + (p99 - p90) * 5/9**. Every pick says why.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from shared.clock import iso, utcnow
from shared.domain.models import (
    AutoSelectIn,
    CandidateModelIn,
    CustomModelIn,
    DrGeroModelIn,
    HuggingFaceModelIn,
    OpenRouterModelIn,
)
from shared.domain.snapshot import candidates_digest
from shared.domain.tokens import Scope
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.providers.errors import ProviderError
from shared.providers.http import endpoint_display
from shared.providers.openrouter import CatalogModel, EndpointStats, OpenRouterCatalog
from shared.services.auth import Principal, load_leaderboard
from shared.services.endpoints import check_endpoint
from shared.services.integrations import workspace_catalog
from shared.services.run_guard import change_leaderboard, refuse_during_run
from shared.storage.leaderboards import Change
from shared.storage.records import LeaderboardRecord
from shared.wiring import Deps

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
    _require_enough_rows(deps, leaderboard)
    model_id = "m_" + uuid.uuid4().hex[:16]
    config, published = _checked_config(deps, leaderboard, body, model_id)
    record = {
        "id": model_id,
        "label": body.label or _default_label(config),
        "platform": config["platform"],
        "config": config,
        "source": "manual",
        "reason": None,
        "published": published,
        "added_at": utcnow(),
        "added_by": principal.token_id,
    }
    try:
        _commit_candidates(deps, leaderboard, "adding a candidate model", added=[record])
    except BaseException:
        if config.get("secret_ref"):  # stored by the checks: not left behind a refusal
            deps.secrets.delete(leaderboard.workspace_id, config["secret_ref"])
        raise
    return public_model(record)


def list_models(deps: Deps, principal: Principal, leaderboard_id: str) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    return {"items": [public_model(m) for m in deps.candidates.all(leaderboard.id)]}


def remove_model(deps: Deps, principal: Principal, leaderboard_id: str, model_id: str) -> None:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    removed = _commit_candidates(deps, leaderboard, "removing a candidate model", removed=model_id)
    secret_ref = removed["config"].get("secret_ref") if removed else None
    if secret_ref:
        deps.secrets.delete(leaderboard.workspace_id, secret_ref)


def _commit_candidates(
    deps: Deps,
    leaderboard: LeaderboardRecord,
    action: str,
    *,
    added: Sequence[dict[str, Any]] = (),
    removed: str | None = None,
) -> dict[str, Any] | None:
    """Add or remove candidates, checked and committed on the leaderboard as read (see
    ``run_guard``): refused during a run, and the limit and duplicate checks are exact (two
    concurrent adds are ordered, the second one sees the first). Returns the removed model."""
    gone: dict[str, Any] | None = None

    def build(fresh: LeaderboardRecord) -> Change:
        nonlocal gone
        refuse_during_run(fresh, action)
        candidates = {m["id"]: m for m in deps.candidates.all(fresh.id)}
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
            _require_room(deps, len(candidates), len(added))
            present = {endpoint_key(m["config"]) for m in candidates.values()}
            for model in added:
                if endpoint_key(model["config"]) in present:
                    raise Conflict(
                        "this model is already a candidate of the leaderboard",
                        code="model_already_added",
                    )
                candidates[model["id"]] = model
                writes.append(deps.candidates.add(fresh.id, model))
        fields = {"candidates_digest": candidates_digest(candidates.values())}
        return Change(fields | {"updated_at": utcnow()}, writes)

    change_leaderboard(deps, leaderboard, build)
    return gone


def public_endpoint(config: dict[str, Any]) -> dict[str, Any]:
    """A stored endpoint config as clients see it: the token's reference becomes "hidden"."""
    shown = {k: v for k, v in config.items() if k != "secret_ref"}
    if config.get("secret_ref"):
        shown["token"] = HIDDEN
    return shown


def public_model(record: dict[str, Any]) -> dict[str, Any]:
    config = public_endpoint(record["config"])
    return {
        "id": record["id"],
        "label": record["label"],
        "platform": record["platform"],
        "config": config,
        "source": record["source"],
        "reason": record.get("reason"),
        "published": record.get("published"),
        "measured": record.get("measured"),
        "added_at": iso(record["added_at"]),
    }


# -- checks ------------------------------------------------------------------------------------


def _require_room(deps: Deps, present: int, adding: int) -> None:
    """At most ``max_candidates_per_leaderboard`` candidates: every run calls each on every
    row. Exact: adds are committed on the leaderboard as read (``_commit_candidates``)."""
    cap = deps.settings.max_candidates_per_leaderboard
    if present + adding > cap:
        raise Conflict(
            f"a leaderboard holds at most {cap} candidate models; it has {present}, and"
            f" {adding} more would pass the limit: remove some first",
            code="candidate_limit_reached",
            max_candidates=cap,
            candidates=present,
        )


def _require_enough_rows(deps: Deps, leaderboard: LeaderboardRecord) -> None:
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


def _catalog(deps: Deps, workspace_id: str) -> OpenRouterCatalog:
    catalog = workspace_catalog(deps, workspace_id)
    if catalog is None:
        raise ValidationFailed(
            "OpenRouter models need the workspace's OpenRouter key:"
            " PUT /v1/integrations/openrouter",
            code="openrouter_not_configured",
        )
    return catalog


def _catalog_models(catalog: OpenRouterCatalog) -> list[CatalogModel]:
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
        models = {m.id: m for m in _catalog_models(_catalog(deps, leaderboard.workspace_id))}
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
    workspace_model = deps.workspace_models.get(leaderboard.workspace_id, body.model_id)
    if workspace_model is None:
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


# -- auto-select ---------------------------------------------------------------------------------


def auto_select(
    deps: Deps, principal: Principal, leaderboard_id: str, body: AutoSelectIn
) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    if not body.dry_run:
        refuse_during_run(leaderboard, "adding candidate models")
        _require_enough_rows(deps, leaderboard)
    candidates = deps.candidates.all(leaderboard.id)
    if not body.dry_run:
        _require_room(deps, len(candidates), 1)
    catalog = _catalog(deps, leaderboard.workspace_id)
    present = {endpoint_key(m["config"]) for m in candidates}
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
    for model in _catalog_models(catalog):
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
        _require_room(deps, len(candidates), len(picks))

    added = []
    for model, latency in picks:
        added.append({
            "id": "m_" + uuid.uuid4().hex[:16],
            "label": model.name or model.id,
            "platform": "openrouter",
            "config": {"platform": "openrouter", "model_id": model.id},
            "source": "auto_select",
            "reason": _explain(model, latency, body),
            "published": published_figures(model, latency["stats"] if latency else None),
            "added_at": utcnow(),
            "added_by": principal.token_id,
        })  # fmt: skip
    if not body.dry_run and added:
        _commit_candidates(deps, leaderboard, "adding candidate models", added=added)
    return {
        "dry_run": body.dry_run,
        "selected": [public_model(record) for record in added],
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
    measured = deps.workspace_models.measured(workspace_id, [f"openrouter:{m.id}" for m in pool])
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
