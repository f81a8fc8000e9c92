"""Helpers for the inference tests: ranked leaderboards, simulator faults, polling, tokens.

Each inference test module builds one ``Board`` (``ranked_board``) for its module and keeps its
simulated models healthy around every test (``healed``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import openai

from devstack.inprocess import InProcessStack
from shared import bootstrap
from shared.domain.prompts import task_messages
from shared.services import accounts
from simulator.answers import all_text, count_tokens
from tests.conftest import Api
from tests.runs_support import (
    add_models,
    add_openrouter,
    arithmetic_rows,
    push_leaderboard,
    register_answers,
    sim,
    sim_url,
    wait_for_run,
)

SYSTEM_PROMPT = "Answer with the number only.\n\n{input}"
PROMPT_PRICE = 0.000001  # USD per prompt token of every model registered here
COMPLETION_PRICE = 0.000002
OVERHEAD_HEADER = "X-DrGero-Overhead-Ms"
# The rows of every ranked leaderboard here: enough to rank models of these accuracies apart,
# few enough that a run is a few seconds (the product wants 100 before candidates are added:
# ``small_datasets`` lowers that bound while these are built).
ROWS = 20

# What every model registered here looks like between tests: fast, healthy, priced.
HEALTHY: dict[str, Any] = {
    "latency_ms": {"fixed": 2},
    "throughput_tps": 0.0,  # output costs no time
    "pricing": {"prompt": str(PROMPT_PRICE), "completion": str(COMPLETION_PRICE)},
    "error_rate": 0.0,
    "rate_limit_rate": 0.0,
    "retry_after_seconds": 0,
    "refusal_rate": 0.0,
    "expiration_date": None,
    "stream_cut_after_chunks": None,
    "reported_cost_factor": 1.0,
}


@dataclass
class Ranked:
    """A ranked PUSH leaderboard: ``order`` is the ranking (upstream model ids, best first)."""

    api: Api
    lb: str
    order: list[str]
    candidate: dict[str, str]  # upstream model id -> the leaderboard's candidate model id


@dataclass
class Board:
    """A pro workspace's ranked leaderboard, with the secrets a test looks for in its answers."""

    ranked: Ranked
    token: str  # the workspace's admin token (plaintext)
    token_id: str
    openrouter_key: str
    base_url: str

    @property
    def api(self) -> Api:
        return self.ranked.api

    @property
    def lb(self) -> str:
        return self.ranked.lb

    @property
    def model(self) -> str:
        """The leaderboard as the OpenAI-compatible endpoints name it."""
        return f"leaderboard/{self.lb}"

    def client(self, token: str | None = None) -> openai.OpenAI:
        """The ``openai`` SDK on the stack, as the admin (or ``token``), never retrying."""
        return openai.OpenAI(
            base_url=self.base_url + "/v1", api_key=token or self.token, max_retries=0
        )

    def caller(self, **token_fields: Any) -> tuple[Api, str]:
        """A fresh inference token (its own spend), as an API client, and its id."""
        made = create_token(self.api, scopes=["inference"], **token_fields)
        return self.api.as_token(made["token"]), made["id"]


def register_models(accuracies: dict[str, float]) -> None:
    add_models(*({"id": model, "accuracy": acc} | HEALTHY for model, acc in accuracies.items()))


def heal(*models: str) -> None:
    for model in models:
        sim("/_sim/models", {"id": model} | HEALTHY)


@contextmanager
def healed(*models: str) -> Iterator[None]:
    """The simulated ``models`` are healthy as the block starts and again once it ends."""
    heal(*models)
    try:
        yield
    finally:
        heal(*models)


@contextmanager
def faulty(model: str, **fields: Any) -> Iterator[None]:
    """The simulated ``model`` behaves as ``fields`` say for the block, then is healthy again."""
    sim("/_sim/models", {"id": model} | fields)
    try:
        yield
    finally:
        heal(model)


def ranked_leaderboard(api: Api, models: list[str], **inference: Any) -> Ranked:
    """A PUSH leaderboard of ``ROWS`` arithmetic rows, ``models`` as candidates, one finished run.

    ``inference`` (e.g. ``fallbacks=0``) is set before the leaderboard is ever called, so that
    no hot-path cache holds an older configuration.
    """
    rows = arithmetic_rows(ROWS)
    register_answers(rows)
    lb = push_leaderboard(api, rows, system_prompt=SYSTEM_PROMPT)
    candidate = {model: add_openrouter(api, lb, model) for model in models}
    started = api.post(f"/v1/leaderboard/{lb}/runs", json={})
    assert started.status_code == 202, started.text
    run = wait_for_run(api, lb, started.json()["id"])
    assert run["status"] == "completed", run.get("failure")
    upstream = {cid: model for model, cid in candidate.items()}
    order = [upstream[m["model_id"]] for m in run["ranking"]["models"]]
    board = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert board["selected_model"]["id"] == candidate[order[0]], board
    if inference:
        patched = api.http.patch(f"/v1/leaderboard/{lb}", json={"inference": inference})
        assert patched.status_code == 200, patched.text
    return Ranked(api=api, lb=lb, order=order, candidate=candidate)


def connect_openrouter_key(api: Api) -> str:
    """As ``runs_support.connect_openrouter``, but answers the key (to look for it later)."""
    key = "sk-or-test-" + uuid.uuid4().hex
    response = api.http.put("/v1/integrations/openrouter", json={"secret": key})
    assert response.status_code == 200, response.text
    return key


def ranked_board(
    stack: InProcessStack,
    deps: bootstrap.Deps,
    name_prefix: str,
    accuracies: dict[str, float],
    **inference: Any,
) -> Board:
    """A new pro workspace with an OpenRouter key and a ranked leaderboard of ``accuracies``.

    The ranking must be the dict's order (best first); ``inference`` is as ``ranked_leaderboard``'s.
    """
    made = accounts.bootstrap_workspace(deps, name=name_prefix + uuid.uuid4().hex[:6], plan="pro")
    api = Api(stack.base_url, made["token"])
    key = connect_openrouter_key(api)
    register_models(accuracies)
    ranked = ranked_leaderboard(api, list(accuracies), **inference)
    assert ranked.order == list(accuracies)
    return Board(ranked, made["token"], made["token_id"], key, stack.base_url)


def create_token(api: Api, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/tokens", json={"name": "inference " + uuid.uuid4().hex[:6]} | body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def token_entry(api: Api, token_id: str) -> dict[str, Any]:
    """The token as ``GET /v1/tokens`` lists it."""
    cursor = None
    while True:
        page = api.get("/v1/tokens", params={"limit": 100} | ({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        for item in page.json()["items"]:
            if item["id"] == token_id:
                return dict(item)
        cursor = page.json()["next_cursor"]
        if not cursor:
            raise AssertionError(f"token {token_id} is not listed")


def eventually(check: Callable[[], Any], *, timeout: float = 10.0, every: float = 0.2) -> Any:
    """``check()``'s first truthy answer within ``timeout`` seconds; else its last one fails."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not true after {timeout}s: {result!r}"
            return result
        time.sleep(every)


def infer(api: Api, lb: str, **body: Any) -> httpx.Response:
    return api.post(f"/v1/leaderboard/{lb}/inference", json=body)


def fetch_trace(api: Api, lb: str, trace_id: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """The trace, polled briefly: it may be written just after the response."""

    def found() -> dict[str, Any] | None:
        response = api.get(f"/v1/leaderboard/{lb}/traces/{trace_id}")
        return response.json() if response.status_code == 200 else None

    return dict(eventually(found, timeout=timeout))


def sim_stats() -> dict[str, dict[str, float]]:
    response = httpx.get(f"{sim_url()}/_sim/stats", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json()["models"])


def calls_since(before: dict[str, dict[str, float]], model: str) -> dict[str, float]:
    """Calls of ``model`` at the simulator since the ``before`` snapshot, by outcome."""
    now = sim_stats().get(model, {})
    then = before.get(model, {})
    return {key: now.get(key, 0) - then.get(key, 0) for key in now}


def upstream_requests(model: str, marker: str) -> list[dict[str, Any]]:
    """Bodies of the simulator's recent chat requests for ``model`` whose text holds ``marker``."""
    response = httpx.get(f"{sim_url()}/_sim/stats", timeout=10)
    bodies = [r["body"] for r in response.json()["recent_requests"] if isinstance(r["body"], dict)]
    return [
        body
        for body in bodies
        if body.get("model") == model and marker in all_text(body.get("messages") or [])
    ]


def call_cost(prompt_tokens: int, completion_tokens: int) -> float:
    return prompt_tokens * PROMPT_PRICE + completion_tokens * COMPLETION_PRICE


def max_call_cost(input_text: str, max_tokens: int) -> float:
    """The most one call on ``input_text`` can cost: the simulator's tokens times its prices."""
    prompt_tokens = count_tokens(all_text(task_messages(SYSTEM_PROMPT, input_text)))
    return call_cost(prompt_tokens, max_tokens)


def overhead_ms(response: httpx.Response) -> float:
    value = response.headers.get(OVERHEAD_HEADER)
    assert value is not None, f"no {OVERHEAD_HEADER} header: {dict(response.headers)}"
    number = float(value)
    assert number >= 0, value
    return number
