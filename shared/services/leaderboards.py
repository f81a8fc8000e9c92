"""Leaderboards: create, get, update, delete, list; their dataset downloads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.bootstrap import Deps
from shared.clock import iso, jsonable, utcnow
from shared.domain.leaderboards import (
    GetDatasetConfig,
    InferenceConfig,
    LeaderboardCreate,
    LeaderboardUpdate,
    PushDatasetConfig,
)
from shared.domain.plans import plan_for
from shared.domain.schedule import next_run_at
from shared.domain.snapshot import (
    STORED_DATASET_FIELDS,
    candidates_digest,
    changed_run_parts,
    config_hash,
    dataset_config,
)
from shared.domain.tokens import Scope
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.services.auth import Principal, load_leaderboard
from shared.services.get_datasets import check_dataset_url, validate_get_dataset
from shared.services.run_guard import (
    change_leaderboard,
    current_parts,
    leaderboard_snapshot,
    ranking_freshness,
    refuse_during_run,
)
from shared.services.status import dataset_metadata
from shared.storage.leaderboards import Change
from shared.storage.records import DatasetVersion, LeaderboardRecord


def create_leaderboard(deps: Deps, principal: Principal, body: LeaderboardCreate) -> dict[str, Any]:
    principal.require(Scope.LEADERBOARDS_WRITE)
    now = utcnow()
    dataset = body.dataset.model_dump()
    if isinstance(body.dataset, PushDatasetConfig):
        try:
            body.dataset.check_end_date_in_future(now)
        except ValueError as exc:
            raise ValidationFailed(
                str(exc), code="invalid_dataset_config", field="dataset.end_date"
            ) from exc
        hours = body.dataset.consolidate_every_hours
        due = now + timedelta(hours=hours) if hours else None
    else:
        check_dataset_url(deps, body.dataset.url)  # no request: a bad URL costs nothing
        due = None
    evaluation = body.evaluation.model_dump()
    # The plan's slot first: a workspace at its limit makes no download (and a failed
    # validation gives the slot back).
    with _leaderboard_slot(deps, principal.workspace_id):
        if isinstance(body.dataset, GetDatasetConfig):
            dataset["validation"] = validate_get_dataset(
                deps, principal.workspace_id, body.dataset.url, evaluation=evaluation
            )
        record = LeaderboardRecord(
            id=str(uuid.uuid4()),
            workspace_id=principal.workspace_id,
            name=body.name,
            system_prompt=body.system_prompt,
            dataset=dataset,
            evaluation=evaluation,
            schedule=body.schedule.model_dump() if body.schedule else None,
            inference=body.inference.model_dump(),
            next_run_at=next_run_at(body.schedule, now) if body.schedule else None,
            created_at=now,
            updated_at=now,
            consolidation_due_at=due,
            candidates_digest=candidates_digest([]),
        )
        deps.leaderboards.create(record)
    return public_leaderboard(deps, record)


@contextmanager
def _leaderboard_slot(deps: Deps, workspace_id: str) -> Iterator[None]:
    """Reserve one leaderboard of the plan's allowance; given back if over it or on failure."""
    workspace = deps.workspaces.get(workspace_id)
    if workspace is None:
        raise NotFound("workspace not found", code="workspace_not_found")
    plan = plan_for(workspace.plan, free_max_leaderboards=deps.settings.free_plan_max_leaderboards)
    count = deps.workspaces.add_leaderboards(workspace_id, 1)
    if plan.max_leaderboards is not None and count > plan.max_leaderboards:
        deps.workspaces.add_leaderboards(workspace_id, -1)
        raise Forbidden(
            f"the {plan.name} plan allows {plan.max_leaderboards} leaderboards; delete one or"
            " upgrade the plan",
            code="plan_limit_reached",
            plan=plan.name,
            max_leaderboards=plan.max_leaderboards,
        )
    try:
        yield
    except BaseException:
        deps.workspaces.add_leaderboards(workspace_id, -1)
        raise


def update_leaderboard(
    deps: Deps, principal: Principal, leaderboard_id: str, body: LeaderboardUpdate
) -> dict[str, Any]:
    record = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    now = utcnow()
    fields: dict[str, Any] = {"updated_at": now}
    if body.name is not None:
        fields["name"] = body.name
    if body.system_prompt is not None:
        fields["system_prompt"] = body.system_prompt
    if body.evaluation is not None:
        fields["evaluation"] = body.evaluation.model_dump()
    if body.inference is not None:
        fields["inference"] = body.inference.model_dump()
    # Refused before any validation work (a GET dataset's download) when a run is active.
    _refuse_run_changes(record, fields | _dataset_draft(record, body.dataset))
    if body.clear_schedule:
        fields["schedule"], fields["next_run_at"] = None, None
    elif body.schedule is not None:
        fields["schedule"] = body.schedule.model_dump()
        fields["next_run_at"] = next_run_at(body.schedule, now)
    if body.dataset is not None:
        fields.update(_updated_dataset(deps, record, body.dataset, now, fields.get("evaluation")))
    elif _newly_regex(record, fields.get("evaluation")):
        # The rows' expected answers become patterns: they must be ones RE2 can run.
        validate_get_dataset(
            deps, record.workspace_id, record.dataset["url"], evaluation=fields["evaluation"]
        )

    def build(fresh: LeaderboardRecord) -> Change:
        _refuse_run_changes(fresh, fields)
        return Change(fields)

    return public_leaderboard(deps, change_leaderboard(deps, record, build))


def _dataset_draft(record: LeaderboardRecord, changes: dict[str, Any] | None) -> dict[str, Any]:
    """The dataset an update would store, before it is validated (for the run check)."""
    return {} if changes is None else {"dataset": record.dataset | changes}


def _refuse_run_changes(record: LeaderboardRecord, fields: dict[str, Any]) -> None:
    parts = changed_run_parts(leaderboard_snapshot(record), fields)
    if parts:
        refuse_during_run(record, "changing the " + ", the ".join(_PART_WORDS[p] for p in parts))


_PART_WORDS = {
    "system_prompt": "system prompt",
    "dataset": "dataset configuration",
    "evaluation": "evaluation",
    "inference": "inference settings",
}


def _newly_regex(record: LeaderboardRecord, evaluation: dict[str, Any] | None) -> bool:
    """True when a GET leaderboard's evaluation turns to ``match: "regex"`` with this update."""

    def regex(config: dict[str, Any] | None) -> bool:
        return (
            config is not None and config.get("type") == "exact" and config.get("match") == "regex"
        )

    return not record.is_push and regex(evaluation) and not regex(record.evaluation)


def _updated_dataset(
    deps: Deps,
    record: LeaderboardRecord,
    changes: dict[str, Any],
    now: datetime,
    evaluation: dict[str, Any] | None,
) -> dict[str, Any]:
    mode = record.dataset["mode"]
    if changes.get("mode", mode) != mode:
        raise ValidationFailed(
            f"a leaderboard's dataset mode cannot change (it is {mode!r}); create a new one",
            code="dataset_mode_fixed",
            field="dataset.mode",
        )
    # Fields we store beside the client's config (what validation found, how many rows the
    # last run read) are not the client's to send: keep them out of what is re-validated.
    current = dataset_config(record.dataset)
    merged = current | changes
    if mode == "push":
        config = PushDatasetConfig.model_validate(merged)
        if "end_date" in changes:
            try:
                config.check_end_date_in_future(now)
            except ValueError as exc:
                raise ValidationFailed(
                    str(exc), code="invalid_dataset_config", field="dataset.end_date"
                ) from exc
        hours = config.consolidate_every_hours
        return {
            "dataset": config.model_dump(),
            "consolidation_due_at": now + timedelta(hours=hours) if hours else None,
        }
    get_config = GetDatasetConfig.model_validate(merged)
    dataset = get_config.model_dump()
    if get_config.url != record.dataset.get("url") or _newly_regex(record, evaluation):
        check_dataset_url(deps, get_config.url)
        dataset["validation"] = validate_get_dataset(
            deps, record.workspace_id, get_config.url, evaluation=evaluation or record.evaluation
        )
    else:
        dataset |= {k: record.dataset[k] for k in STORED_DATASET_FIELDS if k in record.dataset}
    return {"dataset": dataset}


def delete_leaderboard(deps: Deps, principal: Principal, leaderboard_id: str) -> None:
    record = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    workspace = deps.workspaces.get(record.workspace_id)
    plan = plan_for(
        workspace.plan if workspace else "free",
        free_max_leaderboards=deps.settings.free_plan_max_leaderboards,
    )
    if not plan.can_delete_leaderboards:
        raise Forbidden(
            f"the {plan.name} plan cannot delete leaderboards; upgrade to delete",
            code="plan_forbids_delete",
            plan=plan.name,
        )
    if record.active_run_id:
        raise Conflict(
            f"run {record.active_run_id} is active; cancel it first", code="run_in_progress"
        )
    for model in deps.candidates.find_all(record.id):  # their tokens live in the workspace
        if model.secret_ref:
            deps.secrets.delete(record.workspace_id, model.secret_ref)
    if workspace is not None and record.id in workspace.push_origins:
        deps.origins.replace(record.workspace_id, forget_leaderboard=record.id)
    deps.leaderboards.delete_everything(record.id)
    deps.datasets.delete_prefix(f"datasets/{record.id}/")
    deps.datasets.delete_prefix(f"runs/{record.id}/")
    deps.workspaces.add_leaderboards(record.workspace_id, -1)


def get_leaderboard(deps: Deps, principal: Principal, leaderboard_id: str) -> dict[str, Any]:
    record = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    return public_leaderboard(deps, record)


def list_leaderboards(
    deps: Deps, principal: Principal, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    principal.require(Scope.LEADERBOARDS_READ)
    records, next_cursor = deps.leaderboards.list_page(
        workspace_id=principal.workspace_id, limit=limit, cursor=cursor
    )
    return {"items": [public_leaderboard(deps, r) for r in records], "next_cursor": next_cursor}


def public_leaderboard(deps: Deps, record: LeaderboardRecord) -> dict[str, Any]:
    base = deps.settings.public_base_url.rstrip("/")
    current = current_parts(deps, record)
    body: dict[str, Any] = {
        "id": record.id,
        "workspace_id": record.workspace_id,
        "name": record.name,
        "system_prompt": record.system_prompt,
        "dataset": jsonable(record.dataset),
        "evaluation": record.evaluation,
        "schedule": record.schedule,
        "inference": record.inference or InferenceConfig().model_dump(),
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "traces_url": f"{base}/v1/leaderboard/{record.id}/traces",
        "active_run_id": record.active_run_id,
        # The configuration's digest now, and whether the current ranking was computed under it.
        "config_hash": config_hash(current),
        "ranking_summary": _ranking_summary(record.ranking, current),
    }
    if record.is_push:
        body["dataset"]["push_url"] = f"{base}/v1/leaderboard/{record.id}/dataset/push"
        body["dataset"]["status_url"] = f"{base}/v1/leaderboard/{record.id}/dataset/status"
        body["dataset"]["current"] = dataset_metadata(deps, record)
    return body


def _ranking_summary(
    ranking: dict[str, Any] | None, current: dict[str, str]
) -> dict[str, Any] | None:
    freshness = ranking_freshness(ranking, current)
    if ranking is None or freshness is None:
        return None
    return {
        "run_id": ranking.get("run_id"),
        "finished_at": ranking.get("finished_at"),
        "leader": ranking.get("leader"),
    } | freshness


@dataclass(frozen=True)
class Download:
    """A dataset download: the current version's bytes, or a URL signed for them (``redirect``,
    valid until ``expires_at``)."""

    leaderboard_id: str
    version: DatasetVersion
    chunks: Iterator[bytes] | None = None
    redirect: str | None = None
    expires_at: datetime | None = None


def download_dataset(
    deps: Deps, principal: Principal, leaderboard_id: str, *, signed: bool = False
) -> Download:
    """The current dataset version: its bytes, streamed; or, with ``signed``, a storage URL
    signed now for ``download_url_ttl_seconds`` (the bytes when these credentials cannot sign,
    as on the local emulator)."""
    record = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    version = record.dataset_version
    if version is None:
        raise NotFound("this dataset has not been consolidated yet", code="no_dataset_version")
    if signed:
        ttl = deps.settings.download_url_ttl_seconds
        url = deps.datasets.signed_url(version.object_name, version.generation, ttl_seconds=ttl)
        if url is not None:
            expires_at = utcnow() + timedelta(seconds=ttl)
            return Download(record.id, version, redirect=url, expires_at=expires_at)
    chunks = deps.datasets.read_bytes(version.object_name, version.generation)
    return Download(record.id, version, chunks=chunks)
