"""Leaderboards: create, get, list; their traces and dataset downloads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from shared.clock import iso, utcnow
from shared.domain.leaderboards import LeaderboardCreate
from shared.domain.tokens import Scope
from shared.errors import NotFound, ValidationFailed
from shared.services.auth import Principal, load_leaderboard
from shared.services.status import dataset_metadata
from shared.storage.records import LeaderboardRecord
from shared.storage.traces import TRACE_KINDS, public_trace
from shared.wiring import Deps


def create_leaderboard(deps: Deps, principal: Principal, body: LeaderboardCreate) -> dict[str, Any]:
    principal.require(Scope.LEADERBOARDS_WRITE)
    now = utcnow()
    try:
        body.dataset.check_end_date_in_future(now)
    except ValueError as exc:
        raise ValidationFailed(
            str(exc), code="invalid_dataset_config", field="dataset.end_date"
        ) from exc
    hours = body.dataset.consolidate_every_hours
    record = LeaderboardRecord(
        id=str(uuid.uuid4()),
        workspace_id=principal.workspace_id,
        name=body.name,
        system_prompt=body.system_prompt,
        dataset=body.dataset.model_dump(),
        evaluation=body.evaluation.model_dump(),
        schedule=body.schedule,
        created_at=now,
        updated_at=now,
        consolidation_due_at=now + timedelta(hours=hours) if hours else None,
    )
    deps.leaderboards.create(record)
    return public_leaderboard(deps, record)


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
    body: dict[str, Any] = {
        "id": record.id,
        "workspace_id": record.workspace_id,
        "name": record.name,
        "system_prompt": record.system_prompt,
        "dataset": {k: iso(v) if k == "end_date" else v for k, v in record.dataset.items()},
        "evaluation": record.evaluation,
        "schedule": record.schedule,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "traces_url": f"{base}/v1/leaderboard/{record.id}/traces",
    }
    if record.is_push:
        body["dataset"]["push_url"] = f"{base}/v1/leaderboard/{record.id}/dataset/push"
        body["dataset"]["status_url"] = f"{base}/v1/leaderboard/{record.id}/dataset/status"
        body["dataset"]["current"] = dataset_metadata(deps, record)
    return body


def list_traces(
    deps: Deps,
    principal: Principal,
    leaderboard_id: str,
    *,
    kind: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    if kind is not None and kind not in TRACE_KINDS:
        raise ValidationFailed(
            f"unknown trace kind {kind!r}; one of {', '.join(TRACE_KINDS)}", code="invalid_kind"
        )
    page = deps.traces.list_page(leaderboard_id, kind=kind, limit=limit, cursor=cursor)
    return {"items": [public_trace(t) for t in page.items], "next_cursor": page.next_cursor}


def get_trace(
    deps: Deps, principal: Principal, leaderboard_id: str, trace_id: str
) -> dict[str, Any]:
    load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    trace = deps.traces.get(leaderboard_id, trace_id)
    if trace is None:
        raise NotFound(f"trace {trace_id} not found", code="trace_not_found")
    return public_trace(trace)


def download_dataset(
    deps: Deps, principal: Principal, leaderboard_id: str
) -> tuple[Iterator[bytes], dict[str, str]]:
    """The current dataset version's bytes, streamed, with headers that identify it."""
    record = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    version = record.dataset_version
    if version is None:
        raise NotFound("this dataset has not been consolidated yet", code="no_dataset_version")
    headers = {
        "Content-Type": "application/jsonl",
        "Content-Length": str(version.bytes),
        "Content-Disposition": f'attachment; filename="{record.id}-v{version.version}.jsonl"',
        "X-DrGero-Dataset-Version": str(version.version),
        "X-DrGero-Dataset-Sha256": version.sha256,
    }
    return deps.datasets.read_bytes(version.object_name, version.generation), headers
