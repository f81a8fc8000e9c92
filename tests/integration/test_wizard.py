"""The Create-Leaderboard wizard around the models: integrations, plans, PATCH, selection.

Candidate models of every platform, auto-select and a run over all four platforms are in
``test_wizard_models.py``.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from zoneinfo import ZoneInfo

from shared.clock import utcnow
from shared.services import accounts
from tests.conftest import Api
from tests.errors import assert_error
from tests.runs_support import (
    add_models,
    add_openrouter,
    arithmetic_rows,
    connect_openrouter,
    one_shard_runs,
    push_leaderboard,
    register_answers,
    sim,
    sim_url,
    unique,
    wait_for_run,
)


def _secret_docs(deps, workspace_id: str) -> list[dict]:
    secrets = deps.db.collection("workspaces").document(workspace_id).collection("secrets")
    return [{"id": snap.id, **(snap.to_dict() or {})} for snap in secrets.stream()]


def _free_workspace(stack, deps) -> tuple[str, Api]:
    made = accounts.bootstrap_workspace(deps, name="free-" + uuid.uuid4().hex[:8], plan="free")
    return made["workspace_id"], Api(stack.base_url, made["token"])


# -- integrations ---------------------------------------------------------------------------------


def test_openrouter_key_is_masked_encrypted_at_rest_and_never_echoed(workspace, deps):
    api = workspace.api
    secret = "sk-or-v1-" + uuid.uuid4().hex
    put = api.http.put("/v1/integrations/openrouter", json={"secret": secret})
    assert put.status_code == 200, put.text
    saved = put.json()
    assert saved["configured"] is True
    assert saved["masked"] == "sk-or-..." + secret[-4:]
    assert saved["valid"] is True and saved["validated_at"] is not None
    assert "accepted" in saved["detail"]
    assert secret not in put.text

    listed = api.get("/v1/integrations")
    assert listed.status_code == 200
    assert secret not in listed.text
    body = listed.json()
    assert body["openrouter"]["masked"] == "sk-or-..." + secret[-4:]
    assert body["openrouter"]["valid"] is True
    assert body["huggingface"]["configured"] is False and body["huggingface"]["masked"] is None

    # At rest: ciphertext only (plus the last four characters for the masked display).
    docs = _secret_docs(deps, workspace.id)
    assert [d["id"] for d in docs] == ["integration:openrouter"]
    assert secret not in repr(docs) and secret[:-4] not in repr(docs)
    assert docs[0]["last4"] == secret[-4:]
    # ... and it is recoverable with the deployment's key (encrypted, not hashed).
    assert deps.secrets.reveal(workspace.id, "integration:openrouter") == secret


def test_a_refused_openrouter_key_is_not_stored(workspace, deps):
    api = workspace.api
    refused = api.http.put("/v1/integrations/openrouter", json={"secret": "bad-key-12345"})
    error = assert_error(refused, 422, "integration_invalid")
    assert error["provider"] == "openrouter"
    assert "bad-key-12345" not in refused.text
    assert api.get("/v1/integrations").json()["openrouter"]["configured"] is False
    assert _secret_docs(deps, workspace.id) == []


def test_validate_false_stores_unchecked_then_validation_is_recorded(workspace):
    api = workspace.api
    unchecked = api.http.put(
        "/v1/integrations/openrouter", json={"secret": "bad-key-12345", "validate": False}
    )
    assert unchecked.status_code == 200, unchecked.text
    assert unchecked.json()["configured"] is True
    assert unchecked.json()["valid"] is None and unchecked.json()["validated_at"] is None
    assert "bad-key-12345" not in unchecked.text

    checked = api.post("/v1/integrations/validate", json={})
    assert checked.status_code == 200, checked.text
    results = checked.json()
    assert results["openrouter"]["configured"] is True
    assert results["openrouter"]["valid"] is False
    assert results["huggingface"] == {
        "configured": False,
        "valid": None,
        "detail": "not configured",
    }
    shown = api.get("/v1/integrations").json()["openrouter"]
    assert shown["valid"] is False and shown["validated_at"] is not None
    assert "bad-key-12345" not in checked.text

    good = "sk-or-" + uuid.uuid4().hex
    api.http.put("/v1/integrations/openrouter", json={"secret": good, "validate": False})
    only = api.post("/v1/integrations/validate", json={"provider": "openrouter"}).json()
    assert set(only) == {"openrouter"}
    assert only["openrouter"]["valid"] is True
    shown = api.get("/v1/integrations").json()["openrouter"]
    assert (shown["valid"], shown["masked"]) == (True, "sk-or-..." + good[-4:])

    assert api.delete("/v1/integrations/openrouter").status_code == 204
    gone = api.get("/v1/integrations").json()["openrouter"]
    assert (gone["configured"], gone["masked"], gone["valid"]) == (False, None, None)
    again = api.post("/v1/integrations/validate", json={"provider": "openrouter"}).json()
    assert again["openrouter"]["configured"] is False


def test_hugging_face_token_is_masked_validated_and_deletable(workspace, deps):
    api = workspace.api
    token = "hf_" + uuid.uuid4().hex
    refused = api.http.put("/v1/integrations/huggingface", json={"secret": "not-a-token-123"})
    assert assert_error(refused, 422, "integration_invalid")["provider"] == "huggingface"

    put = api.http.put("/v1/integrations/huggingface", json={"secret": token})
    assert put.status_code == 200, put.text
    assert put.json()["masked"] == "hf_..." + token[-4:]
    assert put.json()["valid"] is True
    assert token not in put.text
    listed = api.get("/v1/integrations")
    assert token not in listed.text
    assert listed.json()["huggingface"]["configured"] is True
    assert listed.json()["openrouter"]["configured"] is False
    assert token not in repr(_secret_docs(deps, workspace.id))

    checked = api.post("/v1/integrations/validate", json={"provider": "huggingface"}).json()
    assert checked == {"huggingface": checked["huggingface"]}
    assert checked["huggingface"]["valid"] is True
    assert api.delete("/v1/integrations/huggingface").status_code == 204
    assert api.get("/v1/integrations").json()["huggingface"]["configured"] is False
    assert_error(api.http.put("/v1/integrations/slack", json={"secret": "xoxb-12345678"}), 404)


def test_integrations_need_the_workspace_admin_scope(workspace):
    api = workspace.api
    connect_openrouter(api)
    made = api.post("/v1/tokens", json={"name": "writer", "scopes": ["leaderboards:write"]})
    assert made.status_code == 201, made.text
    writer = api.as_token(made.json()["token"])
    secret = "sk-or-" + uuid.uuid4().hex
    attempts = [
        writer.http.put("/v1/integrations/openrouter", json={"secret": secret}),
        writer.get("/v1/integrations"),
        writer.post("/v1/integrations/validate", json={}),
        writer.delete("/v1/integrations/openrouter"),
    ]
    for response in attempts:
        assert assert_error(response, 403, "insufficient_scope")["required_scope"] == (
            "workspace:admin"
        )
    still = api.get("/v1/integrations").json()["openrouter"]
    assert still["configured"] is True and still["masked"] != "sk-or-..." + secret[-4:]


def test_integration_secrets_never_reach_the_logs(workspace, caplog):
    api = workspace.api
    caplog.set_level(logging.DEBUG)
    key, token = "sk-or-v1-" + uuid.uuid4().hex, "hf_" + uuid.uuid4().hex
    bad = "bad-key-" + uuid.uuid4().hex[:12]
    api.http.put("/v1/integrations/openrouter", json={"secret": bad})  # 422, logged
    api.http.put("/v1/integrations/huggingface", json={"secret": "wrong-" + token})
    assert api.http.put("/v1/integrations/openrouter", json={"secret": key}).status_code == 200
    assert api.http.put("/v1/integrations/huggingface", json={"secret": token}).status_code == 200
    api.post("/v1/integrations/validate", json={})
    api.get("/v1/integrations")

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records, "the API logged nothing at all: the check would be vacuous"
    for secret in (key, token, bad, workspace.token):
        assert secret not in logged
        assert secret[6:-4] not in logged


# -- plans ----------------------------------------------------------------------------------------


def test_the_free_plan_allows_three_leaderboards_and_no_deletes(stack, deps):
    workspace_id, api = _free_workspace(stack, deps)
    assert deps.settings.free_plan_max_leaderboards == 3
    made = [api.create_push_leaderboard() for _ in range(3)]
    fourth = api.post(
        "/v1/leaderboards",
        json={"name": "one too many", "system_prompt": "x", "dataset": {"mode": "push"}},
    )
    error = assert_error(fourth, 403, "plan_limit_reached")
    assert (error["plan"], error["max_leaderboards"]) == ("free", 3)
    listed = api.get("/v1/leaderboards").json()["items"]
    assert sorted(item["id"] for item in listed) == sorted(made)

    refused = api.delete(f"/v1/leaderboard/{made[0]}")
    assert assert_error(refused, 403, "plan_forbids_delete")["plan"] == "free"
    assert api.get(f"/v1/leaderboard/{made[0]}").status_code == 200
    assert deps.workspaces.get(workspace_id).plan == "free"


def test_concurrent_creates_on_the_free_plan_never_exceed_three(stack, deps):
    _, api = _free_workspace(stack, deps)

    def create(i: int) -> int:
        body = {"name": f"race {i}", "system_prompt": "x", "dataset": {"mode": "push"}}
        return api.post("/v1/leaderboards", json=body).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = Counter(pool.map(create, range(6)))
    assert statuses == Counter({201: 3, 403: 3})
    assert len(api.get("/v1/leaderboards").json()["items"]) == 3
    # The refused reservations were given back, no more and no less: still full.
    assert (
        api.post(
            "/v1/leaderboards",
            json={"name": "late", "system_prompt": "x", "dataset": {"mode": "push"}},
        ).status_code
        == 403
    )


def test_a_paid_plan_deletes_a_leaderboard_with_its_tokens_and_data(workspace, deps):
    api = workspace.api
    lb = push_leaderboard(api, arithmetic_rows(20))
    other = api.create_push_leaderboard()
    token = api.dataset_token(lb)
    assert api.as_token(token).push(lb, {"input": "one more"}).status_code == 200
    assert deps.datasets.names(f"datasets/{lb}/"), "the consolidation wrote no object"

    deleted = api.delete(f"/v1/leaderboard/{lb}")
    assert deleted.status_code == 204, deleted.text
    assert_error(api.get(f"/v1/leaderboard/{lb}"), 404, "leaderboard_not_found")
    assert_error(api.as_token(token).push(lb, {"input": "after delete"}), 401)
    assert deps.datasets.names(f"datasets/{lb}/") == []
    assert deps.leaderboards.get(lb) is None
    assert [item["id"] for item in api.get("/v1/leaderboards").json()["items"]] == [other]
    assert_error(api.delete(f"/v1/leaderboard/{lb}"), 404)


def test_deleting_a_leaderboard_deletes_its_models_stored_tokens(workspace, deps):
    api = workspace.api
    lb = push_leaderboard(api, arithmetic_rows(100))
    token = "cust-" + uuid.uuid4().hex
    added = api.post(
        f"/v1/leaderboard/{lb}/models",
        json={"platform": "custom", "endpoint": f"{sim_url()}/custom/chat",
              "auth": {"method": "bearer", "token": token}},
    )  # fmt: skip
    assert added.status_code == 201, added.text
    model_secrets = [d["id"] for d in _secret_docs(deps, workspace.id) if lb in d["id"]]
    assert len(model_secrets) == 1  # the token, encrypted, under the leaderboard's model

    assert api.delete(f"/v1/leaderboard/{lb}").status_code == 204
    # Removing one model deletes its token (models.remove_model); deleting the whole
    # leaderboard must not leave its models' credentials behind either.
    left = [d["id"] for d in _secret_docs(deps, workspace.id) if lb in d["id"]]
    assert left == [], f"credentials of deleted leaderboard {lb} are still stored: {left}"


def test_a_leaderboard_with_an_active_run_cannot_be_deleted(workspace, deps):
    api = workspace.api
    rows = arithmetic_rows(100)
    register_answers(rows)
    connect_openrouter(api)
    lb = push_leaderboard(api, rows)
    for model in add_models(
        {"id": unique("wiz/slow-a"), "latency_ms": {"fixed": 20_000}},
        {"id": unique("wiz/slow-b"), "latency_ms": {"fixed": 20_000}},
    ):
        add_openrouter(api, lb, model)
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    error = assert_error(api.delete(f"/v1/leaderboard/{lb}"), 409, "run_in_progress")
    assert run_id in error["message"]
    assert api.get(f"/v1/leaderboard/{lb}").status_code == 200
    assert api.post(f"/v1/leaderboard/{lb}/runs/{run_id}/cancel").status_code == 200
    assert api.delete(f"/v1/leaderboard/{lb}").status_code == 204
    assert deps.leaderboards.get(lb) is None


# -- PATCH ----------------------------------------------------------------------------------------


def test_patch_changes_the_given_fields_and_plans_the_schedule(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard()
    changes = {
        "name": "renamed board",
        "system_prompt": "Reply briefly.\n\nQuestion: {question}",
        "evaluation": {"type": "exact", "normalize": ["trim", "case"], "match": "contains"},
        "schedule": {"cron": "0 6 * * 1-5", "timezone": "Europe/Paris"},
    }
    patched = api.http.patch(f"/v1/leaderboard/{lb}", json=changes)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "renamed board"
    assert body["system_prompt"] == changes["system_prompt"]
    assert body["evaluation"]["type"] == "exact"
    assert body["evaluation"]["match"] == "contains"
    assert body["evaluation"]["normalize"] == ["trim", "case"]
    assert body["schedule"] == {"cron": "0 6 * * 1-5", "timezone": "Europe/Paris", "enabled": True}
    fetched = api.get(f"/v1/leaderboard/{lb}").json()
    for field in ("name", "system_prompt", "evaluation", "schedule"):
        assert fetched[field] == body[field]

    record = deps.leaderboards.get(lb)
    now = utcnow()
    assert record.next_run_at is not None
    assert now < record.next_run_at <= now + timedelta(days=4)
    local = record.next_run_at.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute, local.weekday() < 5) == (6, 0, True)

    paused = api.http.patch(
        f"/v1/leaderboard/{lb}", json={"schedule": {"cron": "* * * * *", "enabled": False}}
    )
    assert paused.status_code == 200 and paused.json()["schedule"]["enabled"] is False
    assert deps.leaderboards.get(lb).next_run_at is None  # kept, but plans no run

    cleared = api.http.patch(f"/v1/leaderboard/{lb}", json={"clear_schedule": True})
    assert cleared.status_code == 200
    assert cleared.json()["schedule"] is None
    assert cleared.json()["name"] == "renamed board"  # untouched fields stay
    assert deps.leaderboards.get(lb).next_run_at is None


def test_patch_keeps_the_dataset_mode_and_revalidates_push_limits(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard(daily_limit=100, monthly_limit=1000)
    switched = api.http.patch(
        f"/v1/leaderboard/{lb}",
        json={"dataset": {"mode": "get", "url": "hf://datasets/acme/evals/test.jsonl"}},
    )
    assert assert_error(switched, 422, "dataset_mode_fixed")["field"] == "dataset.mode"

    inverted = api.http.patch(
        f"/v1/leaderboard/{lb}", json={"dataset": {"daily_limit": 500, "monthly_limit": 100}}
    )
    assert "monthly_limit" in assert_error(inverted, 422)["message"]
    # Checked against the stored config too: a monthly limit below the stored daily one.
    below = api.http.patch(f"/v1/leaderboard/{lb}", json={"dataset": {"monthly_limit": 50}})
    assert_error(below, 422)
    dataset = api.get(f"/v1/leaderboard/{lb}").json()["dataset"]
    assert (dataset["mode"], dataset["daily_limit"], dataset["monthly_limit"]) == (
        "push",
        100,
        1000,
    )

    ok = api.http.patch(f"/v1/leaderboard/{lb}", json={"dataset": {"daily_limit": 40}})
    assert ok.status_code == 200, ok.text
    dataset = ok.json()["dataset"]
    assert (dataset["mode"], dataset["daily_limit"], dataset["monthly_limit"]) == (
        "push",
        40,
        1000,
    )


# -- selection ------------------------------------------------------------------------------------


def _run(api, lb: str) -> dict:
    started = api.post(f"/v1/leaderboard/{lb}/runs", json={})
    assert started.status_code == 202, started.text
    run = wait_for_run(api, lb, started.json()["id"])
    assert run["status"] == "completed", run.get("failure")
    return run


def test_selection_follows_the_winner_or_stays_pinned(workspace, deps, monkeypatch):
    one_shard_runs(monkeypatch, deps.settings)  # rankings are tested here, not shards
    api = workspace.api
    rows = arithmetic_rows(100)
    register_answers(rows)
    connect_openrouter(api)
    lb = push_leaderboard(api, rows)
    a, b, c = add_models(
        {"id": unique("wiz/sel-a"), "accuracy": 0.95},
        {"id": unique("wiz/sel-b"), "accuracy": 0.5},
        {"id": unique("wiz/sel-c"), "accuracy": 0.2},
    )
    ids = {name: add_openrouter(api, lb, name) for name in (a, b, c)}

    first = _run(api, lb)
    assert first["ranking"]["leader"] == ids[a]
    board = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert board["selection"]["strategy"] == "ranking_winner"
    assert board["selected_model"]["id"] == board["ranking"]["leader"] == ids[a]
    assert board["selected_model"]["label"] == a

    pinned = api.http.put(
        f"/v1/leaderboard/{lb}/selection", json={"strategy": "manual", "model_id": ids[c]}
    )
    assert pinned.status_code == 200, pinned.text
    assert (pinned.json()["strategy"], pinned.json()["model_id"]) == ("manual", ids[c])
    assert api.get(f"/v1/leaderboard/{lb}/ranking").json()["selected_model"]["id"] == ids[c]

    # A second run crowns another leader; the pin stays.
    sim("/_sim/models", [{"id": a, "accuracy": 0.2}, {"id": b, "accuracy": 0.95}])
    second = _run(api, lb)
    assert second["ranking"]["leader"] == ids[b]
    board = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert board["ranking"]["run_id"] == second["id"]
    assert board["selection"]["strategy"] == "manual"
    assert board["selected_model"]["id"] == ids[c]

    back = api.http.put(f"/v1/leaderboard/{lb}/selection", json={"strategy": "ranking_winner"})
    assert back.status_code == 200, back.text
    assert back.json()["model_id"] == ids[b] and back.json()["run_id"] == second["id"]
    board = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert board["selection"]["strategy"] == "ranking_winner"
    assert board["selected_model"]["id"] == ids[b]


def test_selection_requests_are_checked(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    path = f"/v1/leaderboard/{lb}/selection"
    assert_error(api.http.put(path, json={"strategy": "manual"}), 422)
    assert_error(api.http.put(path, json={"strategy": "ranking_winner", "model_id": "m_x"}), 422)
    unknown = api.http.put(path, json={"strategy": "manual", "model_id": "m_0000000000000000"})
    assert assert_error(unknown, 422, "model_not_found")["field"] == "model_id"
    assert_error(api.http.put(path, json={"strategy": "random"}), 422)
    board = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert board["selection"]["strategy"] == "ranking_winner"
    assert board["selected_model"] is None
