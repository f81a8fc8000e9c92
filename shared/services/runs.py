"""Runs: start one, follow it, cancel it, read the run log.

Starting a run checks what it needs (two candidate models or more, a non-empty dataset), takes
the leaderboard's run lock (a second request gets 409 while a run is active), snapshots the
leaderboard and model configs, estimates runtime and cost, and enqueues the *prepare* task. It
answers at once; the work happens in tasks (``run_prepare``, ``run_worker``, ``run_finalize``).

A run never stays "running" forever: its ``deadline_at`` (three times the estimate plus ten
minutes) is watched by the ``runs-watchdog`` job, which fails it with a reason.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.bootstrap import Deps
from shared.clock import iso, jsonable, utcnow
from shared.domain.entities import CandidateModel, Run
from shared.domain.estimate import (
    DEFAULT_LATENCY_MS,
    LatencySource,
    ModelCostInput,
    estimate_run,
    estimate_tokens,
)
from shared.domain.judge import DEFAULT_JUDGE_MODEL
from shared.domain.run_status import ACTIVE, RunStatus
from shared.domain.snapshot import config_hash
from shared.domain.tokens import Scope
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.providers.errors import ProviderError
from shared.services.auth import Principal, load_leaderboard
from shared.services.candidates import endpoint_key, public_model, published_figures
from shared.services.integrations import workspace_catalog
from shared.services.run_guard import (
    digest_of,
    leaderboard_snapshot,
    on_leaderboard_as_read,
    snapshot_parts,
)
from shared.storage.records import LeaderboardRecord
from shared.tasks.messages import PrepareRun

Source = Literal["manual", "schedule", "dataset_improvement"]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model_ids: list[str] | None = None  # default: every candidate model


def start_run_for(
    deps: Deps, principal: Principal, leaderboard_id: str, body: RunCreate
) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    run = start(
        deps,
        leaderboard,
        source="manual",
        requested_by=principal.token_id,
        model_ids=body.model_ids,
    )
    return public_run(run)


def start(
    deps: Deps,
    leaderboard: LeaderboardRecord,
    *,
    source: Source,
    requested_by: str | None = None,
    model_ids: list[str] | None = None,
) -> Run:
    """Snapshot the leaderboard and its candidates, and start a run of them (see ``run_guard``:
    a change to either that commits meanwhile makes the snapshot be taken again)."""

    def attempt(record: LeaderboardRecord) -> Run:
        run = _new_run(deps, record, source=source, requested_by=requested_by, model_ids=model_ids)
        assert record.revision is not None  # read from the store
        if not deps.runs.create_with_lock(run, board_revision=record.revision):
            active = deps.runs.active_lock(record.id)
            raise Conflict(
                f"run {active} of this leaderboard is still active; wait for it or cancel it",
                code="run_in_progress",
                active_run_id=active,
            )
        return run

    run = on_leaderboard_as_read(deps, leaderboard, attempt)
    deps.tasks.enqueue(PrepareRun(leaderboard_id=leaderboard.id, run_id=run.id))
    return run


def _new_run(
    deps: Deps,
    leaderboard: LeaderboardRecord,
    *,
    source: Source,
    requested_by: str | None,
    model_ids: list[str] | None,
) -> Run:
    """A run of ``leaderboard`` as it is now (checked: it can run)."""
    models = deps.candidates.find_all(leaderboard.id)
    if model_ids is not None:
        unknown = sorted(set(model_ids) - {m.id for m in models})
        if unknown:
            raise ValidationFailed(f"not candidate models here: {unknown}", code="model_not_found")
        models = [m for m in models if m.id in set(model_ids)]
    if len(models) < 2:
        raise ValidationFailed(
            f"a run compares at least 2 models; this one would have {len(models)}."
            " Add models with POST /v1/leaderboard/{id}/models",
            code="not_enough_models",
            models=len(models),
        )
    rows, rows_exact = _dataset_rows(leaderboard)
    if rows == 0:
        raise ValidationFailed(
            "the dataset is empty: push and consolidate rows first"
            if leaderboard.is_push
            else "the dataset has no usable rows",
            code="empty_dataset",
        )
    now = utcnow()
    estimate = _estimate(deps, leaderboard, models, rows)
    snapshot = leaderboard_snapshot(leaderboard)
    parts = snapshot_parts(snapshot, digest_of(models))
    return Run(
        id="run_" + uuid.uuid4().hex[:20],
        leaderboard_id=leaderboard.id,
        workspace_id=leaderboard.workspace_id,
        source=source,
        status=RunStatus.QUEUED,
        active=True,
        requested_by=requested_by,
        created_at=now,
        started_at=None,
        finished_at=None,
        deadline_at=now + timedelta(seconds=estimate["seconds"] * 3 + 600),
        estimate=estimate | {"rows": rows, "rows_exact": rows_exact},
        leaderboard_config=snapshot,
        # What the ranking is computed under: its digest, and one per part (``snapshot``).
        config_hash=config_hash(parts),
        config_parts=parts,
        model_configs=[public_model(m) | {"endpoint_key": endpoint_key(m.config)} for m in models],
        # How to reach each model (no secrets, only references to them); not in the public log.
        endpoints=_endpoints(deps, leaderboard, models),
        dataset=None,  # pinned by the prepare task
        shards_total=None,
        shards_done=0,
        progress={
            m.id: {"rows_done": 0, "errors": 0, "cost_usd": 0.0, "judge_cost_usd": 0.0}
            for m in models
        },
        ranking=None,
        failure=None,
    )


def list_runs(
    deps: Deps, principal: Principal, leaderboard_id: str, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    runs, next_cursor = deps.runs.find_page(leaderboard.id, limit=limit, cursor=cursor)
    return {"items": [public_run(r, summary=True) for r in runs], "next_cursor": next_cursor}


def get_run(deps: Deps, principal: Principal, leaderboard_id: str, run_id: str) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    return public_run(_load(deps, leaderboard.id, run_id))


def cancel_run(
    deps: Deps, principal: Principal, leaderboard_id: str, run_id: str
) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    run = _load(deps, leaderboard.id, run_id)
    changed = deps.runs.transition(
        leaderboard.id,
        run_id,
        allowed=ACTIVE,
        fields={"status": RunStatus.CANCELLED, "active": False, "finished_at": utcnow(),
                "failure": {"reason": "cancelled", "by": principal.token_id}},
    )  # fmt: skip
    if not changed:
        raise Conflict(
            f"run {run_id} is {run.status}; only active runs can be cancelled",
            code="run_not_active",
        )
    deps.runs.release_lock(leaderboard.id, run_id)
    return public_run(_load(deps, leaderboard.id, run_id))


def fail_run(deps: Deps, leaderboard_id: str, run_id: str, reason: str, **detail: Any) -> bool:
    changed = deps.runs.transition(
        leaderboard_id,
        run_id,
        allowed=ACTIVE,
        fields={"status": RunStatus.FAILED, "active": False, "finished_at": utcnow(),
                "failure": {"reason": reason, **detail}},
    )  # fmt: skip
    deps.runs.release_lock(leaderboard_id, run_id)
    return changed


def public_run(run: Run, *, summary: bool = False) -> dict[str, Any]:
    """A run as the API shows it (without its endpoints); ``summary``: as run lists show it."""
    started, finished = run.started_at, run.finished_at
    progress = run.progress
    candidates_cost = sum(p.get("cost_usd", 0.0) for p in progress.values())
    judge_cost = sum(p.get("judge_cost_usd", 0.0) for p in progress.values())
    body: dict[str, Any] = {
        "id": run.id,
        "leaderboard_id": run.leaderboard_id,
        "status": run.status,
        "source": run.source,
        "created_at": iso(run.created_at),
        "started_at": iso(started),
        "finished_at": iso(finished),
        "execution_seconds": (finished - started).total_seconds() if started and finished else None,
        "deadline_at": iso(run.deadline_at),
        "estimate": run.estimate,
        "cost": {
            "candidates_usd": round(candidates_cost, 6),
            "judge_usd": round(judge_cost, 6),
            "total_usd": round(candidates_cost + judge_cost, 6),
        },
        "progress": {
            "shards_total": run.shards_total,
            "shards_done": run.shards_done,
            "rows_total": (run.dataset or {}).get("rows"),
            "models": progress,
        },
        "ranking_summary": _summary(run.ranking),
        "failure": run.failure,
        "config_hash": run.config_hash,
    }
    if not summary:
        body["ranking"] = run.ranking
        body["dataset"] = jsonable(run.dataset)
        body["leaderboard_config"] = run.leaderboard_config
        body["model_configs"] = run.model_configs
    return body


def _summary(ranking: dict[str, Any] | None) -> dict[str, Any] | None:
    if not ranking:
        return None
    return {
        "leader": ranking.get("leader"),
        "tied": ranking.get("tied"),
        "order": [m["model_id"] for m in ranking.get("models", [])],
        "reviewed_fraction": ranking.get("reviewed_fraction"),
    }


def _load(deps: Deps, leaderboard_id: str, run_id: str) -> Run:
    run = deps.runs.find(leaderboard_id, run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found", code="run_not_found")
    return run


def _dataset_rows(leaderboard: LeaderboardRecord) -> tuple[int, bool]:
    if leaderboard.is_push:
        return (leaderboard.dataset_version.rows if leaderboard.dataset_version else 0), True
    validation = leaderboard.dataset.get("validation") or {}
    seen = leaderboard.dataset.get("rows_seen")
    if seen is not None:
        return int(seen), False
    return int(validation.get("valid_rows", 0)), bool(validation.get("complete"))


JUDGE_ENDPOINT = "__judge__"


def _endpoints(
    deps: Deps, leaderboard: LeaderboardRecord, models: list[CandidateModel]
) -> dict[str, dict[str, Any]]:
    """Each candidate's endpoint, plus the judge's when it is one of the candidates."""
    ws = leaderboard.workspace_id
    endpoints = {m.id: _resolved(deps, ws, m.config) for m in models}
    judge_id = leaderboard.evaluation.get("candidate_model_id")
    if leaderboard.evaluation.get("type") == "judge" and judge_id:
        judge = deps.candidates.find(leaderboard.id, judge_id)
        if judge is None:
            raise ValidationFailed(
                f"the judge {judge_id} is no longer a candidate of this leaderboard",
                code="judge_not_found",
            )
        endpoints[JUDGE_ENDPOINT] = _resolved(deps, ws, judge.config)
    return endpoints


def _resolved(deps: Deps, workspace_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """A candidate's endpoint config; a Dr.Gero model is resolved to its endpoint now."""
    if config["platform"] != "drgero":
        return config
    workspace_model = deps.drgero_models.get(workspace_id, config["model_id"])
    if workspace_model is None:
        raise ValidationFailed(
            f"Dr.Gero model {config['model_id']} no longer exists; remove it from the leaderboard",
            code="unknown_model",
        )
    return workspace_model["endpoint"] | {"drgero_model_id": config["model_id"]}


def _estimate(
    deps: Deps, leaderboard: LeaderboardRecord, models: list[CandidateModel], rows: int
) -> dict[str, Any]:
    """Rows x models x (measured, else published, else default) latency and price."""
    judge = _judge_record(deps, leaderboard)
    records = models + ([judge] if judge else [])
    measured = deps.drgero_models.measured(
        leaderboard.workspace_id, [endpoint_key(m.config) for m in records]
    )
    prompt_tokens = estimate_tokens(leaderboard.system_prompt) + 64
    settings = deps.settings
    estimate = estimate_run(
        rows=rows,
        models=[_cost_input(m, measured, prompt_tokens) for m in models],
        concurrency_per_shard=settings.run_row_concurrency,
        shard_size=settings.run_shard_size,
        parallel_shards=settings.run_parallel_shards,
        judge=_cost_input(judge, measured, prompt_tokens * 2) if judge else None,
    )
    return estimate.to_json()


def _judge_record(deps: Deps, leaderboard: LeaderboardRecord) -> CandidateModel | None:
    """The judge as a candidate (for its latency and price), when the evaluation has one: the
    candidate it names, or the catalog model it names as a candidate of its own."""
    evaluation = leaderboard.evaluation
    if evaluation.get("type") != "judge":
        return None
    if evaluation.get("candidate_model_id"):
        return deps.candidates.find(leaderboard.id, evaluation["candidate_model_id"])
    model_id = evaluation.get("model") or DEFAULT_JUDGE_MODEL
    published = None
    catalog = workspace_catalog(deps, leaderboard.workspace_id)
    if catalog is not None:
        try:
            found = next((m for m in catalog.models() if m.id == model_id), None)
        except ProviderError:  # an estimate without the judge's price, not a failed run
            found = None
        published = published_figures(found, None) if found else None
    return CandidateModel(
        id="judge",
        label=model_id,
        platform="openrouter",
        config={"platform": "openrouter", "model_id": model_id},
        source="judge",
        published=published,
        added_at=utcnow(),
    )


def _cost_input(
    model: CandidateModel, measured: dict[str, dict[str, Any]], prompt_tokens: int
) -> ModelCostInput:
    ours = measured.get(endpoint_key(model.config)) or {}
    published = model.published or {}
    price = model.price
    basis: LatencySource
    if ours.get("p50_ms") is not None:
        latency, basis = float(ours["p50_ms"]), "measured"
    elif published.get("latency_p50_ms") is not None:
        latency, basis = float(published["latency_p50_ms"]), "published"
    else:
        latency, basis = DEFAULT_LATENCY_MS, "default"
    prompt, completion = price.prompt_per_million, price.completion_per_million
    return ModelCostInput(
        model_id=model.id,
        latency_ms=latency,
        latency_source=basis,
        prompt_price_per_token=None if prompt is None else prompt / 1e6,
        completion_price_per_token=None if completion is None else completion / 1e6,
        avg_prompt_tokens=prompt_tokens,
        avg_completion_tokens=64,
    )
