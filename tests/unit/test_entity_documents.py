"""Candidates and runs are typed records in the services and unchanged documents in Firestore:
a stored document read as a record and written back is the same document."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.domain.entities import CandidateModel, Run
from shared.domain.run_status import RunStatus
from shared.storage.candidates import candidate_document
from shared.storage.runs import run_document

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _candidate() -> dict:
    return {"id": "m_1", "label": "one", "platform": "custom",
            "config": {"platform": "custom", "endpoint": "https://x.example/v1",
                       "model": None, "secret_ref": "model:lb:m_1",
                       "pricing": {"prompt_per_million": 1.0, "completion_per_million": 2.0}},
            "source": "manual", "reason": None, "published": None, "added_at": NOW,
            "added_by": "tok_1"}  # fmt: skip


def test_a_candidate_document_round_trips_and_gains_no_measured_field() -> None:
    stored = _candidate()
    candidate = CandidateModel.model_validate(stored)
    assert candidate_document(candidate) == stored
    assert candidate.secret_ref == "model:lb:m_1"
    assert candidate.price.cost(1_000_000, 1_000_000) == 3.0  # configured, none published
    measured = stored | {"measured": {"latency_p50_ms": 10.0, "run_id": "run_1"}}
    assert candidate_document(CandidateModel.model_validate(measured)) == measured


def _run() -> dict:
    return {"id": "run_1", "leaderboard_id": "lb_1", "workspace_id": "ws_1", "source": "manual",
            "status": "running", "active": True, "requested_by": None, "created_at": NOW,
            "started_at": NOW, "finished_at": None, "deadline_at": NOW,
            "estimate": {"seconds": 10, "rows": 2, "rows_exact": True},
            "leaderboard_config": {"system_prompt": "p", "evaluation": {"type": "exact"}},
            "config_hash": "h", "config_parts": {"candidates": "c"},
            "model_configs": [{"id": "m_1", "label": "one"}], "endpoints": {"m_1": {}},
            "dataset": None, "shards_total": 2, "shards_done": 1,
            "progress": {"m_1": {"rows_done": 1, "errors": 0, "cost_usd": 0.0}},
            "ranking": None, "failure": None}  # fmt: skip


def test_a_run_document_round_trips_and_keeps_its_counts_as_stored() -> None:
    stored = _run()
    run = Run.model_validate(stored)
    assert run.status is RunStatus.RUNNING and run.evaluation_type == "exact"
    assert run_document(run) == stored
    assert run.progress["m_1"]["rows_done"] == 1 and type(run.progress["m_1"]["rows_done"]) is int
    reviewed = stored | {"status": "completed", "reviews_total": 4, "reviews_done": 1}
    assert run_document(Run.model_validate(reviewed)) == reviewed
