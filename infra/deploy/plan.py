"""One line of a deploy plan: what the deploy does (or would do) to one resource."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verb = Literal["create", "update", "delete", "keep"]
MUTATING: frozenset[str] = frozenset({"create", "update", "delete"})


@dataclass(frozen=True)
class Change:
    verb: Verb
    resource: str  # e.g. "scheduler job drgero-runs-watchdog"
    detail: str = ""  # e.g. the fields an update changes: "schedule, attempt_deadline"

    @property
    def mutates(self) -> bool:
        return self.verb in MUTATING

    def line(self) -> str:
        return f"{self.verb:<6} {self.resource}" + (f"  ({self.detail})" if self.detail else "")
