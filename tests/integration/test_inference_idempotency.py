"""Inference with an ``Idempotency-Key``: one upstream call and one charge, whatever the retries."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from simulator.answers import fraction
from tests.conftest import Api
from tests.errors import assert_error
from tests.inference_support import (
    calls_since,
    eventually,
    faulty,
    fetch_trace,
    sim_stats,
    token_entry,
)
from tests.runs_support import sim

A, B = "sim/idem-a", "sim/idem-b"
# The module's ranked board and healthy models (tests/integration/conftest.py).
BOARD = ("idem-", {A: 0.95, B: 0.5})
pytestmark = pytest.mark.usefixtures("healthy_models")  # tests/integration/conftest.py


def _key() -> str:
    return "key-" + uuid.uuid4().hex


def _input() -> str:
    return f"What is idempotent {uuid.uuid4().hex[:10]}"


def _infer(api: Api, lb: str, key: str | None, **body: object):
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(f"/v1/leaderboard/{lb}/inference", json=body, headers=headers)


def test_a_retry_with_the_same_key_replays_the_answer_without_calling_or_charging(board):
    caller, token_id = board.caller()
    key, text = _key(), _input()
    before = sim_stats()
    first = _infer(caller, board.lb, key, input=text)
    assert first.status_code == 200, first.text
    spent = eventually(lambda: token_entry(board.api, token_id)["spend_usd"])
    again = _infer(caller, board.lb, key, input=text)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["X-DrGero-Trace-Id"] == first.json()["trace_id"]
    assert calls_since(before, A)["total"] == 1
    assert spent == pytest.approx(first.json()["cost_usd"])
    assert token_entry(board.api, token_id)["spend_usd"] == pytest.approx(spent)


def test_concurrent_duplicates_make_one_upstream_call_and_one_charge(board):
    caller, token_id = board.caller()
    key, text = _key(), _input()
    before = sim_stats()
    slow = faulty(A, latency_ms={"fixed": 40_000})  # 0.4 s: the duplicates arrive meanwhile
    with slow, ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: _infer(caller, board.lb, key, input=text), range(10)))
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    assert len({a.json()["trace_id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 9
    assert calls_since(before, A)["total"] == 1
    assert token_entry(board.api, token_id)["spend_usd"] == pytest.approx(
        answers[0].json()["cost_usd"]
    )


def test_the_same_key_with_another_body_is_422(board):
    caller, _ = board.caller()
    key = _key()
    assert _infer(caller, board.lb, key, input=_input()).status_code == 200
    assert_error(_infer(caller, board.lb, key, input=_input()), 422, "idempotency_key_reused")


def test_keys_belong_to_their_token(board):
    (first, _), (second, _) = board.caller(), board.caller()
    key, text = _key(), _input()
    one = _infer(first, board.lb, key, input=text)
    two = _infer(second, board.lb, key, input=text)
    assert one.status_code == two.status_code == 200
    assert one.json()["trace_id"] != two.json()["trace_id"]
    assert "Idempotent-Replayed" not in two.headers


def test_a_failed_call_releases_its_key_for_the_retry(board):
    caller, _ = board.caller()
    key, text = _key(), _input()
    with faulty(A, error_rate=1.0), faulty(B, error_rate=1.0):
        assert_error(_infer(caller, board.lb, key, input=text), 502, "upstream_error")
    retried = _infer(caller, board.lb, key, input=text)
    assert retried.status_code == 200, retried.text
    assert "Idempotent-Replayed" not in retried.headers


def test_a_replay_of_a_paid_answer_is_not_refused_for_its_own_spend(board):
    caller, token_id = board.caller(budget_usd=0.000001)  # one call spends it
    key, text = _key(), _input()
    first = _infer(caller, board.lb, key, input=text)
    assert first.status_code == 200, first.text
    assert token_entry(board.api, token_id)["spend_usd"] >= 0.000001
    assert_error(_infer(caller, board.lb, None, input=_input()), 402, "budget_exhausted")
    replayed = _infer(caller, board.lb, key, input=text)
    assert replayed.status_code == 200 and replayed.json() == first.json()
    assert_error(_infer(caller, board.lb, _key(), input=_input()), 402, "budget_exhausted")


def test_the_openai_sdk_can_send_a_key(board):
    before = sim_stats()
    client = board.client()
    headers = {"Idempotency-Key": _key()}
    messages = [{"role": "user", "content": _input()}]
    first = client.chat.completions.create(
        model=board.model, messages=messages, extra_headers=headers
    )
    again = client.chat.completions.with_raw_response.create(
        model=board.model, messages=messages, extra_headers=headers
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parse().model_dump() == first.model_dump()
    assert calls_since(before, A)["total"] == 1
    trace = fetch_trace(board.api, board.lb, again.headers["X-DrGero-Trace-Id"])
    assert trace["output"] == first.choices[0].message.content


def test_a_stream_with_a_key_is_refused(board):
    response = board.api.post(
        "/v1/chat/completions",
        json={
            "model": board.model,
            "messages": [{"role": "user", "content": _input()}],
            "stream": True,
        },
        headers={"Idempotency-Key": _key()},
    )
    assert_error(response, 400, "idempotency_key_with_stream")


def test_a_duplicate_of_a_call_in_flight_is_409_after_a_short_wait(board, deps, monkeypatch):
    """It does not hold a worker thread for the first call's whole deadline."""
    import time

    monkeypatch.setattr(deps.settings, "inference_idempotency_wait_seconds", 0.3)
    caller, _ = board.caller()
    key, text = _key(), _input()
    slow = faulty(A, latency_ms={"fixed": 400_000})  # 4 s in the test stack's time scale
    with slow, ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(_infer, caller, board.lb, key, input=text)
        time.sleep(0.5)  # the first call holds the key
        started = time.monotonic()
        duplicate = _infer(caller, board.lb, key, input=text)
        waited = time.monotonic() - started
        error = assert_error(duplicate, 409, "idempotency_in_progress")
        assert duplicate.headers["Retry-After"] == "1"
        assert error["wait_seconds"] == 0.3
        assert waited < 3.0, waited
        assert first.result().status_code == 200
    replayed = _infer(caller, board.lb, key, input=text)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == first.result().json()


def test_an_answer_over_the_document_limit_is_kept_for_replay(board):
    """A 1.2 MB answer stored inline made Firestore refuse the record and its charge (500)."""
    caller, token_id = board.caller()
    key = _key()
    text = next(t for t in (_input() for _ in range(100)) if fraction(A, t) < 0.95)
    big = "é" * 600_000  # 1.2 MB of UTF-8: over the document limit
    sim("/_sim/answer-key", {"rows": [{"input": text, "expected": big}]})
    before = sim_stats()
    first = _infer(caller, board.lb, key, input=text)
    assert first.status_code == 200, first.text[:300]
    assert first.json()["output"] == big
    again = _infer(caller, board.lb, key, input=text)
    assert again.status_code == 200, again.text[:300]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert calls_since(before, A)["total"] == 1
    spent = eventually(lambda: token_entry(board.api, token_id)["spend_usd"])
    assert spent == pytest.approx(first.json()["cost_usd"])
    trace = fetch_trace(board.api, board.lb, first.json()["trace_id"])
    assert trace["output"]["truncated"] is True  # the trace is cut, the replay is whole
