"""Idempotency records: the first answer to a keyed request, kept for a day.

``leaderboards/{id}/idempotency/{sha256(key)}`` is created by the first request with that key
(``create()``: first writer wins) in state ``in_progress`` with a short lease. The owner's final
commit flips it to ``done`` with the answer, conditioned on the record's ``update_time``, so it
lands together with the work or not at all. A duplicate that finds ``done`` replays the answer;
one that finds ``in_progress`` waits; one that finds an expired lease (the owner crashed) takes
the record over. ``expires_at`` drives a Firestore TTL policy (see ``infra/``).

An answer too large for the record (Firestore refuses a document over 1 MiB, and the refusal
took the work's whole commit with it) is stored as JSON in ``{record}/idempotency_parts/{n}``
documents of bytes, in the same commit as the record; a replay reads them back whole (an
answer is not a trace: cutting it would replay something else). An answer larger than
``max_answer_bytes`` is not kept at all (:func:`stage_answer` says so): the caller releases
the key and a retry runs anew.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.clock import utcnow
from shared.storage.limits import document_size
from shared.storage.unit_of_work import UnitOfWork

PARTS = "idempotency_parts"
PART_MARGIN_BYTES = 1024  # a part's name and fields, besides its data


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
    return peeked(ref.get())


def peeked(snap: firestore.DocumentSnapshot) -> Peeked | None:
    """:func:`peek` of a snapshot read already (e.g. in a batched ``get_all``)."""
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
        return Replay(status=int(data["status"]), body=_response(ref, data))
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
    work: UnitOfWork,
    owned: Owned,
    *,
    status: int,
    body: dict[str, Any],
    max_document_bytes: int = 1_000_000,
    max_answer_bytes: int = 2 * 1024 * 1024,
    ttl_hours: int = 24,
) -> bool:
    """Record the answer inside the work's own commit; the commit fails if ownership was lost.

    False if the answer is over ``max_answer_bytes`` and nothing was staged.
    """
    fields: dict[str, Any] = {"state": "done", "status": status, "response": body}
    if document_size(owned.ref.path, fields) + PART_MARGIN_BYTES <= max_document_bytes:
        _update_owned(work, owned, fields)
        return True
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    if len(data) > max_answer_bytes:
        return False
    size = max_document_bytes - PART_MARGIN_BYTES
    expires_at = utcnow() + timedelta(hours=ttl_hours)
    parts = [data[start : start + size] for start in range(0, len(data), size)]
    for n, part in enumerate(parts):
        work.set(
            owned.ref.collection(PARTS).document(f"{n:05d}"),
            {"data": part, "expires_at": expires_at},
        )
    _update_owned(work, owned, {"state": "done", "status": status, "response_parts": len(parts)})
    return True


def _update_owned(work: UnitOfWork, owned: Owned, fields: dict[str, Any]) -> None:
    """Update the record only if it is still ours (conditioned on our claim's update time): a
    lost claim makes the work's commit raise ``WriteConflict``."""
    work.update(owned.ref, fields, if_unchanged_since=owned.update_time)


def _response(ref: firestore.DocumentReference, data: dict[str, Any]) -> dict[str, Any]:
    if "response_parts" not in data:
        return dict(data["response"])
    names = [ref.collection(PARTS).document(f"{n:05d}") for n in range(data["response_parts"])]
    snaps = {snap.id: snap for snap in ref._client.get_all(names)}
    joined = b"".join(bytes(snaps[name.id].get("data")) for name in names)
    return dict(json.loads(joined))


def release(owned: Owned) -> None:
    """Drop an unanswered claim so that a retry can run at once instead of waiting the lease."""
    with contextlib.suppress(gexc.FailedPrecondition, gexc.NotFound):
        owned.ref.delete(option=owned.ref._client.write_option(last_update_time=owned.update_time))


def token_record_ref(
    db: firestore.Client, leaderboard_id: str, *, token_hash: str, key: str
) -> firestore.DocumentReference:
    """The record of one token's ``Idempotency-Key`` on a leaderboard (keys are per token)."""
    return record_ref(db, leaderboard_id, f"{token_hash}:{key}")


class IdempotencyRecords:
    """Where the idempotency records of a Firestore database live (the services' handle)."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def for_token(
        self, leaderboard_id: str, *, token_hash: str, key: str
    ) -> firestore.DocumentReference:
        """The record of one token's ``Idempotency-Key`` on a leaderboard."""
        return token_record_ref(self._db, leaderboard_id, token_hash=token_hash, key=key)
