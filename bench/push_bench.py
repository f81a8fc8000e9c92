"""Push hot path: latency and throughput against a naive baseline, measured in the same run.

    make bench            (or: .venv/bin/python bench/push_bench.py [--batches 30] [--clients 8])

Starts its own local stack (real emulators), then measures, for batches of 100 rows:

- **push**: ``POST /v1/leaderboard/{id}/dataset/push`` over HTTP: auth, validation, quota
  reservation, the atomic commit of pending chunk + totals + trace.
- **baseline**: the naive design, straight to Firestore with no HTTP and no checks at all: one
  document per row, all 100 in one batched commit.

and prints p50/p95 latency, rows per second and the ratio push/baseline, sequentially and with
concurrent clients, plus the documents a push writes. The emulator's speed differs from
production Firestore, so the ratio, not the absolute figures, is the result.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import httpx

from devstack.inprocess import local_stack, stop_on_sigterm
from shared import bootstrap, logs
from shared.services import accounts

ROWS_PER_BATCH = 100


def _rows(tag: str) -> list[dict]:
    return [
        {"input": f"question {tag} {i} " + "x" * 200, "output": f"answer {i}", "user_id": "u1"}
        for i in range(ROWS_PER_BATCH)
    ]


def _timed(call: Callable[[int], None], count: int, clients: int) -> tuple[list[float], float]:
    latencies: list[float] = []

    def one(i: int) -> None:
        start = time.perf_counter()
        call(i)
        latencies.append(time.perf_counter() - start)

    wall = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, range(count)))
    return latencies, time.perf_counter() - wall


def _report(name: str, latencies: list[float], wall: float) -> float:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000
    rate = len(ordered) * ROWS_PER_BATCH / wall
    print(f"  {name:<10} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   {rate:9.0f} rows/s")
    return p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    stop_on_sigterm()

    with local_stack(log_dir=Path(tempfile.mkdtemp())) as stack:
        logs.configure()  # what the functions do on import; then one line per request is muted
        logging.getLogger("drgero.http").setLevel(logging.WARNING)
        deps = bootstrap.deps()
        made = accounts.bootstrap_workspace(deps, name="bench")
        http = httpx.Client(
            base_url=stack.base_url,
            headers={"Authorization": f"Bearer {made['token']}"},
            timeout=60,
        )
        lb = http.post(
            "/v1/leaderboards",
            json={
                "name": "bench",
                "system_prompt": "{input}",
                "dataset": {
                    "mode": "push",
                    "daily_limit": None,
                    "monthly_limit": None,
                    "consolidate_every_events": None,
                },
            },
        ).json()["id"]
        naive = deps.db.collection("bench_naive_rows")

        def push(i: int) -> None:
            response = http.post(f"/v1/leaderboard/{lb}/dataset/push", json=_rows(uuid.uuid4().hex))
            assert response.status_code == 200, response.text

        def baseline(i: int) -> None:
            batch = deps.db.batch()
            for row in _rows(uuid.uuid4().hex):
                batch.create(naive.document(), row)
            batch.commit()

        push(0), baseline(0)  # warm up connections and code paths
        print(f"batches of {ROWS_PER_BATCH} rows, {args.batches} batches per measurement")
        for clients in (1, args.clients):
            print(f"{clients} client(s):")
            ours = _report("push", *_timed(push, args.batches, clients))
            base = _report("baseline", *_timed(baseline, args.batches, clients))
            print(f"  ratio push/baseline p50: {ours / base:.2f}x")

        before = {c.id: len(list(c.stream())) for c in deps.push.leaderboard_ref(lb).collections()}
        push(0)
        after = {c.id: len(list(c.stream())) for c in deps.push.leaderboard_ref(lb).collections()}
        created = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        print(
            f"documents written by one {ROWS_PER_BATCH}-row push: "
            f"{sum(created.values())} new ({created}) + 3 counter updates "
            f"(day, month, totals); the baseline writes {ROWS_PER_BATCH}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
