"""Idempotency records: the first answer to a keyed request, kept for a day.

``leaderboards/{id}/idempotency/{sha256(key)}`` is created by the first request with that key
(``create()``: first writer wins) in state ``in_progress`` with a short lease. The owner's final
commit flips it to ``done`` with the answer, conditioned on the record's ``update_time``, so it
lands together with the work or not at all. A duplicate that finds ``done`` replays the answer;
one that finds ``in_progress`` waits; one that finds an expired lease (the owner crashed) takes
the record over. ``expires_at`` drives a Firestore TTL policy (see ``infra/``).
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.clock import utcnow


@dataclass(frozen=True)
class Owned:
    ref: firestore.DocumentReference
    update_time: datetime


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Busy:
    pass


@dataclass(frozen=True)
class KeyReused:
    pass


Claim = Owned | Replay | Busy | KeyReused


def record_ref(db: firestore.Client, leaderboard_id: str, key: str) -> firestore.DocumentReference:
    key_hash = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return (
        db.collection("leaderboards")
        .document(leaderboard_id)
        .collection("idempotency")
        .document(key_hash)
    )


@dataclass(frozen=True)
class Peeked:
    request_hash: str | None
    replay: Replay | None  # the answer, when the record is done


def peek(ref: firestore.DocumentReference) -> Peeked | None:
    """The record as it stands, without claiming it; None when absent or expired."""
    snap = ref.get()
    data = snap.to_dict() if snap.exists else None
    if not data or (data.get("expires_at") is not None and data["expires_at"] <= utcnow()):
        return None
    done = data.get("state") == "done"
    return Peeked(
        request_hash=data.get("request_hash"),
        replay=Replay(status=int(data["status"]), body=data["response"]) if done else None,
    )


def claim(
    ref: firestore.DocumentReference,
    *,
    request_hash: str,
    lease_seconds: float,
    ttl_hours: int,
) -> Claim:
    now = utcnow()
    body = {
        "state": "in_progress",
        "request_hash": request_hash,
        "lease_until": now + timedelta(seconds=lease_seconds),
        "expires_at": now + timedelta(hours=ttl_hours),
    }
    try:
        return Owned(ref=ref, update_time=ref.create(body).update_time)
    except gexc.AlreadyExists:
        pass
    snap = ref.get()
    if not snap.exists:  # released between our create and our read
        return Busy()
    data = snap.to_dict() or {}
    if data.get("request_hash") != request_hash:
        return KeyReused()
    if data.get("state") == "done":
        return Replay(status=int(data["status"]), body=data["response"])
    if data["lease_until"] > now:
        return Busy()
    try:
        result = ref.update(
            body, option=ref._client.write_option(last_update_time=snap.update_time)
        )
    except (gexc.FailedPrecondition, gexc.NotFound):
        return Busy()
    return Owned(ref=ref, update_time=result.update_time)


def stage_answer(
    batch: firestore.WriteBatch, owned: Owned, *, status: int, body: dict[str, Any]
) -> None:
    """Record the answer inside the work's own commit; the commit fails if ownership was lost."""
    batch.update(
        owned.ref,
        {"state": "done", "status": status, "response": body},
        option=owned.ref._client.write_option(last_update_time=owned.update_time),
    )


def release(owned: Owned) -> None:
    """Drop an unanswered claim so that a retry can run at once instead of waiting the lease."""
    with contextlib.suppress(gexc.FailedPrecondition, gexc.NotFound):
        owned.ref.delete(option=owned.ref._client.write_option(last_update_time=owned.update_time))
