"""Status of a PUSH dataset, traces, and secrets that never leave the server."""

from __future__ import annotations

import hashlib
import logging

from shared.logs import scrub


def test_status_shows_counts_usage_tokens_and_recent_batches(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard(daily_limit=100, monthly_limit=1000)
    created = api.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"name": "prod app"}).json()
    pusher = api.as_token(created["token"])
    pusher.push(lb, [{"input": "a"}, {"input": "b"}, {"nothing": 1}])
    api.push(lb, {"input": "c"})

    status = api.get(f"/v1/leaderboard/{lb}/dataset/status")
    assert status.status_code == 200
    body = status.json()
    assert body["counts"] == {
        "accepted": 3,
        "rejected": 1,
        "refused": 0,
        "pending": 3,
        "consolidated": 0,
    }
    assert body["usage"]["daily"]["used"] == 3
    assert body["usage"]["daily"]["remaining"] == 97
    assert body["usage"]["monthly"]["limit"] == 1000
    assert body["accepting"] is True
    assert body["dataset"] is None
    [token] = body["tokens"]
    assert token["token_masked"] == "hpd_..." + created["token"][-4:]
    assert created["token"] not in status.text
    newest, oldest = body["recent_batches"]
    assert (newest["accepted"], newest["rejected"]) == (1, 0)
    assert newest["token_id"] != created["id"]
    assert (oldest["accepted"], oldest["rejected"]) == (2, 1)
    assert oldest["token_id"] == created["id"]
    assert oldest["token_masked"] == token["token_masked"]
    assert body["webhook"]["url"].endswith(f"/v1/leaderboard/{lb}/dataset/push")


def test_traces_are_listed_per_leaderboard_paged_and_fetchable(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    other = api.create_push_leaderboard()
    for i in range(5):
        api.push(lb, {"input": f"q{i}"})
    api.push(other, {"input": "elsewhere"})
    api.post(f"/v1/leaderboard/{lb}/dataset/consolidate")

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.get(f"/v1/leaderboard/{lb}/traces", params=params).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 6
    kinds = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "push"}).json()["items"]
    assert len(kinds) == 5
    trace = api.get(f"/v1/leaderboard/{lb}/traces/{kinds[0]['id']}").json()
    assert trace["kind"] == "push"
    assert trace["leaderboard_id"] == lb
    assert trace["counts"] == {"accepted": 1, "rejected": 0, "refused": 0}
    assert trace["duration_ms"] > 0
    assert trace["token_id"].startswith("tok_")
    consolidation = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "consolidation"})
    [c] = consolidation.json()["items"]
    assert c["counts"]["events"] == 5
    assert c["version"] == 1
    assert c["sha256"]
    missing = api.get(f"/v1/leaderboard/{lb}/traces/tr_nope")
    assert missing.status_code == 404
    bad_kind = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "nonsense"})
    assert bad_kind.status_code == 422


def test_tokens_never_reach_logs_traces_or_stored_documents(workspace, deps, caplog):
    api = workspace.api
    caplog.set_level(logging.INFO)
    lb = api.create_push_leaderboard()
    secret = api.dataset_token(lb)
    api.as_token(secret).push(lb, {"input": "hello"})
    api.as_token(secret + "x").push(lb, {"input": "bad token"})  # 401, logged
    logging.getLogger("drgero.test").info("careless log of %s", secret)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert secret not in logged
    assert workspace.token not in logged
    assert "hpd_***" in logged

    traces = api.get(f"/v1/leaderboard/{lb}/traces").text
    assert secret not in traces
    stored = [doc.to_dict() for doc in deps.db.collection("tokens").stream()]
    as_text = repr(stored)
    assert secret not in as_text
    assert workspace.token not in as_text
    assert hashlib.sha256(secret.encode()).hexdigest() not in repr(
        [d for d in stored if d.get("leaderboard_id") == lb]
    )


def test_scrub_masks_every_secret_shape():
    text = "a drgero_abcdefghijkl b hpd_ZZZZZZZZZZZZ c sk-or-v1-0123456789abcdef d"
    assert scrub(text) == "a drgero_*** b hpd_*** c sk-or-v1-*** d"
