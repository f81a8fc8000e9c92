"""Inference under time and size limits: deadlines across fallbacks, body size, a client leaving.

Two leaderboards rank the same three simulated models: ``board.loose`` keeps the deployment's
defaults (60 s per model, 120 s per request), ``board.tight`` gives each model 0.6 s and the
whole request 1 s. Slowness is the simulator's: a fixed latency of 600 000 ms is 6 s at its
time scale of 0.01.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, replace

import httpx
import pytest

from tests.errors import assert_error
from tests.inference_support import (
    Board,
    Ranked,
    calls_since,
    create_token,
    eventually,
    faulty,
    fetch_trace,
    infer,
    ranked_leaderboard,
    sim_stats,
    token_entry,
    upstream_requests,
)
from tests.runs_support import sim_url

A, B, C = "sim/limits-a", "sim/limits-b", "sim/limits-c"
# The module's ranked board and healthy models (tests/integration/conftest.py).
BOARD = ("limits-", {A: 0.95, B: 0.6, C: 0.25})
pytestmark = pytest.mark.usefixtures("healthy_models")  # tests/integration/conftest.py
SLOW = {"latency_ms": {"fixed": 600_000}}  # 6 s at the simulator's time scale
TIGHT = {"timeout_seconds": 0.6, "deadline_seconds": 1.0}


@dataclass
class Boards(Board):
    """The shared board, its leaderboard (``loose``) on the defaults, and a ``tight`` twin."""

    tight: Ranked

    @property
    def loose(self) -> Ranked:
        return self.ranked

    def stream(self, lb: str, text: str, **headers: str) -> httpx.Response:
        """An open streamed chat call (the caller closes it)."""
        client = httpx.Client(base_url=self.base_url, timeout=60)
        request = client.build_request(
            "POST",
            "/v1/chat/completions",
            json={
                "model": f"leaderboard/{lb}",
                "messages": [{"role": "user", "content": text}],
                "stream": True,
            },
            headers={"Authorization": f"Bearer {self.token}"} | headers,
        )
        return client.send(request, stream=True)


@pytest.fixture(scope="module")
def board(board: Board) -> Boards:
    """The shared board (tests/integration/conftest.py) as ``loose``, and its ``tight`` twin."""
    tight = ranked_leaderboard(board.api, [A, B, C], **TIGHT)
    assert tight.order == board.ranked.order
    return Boards(**vars(board), tight=tight)


def _text() -> str:
    return f"What is the answer {uuid.uuid4().hex[:10]}"


def _timed(call) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


# ----------------------------------------------------------------------------- deadlines


def test_the_deadline_bounds_a_request_across_its_fallbacks(board):
    before = sim_stats()
    with faulty(A, **SLOW), faulty(B, **SLOW), faulty(C, **SLOW):
        response, elapsed = _timed(lambda: infer(board.api, board.tight.lb, input=_text()))
    error = assert_error(response, 504, "deadline_exceeded")
    # A had 0.6 s, B the 0.4 s left, C no time at all (each slow model takes 6 s).
    assert 0.9 <= elapsed < 5, elapsed
    assert error["deadline_seconds"] == 1.0
    assert [a["model_id"] for a in error["attempts"]] == [
        board.tight.candidate[A],
        board.tight.candidate[B],
    ]
    assert {a["error"] for a in error["attempts"]} == {"upstream_timeout"}
    assert calls_since(before, C).get("total", 0) == 0
    trace = fetch_trace(board.api, board.tight.lb, error["trace_id"])
    assert trace["error"] == "deadline_exceeded" and trace["output"] is None


def test_within_the_deadline_a_slow_model_falls_back(board):
    with faulty(A, **SLOW):
        response, elapsed = _timed(lambda: infer(board.api, board.tight.lb, input=_text()))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["fallback"], body["model"]["upstream"]) == (True, B)
    assert elapsed < 5 and body["attempts"][0]["error"] == "upstream_timeout"  # not A's 6 s


def test_the_deadline_bounds_the_wait_for_a_streams_first_chunk(board):
    with faulty(A, **SLOW), faulty(B, **SLOW), faulty(C, **SLOW):
        started = time.monotonic()
        response = board.stream(board.tight.lb, _text())
        response.read()
        elapsed = time.monotonic() - started
    assert_error(response, 504, "deadline_exceeded")
    assert elapsed < 5, elapsed  # the slow models take 6 s each


@pytest.mark.parametrize("header", ["X-DrGero-Timeout", "X-Stainless-Read-Timeout"])
def test_the_clients_own_timeout_shortens_the_deadline(board, header):
    before = sim_stats()
    with faulty(A, **SLOW):
        response, elapsed = _timed(
            lambda: board.api.post(
                "/v1/chat/completions",
                json={
                    "model": f"leaderboard/{board.loose.lb}",
                    "messages": [{"role": "user", "content": _text()}],
                },
                headers={header: "0.5"},
            )
        )
    error = assert_error(response, 504, "deadline_exceeded")
    assert error["deadline_seconds"] == 0.5 and elapsed < 5, (error, elapsed)  # not A's 6 s
    assert calls_since(before, B).get("total", 0) == 0  # no time was left to fall back


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf", "nan"])
def test_a_timeout_header_that_is_not_a_positive_number_is_400(board, value):
    response = board.api.post(
        f"/v1/leaderboard/{board.loose.lb}/inference",
        json={"input": _text()},
        headers={"X-DrGero-Timeout": value},
    )
    error = assert_error(response, 400, "invalid_header")
    assert error["header"] == "X-DrGero-Timeout"


@pytest.mark.parametrize("value", ["soon", "0", "inf"])
def test_an_sdk_timeout_header_that_is_not_a_number_is_ignored(board, value):
    response = board.api.post(
        f"/v1/leaderboard/{board.loose.lb}/inference",
        json={"input": _text()},
        headers={"X-Stainless-Read-Timeout": value},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "inference",
    [{"timeout_seconds": 0}, {"deadline_seconds": -1}, {"deadline_seconds": 10_000}],
)
def test_timeouts_out_of_range_are_refused(board, inference):
    response = board.api.http.patch(
        f"/v1/leaderboard/{board.loose.lb}", json={"inference": inference}
    )
    assert_error(response, 422)


# ----------------------------------------------------------------------------- body size


@pytest.mark.parametrize("path", ["inference", "chat"])
def test_a_body_over_the_limit_is_413_and_reaches_no_model(board, deps, path):
    limit = deps.settings.inference_max_body_bytes
    marker = uuid.uuid4().hex
    text = marker + "x" * limit
    if path == "inference":
        response = infer(board.api, board.loose.lb, input=text)
    else:
        response = board.api.post(
            "/v1/chat/completions",
            json={
                "model": f"leaderboard/{board.loose.lb}",
                "messages": [{"role": "user", "content": text}],
            },
        )
    error = assert_error(response, 413, "payload_too_large")
    assert error["max_bytes"] == limit
    assert upstream_requests(A, marker) == []


def test_a_large_body_under_the_limit_is_served(board):
    marker = uuid.uuid4().hex
    text = marker + " " + "word " * 100_000  # about 500 kB
    response = infer(board.api, board.loose.lb, input=text)
    assert response.status_code == 200, response.text[:300]
    assert len(upstream_requests(A, marker)) == 1


# ----------------------------------------------------------------------------- streams


def test_a_client_that_leaves_a_stream_stops_the_upstream_and_is_charged(board):
    token = create_token(board.api, scopes=["inference"])
    boards = replace(board, token=token["token"])  # streams as the inference token
    before = sim_stats()
    received = ""
    # About 30 s of generation (63 tokens at 0.02 tokens/s, at the time scale of 0.01).
    with faulty(A, throughput_tps=0.02):
        response = boards.stream(board.loose.lb, _text())
        assert response.status_code == 200
        trace_id = response.headers["X-DrGero-Trace-Id"]
        for line in response.iter_lines():
            if line.startswith("data: "):
                received += json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            if received:
                break
        left_at = time.monotonic()
        response.close()  # the client goes away after its first words

        def cut() -> dict[str, float] | None:
            calls = calls_since(before, A)
            return calls if calls.get("streams_cut") else None

        calls = eventually(cut, timeout=10)
    assert calls["streams_cut"] == 1 and calls["streams"] == 1, calls
    assert time.monotonic() - left_at < 10  # long before the stream's natural end

    trace = fetch_trace(board.api, board.loose.lb, trace_id)
    assert trace["error"] == "client_disconnected" and trace["cost_estimated"] is True
    assert trace["output"].startswith(received) and trace["model_id"] == board.loose.candidate[A]
    assert trace["usage"]["prompt_tokens"] > 0 and trace["cost_usd"] > 0
    spent = eventually(lambda: token_entry(board.api, token["id"])["spend_usd"])
    assert spent == pytest.approx(trace["cost_usd"])


def test_an_upstream_that_stalls_mid_stream_times_out_with_an_error_event(board):
    # The first words come at once, then ~2 s between chunks: past the tight board's 0.6 s.
    with faulty(A, throughput_tps=0.02):
        started = time.monotonic()
        response = board.stream(board.tight.lb, _text())
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        elapsed = time.monotonic() - started
        response.close()
    assert response.status_code == 200 and elapsed < 5, elapsed  # not the stream's 30 s
    *chunks, last = [json.loads(event) for event in events]  # no [DONE] after the error
    assert last["error"]["code"] == "upstream_timeout", last
    received = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert received  # the first words were relayed before the stall
    trace = fetch_trace(board.api, board.tight.lb, response.headers["X-DrGero-Trace-Id"])
    assert (trace["error"], trace["cost_estimated"], trace["output"]) == (
        "upstream_timeout",
        True,
        received,
    )
    assert trace["fallback"] is False and trace["attempts"] == []


def test_a_finished_stream_names_its_trace(board):
    response = board.stream(board.loose.lb, _text())
    events = [line for line in response.iter_lines() if line.startswith("data: ")]
    response.close()
    assert events[-1] == "data: [DONE]"
    trace = fetch_trace(board.api, board.loose.lb, response.headers["X-DrGero-Trace-Id"])
    assert trace["error"] is None and trace["cost_estimated"] is False
    assert trace["output"] and trace["usage"]["completion_tokens"] > 0


# ----------------------------------------------------------------------------- the hot path


def _key_seen_upstream(marker: str) -> str:
    """The (masked) Authorization the simulator got with the request holding ``marker``."""
    recent = httpx.get(f"{sim_url()}/_sim/stats", timeout=10).json()["recent_requests"]
    seen = [
        r["headers"].get("Authorization") or r["headers"].get("authorization")
        for r in recent
        if isinstance(r["body"], dict) and marker in json.dumps(r["body"])
    ]
    assert len(seen) == 1, seen
    return str(seen[0])


def test_a_rotated_provider_key_is_used_within_the_cache_bound(board, deps):
    bound = deps.settings.inference_cache_seconds
    old, new = f"sk-or-old-{uuid.uuid4().hex}-old", f"sk-or-new-{uuid.uuid4().hex}-new"

    def upstream_key() -> tuple[float, str]:
        """When a call started, and the (masked) key it reached the model with."""
        marker, started = _text(), time.monotonic()
        assert infer(board.api, board.loose.lb, input=marker).status_code == 200
        return started, _key_seen_upstream(marker)

    assert board.api.http.put("/v1/integrations/openrouter", json={"secret": old}).is_success
    time.sleep(bound + 0.5)  # past any cached endpoint
    loaded_at, seen = upstream_key()  # caches the endpoint with the old key, at or after this
    assert seen.endswith("...old")
    assert board.api.http.put("/v1/integrations/openrouter", json={"secret": new}).is_success
    started, seen = upstream_key()
    if started - loaded_at < bound - 1:  # the cached endpoint had not expired yet
        assert seen.endswith("...old")
    calls: list[tuple[float, str]] = []
    while not calls or not calls[-1][1].endswith("...new"):
        assert time.monotonic() - loaded_at < bound + 5, calls  # the new key within the bound
        calls.append(upstream_key())
        time.sleep(0.3)
    assert calls[-1][0] - loaded_at >= bound - 0.5, calls  # and not before the cache expired
