"""The model simulator over real HTTP: OpenRouter shapes, answer behaviour, faults, control."""

from __future__ import annotations

import json
import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from simulator.config import Latency, SimModel, SimulatorConfig
from simulator.server import Simulator
from tests.simulator.conftest import AUTH, KEY


def ask(http: httpx.Client, model: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return http.post("/api/v1/chat/completions", json=body, headers=AUTH)


def content_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


# ------------------------------------------------------------------ catalog


def test_default_config_is_a_realistic_catalog() -> None:
    config = SimulatorConfig.default()
    models = {model.id: model for model in config.models}
    assert len(models) >= 10
    assert models["openrouter/auto"].is_router
    assert any(model.expiration_date for model in config.models)
    assert sum(1 for model in config.models if model.hugging_face_id) >= 3
    assert sum(1 for model in config.models if model.judge) >= 2


def test_models_list_has_openrouter_shape_without_a_key(http: httpx.Client) -> None:
    response = http.get("/api/v1/models")
    assert response.status_code == 200
    models = {model["id"]: model for model in response.json()["data"]}
    exact = models["sim/exact"]
    assert exact["canonical_slug"] == "sim/exact"
    assert exact["hugging_face_id"] == "sim-org/Exact-7B"
    assert exact["pricing"]["prompt"] == "0.000001"
    assert all(isinstance(price, str) for price in exact["pricing"].values())
    assert exact["architecture"]["input_modalities"] == ["text"]
    assert exact["top_provider"]["context_length"] == exact["context_length"]
    assert "max_tokens" in exact["supported_parameters"]
    assert models["sim/closed"]["hugging_face_id"] == ""
    assert models["sim/old"]["expiration_date"] == "2020-01-01"
    assert models["openrouter/auto"]["pricing"]["prompt"] == "-1"


def test_endpoints_publish_latency_and_throughput_to_key_holders(http: httpx.Client) -> None:
    path = "/api/v1/models/sim/closed/endpoints"
    data = http.get(path, headers=AUTH).json()["data"]
    assert data["id"] == "sim/closed"
    (endpoint,) = data["endpoints"]
    latency = endpoint["latency_last_30m"]
    assert latency["p50"] == 400
    assert latency["p50"] < latency["p75"] < latency["p90"] < latency["p99"] == 1600
    assert endpoint["throughput_last_30m"] is None  # throughput_tps 0: nothing published
    for field in ("provider_name", "tag", "quantization", "max_completion_tokens", "status"):
        assert field in endpoint
    throughput = http.get("/api/v1/models/sim/exact/endpoints", headers=AUTH).json()["data"]
    assert throughput["endpoints"][0]["throughput_last_30m"]["p50"] == 80
    anonymous = http.get(path).json()["data"]["endpoints"][0]
    assert anonymous["latency_last_30m"] is None  # as OpenRouter: stats need a key


def test_endpoints_of_unknown_and_expired_models(http: httpx.Client) -> None:
    missing = http.get("/api/v1/models/sim/nope/endpoints", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 404
    expired = http.get("/api/v1/models/sim/old/endpoints", headers=AUTH)
    assert expired.json()["data"]["endpoints"] == []


# ------------------------------------------------------------------ chat completions


def test_chat_completion_shape_and_cost(sim: Simulator, http: httpx.Client) -> None:
    sim.add_answer_key([{"input": "capital of France", "expected": "Paris"}])
    response = ask(http, "sim/exact", "What is the capital of France?")
    body = response.json()
    assert body["id"].startswith("gen-")
    assert response.headers["X-Generation-Id"] == body["id"]
    assert body["object"] == "chat.completion"
    assert body["model"] == "sim/exact"
    choice = body["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Paris",
        "refusal": None,
        "reasoning": None,
    }
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] == math.ceil(len("What is the capital of France?") / 4)
    assert usage["completion_tokens"] == 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    expected_cost = Decimal("0.000001") * usage["prompt_tokens"] + Decimal("0.000002") * 2
    assert math.isclose(usage["cost"], float(expected_cost), rel_tol=1e-9)


def test_chat_needs_a_valid_key(http: httpx.Client) -> None:
    body = {"model": "sim/exact", "messages": [{"role": "user", "content": "hi"}]}
    missing = http.post("/api/v1/chat/completions", json=body)
    wrong = http.post("/api/v1/chat/completions", json=body, headers={"Authorization": "Bearer x"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 401


def test_explicit_api_keys_replace_the_prefix_rule() -> None:
    config = SimulatorConfig(api_keys=["only-this-key"], models=[SimModel(id="a/b")])
    with Simulator(config) as sim:
        url = sim.openrouter_base_url + "/key"
        assert httpx.get(url, headers={"Authorization": "Bearer only-this-key"}).status_code == 200
        assert httpx.get(url, headers=AUTH).status_code == 401


def test_unknown_and_expired_models_are_refused(http: httpx.Client) -> None:
    assert ask(http, "sim/nope", "hi").status_code == 400
    expired = ask(http, "sim/old", "hi")
    assert expired.status_code == 404
    assert "No endpoints found" in expired.json()["error"]["message"]


def test_key_endpoint_reports_usage_of_the_key(http: httpx.Client) -> None:
    ask(http, "sim/exact", "spend a little")
    data = http.get("/api/v1/key", headers=AUTH).json()["data"]
    assert data["label"].startswith("sk-or-v1-") and KEY not in data["label"]
    assert data["usage"] > 0
    assert data["limit"] is None and data["is_free_tier"] is False
    assert data["rate_limit"] == {"requests": 100, "interval": "10s"}
    assert http.get("/api/v1/key").status_code == 401


def test_router_answers_through_a_target(http: httpx.Client) -> None:
    body = ask(http, "openrouter/auto", "route me").json()
    assert body["model"] == "sim/exact"
    assert body["usage"]["cost"] > 0  # the target's price, not the router's "-1"


def test_accuracy_is_deterministic_and_close_to_configured(sim: Simulator, http: httpx.Client):
    rows = [
        {"input": f"Question number {i}: what is {i} squared?", "expected": str(i * i)}
        for i in range(200)
    ]
    sim.add_answer_key(rows)
    answers = [content_of(ask(http, "sim/seventy", f"Task.\n{row['input']}")) for row in rows]
    right = sum(answer == row["expected"] for answer, row in zip(answers, rows, strict=True))
    assert 0.62 <= right / len(rows) <= 0.78
    wrong = next(a for a, row in zip(answers, rows, strict=True) if a != row["expected"])
    assert wrong.startswith("wrong answer ")
    again = [content_of(ask(http, "sim/seventy", rows[i]["input"])) for i in range(20)]
    assert again == answers[:20]  # same row, other template: same verdict
    assert content_of(ask(http, "sim/exact", rows[5]["input"])) == "25"


def test_longest_answer_key_input_wins_and_unknown_prompts_echo(sim: Simulator, http: httpx.Client):
    sim.add_answer_key(
        [{"input": "two", "expected": "short"}, {"input": "one two", "expected": "long"}]
    )
    assert content_of(ask(http, "sim/exact", "say one two three")) == "long"
    echo = content_of(ask(http, "sim/exact", "nothing known here"))
    assert echo == content_of(ask(http, "sim/exact", "nothing known here"))
    assert "nothing known here" in echo


def test_error_and_rate_limit_rates(http: httpx.Client) -> None:
    fields = {"id": "sim/flaky", "error_rate": 0.25, "rate_limit_rate": 0.15}
    assert http.post("/_sim/models", json=fields).status_code == 200
    statuses = [ask(http, "sim/flaky", f"call {i}") for i in range(400)]
    limited = [r for r in statuses if r.status_code == 429]
    failed = [r for r in statuses if r.status_code == 500]
    assert 0.09 <= len(limited) / 400 <= 0.21
    assert 0.17 <= len(failed) / (400 - len(limited)) <= 0.33
    assert all(r.headers["Retry-After"] == "3" for r in limited)
    assert limited[0].json()["error"]["code"] == 429
    assert failed[0].json()["error"]["metadata"]["provider_name"]
    stats = http.get("/_sim/stats").json()["models"]["sim/flaky"]
    assert stats["total"] == 400
    assert (stats["429"], stats["500"]) == (len(limited), len(failed))
    assert stats["ok"] == 400 - len(limited) - len(failed)


def test_refusals_are_content_filter_answers(http: httpx.Client) -> None:
    http.post("/_sim/models", json={"id": "sim/prude", "refusal_rate": 1.0})
    choice = ask(http, "sim/prude", "anything").json()["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["refusal"] == choice["message"]["content"]
    assert http.get("/_sim/stats").json()["models"]["sim/prude"]["refusals"] == 1


def test_max_tokens_truncates_with_finish_reason_length(http: httpx.Client) -> None:
    body = ask(http, "sim/exact", "a long prompt " * 20, max_tokens=3).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3


def test_stream_sends_processing_comment_deltas_usage_and_done(sim: Simulator) -> None:
    sim.add_answer_key([{"input": "poem", "expected": "Roses are red and violets are blue"}])
    body = {
        "model": "sim/exact",
        "stream": True,
        "messages": [{"role": "user", "content": "a poem please"}],
    }
    url = sim.openrouter_base_url + "/chat/completions"
    with httpx.stream("POST", url, json=body, headers=AUTH) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[0] == ": OPENROUTER PROCESSING"
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[1:-1]]
    assert len(chunks) >= 3
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == "Roses are red and violets are blue"
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"]["completion_tokens"] == math.ceil(len(text) / 4)
    assert last["usage"]["cost"] > 0


def _stream_lines(http: httpx.Client, body: dict[str, Any]) -> list[str]:
    with http.stream("POST", "/api/v1/chat/completions", json=body, headers=AUTH) as response:
        assert response.status_code == 200
        return [line for line in response.iter_lines() if line]


@pytest.mark.parametrize(("cut_after", "sent"), [(0, 0), (2, 2), (10, 3)])
def test_a_model_can_break_off_its_streams(
    sim: Simulator, http: httpx.Client, cut_after: int, sent: int
) -> None:
    sim.add_answer_key([{"input": "poem", "expected": "Roses are red and violets are blue"}])
    fault = {"id": "sim/exact", "stream_cut_after_chunks": cut_after}
    assert http.post("/_sim/models", json=fault).status_code == 200
    body = {
        "model": "sim/exact",
        "stream": True,
        "messages": [{"role": "user", "content": "a poem please"}],
    }
    lines = _stream_lines(http, body)
    assert lines[0] == ": OPENROUTER PROCESSING"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[1:]]
    pieces = [chunk["choices"][0]["delta"]["content"] for chunk in chunks]
    assert pieces == ["Roses are red ", "and violets are ", "blue"][:sent]  # no [DONE]
    assert all(c["choices"][0]["finish_reason"] is None and "usage" not in c for c in chunks)
    stats = http.get("/_sim/stats").json()["models"]["sim/exact"]
    assert (stats["streams"], stats["streams_broken"], stats["streams_cut"]) == (1, 1, 0)

    healed = {"id": "sim/exact", "stream_cut_after_chunks": None}
    assert http.post("/_sim/models", json=healed).status_code == 200
    assert _stream_lines(http, body)[-1] == "data: [DONE]"
    stats = http.get("/_sim/stats").json()["models"]["sim/exact"]
    assert (stats["streams"], stats["streams_broken"], stats["streams_cut"]) == (2, 1, 0)


def test_a_stream_cut_is_a_count_of_chunks(http: httpx.Client) -> None:
    refused = http.post("/_sim/models", json={"id": "sim/exact", "stream_cut_after_chunks": -1})
    assert refused.status_code == 400
    assert SimModel(id="a/b").stream_cut_after_chunks is None


def test_json_response_format(sim: Simulator, http: httpx.Client) -> None:
    sim.add_answer_key([{"input": "sky", "expected": "blue"}])
    plain = ask(http, "sim/exact", "sky colour?", response_format={"type": "json_object"})
    assert json.loads(content_of(plain)) == {"answer": "blue"}
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "a",
            "schema": {
                "properties": {"confidence": {"type": "number"}, "colour": {"type": "string"}}
            },
        },
    }
    shaped = ask(http, "sim/exact", "sky colour?", response_format=schema)
    assert json.loads(content_of(shaped)) == {"confidence": 0, "colour": "blue"}


def judge_prompt(expected: str, candidate: str) -> str:
    return (
        "You grade answers. Output: JSON with score and reason.\n\n"
        "Input:\nWhat is 2+2?\n\n"
        f"Expected answer:\n{expected}\n\n"
        f"Candidate answer:\n{candidate}\n"
    )


def test_judge_scores_expected_against_candidate(http: httpx.Client) -> None:
    right = json.loads(content_of(ask(http, "sim/judge", judge_prompt("Four", "  four "))))
    assert right["score"] == 1.0 and right["reason"]
    wrong = json.loads(content_of(ask(http, "sim/judge", judge_prompt("4", "5"))))
    assert wrong["score"] == 0.0
    labelled = "**Expected output:** 7\n**Output:** 7"
    assert json.loads(content_of(ask(http, "sim/judge", labelled)))["score"] == 1.0
    tagged = "<expected_answer>Paris</expected_answer>\n<candidate_answer>Lyon</candidate_answer>"
    assert json.loads(content_of(ask(http, "sim/judge", tagged)))["score"] == 0.0


def test_judge_reads_the_backend_prompt_its_scale_and_the_answer_key(
    sim: Simulator, http: httpx.Client
) -> None:
    system = (
        'Everything after "Task:", "Expected answer:", "Candidate answer:" and "Rubric:" is '
        "material to evaluate.\nThe score is an integer from 1 (completely wrong) to 10 (fully "
        'correct).\nAnswer ONLY with a JSON object: {"score": <number>, "reason": "..."}'
    )

    def verdict(expected: str, candidate: str) -> dict[str, Any]:
        user = (
            "Task:\nAnswer with the number only.\n\nQuestion: What is 6 times 7?\nAnswer:\n\n"
            f"Expected answer:\n{expected}\n\nCandidate answer:\n{candidate}\n\nRubric:\n(none)"
        )
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        body = {"model": "sim/judge", "messages": messages}
        response = http.post("/api/v1/chat/completions", json=body, headers=AUTH)
        return dict(json.loads(content_of(response)))

    assert verdict("42", "42")["score"] == 10
    assert verdict("42", "41")["score"] == 1
    assert verdict("42", "Answer: 42")["score"] == 1  # a label inside the answer is content
    sim.add_answer_key([{"input": "What is 6 times 7?", "expected": "42"}])
    assert verdict("(none)", "42")["score"] == 10  # the answer key knows the expected answer
    assert verdict("(none)", "43")["score"] == 1


def test_judge_malformed_rate(http: httpx.Client) -> None:
    http.post("/_sim/models", json={"id": "sim/judge", "malformed_rate": 0.3})
    contents = [content_of(ask(http, "sim/judge", judge_prompt("a", f"b{i}"))) for i in range(100)]
    malformed = [text for text in contents if not text.startswith("{")]
    assert 0.18 <= len(malformed) / 100 <= 0.42
    assert all(json.loads(text)["score"] == 0.0 for text in contents if text.startswith("{"))
    stats = http.get("/_sim/stats").json()["models"]["sim/judge"]
    assert stats["malformed"] == len(malformed)


# ------------------------------------------------------------------ latency


def test_latency_sampling_respects_median_and_p99(sim: Simulator) -> None:
    latency = Latency(median=1000, p99=4000)
    draws = sorted(sim.state.sample_latency_ms(latency) for _ in range(4000))
    # time_scale 0.05: a 1000 ms median is waited as 50 ms, the p99 as 200 ms.
    assert 45 <= statistics.median(draws) <= 55
    assert 160 <= draws[int(0.99 * len(draws))] <= 250


def test_calls_wait_their_sampled_latency(http: httpx.Client) -> None:
    http.post("/_sim/models", json={"id": "sim/slow", "latency_ms": {"median": 1000, "p99": 4000}})

    def timed(i: int) -> float:
        started = time.perf_counter()
        content_of(ask(http, "sim/slow", f"latency {i}"))
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(max_workers=10) as pool:
        durations = list(pool.map(timed, range(30)))
    # Waits only add up: the lower bound is firm, the upper one leaves room for a busy machine.
    assert 35 <= statistics.median(durations) <= 250
    assert min(durations) < statistics.median(durations) < max(durations)


def test_time_scale_zero_makes_calls_instant() -> None:
    slow = {"id": "sim/glacial", "latency_ms": {"fixed": 60_000}, "throughput_tps": 1}
    config = SimulatorConfig.model_validate({"time_scale": 0, "models": [slow]})
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as http:
        started = time.perf_counter()
        content_of(ask(http, "sim/glacial", "quick?"))
        assert time.perf_counter() - started < 1.0
        stats = http.get("/api/v1/models/sim/glacial/endpoints", headers=AUTH).json()
        assert stats["data"]["endpoints"][0]["latency_last_30m"]["p50"] == 60_000


def test_key_limit_answers_402_once_spent() -> None:
    config = SimulatorConfig.model_validate(
        {
            "time_scale": 0,
            "key_limit": 0.000001,
            "models": [{"id": "a/b", "pricing": {"prompt": "0.001"}}],
        }
    )
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as http:
        assert ask(http, "a/b", "first").status_code == 200
        assert ask(http, "a/b", "second").status_code == 402
        assert http.get("/api/v1/key", headers=AUTH).json()["data"]["limit_remaining"] == 0
