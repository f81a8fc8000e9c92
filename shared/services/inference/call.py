"""The shapes of one inference call: who calls, the prepared call, its answer; its caches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.bootstrap import Deps
from shared.domain.entities import CandidateModel
from shared.providers.base import Completion, StreamEvent
from shared.services.auth import Principal
from shared.services.hotcache import TtlCache
from shared.storage.records import LeaderboardRecord, TokenRecord
from shared.storage.traces import new_trace_id
from shared.storage.unit_of_work import UnitOfWork

MIN_ATTEMPT_SECONDS = 0.05  # less time than this left: no attempt is worth starting


@dataclass(frozen=True)
class Caller:
    """An authenticated inference token: its principal, its hash (the token's key) and record."""

    principal: Principal
    token_hash: str
    record: TokenRecord


@dataclass
class Call:
    """A prepared inference call: who, where, what to send, and to which models in turn."""

    principal: Principal
    token_hash: str
    leaderboard: LeaderboardRecord
    messages: list[dict[str, Any]]
    caller_input: str
    chain: list[CandidateModel]
    budgeted: bool = False
    attempt_seconds: float = 60.0  # one model's time
    deadline_seconds: float = 120.0  # the whole request's time, from ``started``
    started: float = field(default_factory=time.perf_counter)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    trace_id: str = field(default_factory=new_trace_id)  # the one trace this call writes
    # With an Idempotency-Key: the commit that records the answer, and carries the charge.
    stage: UnitOfWork | None = None
    staged_cost: float | None = None

    def remaining(self) -> float:
        return self.deadline_seconds - (time.perf_counter() - self.started)

    def timeouts(self) -> Iterator[tuple[int, CandidateModel, float]]:
        """Each model of the chain with its timeout, while the deadline leaves time to try;
        its position counts the models already tried (a removed selected model is one)."""
        for position, model in enumerate(self.chain, start=len(self.attempts)):
            remaining = self.remaining()
            if remaining < MIN_ATTEMPT_SECONDS:
                return
            yield position, model, min(self.attempt_seconds, remaining)


@dataclass
class Answer:
    """What a model answered, and what the call cost; ``trace_id`` names its trace."""

    completion: Completion
    model: CandidateModel
    fallback: bool
    cost_usd: float | None
    trace_id: str


@dataclass
class Started:
    """A stream whose first chunk came: the model that sends it, and its events."""

    model: CandidateModel
    fallback: bool
    events: Iterator[StreamEvent]


def cache(deps: Deps, name: str) -> TtlCache:
    """The instance's ``name`` cache of inference's hot path (tokens, leaderboards, ...)."""
    return deps.cache(f"inference:{name}", ttl=deps.settings.inference_cache_seconds)
