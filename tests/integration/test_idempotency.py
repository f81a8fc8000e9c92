"""Idempotency-Key: a retried or duplicated push is answered once and counted once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from shared.clock import utcnow
from shared.domain import quota


def _body(n: int = 5) -> dict:
    return {"rows": [{"input": f"q{i}", "output": f"a{i}"} for i in range(n)]}


def _push_traces(api, lb: str) -> list[dict]:
    return api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "push"}).json()["items"]


def test_the_same_key_sent_20_times_concurrently_is_one_batch(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard()
    key = uuid.uuid4().hex

    def send(_: int):
        return api.push(lb, _body(5), headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(send, range(20)))

    assert {r.status_code for r in responses} == {200}
    batch_ids = {r.json()["batch_id"] for r in responses}
    assert len(batch_ids) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert all(r.json()["accepted"] == 5 for r in responses)
    assert len(_push_traces(api, lb)) == 1
    assert deps.push.pending_counts(lb)["pending"] == 5
    day = deps.push.counter_ref(lb, quota.day_key(utcnow())).get().to_dict()
    assert day["n"] == 5
    status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert status["counts"]["accepted"] == 5


def test_a_retry_after_the_answer_replays_it(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    first = api.push(lb, _body(3), headers={"Idempotency-Key": "retry-1"})
    again = api.push(lb, _body(3), headers={"Idempotency-Key": "retry-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert api.get(f"/v1/leaderboard/{lb}/dataset/status").json()["counts"]["accepted"] == 3


def test_the_key_is_scoped_to_the_leaderboard(workspace):
    api = workspace.api
    lb1, lb2 = api.create_push_leaderboard(), api.create_push_leaderboard()
    a = api.push(lb1, _body(2), headers={"Idempotency-Key": "shared-key"})
    b = api.push(lb2, _body(2), headers={"Idempotency-Key": "shared-key"})
    assert a.json()["batch_id"] != b.json()["batch_id"]
    assert "Idempotent-Replayed" not in b.headers


def test_reusing_a_key_with_another_body_is_refused(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    assert api.push(lb, _body(2), headers={"Idempotency-Key": "k"}).status_code == 200
    other = api.push(lb, _body(3), headers={"Idempotency-Key": "k"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert api.get(f"/v1/leaderboard/{lb}/dataset/status").json()["counts"]["accepted"] == 2


def test_a_failed_keyed_push_can_be_retried_with_the_same_key(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard(daily_limit=2, monthly_limit=10)
    assert api.push(lb, _body(2)).status_code == 200
    refused = api.push(lb, _body(1), headers={"Idempotency-Key": "after-limit"})
    assert refused.status_code == 429
    # Errors are not stored as the key's answer: the same key runs again (and is refused again).
    again = api.push(lb, _body(1), headers={"Idempotency-Key": "after-limit"})
    assert again.status_code == 429
    assert "Idempotent-Replayed" not in again.headers


def test_a_crashed_owner_is_taken_over_after_its_lease(workspace, deps):
    from shared.storage import idempotency

    api = workspace.api
    lb = api.create_push_leaderboard()
    # A first request claimed the key and died before answering, its lease already over.
    token_id = api.get("/v1/workspace").json()["token"]["id"]
    ref = idempotency.record_ref(deps.db, lb, f"{token_id}:orphan")  # keys are per token
    from shared.services.idempotent import request_hash

    body = _body(2)
    claim = idempotency.claim(ref, request_hash=request_hash(body), lease_seconds=-1, ttl_hours=1)
    assert isinstance(claim, idempotency.Owned)
    response = api.push(lb, body, headers={"Idempotency-Key": "orphan"})
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    assert ref.get().get("state") == "done"


def test_keys_belong_to_their_token_one_token_cannot_replay_another_s(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    first, second = api.as_token(api.dataset_token(lb)), api.as_token(api.dataset_token(lb))
    a = first.push(lb, _body(2), headers={"Idempotency-Key": "app-key"})
    b = second.push(lb, _body(2), headers={"Idempotency-Key": "app-key"})
    assert a.status_code == b.status_code == 200, b.text
    assert a.json()["batch_id"] != b.json()["batch_id"]
    assert "Idempotent-Replayed" not in b.headers
    # Nor block it: another body under the same key is another token's business, not a 422.
    c = api.push(lb, _body(3), headers={"Idempotency-Key": "app-key"})
    assert c.status_code == 200, c.text
    assert api.get(f"/v1/leaderboard/{lb}/dataset/status").json()["counts"]["accepted"] == 7
    # Each token's own retry still replays its own first answer.
    again = second.push(lb, _body(2), headers={"Idempotency-Key": "app-key"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == b.json()


def test_an_answer_stored_before_keys_were_per_token_is_still_replayed(workspace, deps):
    """Records written per leaderboard (before the change) keep answering their own retries
    until they expire (``idempotency_ttl_hours``); no new record is written there."""
    from shared.services.idempotent import request_hash
    from shared.storage import idempotency

    api = workspace.api
    lb = api.create_push_leaderboard()
    body = _body(2)
    legacy = idempotency.record_ref(deps.db, lb, "from-before")
    claim = idempotency.claim(
        legacy, request_hash=request_hash(body), lease_seconds=60, ttl_hours=1
    )
    assert isinstance(claim, idempotency.Owned)
    stored = {"batch_id": "b_legacy", "accepted": 2}
    work = deps.unit_of_work()
    idempotency.stage_answer(work, claim, status=200, body=stored)
    work.commit()
    replayed = api.push(lb, body, headers={"Idempotency-Key": "from-before"})
    assert replayed.status_code == 200 and replayed.json() == stored
    assert replayed.headers["Idempotent-Replayed"] == "true"
    # Another body under that old key is not blocked by the old record: it runs anew.
    fresh = api.push(lb, _body(3), headers={"Idempotency-Key": "from-before"})
    assert fresh.status_code == 200 and fresh.json()["accepted"] == 3
