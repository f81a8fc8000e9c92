"""Traces of a leaderboard: list and read them, and record manual ones.

A trace is the JSON record of a run, an inference call, a dataset change or a manual entry
(kind ``manual``: ``POST /v1/leaderboard/{id}/traces``, what the product calls a manual event).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.bootstrap import Deps
from shared.domain.jsonl import canonical_json
from shared.domain.tokens import Scope
from shared.errors import NotFound, ValidationFailed
from shared.services.auth import Principal, load_leaderboard
from shared.storage.traces import TRACE_KINDS, public_trace


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


class ManualTraceCreate(BaseModel):
    """A manual trace (kind ``manual``): anything worth keeping beside the leaderboard's other
    traces, e.g. feedback on an inference call."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    # The caller's own id for the trace: sending it again records nothing new (retries).
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")] | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    message: Annotated[str, Field(max_length=10_000)] | None = None
    data: dict[str, Any] | None = None
    # Another trace of this leaderboard this one is about (e.g. feedback on an inference call).
    related_trace_id: Annotated[str, Field(max_length=128)] | None = None

    @field_validator("data")
    @classmethod
    def _small(cls, data: dict[str, Any] | None) -> dict[str, Any] | None:
        if data is None:
            return None
        if len(canonical_json(data).encode("utf-8")) > MAX_MANUAL_DATA_BYTES:
            raise ValueError(f"data must be at most {MAX_MANUAL_DATA_BYTES} bytes of JSON")
        _storable(data)
        return data


MAX_MANUAL_DATA_BYTES = 64 * 1024
# ``data`` is stored as a Firestore map inside the trace: maps nest at most 20 levels (``data``
# itself is the first), field names are not empty, and an array cannot hold an array.
MAX_MANUAL_DATA_DEPTH = 20


def _storable(data: dict[str, Any]) -> None:
    level: list[Any] = [data]
    for _ in range(MAX_MANUAL_DATA_DEPTH):
        inner: list[Any] = []
        for value in level:
            if isinstance(value, dict):
                if "" in value:
                    raise ValueError("data keys must not be empty")
                inner += [item for item in value.values() if isinstance(item, dict | list)]
                continue
            if any(isinstance(item, list) for item in value):
                raise ValueError("data cannot hold an array directly inside an array")
            inner += [item for item in value if isinstance(item, dict)]
        if not inner:
            return
        level = inner
    raise ValueError(f"data nests arrays and objects more than {MAX_MANUAL_DATA_DEPTH} deep")


def record_manual_trace(
    deps: Deps, principal: Principal, leaderboard_id: str, body: ManualTraceCreate
) -> tuple[dict[str, Any], bool]:
    """Record a manual trace; with the caller's ``id``, at most once.

    Answers the trace and whether this call created it (False: the same ``id`` was recorded
    before, and that first trace is answered).
    """
    record = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    if body.related_trace_id and deps.traces.get(record.id, body.related_trace_id) is None:
        raise ValidationFailed(
            f"related trace {body.related_trace_id} is not a trace of this leaderboard",
            code="trace_not_found",
            field="related_trace_id",
        )
    trace_id = None
    if body.id is not None:  # the same caller id always names the same trace
        trace_id = "tr_" + hashlib.sha256(f"manual:{body.id}".encode()).hexdigest()[:32]
    ref, trace = deps.traces.new(
        record.id,
        kind="manual",
        trace_id=trace_id,
        workspace_id=record.workspace_id,
        token_id=principal.token_id,
        event_id=body.id,
        name=body.name,
        message=body.message,
        data=body.data,
        related_trace_id=body.related_trace_id,
    )
    if deps.traces.create_once(ref, trace):
        return public_trace(trace), True
    first = deps.traces.get(record.id, ref.id)
    assert first is not None  # traces are never deleted on their own
    return public_trace(first), False
