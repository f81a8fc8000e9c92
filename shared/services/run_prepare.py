"""Run fan-out: pin the dataset, cut it into shards, enqueue one task per model and shard.

Only the delivery that moves the run from ``queued`` to ``running`` prepares it (a conditional
update), so a redelivered prepare task does nothing. The dataset is pinned by copying its rows
into shard objects ``runs/{leaderboard}/{run}/shards/{k}.jsonl``: a PUSH dataset from the
current version object, a GET dataset from the Hub file as it is now. Later consolidations or
changes on the Hub don't touch a running (or finished) run.

A GET file is read within the deployment's limits (``dataset_max_bytes``,
``dataset_max_line_bytes``, ``dataset_max_rows``): past one, the run fails with the limit's code
(``dataset_too_large``, ``dataset_invalid``, ``dataset_too_many_rows``) and value in its
``failure``, and the shards written so far are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import islice
from typing import Any

from shared.bootstrap import Deps
from shared.clock import utcnow
from shared.domain.rows import Row
from shared.domain.run_status import RunStatus
from shared.errors import DrGeroError
from shared.services.get_datasets import read_get_dataset
from shared.services.runs import fail_run
from shared.storage.records import LeaderboardRecord
from shared.tasks.messages import EvaluateShard

log = logging.getLogger(__name__)


def shard_name(leaderboard_id: str, run_id: str, shard: int) -> str:
    return f"runs/{leaderboard_id}/{run_id}/shards/{shard:05d}.jsonl"


def prepare_run(deps: Deps, leaderboard_id: str, run_id: str) -> dict[str, Any]:
    started = deps.runs.transition(
        leaderboard_id,
        run_id,
        allowed=(RunStatus.QUEUED,),
        fields={"status": RunStatus.RUNNING, "started_at": utcnow()},
    )
    if not started:
        return {"status": "dropped", "reason": "run is not queued (already prepared or ended)"}
    leaderboard = deps.leaderboards.get(leaderboard_id)
    run = deps.runs.find(leaderboard_id, run_id)
    if leaderboard is None or run is None:
        return {"status": "dropped", "reason": "leaderboard or run is gone"}
    try:
        pinned, shards = _pin(deps, leaderboard_id, run_id, leaderboard)
    except DrGeroError as exc:  # a limit or a problem of the file, with its code and limit
        fail_run(deps, leaderboard_id, run_id, exc.code, detail=exc.message[:500], **exc.details)
        _drop_pinned(deps, leaderboard_id, run_id)
        return {"status": "failed", "reason": exc.code}
    except Exception as exc:  # any failure to read the dataset ends the run, with the reason
        fail_run(deps, leaderboard_id, run_id, "dataset_unreadable", detail=str(exc)[:500])
        _drop_pinned(deps, leaderboard_id, run_id)
        return {"status": "failed", "reason": str(exc)[:500]}
    if shards == 0:
        fail_run(deps, leaderboard_id, run_id, "empty_dataset")
        return {"status": "failed", "reason": "empty_dataset"}

    models = [m["id"] for m in run.model_configs]
    estimate = dict(run.estimate or {}) | {"rows": pinned["rows"], "rows_exact": True}
    deps.runs.update(
        leaderboard_id,
        run_id,
        {"dataset": pinned, "shards_total": shards * len(models), "estimate": estimate},
    )
    if not leaderboard.is_push:
        deps.leaderboards.update(leaderboard_id, {"dataset.rows_seen": pinned["rows"]})
    for model_id in models:
        for shard in range(shards):
            deps.tasks.enqueue(
                EvaluateShard(
                    leaderboard_id=leaderboard_id, run_id=run_id, model_id=model_id, shard=shard
                )
            )
    return {"status": "prepared", "shards": shards, "models": len(models), "rows": pinned["rows"]}


def _drop_pinned(deps: Deps, leaderboard_id: str, run_id: str) -> None:
    """Delete the shards written before the pin failed (a file over a limit stops part way).

    Best effort, after the run is failed: objects left behind cost storage, not correctness.
    """
    try:
        deps.datasets.delete_prefix(f"runs/{leaderboard_id}/{run_id}/shards/")
    except Exception:
        log.warning("could not delete the shards of failed run %s", run_id, exc_info=True)


def _pin(
    deps: Deps, leaderboard_id: str, run_id: str, leaderboard: LeaderboardRecord
) -> tuple[dict[str, Any], int]:
    size = deps.settings.run_shard_size
    if leaderboard.is_push:
        version = leaderboard.dataset_version
        assert version is not None  # a run of a PUSH leaderboard starts from a version
        rows: Iterator[Row] = (
            Row.from_json(data)
            for data in deps.datasets.read_rows(version.object_name, version.generation)
        )
        pinned: dict[str, Any] = {
            "mode": "push",
            "version": version.version,
            "uri": deps.datasets.uri(version.object_name),
            "sha256": version.sha256,
        }
    else:
        url = leaderboard.dataset["url"]
        rows = read_get_dataset(deps, leaderboard.workspace_id, url)
        pinned = {"mode": "get", "url": url, "read_at": utcnow().isoformat()}
    total = shards = 0
    while chunk := list(islice(rows, size)):
        deps.datasets.write_jsonl(
            shard_name(leaderboard_id, run_id, shards), (row.to_json() for row in chunk)
        )
        shards += 1
        total += len(chunk)
    pinned |= {"rows": total, "shard_size": size, "shards": shards,
               "prefix": deps.datasets.uri(f"runs/{leaderboard_id}/{run_id}/shards/")}  # fmt: skip
    return pinned, shards
