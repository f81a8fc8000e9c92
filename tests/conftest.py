"""Test harness: one real local stack per test session.

The session starts the three emulators on free ports (Firestore, fake-gcs-server, the Cloud
Tasks emulator) and the simulator (models, and the ID tokens internal calls carry), and serves
every function behind one base URL from a thread, exactly as ``make dev`` does, then points the
settings at them. A test that calls an internal endpoint itself sends
``stack.internal_headers(path)``: the ID token Cloud Tasks would attach. Tests isolate
themselves by creating their own workspace (``workspace`` fixture) and leaderboards with random
ids, so nothing is reset between tests and tests may run in any order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings as hypothesis_settings

from devstack.inprocess import InProcessStack, local_stack
from shared import bootstrap
from shared.services import accounts

# Property tests explore the same examples on every run (CI must not fail by luck) and have no
# time deadline (a loaded 2-core CI machine is slow, not wrong).
hypothesis_settings.register_profile("drgero", derandomize=True, deadline=None)
hypothesis_settings.load_profile("drgero")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessStack]:
    with local_stack(log_dir=Path(tmp_path_factory.mktemp("stack-logs"))) as started:
        yield started


@pytest.fixture(scope="session")
def deps(stack: InProcessStack) -> bootstrap.Deps:
    return bootstrap.deps()


class Api:
    """An HTTP client of the stack that authenticates as one token."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=60.0)

    def as_token(self, token: str | None) -> Api:
        return Api(str(self.http.base_url), token)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.delete(path, **kw)

    def create_push_leaderboard(self, **dataset: Any) -> str:
        body = {
            "name": "support answers " + uuid.uuid4().hex[:6],
            "system_prompt": "Answer the following task as clearly as possible.\n\nInput:\n{input}",
            "dataset": {"mode": "push", **dataset},
        }
        response = self.post("/v1/leaderboards", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def dataset_token(self, leaderboard_id: str) -> str:
        response = self.post(
            f"/v1/leaderboard/{leaderboard_id}/dataset/tokens", json={"name": "app"}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def push(self, leaderboard_id: str, body: Any, **kw: Any) -> httpx.Response:
        return self.post(f"/v1/leaderboard/{leaderboard_id}/dataset/push", json=body, **kw)


@dataclass
class Workspace:
    id: str
    token: str
    api: Api


@pytest.fixture
def workspace(stack: InProcessStack, deps: bootstrap.Deps) -> Workspace:
    """A fresh workspace with an admin token, unique to the test."""
    made = accounts.bootstrap_workspace(deps, name="test-" + uuid.uuid4().hex[:8], plan="pro")
    return Workspace(
        id=made["workspace_id"], token=made["token"], api=Api(stack.base_url, made["token"])
    )


@pytest.fixture
def other_workspace(stack: InProcessStack, deps: bootstrap.Deps) -> Workspace:
    made = accounts.bootstrap_workspace(deps, name="other-" + uuid.uuid4().hex[:8], plan="pro")
    return Workspace(
        id=made["workspace_id"], token=made["token"], api=Api(stack.base_url, made["token"])
    )
