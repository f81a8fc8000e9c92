"""A run's status: queued → running → completed, or failed / cancelled from either active one."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"  # started, its prepare task not yet run
    RUNNING = "running"  # prepared: its shards are being evaluated
    COMPLETED = "completed"  # ranked and published
    FAILED = "failed"  # ended with a ``failure`` reason (deadline, unreadable dataset, ...)
    CANCELLED = "cancelled"  # ended by a caller

    @property
    def active(self) -> bool:
        return self in ACTIVE


# A run in one of these holds the leaderboard's run lock.
ACTIVE: tuple[RunStatus, ...] = (RunStatus.QUEUED, RunStatus.RUNNING)
