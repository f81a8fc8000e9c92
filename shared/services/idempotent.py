"""``Idempotency-Key`` for any endpoint: claim the key, or replay its answer, or wait for it.

The record's life is in ``shared/storage/idempotency.py``. A request that finds the key in
progress waits (up to ``wait_seconds``) for the owner's answer, then gives up with 409
``idempotency_in_progress``; a key already used with another body is 422
``idempotency_key_reused``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from shared.domain.jsonl import canonical_json
from shared.errors import Conflict, ValidationFailed
from shared.storage import idempotency


def request_hash(body: Any) -> str:
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def claim(
    ref: Any,
    body_hash: str,
    *,
    lease_seconds: float,
    wait_seconds: float,
    ttl_hours: int,
) -> idempotency.Owned | idempotency.Replay:
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        claimed = idempotency.claim(
            ref, request_hash=body_hash, lease_seconds=lease_seconds, ttl_hours=ttl_hours
        )
        if isinstance(claimed, idempotency.Owned | idempotency.Replay):
            return claimed
        if isinstance(claimed, idempotency.KeyReused):
            raise ValidationFailed(
                "this Idempotency-Key was already used with a different request body",
                code="idempotency_key_reused",
            )
        if time.monotonic() > deadline:
            raise Conflict(
                "a request with this Idempotency-Key is still in progress; retry shortly",
                code="idempotency_in_progress",
                retry_after_seconds=1,
                wait_seconds=wait_seconds,
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
