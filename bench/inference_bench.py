"""Inference hot path: the latency our endpoint adds to its upstream, measured in the same run.

    .venv/bin/python bench/inference_bench.py [--requests 200] [--clients 32]

Starts its own local stack (real emulators), ranks a leaderboard so that it has a selected
model, sets that simulated model's latency to 0, then measures for ``--requests`` calls at 1
and at ``--clients`` concurrent clients:

- **ours**: ``POST /v1/leaderboard/{id}/inference`` over HTTP (auth, hot-path caches, budget
  check, the task prompt, the upstream call, spend, trace), served as production serves it:
  ``functions-framework --target inference`` (gunicorn, one worker, ``THREADS`` threads) in its
  own process.
- **direct**: the same simulator ``chat/completions`` called directly with the body our endpoint
  sends upstream (same model, same rendered messages).

The simulator runs in a process of its own too, so the load generator (this process), our
function and the upstream do not share one interpreter lock. Prints p50/p99 of each, the added
latency (ours - direct) at p50 and p99, and the median of the ``X-DrGero-Overhead-Ms`` header.
Both sides run on this machine at once, so the difference, not the absolute figures, is the
result. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
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

from devstack.inprocess import local_stack, stop_on_sigterm
from devstack.ports import free_port, wait_until
from devstack.processes import ManagedProcess
from shared import bootstrap
from shared.domain.prompts import task_messages
from shared.services import accounts

ROOT = Path(__file__).resolve().parents[1]
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


def _process(name: str, argv: list[str], port: int, log_dir: Path, **env: str) -> ManagedProcess:
    """``argv`` started in its own process group, once it answers HTTP on ``port``."""
    process = ManagedProcess(
        name=name, argv=argv, log_path=log_dir / f"{name}.log", env=dict(os.environ) | env
    )
    process.start()

    def answers() -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
        except httpx.HTTPError:
            return process.exit_code() is not None  # stop waiting on a dead process
        return True

    if not wait_until(answers, timeout=60) or process.exit_code() is not None:
        raise SystemExit(f"{name} did not start:\n{process.log_tail()}")
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="calls per measurement")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    args = parser.parse_args()
    stop_on_sigterm()

    log_dir = Path(tempfile.mkdtemp(prefix="inference-bench-"))
    sim_port, function_port = free_port(), free_port()
    sim = f"http://127.0.0.1:{sim_port}"
    simulator = _process(
        "simulator",
        [sys.executable, "-m", "simulator", "--port", str(sim_port), "--time-scale", "0.01"],
        sim_port,
        log_dir,
    )
    function: ManagedProcess | None = None
    try:
        with local_stack(log_dir=log_dir, simulator_url=sim) as stack:
            # One access-log line per request would bury the figures (and is not measured).
            logging.getLogger("drgero.http").setLevel(logging.WARNING)
            made = accounts.bootstrap_workspace(bootstrap.deps(), name="bench", plan="pro")
            auth = {"Authorization": f"Bearer {made['token']}"}
            limits = httpx.Limits(max_connections=args.clients * 2)
            setup = httpx.Client(base_url=stack.base_url, headers=auth, timeout=60)
            key = "sk-or-bench-" + uuid.uuid4().hex
            setup.put("/v1/integrations/openrouter", json={"secret": key}).raise_for_status()
            lb = _rank(setup, sim)
            selected = setup.get(f"/v1/leaderboard/{lb}/ranking").json()["selected_model"]
            upstream = next(m for m in MODELS if m in str(selected))
            # Zero upstream delay: what remains is our overhead plus the simulator's own work.
            httpx.post(
                f"{sim}/_sim/models", json={"id": upstream, "latency_ms": {"fixed": 0}}
            ).raise_for_status()
            function = _process(
                "inference",
                [sys.executable, "-m", "functions_framework", "--target", "inference",
                 "--source", str(ROOT / "main.py"), "--port", str(function_port)],
                function_port,
                log_dir,
                THREADS=str(max(8, args.clients)),
            )  # fmt: skip
            ours_http = httpx.Client(
                base_url=f"http://127.0.0.1:{function_port}",
                headers=auth,
                timeout=60,
                limits=limits,
            )
            direct_http = httpx.Client(
                base_url=f"{sim}/api/v1",
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
                limits=limits,
            )
            _measure(ours_http, direct_http, lb, upstream, args)
    finally:
        if function is not None:
            function.stop()
        simulator.stop()
    return 0


def _measure(
    ours_http: httpx.Client,
    direct_http: httpx.Client,
    lb: str,
    upstream: str,
    args: argparse.Namespace,
) -> None:
    question = "What is the capital of France?"
    direct_body = {"model": upstream, "messages": task_messages(SYSTEM_PROMPT, question)}
    overheads: list[float] = []
    lock = threading.Lock()

    def ours(i: int) -> None:
        response = ours_http.post(f"/v1/leaderboard/{lb}/inference", json={"input": question})
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

    for _ in range(20):  # warm up connections, caches and code paths
        ours(0)
        direct(0)
    print(f"selected model {upstream} at 0 ms upstream latency; {args.requests} calls each")
    for clients in (1, args.clients):
        overheads.clear()
        print(f"{clients} client(s):")
        ours_p50, ours_p99 = _line("ours", _timed(ours, args.requests, clients))
        direct_p50, direct_p99 = _line("direct", _timed(direct, args.requests, clients))
        print(
            f"  added    p50 {ours_p50 - direct_p50:8.2f} ms   p99 {ours_p99 - direct_p99:8.2f} ms"
        )
        shown = f"{statistics.median(overheads):.2f} ms" if overheads else "missing"
        print(f"  X-DrGero-Overhead-Ms median: {shown} ({len(overheads)} responses)")


if __name__ == "__main__":
    raise SystemExit(main())
