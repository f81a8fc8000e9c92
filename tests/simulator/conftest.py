"""One simulator per test module, real HTTP on a free port, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulator.config import SimulatorConfig
from simulator.server import Simulator

KEY = "sk-or-v1-test-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
HF_TOKEN = "hf_test_token_0123456789"

TEST_CONFIG: dict[str, Any] = {
    "seed": 7,
    "time_scale": 0.05,
    "retry_after_seconds": 3,
    "models": [
        {
            "id": "sim/exact",
            "name": "Sim: Exact",
            "hugging_face_id": "sim-org/Exact-7B",
            "pricing": {"prompt": "0.000001", "completion": "0.000002"},
            "throughput_tps": 80,
            "accuracy": 1.0,
        },
        {"id": "sim/seventy", "accuracy": 0.7, "pricing": {"prompt": "0.0000005"}},
        {"id": "sim/judge", "judge": True, "pricing": {"prompt": "0.000003", "completion": "0"}},
        {"id": "sim/closed", "hugging_face_id": "", "latency_ms": {"median": 400, "p99": 1600}},
        {"id": "sim/old", "expiration_date": "2020-01-01"},
        {"id": "openrouter/auto", "pricing": {"prompt": "-1"}, "router_targets": ["sim/exact"]},
    ],
    "custom_endpoints": {
        "bearer-chat": {"format": "chat", "auth": "bearer", "token": "cust-secret"},
        "header-json": {
            "format": "json",
            "auth": "header",
            "header_name": "X-Api-Token",
            "token": "cust-secret",
            "field_path": "data.answer",
        },
    },
    "hf_private": ["acme/listed-private"],
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig.model_validate(TEST_CONFIG)) as started:
        yield started


@pytest.fixture
def sim(simulator: Simulator) -> Simulator:
    simulator.reset()
    return simulator


@pytest.fixture
def http(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=10.0) as client:
        yield client
