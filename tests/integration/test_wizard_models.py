"""Candidate models of all four platforms, Dr.Gero models, auto-select, and one run over them."""

from __future__ import annotations

import json
import logging
import math
import uuid

import httpx
import pytest

from tests.errors import assert_error
from tests.runs_support import (
    add_models,
    add_openrouter,
    arithmetic_rows,
    push_leaderboard,
    sim,
    sim_url,
    unique,
    wait_for_run,
)

HIDDEN = "stored (hidden)"
ROWS = 100  # the rows of the `leaderboard` fixture (tests/integration/conftest.py)


def _custom_endpoint(name: str, **behaviour) -> str:
    sim("/_sim/custom-endpoints", {"name": name, **behaviour})
    return f"{sim_url()}/custom/{name}"


def _add(api, lb: str, body: dict) -> httpx.Response:
    return api.post(f"/v1/leaderboard/{lb}/models", json=body)


def _models(api, lb: str) -> list[dict]:
    response = api.get(f"/v1/leaderboard/{lb}/models")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _sim_stats(model_id: str) -> dict:
    stats = httpx.get(f"{sim_url()}/_sim/stats", timeout=10).json()
    return stats["models"].get(model_id, {})


# -- OpenRouter -----------------------------------------------------------------------------------


def test_openrouter_models_are_checked_against_the_catalog(leaderboard):
    api, lb = leaderboard
    [fresh, expired] = add_models(
        {"id": unique("wiz/or-fresh")},
        {"id": unique("wiz/or-expired"), "expiration_date": "2020-01-01"},
    )
    added = _add(api, lb, {"platform": "openrouter", "model_id": fresh, "label": "Fresh"})
    assert added.status_code == 201, added.text
    model = added.json()
    assert (model["platform"], model["label"], model["source"]) == ("openrouter", "Fresh", "manual")
    assert model["config"] == {"platform": "openrouter", "model_id": fresh}
    assert model["published"]["prompt_price_per_million"] == pytest.approx(1.0)
    assert model["published"]["completion_price_per_million"] == pytest.approx(2.0)

    unknown = _add(api, lb, {"platform": "openrouter", "model_id": "nobody/no-such-model"})
    assert "nobody/no-such-model" in assert_error(unknown, 422, "unknown_model")["message"]
    old = _add(api, lb, {"platform": "openrouter", "model_id": expired})
    assert "2020-01-01" in assert_error(old, 422, "model_expired")["message"]
    twice = _add(api, lb, {"platform": "openrouter", "model_id": fresh})
    assert_error(twice, 409, "model_already_added")
    assert_error(_add(api, lb, {"platform": "openrouter", "model_id": "no-slash"}), 422)
    assert [m["id"] for m in _models(api, lb)] == [model["id"]]


def test_openrouter_models_need_a_key(workspace, deps):
    api = workspace.api
    lb = push_leaderboard(api, arithmetic_rows(ROWS))  # no integration
    [model] = add_models({"id": unique("wiz/or-nokey")})
    added = _add(api, lb, {"platform": "openrouter", "model_id": model})
    picked = api.post(f"/v1/leaderboard/{lb}/models/auto-select", json={"dry_run": True})
    if deps.settings.openrouter_api_key is None:
        assert_error(added, 422, "openrouter_not_configured")
        assert_error(picked, 422, "openrouter_not_configured")
        assert _models(api, lb) == []
    else:  # the deployment's fallback key serves workspaces without their own
        assert added.status_code == 201, added.text
        assert picked.status_code == 200, picked.text


# -- Custom and Hugging Face endpoints ------------------------------------------------------------


def test_custom_endpoints_store_their_token_hidden(leaderboard, deps, workspace):
    api, lb = leaderboard
    bearer, header = "cust-" + uuid.uuid4().hex, "hdr-" + uuid.uuid4().hex
    json_url = _custom_endpoint(unique("wizjson"), format="json", auth="bearer", token=bearer,
                                field_path="data.answer")  # fmt: skip
    text_url = _custom_endpoint(
        unique("wiztext"), format="text", auth="header", header_name="X-Key", token=header
    )
    as_json = _add(api, lb, {
        "platform": "custom", "endpoint": json_url,
        "auth": {"method": "bearer", "token": bearer},
        "response": {"format": "json", "field": "data.answer"},
        "pricing": {"prompt_per_million": 0.5, "completion_per_million": 1.5},
    })  # fmt: skip
    assert as_json.status_code == 201, as_json.text
    assert bearer not in as_json.text
    config = as_json.json()["config"]
    assert config["endpoint"] == json_url
    assert config["auth"] == {"method": "bearer", "header_name": None}
    assert config["response"] == {"format": "json", "field": "data.answer"}
    assert config["token"] == HIDDEN and "secret_ref" not in config
    # No model name: the endpoint's host and path label it (never a query: it may hold keys).
    assert as_json.json()["label"] == json_url.split("://", 1)[1].split("?", 1)[0]

    as_text = _add(api, lb, {
        "platform": "custom", "endpoint": text_url, "model": "acme-support-v2",
        "auth": {"method": "header", "header_name": "X-Key", "token": header},
        "response": {"format": "text"},
    })  # fmt: skip
    assert as_text.status_code == 201, as_text.text
    assert header not in as_text.text
    assert as_text.json()["config"]["auth"] == {"method": "header", "header_name": "X-Key"}
    assert as_text.json()["config"]["token"] == HIDDEN
    assert as_text.json()["label"] == "acme-support-v2"

    listed = api.get(f"/v1/leaderboard/{lb}/models")
    assert bearer not in listed.text and header not in listed.text
    stored = [m["config"] for m in deps.candidates.all(lb)]
    assert bearer not in repr(stored) and header not in repr(stored)
    secrets = deps.db.collection("workspaces").document(workspace.id).collection("secrets")
    assert bearer not in repr([s.to_dict() for s in secrets.stream()])

    # Removing a model removes its stored token too.
    assert api.delete(f"/v1/leaderboard/{lb}/models/{as_text.json()['id']}").status_code == 204
    assert [m["id"] for m in _models(api, lb)] == [as_json.json()["id"]]
    assert not [s.id for s in secrets.stream() if as_text.json()["id"] in s.id]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"auth": {"method": "header", "token": "tok-12345678"}}, "auth"),
        ({"auth": {"method": "bearer"}}, "auth"),
        ({"response": {"format": "json"}}, "response"),
        ({"endpoint": "ftp://models.example.com/v1"}, "endpoint"),
        ({"endpoint": "models.example.com/v1"}, "endpoint"),
        ({"auth": {"method": "basic", "token": "tok-12345678"}}, "auth"),
    ],
)
def test_bad_custom_configs_are_refused(leaderboard, body, field):
    api, lb = leaderboard
    model = {"platform": "custom", "endpoint": f"{sim_url()}/custom/chat"} | body
    refused = _add(api, lb, model)
    error = assert_error(refused, 422)
    # The discriminated union names the branch: "custom.auth", "custom.endpoint", ...
    assert any(p["field"].startswith(f"custom.{field}") for p in error["errors"]), error
    assert "tok-12345678" not in refused.text
    assert _models(api, lb) == []


def test_a_hugging_face_endpoint_and_unknown_platforms(leaderboard):
    api, lb = leaderboard
    [served] = add_models({"id": unique("wiz/hf-served")})
    token = "hf_" + uuid.uuid4().hex
    added = _add(api, lb, {"platform": "huggingface", "endpoint": sim_url(), "token": token,
                           "model": served})  # fmt: skip
    assert added.status_code == 201, added.text
    assert token not in added.text
    model = added.json()
    assert model["config"] == {"platform": "huggingface", "endpoint": sim_url(), "model": served,
                               "token": HIDDEN}  # fmt: skip
    assert model["label"] == served
    again = _add(api, lb, {"platform": "huggingface", "endpoint": sim_url(), "model": served})
    assert_error(again, 409, "model_already_added")
    assert_error(_add(api, lb, {"platform": "huggingface", "endpoint": "file:///etc/x"}), 422)
    assert_error(_add(api, lb, {"platform": "azure", "model_id": "x/y"}), 422)
    assert [m["id"] for m in _models(api, lb)] == [model["id"]]


# -- Dr.Gero models -------------------------------------------------------------------------------


def test_drgero_models_crud_and_as_candidates(leaderboard):
    api, lb = leaderboard
    token = "dm-" + uuid.uuid4().hex
    url = _custom_endpoint(unique("wizdm"), format="chat", auth="bearer", token=token)
    made = []
    for i in range(3):
        created = api.post("/v1/workspace/models", json={
            "name": f"support-bot-{i}", "description": "fine-tuned on tickets",
            "endpoint": {"platform": "custom", "endpoint": url,
                         "auth": {"method": "bearer", "token": token}},
        })  # fmt: skip
        assert created.status_code == 201, created.text
        assert token not in created.text
        assert created.json()["endpoint"]["token"] == HIDDEN
        made.append(created.json())

    first = api.get("/v1/workspace/models", params={"limit": 2})
    assert first.status_code == 200 and token not in first.text
    page = first.json()
    assert [m["id"] for m in page["items"]] == [made[2]["id"], made[1]["id"]]  # newest first
    rest = api.get("/v1/workspace/models", params={"limit": 2, "cursor": page["next_cursor"]})
    assert [m["id"] for m in rest.json()["items"]] == [made[0]["id"]]
    assert rest.json()["next_cursor"] is None

    one = api.get(f"/v1/workspace/model/{made[0]['id']}").json()
    assert (one["name"], one["endpoint"]["endpoint"]) == ("support-bot-0", url)
    renamed = api.http.patch(f"/v1/workspace/model/{made[0]['id']}", json={"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    assert renamed.json()["endpoint"]["token"] == HIDDEN
    assert api.get(f"/v1/workspace/model/{made[0]['id']}").json()["name"] == "renamed"
    assert api.delete(f"/v1/workspace/model/{made[1]['id']}").status_code == 204
    gone = api.get(f"/v1/workspace/model/{made[1]['id']}")
    assert_error(gone, 404, "workspace_model_not_found")
    assert len(api.get("/v1/workspace/models").json()["items"]) == 2

    added = _add(api, lb, {"platform": "drgero", "model_id": made[0]["id"]})
    assert added.status_code == 201, added.text
    assert added.json()["config"] == {"platform": "drgero", "model_id": made[0]["id"]}
    assert added.json()["label"] == made[0]["id"]
    dup = _add(api, lb, {"platform": "drgero", "model_id": made[0]["id"]})
    assert_error(dup, 409, "model_already_added")
    deleted = _add(api, lb, {"platform": "drgero", "model_id": made[1]["id"]})
    assert_error(deleted, 422, "unknown_model")
    assert_error(_add(api, lb, {"platform": "drgero", "model_id": "dm_nope"}), 422, "unknown_model")


def test_drgero_models_are_private_to_their_workspace(workspace, other_workspace):
    body = {"name": "mine", "endpoint": {"platform": "openrouter", "model_id": "openai/gpt-4o"}}
    mine = workspace.api.post("/v1/workspace/models", json=body).json()
    assert mine["endpoint"] == {"platform": "openrouter", "model_id": "openai/gpt-4o"}
    theirs = other_workspace.api
    assert_error(theirs.get(f"/v1/workspace/model/{mine['id']}"), 404)
    assert_error(theirs.http.patch(f"/v1/workspace/model/{mine['id']}", json={"name": "x"}), 404)
    assert_error(theirs.delete(f"/v1/workspace/model/{mine['id']}"), 404)
    assert theirs.get("/v1/workspace/models").json()["items"] == []
    assert workspace.api.get(f"/v1/workspace/model/{mine['id']}").json()["name"] == "mine"


# -- one run over the four platforms --------------------------------------------------------------


def test_a_run_ranks_custom_hugging_face_drgero_and_openrouter_models(leaderboard, caplog):
    api, lb = leaderboard
    caplog.set_level(logging.INFO)
    bearer, dm_token, hf_token = ("cust-" + uuid.uuid4().hex, "dm-" + uuid.uuid4().hex,
                                  "hf_" + uuid.uuid4().hex)  # fmt: skip
    json_name, dm_name = unique("wizrunjson"), unique("wizrundm")
    json_url = _custom_endpoint(json_name, format="json", auth="bearer", token=bearer,
                                field_path="out.text", accuracy=1.0)  # fmt: skip
    dm_url = _custom_endpoint(dm_name, format="chat", auth="header", header_name="X-Model-Key",
                              token=dm_token, accuracy=0.6)  # fmt: skip
    hf_model, or_model = add_models(
        {"id": unique("wiz/run-hf"), "accuracy": 0.7},
        {"id": unique("wiz/run-or"), "accuracy": 0.3},
    )
    custom = _add(api, lb, {
        "platform": "custom", "endpoint": json_url, "label": "our json service",
        "auth": {"method": "bearer", "token": bearer},
        "response": {"format": "json", "field": "out.text"},
    })  # fmt: skip
    assert custom.status_code == 201, custom.text
    hf = _add(api, lb, {"platform": "huggingface", "endpoint": sim_url(), "token": hf_token,
                        "model": hf_model})  # fmt: skip
    assert hf.status_code == 201, hf.text
    workspace_model = api.post("/v1/workspace/models", json={
        "name": "tuned", "endpoint": {
            "platform": "custom", "endpoint": dm_url,
            "auth": {"method": "header", "header_name": "X-Model-Key", "token": dm_token}},
    })  # fmt: skip
    assert workspace_model.status_code == 201, workspace_model.text
    drgero = _add(api, lb, {"platform": "drgero", "model_id": workspace_model.json()["id"]})
    assert drgero.status_code == 201, drgero.text
    openrouter = add_openrouter(api, lb, or_model)
    ids = {"custom": custom.json()["id"], "hf": hf.json()["id"],
           "drgero": drgero.json()["id"], "openrouter": openrouter}  # fmt: skip

    started = api.post(f"/v1/leaderboard/{lb}/runs", json={})
    assert started.status_code == 202, started.text
    assert started.json()["estimate"]["rows"] == ROWS
    run = wait_for_run(api, lb, started.json()["id"])
    assert run["status"] == "completed", run.get("failure")

    ranking = run["ranking"]
    stats = {m["model_id"]: m for m in ranking["models"]}
    assert set(stats) == set(ids.values())
    assert all(m["n_rows"] == ROWS and m["n_errors"] == 0 for m in stats.values()), stats
    assert ranking["leader"] == ids["custom"] or ids["custom"] in ranking["tied"]
    assert stats[ids["custom"]]["mean_score"] == 1.0
    assert abs(stats[ids["hf"]]["mean_score"] - 0.7) < 0.12
    assert abs(stats[ids["drgero"]]["mean_score"] - 0.6) < 0.12
    assert abs(stats[ids["openrouter"]]["mean_score"] - 0.3) < 0.12
    # Each endpoint was really called, with its own credential.
    assert _sim_stats(f"custom/{json_name}").get("ok", 0) >= ROWS
    assert _sim_stats(f"custom/{dm_name}").get("ok", 0) >= ROWS
    assert _sim_stats(hf_model).get("ok", 0) >= ROWS

    # The run log's model configs: every model, no credential anywhere.
    configs = {m["id"]: m for m in run["model_configs"]}
    assert set(configs) == set(ids.values())
    assert configs[ids["custom"]]["config"]["token"] == HIDDEN
    assert configs[ids["hf"]]["config"]["token"] == HIDDEN
    assert configs[ids["drgero"]]["config"]["platform"] == "drgero"
    as_text = json.dumps(run)
    assert "secret_ref" not in as_text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (bearer, dm_token, hf_token):
        assert secret not in as_text
        assert secret not in logged
        assert secret not in api.get(f"/v1/leaderboard/{lb}/traces").text


# -- auto-select ----------------------------------------------------------------------------------

CHEAP = {"prompt": "0.000000005", "completion": "0.00000001"}  # $0.005 and $0.01 per million
LIMITS = {"max_input_price_per_million": 0.015, "max_output_price_per_million": 0.025,
          "max_p95_latency_ms": 1000, "open_source_only": True}  # fmt: skip


def _published_p95(median: float, p99: float) -> float:
    """What the simulator publishes (a lognormal's p90, p99), mapped as the API documents."""
    sigma = math.log(p99 / median) / 2.3263
    p90 = round(median * math.exp(sigma * 1.2816), 1)
    return p90 + (p99 - p90) * 5 / 9


def test_auto_select_explains_its_picks_and_prefers_measured_latency(leaderboard, deps, workspace):
    api, lb = leaderboard
    tag = uuid.uuid4().hex[:6]
    a, b, c, d, e, f = (f"wz{tag}{x}" for x in "abcdef")
    fast, mid, tail = ({"median": 200, "p99": 600}, {"median": 300, "p99": 1200},
                       {"median": 500, "p99": 1500})  # fmt: skip
    assert _published_p95(**fast) < _published_p95(**mid) < 1000 < mid["p99"]
    assert _published_p95(**tail) > 1000  # although its p90 is below the limit
    new_fast, older_fast, b_mid, c_tail, d_closed, e_expired, f_pricey = add_models(
        {"id": f"{a}/new-fast", "hugging_face_id": f"{a}/New", "created": 1_900_000_300,
         "latency_ms": fast, "pricing": CHEAP},
        {"id": f"{a}/older-fast", "hugging_face_id": f"{a}/Old", "created": 1_900_000_250,
         "latency_ms": fast, "pricing": CHEAP},
        {"id": f"{b}/mid", "hugging_face_id": f"{b}/Mid", "created": 1_900_000_100,
         "latency_ms": mid, "pricing": CHEAP},
        {"id": f"{c}/slow-tail", "hugging_face_id": f"{c}/Tail", "created": 1_900_000_400,
         "latency_ms": tail, "pricing": CHEAP},
        {"id": f"{d}/closed", "created": 1_900_000_500, "latency_ms": fast, "pricing": CHEAP},
        {"id": f"{e}/expired", "hugging_face_id": f"{e}/Gone", "created": 1_900_000_600,
         "latency_ms": fast, "pricing": CHEAP, "expiration_date": "2020-01-01"},
        {"id": f"{f}/pricey", "hugging_face_id": f"{f}/Dear", "created": 1_900_000_700,
         "latency_ms": fast, "pricing": {"prompt": "0.00000005", "completion": "0.00000001"}},
    )  # fmt: skip
    path = f"/v1/leaderboard/{lb}/models/auto-select"

    dry = api.post(path, json={"count": 2, "dry_run": True} | LIMITS)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] is True
    # One per author first (b's older model beats a's second one), newest first.
    assert [m["config"]["model_id"] for m in body["selected"]] == [new_fast, b_mid]
    assert (body["considered"], body["eligible"]) == (4, 3)
    excluded = body["excluded"]
    assert excluded["latency"] == 1 and excluded["already_added"] == 0
    for reason in ("price", "closed_source", "expired", "router"):
        assert excluded[reason] > 0, excluded
    for pick, latency in zip(body["selected"], (fast, mid), strict=True):
        assert pick["source"] == "auto_select"
        assert "$0.005/M input" in pick["reason"] and "$0.01/M output" in pick["reason"]
        assert "p95" in pick["reason"] and "published" in pick["reason"]
        assert "open weights" in pick["reason"]
        assert pick["published"]["latency_p95_ms"] == pytest.approx(
            _published_p95(**latency), abs=1
        )
    assert "5/9" in body["p95_rule"]
    assert _models(api, lb) == []  # a dry run adds nothing

    done = api.post(path, json={"count": 2} | LIMITS)
    assert done.status_code == 200, done.text
    assert done.json()["dry_run"] is False
    listed = _models(api, lb)
    assert [m["config"]["model_id"] for m in listed] == [new_fast, b_mid]
    assert all(m["source"] == "auto_select" and m["reason"] for m in listed)
    assert {m["id"] for m in listed} == {m["id"] for m in done.json()["selected"]}

    # Our own measurement beats the published figures.
    deps.drgero_models.record_measured(
        workspace.id, f"openrouter:{c_tail}", {"p50_ms": 1, "p95_ms": 1, "p99_ms": 1}
    )
    again = api.post(path, json={"count": 3, "dry_run": True} | LIMITS).json()
    assert [m["config"]["model_id"] for m in again["selected"]] == [c_tail, older_fast]
    assert again["excluded"]["already_added"] == 2 and again["excluded"]["latency"] == 0
    assert "measured" in again["selected"][0]["reason"]
    assert "published" in again["selected"][1]["reason"]
    assert len(_models(api, lb)) == 2
    assert {d_closed, e_expired, f_pricey}.isdisjoint(
        m["config"]["model_id"] for m in again["selected"]
    )


# -- limits ---------------------------------------------------------------------------------------


def test_candidates_per_leaderboard_are_capped_for_adds_and_auto_select(
    leaderboard, deps, monkeypatch
):
    monkeypatch.setattr(deps.settings, "max_candidates_per_leaderboard", 3)
    api, lb = leaderboard
    ids = add_models(*({"id": unique("sim/cap")} for _ in range(4)))
    added = [add_openrouter(api, lb, model) for model in ids[:2]]
    path = f"/v1/leaderboard/{lb}/models/auto-select"
    error = assert_error(api.post(path, json={"count": 2}), 409, "candidate_limit_reached")
    assert error["max_candidates"] == 3 and "3" in error["message"]
    assert len(_models(api, lb)) == 2  # nothing was added
    assert api.post(path, json={"count": 1}).status_code == 200
    full = _add(api, lb, {"platform": "openrouter", "model_id": ids[3]})
    error = assert_error(full, 409, "candidate_limit_reached")
    assert error["max_candidates"] == 3
    assert_error(api.post(path, json={"count": 1}), 409, "candidate_limit_reached")
    assert api.post(path, json={"count": 1, "dry_run": True}).status_code == 200  # adds nothing
    assert api.delete(f"/v1/leaderboard/{lb}/models/{added[0]}").status_code == 204
    assert _add(api, lb, {"platform": "openrouter", "model_id": ids[3]}).status_code == 201
    assert len(_models(api, lb)) == 3
