"""Tests of ``shared.providers``, against the OpenRouter / Hugging Face simulator over real HTTP.

Each module starts one simulator (module-scoped fixture) from its own small config, so the
tests do not depend on the local stack's catalog, and drives it through its ``/_sim`` control
routes. Nothing here mocks httpx: every request is a real one to a real server.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.ports import LOOPBACK_EGRESS_CIDRS
from shared.providers.egress import EgressPolicy
from shared.providers.http import UpstreamClient, new_client
from shared.providers.reading import ReadLimits
from simulator.config import SimulatorConfig
from simulator.server import Simulator

OPENROUTER_KEY = "sk-or-v1-test0123456789abcdef"
HF_TOKEN = "hf_testtoken0123456789"


def loopback_client(read_limits: ReadLimits | None = None) -> UpstreamClient:
    """The production client, but allowed to reach loopback (the simulator), as the stack is."""
    return new_client(
        egress=EgressPolicy.from_setting(LOOPBACK_EGRESS_CIDRS), read_limits=read_limits
    )


def never_sleep(seconds: float) -> None:
    """A ``sleep`` for call_with_retries where retrying is a bug."""
    pytest.fail(f"unexpected retry after {seconds:.2f}s")


@contextmanager
def running_simulator(hf_root: Path, **config: Any) -> Iterator[Simulator]:
    """A started simulator with ``config`` (SimulatorConfig fields); stopped on exit."""
    with Simulator(SimulatorConfig.model_validate(config), port=0, hf_root=hf_root) as sim:
        yield sim


class SimControl:
    """The simulator's ``/_sim`` control routes."""

    def __init__(self, sim: Simulator) -> None:
        self.http = httpx.Client(base_url=sim.base_url, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: Any) -> Any:
        response = self.http.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def model(self, **fields: Any) -> None:
        self._post("/_sim/models", fields)

    def custom_endpoint(self, name: str, **fields: Any) -> None:
        self._post("/_sim/custom-endpoints", {"name": name, **fields})

    def answer_key(self, rows: list[dict[str, str]]) -> None:
        self._post("/_sim/answer-key", {"rows": rows})

    def hf_file(self, repo: str, path: str, content: bytes, *, private: bool = False) -> str:
        body = {
            "repo": repo,
            "path": path,
            "content_base64": base64.b64encode(content).decode(),
            "private": private,
        }
        return str(self._post("/_sim/hf/files", body)["url"])

    def stats(self) -> dict[str, Any]:
        response = self.http.get("/_sim/stats")
        assert response.status_code == 200, response.text
        stats: dict[str, Any] = response.json()
        return stats

    def calls(self, model_id: str) -> dict[str, float]:
        counts: dict[str, float] = self.stats()["models"].get(model_id, {})
        return counts

    def last_request(self) -> dict[str, Any]:
        recent: list[dict[str, Any]] = self.stats()["recent_requests"]
        return recent[-1]

    def reset(self) -> None:
        self._post("/_sim/reset", {})
