"""What a push answers: its receipt (rows accepted, rejected and refused, the windows' usage),
or, when no row was accepted, the error that says why.

The receipt's JSON is the push's answer; with an ``Idempotency-Key`` it is stored with the rows,
and a retry replays it byte for byte (:class:`PushResult`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.clock import iso, utcnow
from shared.domain import quota
from shared.domain.rows import RowRejection
from shared.errors import DrGeroError, Gone, TooManyRequests, ValidationFailed


@dataclass(frozen=True)
class PushReceipt:
    batch_id: str
    leaderboard_id: str
    accepted_ids: list[str]
    rejected: list[RowRejection]
    refused_indexes: list[int] = field(default_factory=list)  # valid rows over a limit
    refusal: quota.Refusal | None = None  # why they were refused
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        accepted = len(self.accepted_ids)
        body: dict[str, Any] = {
            "batch_id": self.batch_id,
            "leaderboard_id": self.leaderboard_id,
            "received": accepted + len(self.rejected) + len(self.refused_indexes),
            "accepted": accepted,
            "accepted_ids": self.accepted_ids,
            "rejected": [
                {"index": r.index, "code": r.code, "message": r.message}
                | ({"field": r.field} if r.field else {})
                for r in self.rejected
            ],
            "refused": None,
            "usage": self.usage,
        }
        if self.refusal is not None:
            body["refused"] = self.refusal.to_json() | {"indexes": self.refused_indexes}
        return body

    def error(self) -> DrGeroError | None:
        """Why nothing was accepted (with the rejected and refused rows), or None."""
        if self.accepted_ids:
            return None
        error = _nothing_accepted(len(self.rejected), self.refusal)
        body = self.to_json()
        error.details.update({k: body[k] for k in ("rejected", "refused") if body.get(k)})
        return error


@dataclass(frozen=True)
class PushResult:
    """The answer to a push: the receipt's JSON and whether it replays the first answer to the
    same ``Idempotency-Key`` (stored answers are all of accepted pushes: a refused one keeps
    nothing)."""

    answer: dict[str, Any]
    replayed: bool = False


def _nothing_accepted(rejected: int, refusal: quota.Refusal | None) -> DrGeroError:
    if refusal is not None and refusal.code == "dataset_closed":
        return Gone(refusal.message, code="dataset_closed")
    if refusal is not None:
        seconds = (
            max(1, int((refusal.resets_at - utcnow()).total_seconds())) if refusal.resets_at else 60
        )
        return TooManyRequests(
            refusal.message,
            code=refusal.code,
            resets_at=iso(refusal.resets_at),
            retry_after_seconds=seconds,
        )
    return ValidationFailed(
        f"none of the {rejected} rows is valid; see 'rejected' for each row's problem",
        code="no_valid_rows",
    )
