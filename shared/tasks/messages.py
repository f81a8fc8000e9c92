"""The task messages: one type per internal task, used by the sender and the receiver.

Each message knows the internal path that serves it and, when its trigger makes it unique, the
task name that makes "enqueue once" safe (Cloud Tasks refuses a second task of the same name).
``TaskQueue.enqueue(message)`` sends one; the worker's handler parses its body back into the
same type. A message carries pointers (ids, a reason), never data.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def task_name(*parts: str) -> str:
    """A valid, deterministic task id built from ``parts``."""
    return _NAME_UNSAFE.sub("-", "-".join(parts))[:450]


class TaskMessage(BaseModel):
    # Unknown fields are ignored: a message of a newer release must not fail an older worker
    # mid-deploy (and the other way round).
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    path: ClassVar[str]

    def default_name(self) -> str | None:
        """The task's name when the message alone makes it unique; None: the sender names it."""
        return None


class PrepareRun(TaskMessage):
    """Pin a run's dataset and fan it out into one evaluate-shard task per model and shard."""

    path: ClassVar[str] = "/internal/tasks/prepare-run"

    leaderboard_id: str
    run_id: str

    def default_name(self) -> str:
        return task_name("run", self.run_id, "prepare")


class EvaluateShard(TaskMessage):
    """Evaluate one candidate model on one shard of a run's rows."""

    path: ClassVar[str] = "/internal/tasks/evaluate-shard"

    leaderboard_id: str
    run_id: str
    model_id: str
    shard: int = Field(ge=0)

    def default_name(self) -> str:
        return task_name("run", self.run_id, self.model_id, str(self.shard))


class Consolidate(TaskMessage):
    """Consolidate a PUSH leaderboard's pending rows (named by its trigger: a dataset version
    for "every N events", a due time for "every N hours")."""

    path: ClassVar[str] = "/internal/tasks/consolidate"

    leaderboard_id: str
    reason: str = "task"


MESSAGES: tuple[type[TaskMessage], ...] = (PrepareRun, EvaluateShard, Consolidate)
