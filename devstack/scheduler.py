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
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
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


class SchedulerConfigError(ValueError):
    """The jobs file is malformed; the message says which job and field."""


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    schedule: str
    method: str
    path: str
    description: str = ""


def load_jobs(jobs_file: Path = DEFAULT_JOBS_FILE) -> list[ScheduledJob]:
    """The jobs declared in ``jobs_file``, validated (cron, method, path, unique names)."""
    document = yaml.safe_load(jobs_file.read_text()) or {}
    entries = document.get("jobs") or []
    if not isinstance(entries, list):
        raise SchedulerConfigError(f"{jobs_file}: `jobs` must be a list")
    jobs = [_parse_job(jobs_file, index, entry) for index, entry in enumerate(entries)]
    names = [job.name for job in jobs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SchedulerConfigError(f"{jobs_file}: duplicate job names {duplicates}")
    return jobs


def _parse_job(jobs_file: Path, index: int, entry: object) -> ScheduledJob:
    if not isinstance(entry, dict):
        raise SchedulerConfigError(f"{jobs_file}: job #{index} must be a mapping")
    where = f"{jobs_file}: job {entry.get('name', f'#{index}')!r}"
    try:
        job = ScheduledJob(
            name=str(entry["name"]),
            schedule=str(entry["schedule"]),
            method=str(entry.get("method", "POST")).upper(),
            path=str(entry["path"]),
            description=str(entry.get("description", "")),
        )
    except KeyError as missing:
        raise SchedulerConfigError(f"{where}: missing field {missing}") from None
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
