"""Run statuses: their stored values and which ones hold the run lock."""

from __future__ import annotations

import json

from shared.domain.run_status import ACTIVE, RunStatus


def test_the_stored_values_are_the_api_words() -> None:
    assert [status.value for status in RunStatus] == [
        "queued", "running", "completed", "failed", "cancelled"
    ]  # fmt: skip
    assert RunStatus.RUNNING == "running"  # compares (and is stored) as its plain string
    assert json.dumps({"status": RunStatus.FAILED}) == '{"status": "failed"}'


def test_queued_and_running_are_active_and_the_others_final() -> None:
    assert ACTIVE == (RunStatus.QUEUED, RunStatus.RUNNING)
    assert [status for status in RunStatus if status.active] == list(ACTIVE)
    assert "running" in ACTIVE and "completed" not in ACTIVE
