"""The Cloud Tasks queues of ``infra/queues.yaml``, reconciled with google-cloud-tasks.

``desired_queues`` turns the file into ``tasks_v2.Queue`` messages (rate limits and retry
config); ``reconcile_queue`` creates a missing queue, updates a differing one with a field mask
of exactly its differing fields (``MANAGED_FIELDS``; output-only ``state``, ``purge_time`` and
``rate_limits.max_burst_size`` are not compared), and keeps an equal one. Queues are never
deleted here: a deleted queue's name cannot be reused for about a week, and its tasks would be
lost. With ``apply=False`` only reads are made.

The queue is found by listing (``list_queues``), not by ``get_queue``: the Cloud Tasks emulator
answers UNKNOWN rather than NOT_FOUND for a missing queue (devstack/emulators.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from google.cloud import tasks_v2
from google.protobuf import duration_pb2

from infra.deploy.plan import Change

DEFAULT_QUEUES_FILE = Path(__file__).resolve().parents[1] / "queues.yaml"
MANAGED_FIELDS: tuple[str, ...] = (
    "rate_limits.max_dispatches_per_second",
    "rate_limits.max_concurrent_dispatches",
    "retry_config.max_attempts",
    "retry_config.max_retry_duration",
    "retry_config.min_backoff",
    "retry_config.max_backoff",
    "retry_config.max_doublings",
)
# Cloud Tasks' bounds (queue.yaml / RateLimits documentation).
MAX_DISPATCHES_PER_SECOND = 500.0
MAX_CONCURRENT_DISPATCHES = 5000
_QUEUE_ID = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_DURATION = re.compile(r"^(\d+)([smh])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_RATE_FIELDS = {"max_dispatches_per_second", "max_concurrent_dispatches"}
_RETRY_FIELDS = {
    "max_attempts",
    "min_backoff",
    "max_backoff",
    "max_doublings",
    "max_retry_duration",
}


class QueueConfigError(ValueError):
    """The queues file is malformed; the message names the queue, the field and the bound."""


def desired_queues(*, parent: str, queues_file: Path = DEFAULT_QUEUES_FILE) -> list[tasks_v2.Queue]:
    """The queues ``queues_file`` declares, under ``parent`` (``projects/P/locations/L``)."""
    document = yaml.safe_load(queues_file.read_text()) or {}
    entries = document.get("queues")
    if not isinstance(entries, list) or not entries:
        raise QueueConfigError(f"{queues_file}: `queues` must be a non-empty list")
    queues = [_queue(queues_file, parent, index, entry) for index, entry in enumerate(entries)]
    names = [queue.name for queue in queues]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise QueueConfigError(f"{queues_file}: duplicate queue names {duplicates}")
    return queues


def desired_queue(name: str, *, queues_file: Path = DEFAULT_QUEUES_FILE) -> tasks_v2.Queue:
    """The declared queue whose full name is ``name`` (``projects/P/locations/L/queues/Q``)."""
    parent, _, queue_id = name.rpartition("/queues/")
    for queue in desired_queues(parent=parent, queues_file=queues_file):
        if queue.name == name:
            return queue
    raise QueueConfigError(f"{queues_file}: no queue {queue_id!r} is declared")


def reconcile_queue(
    client: tasks_v2.CloudTasksClient, parent: str, desired: tasks_v2.Queue, *, apply: bool
) -> list[Change]:
    """Make the queue ``desired.name`` equal ``desired``; the one change, as a list."""
    short = desired.name.rsplit("/", 1)[-1]
    resource = f"tasks queue {short}"
    current = next((q for q in client.list_queues(parent=parent) if q.name == desired.name), None)
    if current is None:
        if apply:
            client.create_queue(parent=parent, queue=desired)
        return [Change("create", resource, _summary(desired))]
    paths = differing_fields(desired, current)
    if not paths:
        return [Change("keep", resource)]
    if apply:
        client.update_queue(queue=desired, update_mask={"paths": paths})
    return [Change("update", resource, ", ".join(paths))]


def differing_fields(desired: tasks_v2.Queue, actual: tasks_v2.Queue) -> list[str]:
    """The ``MANAGED_FIELDS`` paths whose values differ between the two queues."""
    want, have = tasks_v2.Queue.pb(desired), tasks_v2.Queue.pb(actual)
    return [path for path in MANAGED_FIELDS if _value(want, path) != _value(have, path)]


def _value(message: Any, path: str) -> object:
    for part in path.split("."):
        message = getattr(message, part)
    return message


def _summary(queue: tasks_v2.Queue) -> str:
    rate, retry = queue.rate_limits, queue.retry_config
    return (
        f"{rate.max_concurrent_dispatches} concurrent, {rate.max_dispatches_per_second:g}/s, "
        f"{retry.max_attempts} attempts"
    )


# -- the file -----------------------------------------------------------------------------------


def _queue(path: Path, parent: str, index: int, entry: object) -> tasks_v2.Queue:
    if not isinstance(entry, dict):
        raise QueueConfigError(f"{path}: queue #{index} must be a mapping")
    where = f"{path}: queue {entry.get('name', f'#{index}')!r}"
    unknown = sorted(set(entry) - {"name", "rate_limits", "retry_config"})
    if unknown:
        raise QueueConfigError(f"{where}: unknown fields {unknown}")
    queue_id = str(entry.get("name", ""))
    if not _QUEUE_ID.match(queue_id):
        raise QueueConfigError(f"{where}: name must be 1..100 letters, digits or hyphens")
    rate = _section(where, entry, "rate_limits", _RATE_FIELDS)
    retry = _section(where, entry, "retry_config", _RETRY_FIELDS)
    per_second = rate["max_dispatches_per_second"]
    if not _number(per_second) or not 0 < per_second <= MAX_DISPATCHES_PER_SECOND:
        raise QueueConfigError(
            f"{where}: rate_limits.max_dispatches_per_second must be in (0, "
            f"{MAX_DISPATCHES_PER_SECOND:g}], not {per_second!r}"
        )
    concurrent = rate["max_concurrent_dispatches"]
    if not _integer(concurrent) or not 1 <= concurrent <= MAX_CONCURRENT_DISPATCHES:
        raise QueueConfigError(
            f"{where}: rate_limits.max_concurrent_dispatches must be in 1.."
            f"{MAX_CONCURRENT_DISPATCHES}, not {concurrent!r}"
        )
    attempts = retry["max_attempts"]
    if not _integer(attempts) or not (attempts == -1 or attempts >= 1):
        raise QueueConfigError(f"{where}: retry_config.max_attempts must be -1 or >= 1")
    doublings = retry["max_doublings"]
    if not _integer(doublings) or doublings < 0:
        raise QueueConfigError(f"{where}: retry_config.max_doublings must be >= 0")
    min_backoff = _seconds(where, "retry_config.min_backoff", retry["min_backoff"])
    max_backoff = _seconds(where, "retry_config.max_backoff", retry["max_backoff"])
    if min_backoff > max_backoff:
        raise QueueConfigError(
            f"{where}: retry_config.min_backoff ({min_backoff}s) exceeds max_backoff "
            f"({max_backoff}s)"
        )
    return tasks_v2.Queue(
        name=f"{parent}/queues/{queue_id}",
        rate_limits=tasks_v2.RateLimits(
            max_dispatches_per_second=float(per_second), max_concurrent_dispatches=concurrent
        ),
        retry_config=tasks_v2.RetryConfig(
            max_attempts=attempts,
            max_retry_duration=_duration(
                _seconds(where, "retry_config.max_retry_duration", retry["max_retry_duration"])
            ),
            min_backoff=_duration(min_backoff),
            max_backoff=_duration(max_backoff),
            max_doublings=doublings,
        ),
    )


def _section(where: str, entry: dict[str, Any], name: str, fields: set[str]) -> dict[str, Any]:
    """A sub-mapping that sets every one of ``fields`` (none is left to Cloud Tasks' defaults,
    so what the deploy compares is what the file says)."""
    section = entry.get(name)
    if not isinstance(section, dict):
        raise QueueConfigError(f"{where}: `{name}` must be a mapping")
    unknown, missing = sorted(set(section) - fields), sorted(fields - set(section))
    if unknown:
        raise QueueConfigError(f"{where}: unknown fields in `{name}`: {unknown}")
    if missing:
        raise QueueConfigError(f"{where}: `{name}` is missing {missing}")
    return section


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _seconds(where: str, name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise QueueConfigError(f"{where}: {name} must be a duration such as 300s or 5m")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _duration(seconds: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=seconds)
