"""Internal calls, without the network: where a task goes, what it carries, and the guard's
first refusal (no invokers configured). The token checks themselves are exercised over HTTP
in ``tests/integration/test_internal_auth.py``."""

from __future__ import annotations

import flask
import pytest

from shared.errors import Forbidden
from shared.providers.google_identity import GoogleCerts
from shared.settings import Settings
from shared.tasks.queue import build_task
from shared.tasks.urls import function_url, internal_target
from shared.web.internal import require_internal

BASE = "https://drgero-{function}-123456789.europe-west1.run.app"
TASKS = "drgero-tasks@p.iam.gserviceaccount.com"
QUEUE = "projects/p/locations/europe-west1/queues/drgero"


def test_each_private_function_has_its_own_url():
    assert function_url(BASE, "worker") == "https://drgero-worker-123456789.europe-west1.run.app"
    target = internal_target(BASE, "/internal/jobs/runs-watchdog")
    assert (target.function, target.audience) == (
        "jobs",
        "https://drgero-jobs-123456789.europe-west1.run.app",
    )
    assert target.url == target.audience + "/internal/jobs/runs-watchdog"
    local = internal_target("http://127.0.0.1:8080", "/internal/tasks/evaluate-shard")
    assert (local.audience, local.function) == ("http://127.0.0.1:8080", "worker")


@pytest.mark.parametrize("path", ["/v1/leaderboards", "/internal/elsewhere/x", "/internal"])
def test_a_path_no_private_function_serves_has_no_internal_url(path):
    with pytest.raises(ValueError, match="not an internal path"):
        internal_target(BASE, path)


def test_a_production_task_asks_cloud_tasks_for_a_token_for_its_function():
    settings = Settings(internal_base_url=BASE, tasks_service_account=TASKS, tasks_queue=QUEUE)
    task = build_task(
        settings, path="/internal/tasks/consolidate", payload={"leaderboard_id": "lb"}, name="n1"
    )
    worker = "https://drgero-worker-123456789.europe-west1.run.app"
    assert task.http_request.url == worker + "/internal/tasks/consolidate"
    assert task.http_request.oidc_token.service_account_email == TASKS
    assert task.http_request.oidc_token.audience == worker
    assert dict(task.http_request.headers) == {"Content-Type": "application/json"}
    assert task.dispatch_deadline.total_seconds() == 1800
    assert task.name == f"{QUEUE}/tasks/n1"


def test_a_local_task_carries_the_stand_in_token_itself():
    settings = Settings(
        internal_base_url="http://127.0.0.1:9999",
        tasks_service_account=TASKS,
        dev_id_token_url="http://127.0.0.1:9998/_sim/google/id-token",
        tasks_dispatch_deadline_seconds=60,
    )
    asked: list[str] = []

    def token(audience: str) -> str:
        asked.append(audience)
        return "local-token"

    task = build_task(settings, path="/internal/jobs/x", payload={}, bearer_token=token)
    assert asked == ["http://127.0.0.1:9999"]
    assert task.http_request.headers["Authorization"] == "Bearer local-token"
    assert not task.http_request.oidc_token.service_account_email  # the emulator mints none
    assert task.dispatch_deadline.total_seconds() == 60


def _no_certificates() -> GoogleCerts:
    raise AssertionError("refused before any certificate is needed")


def test_no_invokers_means_internal_endpoints_refuse_everything():
    request = flask.Request.from_values(
        "/internal/tasks/consolidate", method="POST", headers={"Authorization": "Bearer x.y.z"}
    )
    with pytest.raises(Forbidden) as caught:
        require_internal(
            request, Settings(internal_invokers=" , "), "worker", certs=_no_certificates
        )
    assert caught.value.code == "internal_disabled"
    assert "DRGERO_INTERNAL_INVOKERS" in caught.value.message
