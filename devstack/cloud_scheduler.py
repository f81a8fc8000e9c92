"""A gRPC stand-in of the Cloud Scheduler API, for checking the deploy's scheduler jobs here.

It serves ``google.cloud.scheduler.v1.CloudScheduler`` (CreateJob, GetJob, UpdateJob with an
update mask, DeleteJob, ListJobs with paging, PauseJob, ResumeJob) on a loopback port, with the
real protobuf messages of ``google-cloud-scheduler``, so the real ``CloudSchedulerClient`` talks
to it unchanged (``client()``). State is in memory.

What it does as the real API does (as documented in the API's protos):
- errors: ALREADY_EXISTS for a second CreateJob of one name; NOT_FOUND for a job that does not
  exist; INVALID_ARGUMENT for a malformed parent or job name, a job name outside its parent, an
  unknown or output-only update-mask path, a missing schedule or target, an invalid cron
  expression or time zone, an HTTP ``uri`` that is not http(s), an attempt deadline outside
  15 s..30 min, a retry count outside 0..5, or a body on a GET/DELETE job.
- output-only fields: ``state`` (ENABLED on create; PAUSED/ENABLED by Pause/Resume),
  ``user_update_time`` (every write), ``schedule_time`` (the next cron slot); a job created
  without ``retry_config`` or ``attempt_deadline`` gets the API's defaults; an HTTP target's
  headers gain ``User-Agent: Google-Cloud-Scheduler`` (what the API stores and returns).
- UpdateJob applies exactly the mask's paths (leaf paths such as ``http_target.uri`` or
  ``retry_config.retry_count``, or whole messages); an empty mask means every field the
  request's job sets (AIP-134).

What it does not do: fire jobs (devstack/scheduler.py does that locally), accept the API's
English-like schedules ("every 5 minutes"; only cron here), check IAM (``actAs`` on the OIDC
service account), or normalise names to project numbers.

For tests: ``mutations`` records every successful mutating call (method, job name, mask paths)
so a test can assert "a re-run mutates nothing", ``update_masks`` the masks UpdateJob received.
"""

from __future__ import annotations

import re
import threading
import uuid
import zoneinfo
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import grpc
from croniter import croniter
from google.cloud import scheduler_v1
from google.cloud.scheduler_v1.services.cloud_scheduler.transports import (
    CloudSchedulerGrpcTransport,
)
from google.cloud.scheduler_v1.types import cloudscheduler
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from devstack.ports import LOOPBACK

SERVICE = "google.cloud.scheduler.v1.CloudScheduler"
_PARENT = re.compile(r"^projects/[A-Za-z0-9:.-]+/locations/[A-Za-z0-9-]+$")
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")
_OUTPUT_ONLY = frozenset(
    {"name", "user_update_time", "state", "status", "schedule_time", "last_attempt_time"}
)
_USER_AGENT = "Google-Cloud-Scheduler"
_NO_BODY = {
    scheduler_v1.HttpMethod.GET,
    scheduler_v1.HttpMethod.DELETE,
    scheduler_v1.HttpMethod.HEAD,
}
DEFAULT_PAGE_SIZE = 500  # the API's largest page


class _Refused(Exception):
    """An RPC refused with ``code``; ``message`` is what the caller sees."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Mutation:
    method: str  # "CreateJob", "UpdateJob", "DeleteJob", "PauseJob", "ResumeJob"
    name: str
    mask: tuple[str, ...] = ()


class CloudSchedulerStandIn:
    """The stand-in server: ``start()`` binds a free loopback port (``host``), ``stop()`` ends
    it; a context manager."""

    def __init__(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.page_size = page_size
        self.jobs: dict[str, scheduler_v1.Job] = {}
        self.mutations: list[Mutation] = []
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> CloudSchedulerStandIn:
        if self._server is not None:
            return self
        server = grpc.server(ThreadPoolExecutor(max_workers=4, thread_name_prefix="scheduler-api"))
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, self._handlers()),)
        )
        self.port = server.add_insecure_port(f"{LOOPBACK}:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None

    def __enter__(self) -> CloudSchedulerStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def client(self) -> scheduler_v1.CloudSchedulerClient:
        """A real CloudSchedulerClient on an insecure channel to this server (a context
        manager; ``client.transport.close()`` closes its channel)."""
        channel = grpc.insecure_channel(self.host)
        return scheduler_v1.CloudSchedulerClient(
            transport=CloudSchedulerGrpcTransport(channel=channel)
        )

    # -- what tests read ------------------------------------------------------------------------

    @property
    def mutation_count(self) -> int:
        return len(self.mutations)

    @property
    def update_masks(self) -> list[list[str]]:
        return [list(m.mask) for m in self.mutations if m.method == "UpdateJob"]

    def reset_counts(self) -> None:
        with self._lock:
            self.mutations.clear()

    # -- the RPCs -------------------------------------------------------------------------------

    def _handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        job = scheduler_v1.Job
        rpcs: dict[str, tuple[Callable[[Any], Any], Any, Callable[[Any], bytes]]] = {
            "CreateJob": (self._create, cloudscheduler.CreateJobRequest, job.serialize),
            "GetJob": (self._get, cloudscheduler.GetJobRequest, job.serialize),
            "UpdateJob": (self._update, cloudscheduler.UpdateJobRequest, job.serialize),
            "DeleteJob": (self._delete, cloudscheduler.DeleteJobRequest, _empty),
            "ListJobs": (
                self._list,
                cloudscheduler.ListJobsRequest,
                cloudscheduler.ListJobsResponse.serialize,
            ),
            "PauseJob": (self._pause, cloudscheduler.PauseJobRequest, job.serialize),
            "ResumeJob": (self._resume, cloudscheduler.ResumeJobRequest, job.serialize),
        }
        return {
            method: grpc.unary_unary_rpc_method_handler(
                self._guarded(handler),
                request_deserializer=request_type.deserialize,
                response_serializer=serialize,
            )
            for method, (handler, request_type, serialize) in rpcs.items()
        }

    def _guarded(self, handler: Callable[[Any], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                with self._lock:
                    return handler(request)
            except _Refused as refused:
                context.abort(refused.code, refused.message)

        return call

    def _create(self, request: cloudscheduler.CreateJobRequest) -> scheduler_v1.Job:
        parent = request.parent
        if not _PARENT.match(parent):
            raise _invalid(f"parent {parent!r} is not projects/PROJECT_ID/locations/LOCATION_ID")
        job = _copy(request.job)
        if not job.name:
            job.name = f"{parent}/jobs/{uuid.uuid4().hex}"
        _check_name(job.name)
        if job.name.rsplit("/jobs/", 1)[0] != parent:
            raise _invalid(f"job name {job.name!r} is not under parent {parent!r}")
        if job.name in self.jobs:
            raise _Refused(grpc.StatusCode.ALREADY_EXISTS, f"Job {job.name} already exists.")
        raw = scheduler_v1.Job.pb(job)
        for output_only in _OUTPUT_ONLY - {"name"}:
            raw.ClearField(output_only)
        if not raw.HasField("retry_config"):
            raw.retry_config.CopyFrom(scheduler_v1.Job.pb(_api_default_retry()).retry_config)
        if not raw.HasField("attempt_deadline"):
            raw.attempt_deadline.seconds = 180
        if raw.HasField("http_target") and not job.http_target.http_method:
            raw.http_target.http_method = scheduler_v1.HttpMethod.POST  # the API's default
        _validate(job)
        raw.state = scheduler_v1.Job.State.ENABLED
        self._stamp(job)
        self.jobs[job.name] = job
        self.mutations.append(Mutation("CreateJob", job.name))
        return job

    def _get(self, request: cloudscheduler.GetJobRequest) -> scheduler_v1.Job:
        return self._existing(request.name)

    def _update(self, request: cloudscheduler.UpdateJobRequest) -> scheduler_v1.Job:
        current = self._existing(request.job.name)
        source = scheduler_v1.Job.pb(request.job)
        paths = list(request.update_mask.paths) or [f.name for f, _ in source.ListFields()]
        paths = [path for path in paths if request.update_mask.paths or path not in _OUTPUT_ONLY]
        for path in paths:
            _check_mask_path(path)
        updated = _copy(current)
        target = scheduler_v1.Job.pb(updated)
        for path in paths:
            _apply_path(target, source, path)
        _validate(updated)
        self._stamp(updated)
        self.jobs[updated.name] = updated
        self.mutations.append(Mutation("UpdateJob", updated.name, tuple(paths)))
        return updated

    def _delete(self, request: cloudscheduler.DeleteJobRequest) -> empty_pb2.Empty:
        self._existing(request.name)
        del self.jobs[request.name]
        self.mutations.append(Mutation("DeleteJob", request.name))
        return empty_pb2.Empty()

    def _list(self, request: cloudscheduler.ListJobsRequest) -> cloudscheduler.ListJobsResponse:
        if not _PARENT.match(request.parent):
            raise _invalid(f"parent {request.parent!r} is not projects/PROJECT_ID/locations/ID")
        if request.page_size < 0:
            raise _invalid("page_size must not be negative")
        names = sorted(n for n in self.jobs if n.rsplit("/jobs/", 1)[0] == request.parent)
        if request.page_token:
            if request.page_token not in names:
                raise _invalid(f"page_token {request.page_token!r} is not valid")
            names = names[names.index(request.page_token) :]
        size = min(request.page_size or self.page_size, self.page_size)
        page, rest = names[:size], names[size:]
        return cloudscheduler.ListJobsResponse(
            jobs=[self.jobs[name] for name in page], next_page_token=rest[0] if rest else ""
        )

    def _pause(self, request: cloudscheduler.PauseJobRequest) -> scheduler_v1.Job:
        return self._set_state(request.name, scheduler_v1.Job.State.PAUSED, "PauseJob")

    def _resume(self, request: cloudscheduler.ResumeJobRequest) -> scheduler_v1.Job:
        return self._set_state(request.name, scheduler_v1.Job.State.ENABLED, "ResumeJob")

    # -- helpers --------------------------------------------------------------------------------

    def _existing(self, name: str) -> scheduler_v1.Job:
        _check_name(name)
        job = self.jobs.get(name)
        if job is None:
            raise _Refused(grpc.StatusCode.NOT_FOUND, f"Job not found: {name}.")
        return job

    def _set_state(self, name: str, state: int, method: str) -> scheduler_v1.Job:
        job = self._existing(name)
        scheduler_v1.Job.pb(job).state = state
        self._stamp(job)
        self.mutations.append(Mutation(method, name))
        return job

    @staticmethod
    def _stamp(job: scheduler_v1.Job) -> None:
        now = datetime.now(UTC)
        raw = scheduler_v1.Job.pb(job)
        raw.user_update_time.FromDatetime(now)
        if job.http_target.uri:
            raw.http_target.headers["User-Agent"] = _USER_AGENT
        tz = zoneinfo.ZoneInfo(job.time_zone or "UTC")
        next_slot: datetime = croniter(job.schedule, now.astimezone(tz)).get_next(datetime)
        raw.schedule_time.FromDatetime(next_slot.astimezone(UTC))


def _copy(job: scheduler_v1.Job) -> scheduler_v1.Job:
    copied = scheduler_v1.Job()
    scheduler_v1.Job.pb(copied).CopyFrom(scheduler_v1.Job.pb(job))
    return copied


def _empty(message: Message) -> bytes:
    return message.SerializeToString()


def _invalid(message: str) -> _Refused:
    return _Refused(grpc.StatusCode.INVALID_ARGUMENT, message)


def _check_name(name: str) -> None:
    parent, _, job_id = name.rpartition("/jobs/")
    if not _PARENT.match(parent) or not _JOB_ID.match(job_id):
        raise _invalid(
            f"job name {name!r} is not projects/PROJECT_ID/locations/LOCATION_ID/jobs/JOB_ID "
            "(JOB_ID: letters, digits, hyphens, underscores; at most 500)"
        )


def _check_mask_path(path: str) -> None:
    """Refuse a path that names no field of Job, or an output-only one, as the API does."""
    parts = path.split(".")
    if parts[0] in _OUTPUT_ONLY:
        raise _invalid(f"update_mask path {path!r} names an output-only field")
    descriptor = scheduler_v1.Job.pb().DESCRIPTOR
    for depth, part in enumerate(parts):
        field = descriptor.fields_by_name.get(part)
        if field is None:
            raise _invalid(f"update_mask path {path!r}: {descriptor.name} has no field {part!r}")
        last = depth == len(parts) - 1
        if not last:
            if field.message_type is None or field.message_type.GetOptions().map_entry:
                raise _invalid(f"update_mask path {path!r}: {part!r} has no sub-fields")
            if field.is_repeated:
                raise _invalid(f"update_mask path {path!r}: {part!r} is repeated")
            descriptor = field.message_type


def _apply_path(target: Message, source: Message, path: str) -> None:
    """Copy the field at ``path`` from ``source`` into ``target`` (clearing it when unset)."""
    *parents, leaf = path.split(".")
    for part in parents:
        target, source = getattr(target, part), getattr(source, part)
    field = target.DESCRIPTOR.fields_by_name[leaf]
    if field.is_repeated:  # maps too: replaced as a whole
        target.ClearField(leaf)
        getattr(target, leaf).MergeFrom(getattr(source, leaf))
    elif field.message_type is not None:
        if source.HasField(leaf):
            getattr(target, leaf).CopyFrom(getattr(source, leaf))
        else:
            target.ClearField(leaf)
    else:
        setattr(target, leaf, getattr(source, leaf))


def _api_default_retry() -> scheduler_v1.Job:
    return scheduler_v1.Job(
        retry_config=scheduler_v1.RetryConfig(
            retry_count=0,
            min_backoff_duration={"seconds": 5},
            max_backoff_duration={"seconds": 3600},
            max_doublings=5,
        )
    )


def _validate(job: scheduler_v1.Job) -> None:
    """What the API refuses in a job it would store."""
    raw = scheduler_v1.Job.pb(job)
    if not job.schedule:
        raise _invalid("Job.schedule is required")
    if not croniter.is_valid(job.schedule):
        raise _invalid(f"Job.schedule {job.schedule!r} is not a valid schedule")
    if job.time_zone:
        try:
            zoneinfo.ZoneInfo(job.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _invalid(f"Job.time_zone {job.time_zone!r} is not a tz database name") from None
    target = raw.WhichOneof("target")
    if target is None:
        raise _invalid("Job needs a target (http_target, pubsub_target or app_engine_http_target)")
    if target == "http_target":
        http = job.http_target
        if not http.uri.startswith(("http://", "https://")):
            raise _invalid(f"HttpTarget.uri {http.uri!r} must begin with http:// or https://")
        if http.body and http.http_method in _NO_BODY:
            raise _invalid(f"HttpTarget.body is not allowed with {http.http_method.name}")
        deadline = raw.attempt_deadline.seconds + raw.attempt_deadline.nanos / 1e9
        if not 15 <= deadline <= 30 * 60:
            raise _invalid(f"attempt_deadline {deadline:g}s is outside [15s, 30m] for HTTP targets")
    if not 0 <= job.retry_config.retry_count <= 5:
        raise _invalid(f"RetryConfig.retry_count {job.retry_config.retry_count} is outside 0..5")
