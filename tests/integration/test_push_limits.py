"""Accepted-row limits under concurrency, end dates, and the cost of a push in writes."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from google.cloud import firestore

from shared.clock import utcnow
from shared.domain import quota


def _rows(n: int, tag: str) -> list[dict]:
    return [{"input": f"question {tag}-{i}", "output": f"answer {i}"} for i in range(n)]


def _counter(deps, leaderboard_id: str, key: str) -> int:
    snap = deps.push.counter_ref(leaderboard_id, key).get()
    return int((snap.to_dict() or {}).get("n", 0)) if snap.exists else 0


def _pending_rows(deps, leaderboard_id: str) -> int:
    return deps.push.pending_counts(leaderboard_id)["pending"]


def test_concurrent_pushes_never_exceed_the_daily_limit(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard(daily_limit=50, monthly_limit=1000)
    pusher = api.as_token(api.dataset_token(lb))

    def push(i: int) -> dict:
        response = pusher.push(lb, _rows(7, f"t{i}"))
        assert response.status_code in (200, 429), response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(push, range(48)))  # 336 rows offered for 50 places

    accepted = sum(a.get("accepted", 0) for a in answers)
    assert accepted == 50
    assert _counter(deps, lb, quota.day_key(utcnow())) == 50
    assert _pending_rows(deps, lb) == 50
    refused = [a for a in answers if a.get("refused") or a.get("error")]
    assert refused, "some pushes must have been refused"
    codes = {(a.get("refused") or a.get("error"))["code"] for a in refused}
    assert codes == {"daily_limit_reached"}
    status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert status["counts"]["accepted"] == 50
    assert status["counts"]["refused"] == 336 - 50
    assert status["usage"]["daily"] | {"resets_at": None} == {
        "used": 50,
        "limit": 50,
        "remaining": 0,
        "resets_at": None,
    }


def test_a_push_over_the_limit_accepts_what_fits_and_says_when_it_resets(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard(daily_limit=5, monthly_limit=100)
    first = api.push(lb, _rows(3, "a"))
    assert first.json()["accepted"] == 3
    second = api.push(lb, _rows(4, "b"))
    assert second.status_code == 200
    body = second.json()
    assert body["accepted"] == 2
    assert body["accepted_ids"] and len(body["accepted_ids"]) == 2
    refused = body["refused"]
    assert refused["code"] == "daily_limit_reached"
    assert refused["rows"] == 2
    assert refused["indexes"] == [2, 3]
    midnight = (utcnow() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert datetime.fromisoformat(refused["resets_at"]) == midnight
    assert body["usage"]["daily"]["remaining"] == 0

    third = api.push(lb, _rows(1, "c"))
    assert third.status_code == 429
    error = third.json()["error"]
    assert error["code"] == "daily_limit_reached"
    assert int(third.headers["Retry-After"]) > 0
    assert datetime.fromisoformat(error["resets_at"]) == midnight


def test_monthly_limit_reached_is_reported_as_monthly(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard(daily_limit=100, monthly_limit=120)
    # Earlier days of this month already used 118 of the month (a counter from another day).
    month = quota.month_key(utcnow())
    deps.push.counter_ref(lb, month).set({"n": 118})
    body = api.push(lb, _rows(5, "m")).json()
    assert body["accepted"] == 2
    assert body["refused"]["code"] == "monthly_limit_reached"
    first_of_next_month = quota.month_resets_at(utcnow())
    assert datetime.fromisoformat(body["refused"]["resets_at"]) == first_of_next_month


def test_no_rows_are_accepted_after_the_end_date(workspace):
    api = workspace.api
    end = datetime.now(UTC) + timedelta(seconds=3)
    lb = api.create_push_leaderboard(end_date=end.isoformat())
    assert api.push(lb, _rows(2, "before")).json()["accepted"] == 2
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.2)
    after = api.push(lb, _rows(2, "after"))
    assert after.status_code == 410
    assert after.json()["error"]["code"] == "dataset_closed"
    status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert status["accepting"] is False
    assert status["counts"]["accepted"] == 2
    assert status["counts"]["refused"] == 2


def test_a_hundred_rows_are_one_pending_document_and_durable_before_the_answer(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard()
    response = api.push(lb, {"rows": _rows(100, uuid.uuid4().hex)})
    assert response.status_code == 200
    batch_id = response.json()["batch_id"]
    pending = deps.push.leaderboard_ref(lb).collection("pending")
    docs = list(pending.where(filter=firestore.FieldFilter("batch_id", "==", batch_id)).stream())
    assert len(docs) == 1
    assert docs[0].get("count") == 100
    assert docs[0].get("consolidated") is False
    assert deps.push.pending_counts(lb)["pending"] == 100


def test_a_large_batch_is_split_into_documents_under_the_firestore_limit(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard()
    big = [{"input": f"{i} " + uuid.uuid4().hex * 2000, "output": "x"} for i in range(20)]
    response = api.push(lb, big)  # ~1.3 MB of rows, incompressible enough to need chunks
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 20
    docs = list(deps.push.leaderboard_ref(lb).collection("pending").stream())
    assert len(docs) >= 2
    assert sum(d.get("count") for d in docs) == 20
    assert all(len(d.get("rows")) < 1_000_000 for d in docs)
