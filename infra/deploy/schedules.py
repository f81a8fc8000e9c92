"""The Cloud Scheduler jobs of ``infra/scheduler.yaml``, reconciled with google-cloud-scheduler.

``desired_jobs`` turns the file into ``scheduler_v1.Job`` messages: each calls the private
``jobs`` function at its run.app URL with a Google-signed OIDC token whose audience is that URL
(what the function verifies), in UTC, with the job's attempt deadline and retry config. No
header of any kind is set: no secret travels in a job's config.

``reconcile_jobs`` compares them with the jobs the project has, field by field over what the
deploy manages (``MANAGED_FIELDS``; output-only fields such as ``state`` or ``schedule_time``
and the ``User-Agent`` header the API adds are not compared), and creates the missing jobs,
updates a differing one with a field mask of exactly its differing fields, and deletes the
``drgero-*`` jobs no longer declared. Jobs of other names are not ours and are left alone.
With ``apply=False`` only reads are made: the returned changes are the plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.cloud import scheduler_v1
from google.protobuf import duration_pb2

from devstack.scheduler import DEFAULT_JOBS_FILE, ScheduledJob, load_jobs
from infra.deploy.plan import Change

JOB_PREFIX = "drgero-"
TIME_ZONE = "UTC"
# The fields of a job the deploy sets and compares, as update-mask paths (leaves, so that a
# mask names exactly what differs).
MANAGED_FIELDS: tuple[str, ...] = (
    "description",
    "schedule",
    "time_zone",
    "attempt_deadline",
    "http_target.uri",
    "http_target.http_method",
    "http_target.headers",
    "http_target.body",
    "http_target.oidc_token.service_account_email",
    "http_target.oidc_token.audience",
    "retry_config.retry_count",
    "retry_config.max_retry_duration",
    "retry_config.min_backoff_duration",
    "retry_config.max_backoff_duration",
    "retry_config.max_doublings",
)
# Headers the API sets on every HTTP job itself (HttpTarget.headers): not a difference.
API_SET_HEADERS = frozenset({"user-agent"})


def job_id(name: str) -> str:
    """The deployed job id of the scheduler.yaml entry ``name``."""
    return JOB_PREFIX + name


def desired_jobs(
    *, parent: str, jobs_url: str, invoker_email: str, jobs_file: Path = DEFAULT_JOBS_FILE
) -> list[scheduler_v1.Job]:
    """The jobs ``jobs_file`` declares, under ``parent`` (``projects/P/locations/L``).

    ``jobs_url`` is the jobs function's run.app URL (the target and the token's audience);
    ``invoker_email`` the service account whose OIDC token Cloud Scheduler sends.
    """
    base = jobs_url.rstrip("/")
    return [_job(parent, base, invoker_email, job) for job in load_jobs(jobs_file)]


def _job(parent: str, base: str, invoker_email: str, job: ScheduledJob) -> scheduler_v1.Job:
    retry = job.retry
    return scheduler_v1.Job(
        name=f"{parent}/jobs/{job_id(job.name)}",
        description=job.description,
        schedule=job.schedule,
        time_zone=TIME_ZONE,
        attempt_deadline=_duration(job.attempt_deadline_seconds),
        http_target=scheduler_v1.HttpTarget(
            uri=base + job.path,
            http_method=getattr(scheduler_v1.HttpMethod, job.method),
            oidc_token=scheduler_v1.OidcToken(service_account_email=invoker_email, audience=base),
        ),
        retry_config=scheduler_v1.RetryConfig(
            retry_count=retry.count,
            max_retry_duration=_duration(retry.max_retry_duration_seconds),
            min_backoff_duration=_duration(retry.min_backoff_seconds),
            max_backoff_duration=_duration(retry.max_backoff_seconds),
            max_doublings=retry.max_doublings,
        ),
    )


def reconcile_jobs(
    client: scheduler_v1.CloudSchedulerClient,
    parent: str,
    desired: list[scheduler_v1.Job],
    *,
    apply: bool,
) -> list[Change]:
    """Make ``parent``'s ``drgero-*`` jobs equal ``desired``; the changes, in plan order."""
    actual = {_short(job.name): job for job in client.list_jobs(parent=parent)}
    changes: list[Change] = []
    for job in desired:
        short = _short(job.name)
        resource = f"scheduler job {short}"
        current = actual.pop(short, None)
        if current is None:
            if apply:
                client.create_job(parent=parent, job=job)
            changes.append(Change("create", resource, _summary(job)))
            continue
        paths = differing_fields(job, current)
        if not paths:
            changes.append(Change("keep", resource))
            continue
        if apply:
            update = scheduler_v1.Job(job)
            update.name = current.name  # as the API spells it
            client.update_job(job=update, update_mask={"paths": paths})
        changes.append(Change("update", resource, ", ".join(paths)))
    for short, job in sorted(actual.items()):
        if not short.startswith(JOB_PREFIX):
            continue
        if apply:
            client.delete_job(name=job.name)
        changes.append(Change("delete", f"scheduler job {short}", "not in infra/scheduler.yaml"))
    return changes


def differing_fields(desired: scheduler_v1.Job, actual: scheduler_v1.Job) -> list[str]:
    """The ``MANAGED_FIELDS`` paths whose values differ between the two jobs."""
    want, have = scheduler_v1.Job.pb(desired), scheduler_v1.Job.pb(actual)
    if have.WhichOneof("target") != "http_target":
        return ["http_target"]  # another kind of target: replace it whole
    other_token = have.http_target.WhichOneof("authorization_header") != "oidc_token"
    paths = []
    for path in MANAGED_FIELDS:
        if other_token and path.startswith("http_target.oidc_token."):
            # An OAuth token (or none): the OIDC token is set whole, which replaces it.
            if "http_target.oidc_token" not in paths:
                paths.append("http_target.oidc_token")
        elif _value(want, path) != _value(have, path):
            paths.append(path)
    return paths


def _value(message: Any, path: str) -> object:
    if path == "http_target.headers":
        headers = message.http_target.headers
        return {k.lower(): v for k, v in headers.items() if k.lower() not in API_SET_HEADERS}
    for part in path.split("."):
        message = getattr(message, part)
    return message


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _summary(job: scheduler_v1.Job) -> str:
    http = job.http_target
    return f"{http.http_method.name} {http.uri} at {job.schedule!r} {job.time_zone}"


def _duration(seconds: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=seconds)
