"""The local stand-in for Cloud Scheduler: fires the jobs of ``infra/scheduler.yaml`` on time.

Production turns the same file into Cloud Scheduler HTTP jobs, so the local stack exercises the
real job definitions. Each firing is what Cloud Scheduler sends: an HTTP request to the URL of
the function serving the job's path (``shared.tasks.urls``: ``<base_url><path>`` locally) with
an ID token for the scheduler's service account whose audience is that function's URL
(``Authorization: Bearer``, from the local token stand-in, as Cloud Scheduler's ``oidcToken``
would be), the job name (``X-CloudScheduler-JobName``) and Cloud Scheduler's ``User-Agent``.
Cron expressions are evaluated in UTC. A firing that fails is
logged and not retried (Cloud Scheduler's default retry count is 0); a slow one delays the
others, and missed fire times are skipped rather than caught up.

The file also carries what only Cloud Scheduler uses (``attempt_deadline``, ``retry``; see
``infra/deploy/schedules.py``): they are parsed and validated here, so that the local stack
and the deploy read one definition, and the local loop ignores them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml
from croniter import croniter

from shared.providers.google_identity import IdentityUnavailable, IdTokenSource
from shared.tasks.urls import internal_target

logger = logging.getLogger(__name__)

DEFAULT_JOBS_FILE = Path(__file__).resolve().parent.parent / "infra" / "scheduler.yaml"
USER_AGENT = "Google-Cloud-Scheduler"
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,490}$")
_DURATION = re.compile(r"^(\d+)([smh])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
# Cloud Scheduler's bounds for HTTP targets: the attempt deadline and the retry count.
ATTEMPT_DEADLINE_MIN_SECONDS = 15
ATTEMPT_DEADLINE_MAX_SECONDS = 30 * 60
RETRY_COUNT_MAX = 5
_JOB_FIELDS = {"name", "schedule", "method", "path", "description", "attempt_deadline", "retry"}
_RETRY_FIELDS = {"count", "min_backoff", "max_backoff", "max_doublings", "max_retry_duration"}


class SchedulerConfigError(ValueError):
    """The jobs file is malformed; the message says which job and field."""


@dataclass(frozen=True)
class JobRetry:
    """Cloud Scheduler's RetryConfig of one job; the defaults are the API's own."""

    count: int = 0
    min_backoff_seconds: int = 5
    max_backoff_seconds: int = 3600
    max_doublings: int = 5
    max_retry_duration_seconds: int = 0  # 0: no time limit, only ``count``


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    schedule: str
    method: str
    path: str
    description: str = ""
    attempt_deadline_seconds: int = 180  # Cloud Scheduler's default for HTTP targets
    retry: JobRetry = field(default_factory=JobRetry)


def load_jobs(jobs_file: Path = DEFAULT_JOBS_FILE) -> list[ScheduledJob]:
    """The jobs declared in ``jobs_file``, validated (cron, method, path, deadline, retry,
    unique names); each job's fields fall back on the file's ``defaults``."""
    document = yaml.safe_load(jobs_file.read_text()) or {}
    entries = document.get("jobs") or []
    if not isinstance(entries, list):
        raise SchedulerConfigError(f"{jobs_file}: `jobs` must be a list")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SchedulerConfigError(f"{jobs_file}: `defaults` must be a mapping")
    jobs = [_parse_job(jobs_file, index, entry, defaults) for index, entry in enumerate(entries)]
    names = [job.name for job in jobs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SchedulerConfigError(f"{jobs_file}: duplicate job names {duplicates}")
    return jobs


def _parse_job(
    jobs_file: Path, index: int, entry: object, defaults: dict[str, object]
) -> ScheduledJob:
    if not isinstance(entry, dict):
        raise SchedulerConfigError(f"{jobs_file}: job #{index} must be a mapping")
    where = f"{jobs_file}: job {entry.get('name', f'#{index}')!r}"
    unknown = sorted(set(entry) - _JOB_FIELDS) + sorted(
        f"defaults.{k}" for k in set(defaults) - _JOB_FIELDS
    )
    if unknown:
        raise SchedulerConfigError(f"{where}: unknown fields {unknown}")
    deadline = entry.get("attempt_deadline", defaults.get("attempt_deadline", 180))
    try:
        job = ScheduledJob(
            name=str(entry["name"]),
            schedule=str(entry["schedule"]),
            method=str(entry.get("method", "POST")).upper(),
            path=str(entry["path"]),
            description=str(entry.get("description", "")),
            attempt_deadline_seconds=_seconds(where, "attempt_deadline", deadline),
            retry=_parse_retry(where, defaults.get("retry"), entry.get("retry")),
        )
    except KeyError as missing:
        raise SchedulerConfigError(f"{where}: missing field {missing}") from None
    low, high = ATTEMPT_DEADLINE_MIN_SECONDS, ATTEMPT_DEADLINE_MAX_SECONDS
    if not low <= job.attempt_deadline_seconds <= high:
        raise SchedulerConfigError(
            f"{where}: attempt_deadline {job.attempt_deadline_seconds}s is outside Cloud "
            f"Scheduler's {low}s..{high}s for HTTP targets"
        )
    if not _NAME.match(job.name):
        raise SchedulerConfigError(
            f"{where}: name must be 1..490 letters, digits, hyphens or underscores (it is "
            "deployed as the Cloud Scheduler job id drgero-<name>)"
        )
    if not croniter.is_valid(job.schedule):
        raise SchedulerConfigError(f"{where}: invalid cron schedule {job.schedule!r}")
    if job.method not in _METHODS:
        raise SchedulerConfigError(f"{where}: unsupported method {job.method!r}")
    if not job.path.startswith("/"):
        raise SchedulerConfigError(f"{where}: path must start with '/'")
    try:
        internal_target("http://scheduler.invalid", job.path)
    except ValueError:
        raise SchedulerConfigError(f"{where}: no internal function serves {job.path!r}") from None
    return job


def _parse_retry(where: str, default: object, own: object) -> JobRetry:
    """The retry config: the job's fields over the file's defaults over the API's defaults."""
    merged: dict[str, object] = {}
    for part, label in ((default, "defaults.retry"), (own, "retry")):
        if part is None:
            continue
        if not isinstance(part, dict):
            raise SchedulerConfigError(f"{where}: `{label}` must be a mapping")
        unknown = sorted(set(part) - _RETRY_FIELDS)
        if unknown:
            raise SchedulerConfigError(f"{where}: unknown fields in `{label}`: {unknown}")
        merged |= part
    api = JobRetry()
    retry = JobRetry(
        count=_integer(where, "retry.count", merged.get("count", api.count)),
        min_backoff_seconds=_seconds(
            where, "retry.min_backoff", merged.get("min_backoff", api.min_backoff_seconds)
        ),
        max_backoff_seconds=_seconds(
            where, "retry.max_backoff", merged.get("max_backoff", api.max_backoff_seconds)
        ),
        max_doublings=_integer(
            where, "retry.max_doublings", merged.get("max_doublings", api.max_doublings)
        ),
        max_retry_duration_seconds=_seconds(
            where,
            "retry.max_retry_duration",
            merged.get("max_retry_duration", api.max_retry_duration_seconds),
        ),
    )
    if not 0 <= retry.count <= RETRY_COUNT_MAX:
        raise SchedulerConfigError(
            f"{where}: retry.count {retry.count} is outside Cloud Scheduler's 0..{RETRY_COUNT_MAX}"
        )
    if retry.min_backoff_seconds > retry.max_backoff_seconds:
        raise SchedulerConfigError(
            f"{where}: retry.min_backoff ({retry.min_backoff_seconds}s) exceeds "
            f"retry.max_backoff ({retry.max_backoff_seconds}s)"
        )
    return retry


def _seconds(where: str, name: str, value: object) -> int:
    """A duration of the file (seconds as an integer, or "<n>s" / "<n>m" / "<n>h") in seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise SchedulerConfigError(
            f"{where}: {name} must be a duration such as 600s, 10m or 1h, not {value!r}"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _integer(where: str, name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise SchedulerConfigError(f"{where}: {name} must be a non-negative integer, not {value!r}")


def next_fire_time(job: ScheduledJob, after: datetime) -> datetime:
    """The first time strictly after ``after`` (timezone-aware) at which ``job`` fires, in UTC."""
    fire_time: datetime = croniter(job.schedule, after.astimezone(UTC)).get_next(datetime)
    return fire_time.astimezone(UTC)


class Scheduler:
    """Fires scheduled jobs from a daemon thread until stopped; ``fire()`` fires one now."""

    def __init__(
        self,
        base_url: str,
        jobs_file: Path = DEFAULT_JOBS_FILE,
        *,
        id_tokens: IdTokenSource,
        service_account: str,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``base_url`` is ``DRGERO_INTERNAL_BASE_URL`` (may hold ``{function}``); tokens are
        ``id_tokens``' for ``service_account``."""
        self.base_url = base_url.rstrip("/")
        self.jobs = {job.name: job for job in load_jobs(jobs_file)}
        self._id_tokens = id_tokens
        self._service_account = service_account
        self._client = httpx.Client(
            headers={"User-Agent": USER_AGENT},
            timeout=timeout or httpx.Timeout(60.0, connect=5.0),
            transport=transport,
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Scheduler:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=70.0)
            self._thread = None
        self._client.close()

    def fire(self, job_name: str) -> httpx.Response:
        """Send ``job_name``'s request now and return the answer (raises httpx.HTTPError)."""
        job = self.jobs[job_name]
        started = time.monotonic()
        try:
            target = internal_target(self.base_url, job.path)
            token = self._id_tokens.token(audience=target.audience, email=self._service_account)
            response = self._client.request(
                job.method,
                target.url,
                headers={"Authorization": f"Bearer {token}", "X-CloudScheduler-JobName": job.name},
            )
        except IdentityUnavailable as error:
            logger.warning("scheduler: %s has no ID token: %s", job.name, error.message)
            raise httpx.HTTPError(error.message) from None
        except httpx.HTTPError as error:
            logger.warning("scheduler: %s %s %s failed: %s", job.name, job.method, job.path, error)
            raise
        elapsed = time.monotonic() - started
        logger.info(
            "scheduler: %s %s %s -> %d in %.2fs",
            job.name,
            job.method,
            job.path,
            response.status_code,
            elapsed,
        )
        return response

    def _run(self) -> None:
        if not self.jobs:
            return
        due = {name: next_fire_time(job, _now()) for name, job in self.jobs.items()}
        while not self._stopping.is_set():
            wait = (min(due.values()) - _now()).total_seconds()
            if self._stopping.wait(timeout=max(0.0, wait)):
                return
            for name in sorted(due, key=due.__getitem__):
                if due[name] > _now() or self._stopping.is_set():
                    continue
                # fire() logs a failure; Cloud Scheduler would not retry either (retry count 0).
                with contextlib.suppress(httpx.HTTPError):
                    self.fire(name)
                due[name] = next_fire_time(self.jobs[name], _now())


def _now() -> datetime:
    return datetime.now(UTC)
