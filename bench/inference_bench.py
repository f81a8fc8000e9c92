"""Inference hot path: the latency our endpoint adds to its upstream, measured in the same run.

    .venv/bin/python bench/inference_bench.py [--requests 200] [--clients 32]

Starts its own local stack (real emulators + the OpenRouter simulator), ranks a leaderboard so
that it has a selected model, sets that simulated model's latency to 0, then measures for
``--requests`` calls at 1 and at ``--clients`` concurrent clients:

- **ours**: ``POST /v1/leaderboard/{id}/inference`` over HTTP (auth, hot-path caches, budget
  check, the task prompt, the upstream call, spend, trace).
- **direct**: the same simulator ``chat/completions`` called directly with the body our endpoint
  sends upstream (same model, same rendered messages).

and prints p50/p99 of each, the added latency (ours - direct) at p50 and p99, and the median of
the ``X-DrGero-Overhead-Ms`` header our endpoint returns. Both sides run against the same
in-process servers on this machine, so the difference, not the absolute figures, is the result.
Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import httpx

from devstack.inprocess import local_stack
from shared import wiring
from shared.domain.prompts import task_messages
from shared.services import accounts

SYSTEM_PROMPT = "Answer with the number only.\n\n{input}"
MODELS = {"sim/bench-inference-a": 0.95, "sim/bench-inference-b": 0.5}
ROWS = 100


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def _timed(call: Callable[[int], None], count: int, clients: int) -> list[float]:
    """Latency (ms) of ``count`` calls made by ``clients`` threads."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        start = time.perf_counter()
        call(i)
        elapsed = (time.perf_counter() - start) * 1000
        with lock:
            latencies.append(elapsed)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, range(count)))
    return latencies


def _line(name: str, latencies: list[float]) -> tuple[float, float]:
    p50, p99 = statistics.median(latencies), _percentile(latencies, 0.99)
    print(f"  {name:<8} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms")
    return p50, p99


def _rank(http: httpx.Client, sim: str) -> str:
    """A PUSH leaderboard of arithmetic rows, both models as candidates, one finished run."""
    rows = [
        {"id": f"r{i}", "input": f"What is {i} plus {i + 1000}?", "output": str(2 * i + 1000)}
        for i in range(ROWS)
    ]
    httpx.post(
        f"{sim}/_sim/answer-key",
        json={"rows": [{"input": r["input"], "expected": r["output"]} for r in rows]},
    ).raise_for_status()
    for model, accuracy in MODELS.items():
        httpx.post(
            f"{sim}/_sim/models",
            json={
                "id": model,
                "accuracy": accuracy,
                "latency_ms": {"fixed": 2},
                "pricing": {"prompt": "0.000001", "completion": "0.000002"},
            },
        ).raise_for_status()
    created = http.post(
        "/v1/leaderboards",
        json={
            "name": "inference bench",
            "system_prompt": SYSTEM_PROMPT,
            "dataset": {
                "mode": "push",
                "daily_limit": None,
                "monthly_limit": None,
                "consolidate_every_events": None,
            },
        },
    )
    created.raise_for_status()
    lb = created.json()["id"]
    http.post(f"/v1/leaderboard/{lb}/dataset/push", json=rows).raise_for_status()
    http.post(f"/v1/leaderboard/{lb}/dataset/consolidate").raise_for_status()
    for model in MODELS:
        http.post(
            f"/v1/leaderboard/{lb}/models", json={"platform": "openrouter", "model_id": model}
        ).raise_for_status()
    run_id = http.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    deadline = time.monotonic() + 300
    while True:
        run = http.get(f"/v1/leaderboard/{lb}/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"the ranking run is still {run['status']} after 300 s")
        time.sleep(0.3)
    if run["status"] != "completed":
        raise SystemExit(f"the ranking run {run['status']}: {run.get('failure')}")
    return str(lb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="calls per measurement")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    args = parser.parse_args()

    with local_stack(internal_key="bench", log_dir=Path(tempfile.mkdtemp())) as stack:
        # One access-log line per request would bury the figures (and is not what is measured).
        logging.getLogger("drgero.http").setLevel(logging.WARNING)
        sim = stack.env["HF_ENDPOINT"].rstrip("/")
        openrouter = stack.env["OPENROUTER_BASE_URL"].rstrip("/")
        made = accounts.bootstrap_workspace(wiring.deps(), name="bench", plan="pro")
        limits = httpx.Limits(max_connections=args.clients * 2)
        http = httpx.Client(
            base_url=stack.base_url,
            headers={"Authorization": f"Bearer {made['token']}"},
            timeout=60,
            limits=limits,
        )
        key = "sk-or-bench-" + uuid.uuid4().hex
        http.put("/v1/integrations/openrouter", json={"secret": key}).raise_for_status()
        lb = _rank(http, sim)
        selected = http.get(f"/v1/leaderboard/{lb}/ranking").json()["selected_model"]
        upstream = next(m for m in MODELS if m in str(selected))
        # Zero upstream delay: what remains is our overhead plus the simulator's own work.
        httpx.post(
            f"{sim}/_sim/models", json={"id": upstream, "latency_ms": {"fixed": 0}}
        ).raise_for_status()
        direct_http = httpx.Client(
            base_url=openrouter,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
            limits=limits,
        )
        question = "What is the capital of France?"
        direct_body = {"model": upstream, "messages": task_messages(SYSTEM_PROMPT, question)}
        overheads: list[float] = []
        lock = threading.Lock()

        def ours(i: int) -> None:
            response = http.post(f"/v1/leaderboard/{lb}/inference", json={"input": question})
            if response.status_code != 200:
                raise SystemExit(f"inference answered {response.status_code}: {response.text}")
            header = response.headers.get("X-DrGero-Overhead-Ms")
            if header is not None:
                with lock:
                    overheads.append(float(header))

        def direct(i: int) -> None:
            response = direct_http.post("/chat/completions", json=direct_body)
            if response.status_code != 200:
                raise SystemExit(f"the simulator answered {response.status_code}: {response.text}")

        for _ in range(5):  # warm up connections, caches and code paths
            ours(0)
            direct(0)
        print(f"selected model {upstream} at 0 ms upstream latency; {args.requests} calls each")
        for clients in (1, args.clients):
            overheads.clear()
            print(f"{clients} client(s):")
            ours_p50, ours_p99 = _line("ours", _timed(ours, args.requests, clients))
            direct_p50, direct_p99 = _line("direct", _timed(direct, args.requests, clients))
            print(
                f"  added    p50 {ours_p50 - direct_p50:8.2f} ms   "
                f"p99 {ours_p99 - direct_p99:8.2f} ms"
            )
            shown = f"{statistics.median(overheads):.2f} ms" if overheads else "missing"
            print(f"  X-DrGero-Overhead-Ms median: {shown} ({len(overheads)} responses)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
