"""The deploy's Cloud Tasks queue, reconciled by the real google-cloud-tasks client against the
session stack's Cloud Tasks emulator (each test on a queue of its own name).

The emulator stores a created queue's rate limits and retry config but ignores UpdateQueue (it
returns the queue unchanged): an update is checked here by the plan line and its mask, and by
the emulator accepting the call, not by reading the new values back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from devstack.inprocess import InProcessStack
from infra.deploy.queues import (
    DEFAULT_QUEUES_FILE,
    QueueConfigError,
    desired_queue,
    desired_queues,
    differing_fields,
    reconcile_queue,
)
from shared.settings import Settings

FUNCTIONS_FILE = Path(__file__).resolve().parents[2] / "infra" / "functions.yaml"


@pytest.fixture
def client(stack: InProcessStack) -> Iterator[tasks_v2.CloudTasksClient]:
    channel = grpc.insecure_channel(stack.env["CLOUD_TASKS_EMULATOR_HOST"])
    try:
        yield tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    finally:
        channel.close()


@pytest.fixture
def parent(stack: InProcessStack) -> str:
    return stack.env["DRGERO_TASKS_QUEUE"].rsplit("/queues/", 1)[0]


def own_queue(parent: str, queues_file: Path = DEFAULT_QUEUES_FILE) -> tasks_v2.Queue:
    """The declared ``drgero`` queue under a name of this test's own."""
    [declared] = desired_queues(parent=parent, queues_file=queues_file)
    queue = tasks_v2.Queue(declared)
    queue.name = f"{parent}/queues/test-{uuid.uuid4().hex[:12]}"
    return queue


def listed(client: tasks_v2.CloudTasksClient, parent: str, name: str) -> tasks_v2.Queue | None:
    return next((q for q in client.list_queues(parent=parent) if q.name == name), None)


def edited(tmp_path: Path, edit: Any) -> Path:
    document = yaml.safe_load(DEFAULT_QUEUES_FILE.read_text())
    edit(document["queues"][0])
    path = tmp_path / "queues.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


# -- the numbers --------------------------------------------------------------------------------


def test_max_concurrent_dispatches_is_what_the_run_estimates_assume() -> None:
    """Estimates run each candidate's shards ``run_parallel_shards`` at a time, all candidates
    side by side: the largest run needs that many shards in flight, and the worker function
    must take them."""
    [queue] = desired_queues(parent="projects/p/locations/l")
    fields = Settings.model_fields
    parallel_shards = fields["run_parallel_shards"].default
    candidates = fields["max_candidates_per_leaderboard"].default
    assert queue.rate_limits.max_concurrent_dispatches == parallel_shards * candidates == 200

    functions = yaml.safe_load(FUNCTIONS_FILE.read_text())["functions"]
    [worker] = [f for f in functions if f["name"] == "worker"]
    capacity = worker["max_instances"] * worker.get("concurrency", 1)
    assert capacity >= queue.rate_limits.max_concurrent_dispatches


def test_the_retry_config_is_the_previous_deploys() -> None:
    [queue] = desired_queues(parent="projects/p/locations/l")
    retry = queue.retry_config
    assert retry.max_attempts == 20
    assert retry.min_backoff.total_seconds() == 1
    assert retry.max_backoff.total_seconds() == 300
    assert queue.name == "projects/p/locations/l/queues/drgero"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda q: q["rate_limits"].update(max_dispatches_per_second=501), r"\(0, 500\]"),
        (lambda q: q["rate_limits"].update(max_concurrent_dispatches=0), r"1\.\.5000"),
        (lambda q: q["rate_limits"].pop("max_concurrent_dispatches"), "is missing"),
        (lambda q: q["retry_config"].update(max_attempts=0), "-1 or >= 1"),
        (lambda q: q["retry_config"].update(min_backoff="10m"), "exceeds max_backoff"),
        (lambda q: q["retry_config"].update(max_backoff="soon"), "must be a duration"),
        (lambda q: q.update(name="drgero_queue"), "letters, digits or hyphens"),
        (lambda q: q.update(target="x"), r"unknown fields \['target'\]"),
    ],
)
def test_the_queues_file_is_refused_with_the_field_and_the_bound(
    tmp_path: Path, edit: Any, message: str
) -> None:
    with pytest.raises(QueueConfigError, match=message):
        desired_queues(parent="projects/p/locations/l", queues_file=edited(tmp_path, edit))


# -- against the emulator -----------------------------------------------------------------------


def test_the_stacks_queue_is_created_from_queues_yaml(
    stack: InProcessStack, client: tasks_v2.CloudTasksClient, parent: str
) -> None:
    name = stack.env["DRGERO_TASKS_QUEUE"]
    actual = listed(client, parent, name)
    assert actual is not None
    assert differing_fields(desired_queue(name), actual) == []
    assert actual.rate_limits.max_concurrent_dispatches == 200


def test_a_missing_queue_is_planned_then_created_then_kept(
    client: tasks_v2.CloudTasksClient, parent: str
) -> None:
    queue = own_queue(parent)
    short = queue.name.rsplit("/", 1)[-1]

    [planned] = reconcile_queue(client, parent, queue, apply=False)
    assert (planned.verb, planned.resource) == ("create", f"tasks queue {short}")
    assert planned.detail == "200 concurrent, 50/s, 20 attempts"
    assert listed(client, parent, queue.name) is None  # the plan touched nothing

    [created] = reconcile_queue(client, parent, queue, apply=True)
    assert created.verb == "create"
    actual = listed(client, parent, queue.name)
    assert actual is not None
    assert actual.rate_limits.max_dispatches_per_second == 50
    assert actual.retry_config.max_doublings == 16

    assert [c.verb for c in reconcile_queue(client, parent, queue, apply=True)] == ["keep"]


def test_a_changed_config_is_one_update_naming_exactly_the_changed_fields(
    tmp_path: Path, client: tasks_v2.CloudTasksClient, parent: str
) -> None:
    queue = own_queue(parent)
    reconcile_queue(client, parent, queue, apply=True)

    def edit(entry: dict[str, Any]) -> None:
        entry["rate_limits"]["max_concurrent_dispatches"] = 100
        entry["retry_config"]["max_backoff"] = "10m"

    changed = own_queue(parent, edited(tmp_path, edit))
    changed.name = queue.name
    [planned] = reconcile_queue(client, parent, changed, apply=False)
    assert (planned.verb, planned.detail) == (
        "update",
        "rate_limits.max_concurrent_dispatches, retry_config.max_backoff",
    )
    [applied] = reconcile_queue(client, parent, changed, apply=True)  # the emulator accepts it
    assert applied == planned
