"""Finalizing a run: rank the models, store the ranking, move the production selection.

Called by the worker that counted the last shard, by a redelivered shard that finds every shard
counted and the run still running, and by the watchdog for an overdue run whose shards are all
done. Finalize is resumable: every step before the last one may be repeated (scores are read
from the shard markers, review items have fixed ids, measured latencies are overwritten), and
the last one is one commit (``RunRepo.complete``: run completed, ranking published, lock
released, run trace) that happens once, whoever gets there first. A finalize that dies at any
step leaves the run ``running`` with every shard counted: the next caller starts it over.

Only the fields a ranking needs are loaded (the scores in the shard markers); a human run's
review queue is built one results object at a time. Human-evaluated runs get a ranking that
fills in as reviews arrive (``reviews.py`` recomputes it).
"""

from __future__ import annotations

import hashlib
from typing import Any

from shared.bootstrap import Deps
from shared.clock import utcnow
from shared.domain.entities import Run
from shared.domain.ranking import RowResult, rank_models
from shared.domain.run_status import RunStatus
from shared.services import selection


def load_scores(deps: Deps, leaderboard_id: str, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """Each model's row scores (``SCORE_FIELDS``), from the shard markers, in shard order."""
    from shared.services.run_worker import results_name, scores_of

    by_model: dict[str, list[dict[str, Any]]] = {}
    markers = sorted(
        deps.runs.shard_scores(leaderboard_id, run_id), key=lambda m: (m["model_id"], m["shard"])
    )
    for marker in markers:
        scores = marker.get("scores")
        if scores is None:  # counted before markers kept scores: read its results object
            name = results_name(leaderboard_id, run_id, marker["model_id"], marker["shard"])
            scores = [scores_of(r) for r in deps.datasets.read_jsonl(name)]
        by_model.setdefault(marker["model_id"], []).extend(scores)
    return by_model


def compute_ranking(
    run: Run,
    results: dict[str, list[dict[str, Any]]],
    reviews: dict[tuple[str, str], float] | None = None,
) -> dict[str, Any]:
    """The ranking of ``run``'s row scores (a human run's: of the reviews so far)."""
    evaluation = run.evaluation
    human = evaluation.get("type") == "human"
    rows: dict[str, list[RowResult]] = {}
    for model_id, model_results in results.items():
        rows[model_id] = []
        for r in model_results:
            score, error = r.get("score"), r.get("error")
            reviewed = True
            if human and not r.get("error"):
                score = (reviews or {}).get((model_id, r["row_id"]))
                reviewed = score is not None
            rows[model_id].append(
                RowResult(
                    row_id=r["row_id"],
                    score=score,
                    error=error.get("code") if isinstance(error, dict) else error,
                    latency_ms=r.get("latency_ms"),
                    cost_usd=(r.get("cost_usd") or 0.0) + (r.get("judge_cost_usd") or 0.0),
                    reviewed=reviewed,
                )
            )
    seed = int(hashlib.sha256(run.id.encode()).hexdigest()[:8], 16)
    # Exact scores are 0 or 1: a pass is a 1. Judge and human scores pass at their threshold.
    threshold = 1.0 if evaluation.get("type") == "exact" else evaluation.get("pass_threshold", 0.5)
    ranking = rank_models(rows, seed=seed, pass_threshold=threshold).to_json()
    labels = {m["id"]: m["label"] for m in run.model_configs}
    for model in ranking["models"]:
        model["model_id"] = model.pop("model")  # the API's word for a candidate's id
        model["label"] = labels.get(model["model_id"], model["model_id"])
    return ranking | {
        "run_id": run.id,
        "evaluation": evaluation.get("type"),
        # The configuration it was computed under (its run's snapshot): a leaderboard whose
        # configuration differs now shows it stale.
        "config_hash": run.config_hash,
        "config_parts": run.config_parts,
    }


def finalize_run(deps: Deps, leaderboard_id: str, run_id: str) -> dict[str, Any] | None:
    """Complete the run if all its shards are counted; its ranking, or None if not done here."""
    step = _Steps(deps, leaderboard_id, run_id)
    run = deps.runs.find(leaderboard_id, run_id)
    if run is None or run.status != RunStatus.RUNNING or run.shards_total is None:
        return None
    if run.shards_done < run.shards_total:
        return None  # a shard is still being evaluated
    scores = load_scores(deps, leaderboard_id, run_id)
    step("finalize_loaded")
    ranking = compute_ranking(run, scores)
    if run.evaluation_type == "human":
        _open_reviews(deps, run)
        step("finalize_reviews_opened")
    _remember_latencies(deps, run, ranking)
    step("finalize_latencies_recorded")
    finished = utcnow()
    ranking["finished_at"] = finished.isoformat()
    trace = deps.traces.new(
        leaderboard_id,
        kind="run",
        trace_id=run_trace_id(run_id),
        workspace_id=run.workspace_id,
        token_id=run.requested_by,
        run_id=run_id,
        source=run.source,
        leader=ranking.get("leader"),
        counts={"models": len(scores), "rows": sum(len(r) for r in scores.values())},
    )
    completed = deps.runs.complete(
        leaderboard_id,
        run_id,
        fields={
            "status": RunStatus.COMPLETED,
            "active": False,
            "finished_at": finished,
            "ranking": ranking,
        },
        # Whoever sees the run completed sees its ranking published (and selection moved).
        leaderboard_fields=_published(deps, leaderboard_id, ranking),
        trace=trace,
    )
    step("finalize_committed")
    return ranking if completed else None


def run_trace_id(run_id: str) -> str:
    """The run's one trace has a fixed id: two finalizers cannot both write one."""
    return "tr_" + hashlib.sha256(f"run:{run_id}".encode()).hexdigest()[:32]


class _Steps:
    def __init__(self, deps: Deps, leaderboard_id: str, run_id: str) -> None:
        self._deps, self._context = deps, {"leaderboard_id": leaderboard_id, "run_id": run_id}

    def __call__(self, name: str) -> None:
        self._deps.checkpoints(name, **self._context)


def publish_ranking(deps: Deps, leaderboard_id: str, ranking: dict[str, Any]) -> None:
    """Make ``ranking`` the leaderboard's current one (unless a newer run's is already there)."""
    fields = _published(deps, leaderboard_id, ranking)
    if fields:
        deps.leaderboards.update(leaderboard_id, fields)


def _published(deps: Deps, leaderboard_id: str, ranking: dict[str, Any]) -> dict[str, Any] | None:
    """The leaderboard fields that publish ``ranking``, or None to leave it as it is."""
    leaderboard = deps.leaderboards.get(leaderboard_id)
    if leaderboard is None:
        return None
    current = leaderboard.ranking or {}
    if current.get("run_id") not in (None, ranking["run_id"]) and (
        current.get("finished_at", "") > ranking.get("finished_at", "")
    ):
        return None
    fields: dict[str, Any] = {"ranking": ranking}
    candidates = {m.id for m in deps.candidates.find_all(leaderboard_id)}
    moved = selection.after_run(leaderboard, ranking, candidates)
    if moved is not None:
        fields["selection"] = moved
    return fields


def _open_reviews(deps: Deps, run: Run) -> None:
    """Every output (model x row) becomes a pending review item; one results object at a time."""
    now = utcnow()
    prefix = f"runs/{run.leaderboard_id}/{run.id}/results/"
    total = 0
    for name in deps.datasets.names(prefix):
        model_id = name[len(prefix) :].split("/", 1)[0]
        items = []
        for r in deps.datasets.read_jsonl(name):
            if r.get("error"):
                continue
            item_id = f"{model_id}-{hashlib.sha256(r['row_id'].encode()).hexdigest()[:16]}"
            items.append({"id": item_id, "model_id": model_id, "row_id": r["row_id"],
                          "input": r.get("input"), "expected": r.get("expected"),
                          "output": r.get("output"),
                          "status": "pending", "score": None, "comment": None,
                          "created_at": now, "reviewed_at": None})  # fmt: skip
        deps.runs.add_review_items(run.leaderboard_id, run.id, items)
        total += len(items)
    deps.runs.update(run.leaderboard_id, run.id, {"reviews_total": total, "reviews_done": 0})


def _remember_latencies(deps: Deps, run: Run, ranking: dict[str, Any]) -> None:
    """Measured latencies feed later estimates and auto-select (they beat published figures)."""
    keys = {m["id"]: m.get("endpoint_key") for m in run.model_configs}
    for model in ranking["models"]:
        key = keys.get(model["model_id"])
        if key and model.get("latency_p50_ms") is not None:
            measured = {"latency_p50_ms": model["latency_p50_ms"],
                        "latency_p95_ms": model.get("latency_p95_ms"),
                        "latency_p99_ms": model.get("latency_p99_ms"),
                        "mean_score": model.get("mean_score"), "run_id": run.id}  # fmt: skip
            if deps.candidates.find(run.leaderboard_id, model["model_id"]) is not None:
                deps.candidates.update(
                    run.leaderboard_id, model["model_id"], {"measured": measured}
                )
            deps.drgero_models.record_measured(
                run.workspace_id,
                key,
                {"p50_ms": model["latency_p50_ms"], "p95_ms": model.get("latency_p95_ms"),
                 "p99_ms": model.get("latency_p99_ms"), "run_id": run.id,
                 "measured_at": utcnow()},
            )  # fmt: skip
