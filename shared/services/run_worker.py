"""The per-model evaluation worker: one task = one candidate model x one shard of rows.

Rows are evaluated a few at a time (``run_row_concurrency``), each call with a timeout and
retries with backoff on 429/5xx/timeouts, honouring ``Retry-After`` (``shared.providers.http``).
A row that still fails is recorded with its error, never dropped.

Each row's result is saved as soon as it is known, in ``runs/{lb}/{run}/rows/{model}/{shard}/
{index}.jsonl``: a shard delivered again (its worker died, its task timed out) pays only for the
rows not saved yet. The shard's results then go to ``runs/{lb}/{run}/results/{model}/{shard}
.jsonl`` (created once; a duplicate delivery finds it and reuses it), and the shard is counted
exactly once (``RunRepo.complete_shard``, with its rows' scores). The worker that counts the
last shard finalizes the run; so does a duplicate delivery that finds every shard counted and
the run still running (the first one died finalizing: see ``run_finalize``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shared.bootstrap import Deps
from shared.domain.entities import Run
from shared.domain.judge import (
    JudgeConfig,
    UnparseableJudgeAnswer,
    judge_messages,
    judge_response_format,
    parse_judge_answer,
)
from shared.domain.pricing import Price
from shared.domain.prompts import render_task, task_messages
from shared.domain.rows import Row
from shared.domain.run_status import RunStatus
from shared.domain.scoring import ExactConfig, score_exact
from shared.providers.base import ChatRequest, Completion, Endpoint, UnusableEndpoint
from shared.providers.errors import MissingCredentials, ProviderError
from shared.providers.http import call_with_retries
from shared.services.endpoints import endpoint_for
from shared.services.run_finalize import finalize_run
from shared.services.run_prepare import shard_name
from shared.services.runs import JUDGE_ENDPOINT
from shared.storage.runs import SCORE_FIELDS, ObjectExists, create_once

log = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 5.0
# One line of a results object; absent values are null.
RESULT_FIELDS = ("row_id", "input", "expected", "output", "score", "error", "latency_ms",
                 "prompt_tokens", "completion_tokens", "cost_usd", "judge_cost_usd")  # fmt: skip


def results_name(leaderboard_id: str, run_id: str, model_id: str, shard: int) -> str:
    return f"runs/{leaderboard_id}/{run_id}/results/{model_id}/{shard:05d}.jsonl"


def evaluate_shard(
    deps: Deps, leaderboard_id: str, run_id: str, model_id: str, shard: int
) -> dict[str, Any]:
    run = deps.runs.find(leaderboard_id, run_id)
    if run is None or run.status != RunStatus.RUNNING:
        return {"status": "dropped", "reason": f"run is {run.status if run else 'gone'}"}
    where = {"leaderboard_id": leaderboard_id, "model_id": model_id, "shard": shard}
    name = results_name(leaderboard_id, run_id, model_id, shard)
    if deps.datasets.exists(name):
        results = deps.datasets.read_jsonl(name)
    else:
        evaluated = _evaluate(deps, run, model_id, shard)
        if evaluated is None:
            return {"status": "dropped", "reason": "run was cancelled"}
        results = evaluated
        deps.checkpoints("shard_evaluated", **where)
        try:
            create_once(deps.datasets, name, results)
        except ObjectExists:
            results = deps.datasets.read_jsonl(name)  # a duplicate delivery got there first
    counts: dict[str, float] = {
        "rows_done": len(results),
        "errors": sum(1 for r in results if r.get("error")),
        "cost_usd": sum(r.get("cost_usd") or 0.0 for r in results),
        "judge_cost_usd": sum(r.get("judge_cost_usd") or 0.0 for r in results),
    }
    done = deps.runs.complete_shard(
        leaderboard_id, run_id, model_id=model_id, shard=shard, counts=counts,
        scores=[scores_of(r) for r in results],
    )  # fmt: skip
    total = run.shards_total or 0
    deps.checkpoints("shard_counted", **where, last=done is not None and done >= total)
    if done is None:
        # Counted before: if every shard is, the delivery that counted last may have died
        # before finalizing (which it answers with 5xx, so this may be its redelivery).
        again = deps.runs.find(leaderboard_id, run_id)
        if again is not None and again.status == RunStatus.RUNNING and again.shards_done >= total:
            finalize_run(deps, leaderboard_id, run_id)
        return {"status": "duplicate"}
    if done >= total:
        finalize_run(deps, leaderboard_id, run_id)
    _forget_rows(deps, leaderboard_id, run_id, model_id, shard)
    return {"status": "evaluated", "rows": len(results), "errors": counts["errors"]}


def scores_of(result: dict[str, Any]) -> dict[str, Any]:
    """What a ranking needs of one row result (``SCORE_FIELDS``; the error by its code)."""
    error = result.get("error")
    return {name: result.get(name) for name in SCORE_FIELDS} | {
        "error": error.get("code") if isinstance(error, dict) else error
    }


def rows_prefix(leaderboard_id: str, run_id: str, model_id: str, shard: int) -> str:
    return f"runs/{leaderboard_id}/{run_id}/rows/{model_id}/{shard:05d}/"


def _forget_rows(deps: Deps, leaderboard_id: str, run_id: str, model_id: str, shard: int) -> None:
    """The saved rows of a counted shard are in its results object now: drop them."""
    try:
        deps.datasets.delete_prefix(rows_prefix(leaderboard_id, run_id, model_id, shard))
    except Exception:  # only storage is lost: a later cleanup of the run's prefix takes them
        log.warning("could not delete the saved rows of shard %s/%d", model_id, shard)


def _evaluate(deps: Deps, run: Run, model_id: str, shard: int) -> list[dict[str, Any]] | None:
    leaderboard_id, run_id = run.leaderboard_id, run.id
    rows = [
        Row.from_json(d)
        for d in deps.datasets.read_jsonl(shard_name(leaderboard_id, run_id, shard))
    ]
    endpoint = _endpoint(deps, run, run.endpoints[model_id])
    scoring = _scoring(deps, run)  # validated once for the shard, not per row
    pricing = _pricing(run, model_id)
    prompt = run.leaderboard_config["system_prompt"]
    cancelled = _CancelWatch(deps, leaderboard_id, run_id)
    prefix = rows_prefix(leaderboard_id, run_id, model_id, shard)
    saved = _saved_rows(deps, prefix)

    def one(index: int, row: Row) -> dict[str, Any] | None:
        if index in saved:
            return saved[index]
        if cancelled():
            return None
        result = _evaluate_row(deps, row, prompt, endpoint, scoring, pricing)
        with contextlib.suppress(ObjectExists):  # a duplicate saved it first
            create_once(deps.datasets, f"{prefix}{index:05d}.jsonl", [result])
        deps.checkpoints(
            "row_saved", leaderboard_id=leaderboard_id, model_id=model_id, shard=shard, row=index
        )
        return result

    with ThreadPoolExecutor(max_workers=deps.settings.run_row_concurrency) as pool:
        results = list(pool.map(one, range(len(rows)), rows))
    if any(r is None for r in results):
        return None
    return [r for r in results if r is not None]


def _saved_rows(deps: Deps, prefix: str) -> dict[int, dict[str, Any]]:
    """Rows of this shard an earlier delivery already evaluated, by their index."""
    saved = {}
    for name in deps.datasets.names(prefix):
        stem = name[len(prefix) :].split(".", 1)[0]
        lines = deps.datasets.read_jsonl(name)
        if stem.isdigit() and lines:
            saved[int(stem)] = lines[0]
    return saved


class _CancelWatch:
    """Reads the run's status at most every few seconds; True once it stopped running."""

    def __init__(self, deps: Deps, leaderboard_id: str, run_id: str) -> None:
        self._deps, self._ids = deps, (leaderboard_id, run_id)
        self._checked, self._stopped = time.monotonic(), False

    def __call__(self) -> bool:
        if not self._stopped and time.monotonic() - self._checked > CANCEL_CHECK_SECONDS:
            self._checked = time.monotonic()
            run = self._deps.runs.find(*self._ids)
            self._stopped = run is None or run.status != RunStatus.RUNNING
        return self._stopped


def _endpoint(deps: Deps, run: Run, config: dict[str, Any]) -> Endpoint:
    """The model's endpoint; one that cannot be built (its key was removed since the run
    started) fails each row's call instead of the shard, which a retry could not mend."""
    try:
        return endpoint_for(deps, run.workspace_id, config)
    except MissingCredentials as exc:
        label = f"{config.get('platform')}:{config.get('model_id') or config.get('model')}"
        return UnusableEndpoint(label, exc)


@dataclass(frozen=True)
class _Judge:
    endpoint: Endpoint
    config: JudgeConfig


# How a shard's rows are scored: exact match, by the judge, or left for human review (None).
Scoring = ExactConfig | _Judge | None


def _scoring(deps: Deps, run: Run) -> Scoring:
    """The run's evaluation, validated into its typed configuration once per shard."""
    evaluation = run.evaluation
    kind = evaluation.get("type", "exact")
    if kind == "exact":
        return ExactConfig.model_validate({k: v for k, v in evaluation.items() if k != "type"})
    if kind != "judge":
        return None
    fields = {k: v for k, v in evaluation.items() if k not in ("type", "candidate_model_id")}
    config = JudgeConfig.model_validate(fields)
    endpoint_config = run.endpoints.get(JUDGE_ENDPOINT) or {
        "platform": "openrouter",
        "model_id": config.model,
    }
    return _Judge(_endpoint(deps, run, endpoint_config), config)


def _pricing(run: Run, model_id: str) -> Price:
    model: dict[str, Any] = next((m for m in run.model_configs if m["id"] == model_id), {})
    return Price.of(model)


def _call(deps: Deps, endpoint: Endpoint, request: ChatRequest) -> Completion:
    settings = deps.settings
    timeout = settings.run_call_timeout_seconds
    return call_with_retries(
        lambda: endpoint.complete(request, timeout=timeout),
        attempts=settings.run_call_attempts,
        deadline=time.monotonic() + timeout * settings.run_call_attempts + 30,
    )


def _cost(completion: Completion, pricing: Price) -> float | None:
    if completion.cost_usd is not None:
        return completion.cost_usd
    return pricing.cost(completion.prompt_tokens, completion.completion_tokens)


def _evaluate_row(
    deps: Deps,
    row: Row,
    prompt: str,
    endpoint: Endpoint,
    scoring: Scoring,
    pricing: Price,
) -> dict[str, Any]:
    result: dict[str, Any] = dict.fromkeys(RESULT_FIELDS) | {
        "row_id": row.id,
        "input": row.input,
        "expected": row.expected,
    }
    try:
        completion = _call(
            deps, endpoint, ChatRequest(messages=task_messages(prompt, row.input), temperature=0.0)
        )
    except ProviderError as exc:
        result["error"] = {
            "code": type(exc).__name__,
            "message": str(exc)[:300],
            "status": exc.status,
        }
        return result
    result |= {
        "output": completion.output,
        "latency_ms": round(completion.latency_ms, 1),
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "cost_usd": _cost(completion, pricing),
        "refusal": completion.refusal,
    }
    if isinstance(scoring, ExactConfig):
        score = score_exact(
            completion.output, row.expected, scoring, max_chars=deps.settings.scoring_max_chars
        )
        result |= {"score": score.value, "passed": score.passed, "detail": score.detail}
    elif isinstance(scoring, _Judge):
        result |= _judged(deps, scoring, render_task(prompt, row.input), completion.output, row)
    else:
        result["review"] = "pending"
    return result


def _judged(deps: Deps, judge: _Judge, task: str, output: str, row: Row) -> dict[str, Any]:
    """Ask the judge; retry unparseable answers; still unparseable → an error, never a zero."""
    endpoint, config = judge.endpoint, judge.config
    request = ChatRequest(
        messages=judge_messages(
            task=task,
            output=output,
            expected=row.expected,
            rubric=row.rubric or config.rubric,
            config=config,
        ),
        temperature=0.0,
        response_format=judge_response_format(),
    )
    spent = 0.0
    last = ""
    for _ in range(config.max_attempts):
        try:
            answer = _call(deps, endpoint, request)
        except ProviderError as exc:
            return {
                "error": {"code": "judge_failed", "message": str(exc)[:300]},
                "judge_cost_usd": spent,
            }
        spent += answer.cost_usd or 0.0
        try:
            verdict = parse_judge_answer(
                answer.output, config, max_chars=deps.settings.scoring_max_chars
            )
        except UnparseableJudgeAnswer as exc:
            last = str(exc)
            continue
        return {"score": verdict.score, "passed": verdict.score >= config.pass_threshold,
                "judge_reason": verdict.reason, "judge_cost_usd": spent}  # fmt: skip
    return {"error": {"code": "judge_unparseable", "message": last[:300]}, "judge_cost_usd": spent}
