"""The deploy's Cloud Scheduler jobs, reconciled by the real google-cloud-scheduler client.

The client talks gRPC to the stand-in of the Cloud Scheduler API (devstack/cloud_scheduler.py,
real protobufs), which counts every mutating call and keeps the update masks it received.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.api_core import exceptions as gexc
from google.cloud import scheduler_v1

from devstack.cloud_scheduler import CloudSchedulerStandIn
from devstack.scheduler import DEFAULT_JOBS_FILE, SchedulerConfigError, load_jobs
from infra.deploy.schedules import desired_jobs, differing_fields, reconcile_jobs
from shared.web.routes import function_for_path

PARENT = "projects/drgero-prod/locations/europe-west1"
JOBS_URL = "https://drgero-jobs-123456789012.europe-west1.run.app"
INVOKER = "drgero-scheduler@drgero-prod.iam.gserviceaccount.com"
FUNCTIONS_FILE = Path(__file__).resolve().parents[2] / "infra" / "functions.yaml"


@pytest.fixture
def api() -> Iterator[CloudSchedulerStandIn]:
    with CloudSchedulerStandIn() as server:
        yield server


@pytest.fixture
def client(api: CloudSchedulerStandIn) -> Iterator[scheduler_v1.CloudSchedulerClient]:
    client = api.client()
    yield client
    client.transport.close()


def declared(jobs_file: Path = DEFAULT_JOBS_FILE) -> list[scheduler_v1.Job]:
    return desired_jobs(
        parent=PARENT, jobs_url=JOBS_URL, invoker_email=INVOKER, jobs_file=jobs_file
    )


def edited(tmp_path: Path, edit: Any) -> Path:
    """A copy of infra/scheduler.yaml after ``edit(document)``."""
    document = yaml.safe_load(DEFAULT_JOBS_FILE.read_text())
    edit(document)
    path = tmp_path / "scheduler.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def job_named(document: dict[str, Any], name: str) -> dict[str, Any]:
    [job] = [job for job in document["jobs"] if job["name"] == name]
    return job


def verbs(changes: list[Any]) -> list[tuple[str, str]]:
    return [(change.verb, change.resource) for change in changes]


# -- the file -----------------------------------------------------------------------------------


def test_every_attempt_deadline_exceeds_the_jobs_function_timeout() -> None:
    functions = yaml.safe_load(FUNCTIONS_FILE.read_text())["functions"]
    [jobs_function] = [f for f in functions if f["name"] == "jobs"]
    timeout = int(str(jobs_function["timeout"]).removesuffix("s"))
    for job in load_jobs():
        assert function_for_path(job.path) == "jobs", job
        assert job.attempt_deadline_seconds > timeout, job
        assert 1 <= job.retry.count <= 5, job  # idempotent handlers: retried, within the API's 5


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["defaults"].update(attempt_deadline="31m"), "outside Cloud Scheduler's 15s"),
        (lambda d: d["defaults"].update(attempt_deadline="10s"), "outside Cloud Scheduler's 15s"),
        (lambda d: d["defaults"].update(attempt_deadline="ten"), "must be a duration"),
        (lambda d: d["jobs"][0].update(retry={"count": 6}), "retry.count 6 is outside"),
        (lambda d: d["jobs"][0].update(retry={"min_backoff": "2h"}), "exceeds retry.max_backoff"),
        (lambda d: d["jobs"][0].update(retry={"tries": 2}), "unknown fields in `retry`"),
        (lambda d: d["jobs"][0].update(deadline="600s"), "unknown fields ['deadline']"),
        (lambda d: d["jobs"][0].update(name="consolidate due"), "name must be 1..490 letters"),
    ],
)
def test_the_jobs_file_is_refused_with_the_field_and_the_bound(
    tmp_path: Path, edit: Any, message: str
) -> None:
    with pytest.raises(SchedulerConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_jobs(edited(tmp_path, edit))


def test_a_job_falls_back_on_the_defaults_field_by_field() -> None:
    [watchdog] = [job for job in load_jobs() if job.name == "runs-watchdog"]
    document = yaml.safe_load(DEFAULT_JOBS_FILE.read_text())
    assert watchdog.attempt_deadline_seconds == 600
    assert watchdog.retry.count == 1 and watchdog.retry.min_backoff_seconds == 5
    assert watchdog.retry.max_backoff_seconds == 60  # from defaults.retry
    assert document["defaults"]["retry"]["max_backoff"] == "60s"


# -- reconcile ----------------------------------------------------------------------------------


def test_a_fresh_project_gets_one_job_per_declared_job(
    api: CloudSchedulerStandIn, client: scheduler_v1.CloudSchedulerClient
) -> None:
    changes = reconcile_jobs(client, PARENT, declared(), apply=True)

    names = [f"drgero-{job.name}" for job in load_jobs()]
    assert verbs(changes) == [("create", f"scheduler job {name}") for name in names]
    assert [(m.method, m.name) for m in api.mutations] == [
        ("CreateJob", f"{PARENT}/jobs/{name}") for name in names
    ]
    for spec in load_jobs():
        job = client.get_job(name=f"{PARENT}/jobs/drgero-{spec.name}")
        http = job.http_target
        assert http.uri == JOBS_URL + spec.path
        assert http.http_method == scheduler_v1.HttpMethod.POST
        assert http.oidc_token.audience == JOBS_URL  # the private function's run.app URL
        assert http.oidc_token.service_account_email == INVOKER
        assert dict(http.headers) == {"User-Agent": "Google-Cloud-Scheduler"}  # the API's own
        assert job.schedule == spec.schedule and job.time_zone == "UTC"
        assert job.attempt_deadline.total_seconds() == 600
        assert job.retry_config.retry_count == spec.retry.count
        assert (
            job.retry_config.min_backoff_duration.total_seconds() == spec.retry.min_backoff_seconds
        )
        assert (
            job.retry_config.max_backoff_duration.total_seconds() == spec.retry.max_backoff_seconds
        )
        assert job.retry_config.max_doublings == spec.retry.max_doublings
        assert job.description == spec.description
        assert job.state == scheduler_v1.Job.State.ENABLED


def test_a_second_run_keeps_every_job_and_mutates_nothing(
    api: CloudSchedulerStandIn, client: scheduler_v1.CloudSchedulerClient
) -> None:
    reconcile_jobs(client, PARENT, declared(), apply=True)
    api.reset_counts()

    changes = reconcile_jobs(client, PARENT, declared(), apply=True)

    assert {change.verb for change in changes} == {"keep"}
    assert len(changes) == len(load_jobs())
    assert api.mutation_count == 0


def test_a_changed_schedule_is_one_update_whose_mask_is_exactly_schedule(
    tmp_path: Path, api: CloudSchedulerStandIn, client: scheduler_v1.CloudSchedulerClient
) -> None:
    reconcile_jobs(client, PARENT, declared(), apply=True)
    api.reset_counts()
    jobs_file = edited(
        tmp_path, lambda d: job_named(d, "consolidate-due").update(schedule="0 * * * *")
    )

    changes = reconcile_jobs(client, PARENT, declared(jobs_file), apply=True)

    assert [(c.verb, c.resource, c.detail) for c in changes if c.verb != "keep"] == [
        ("update", "scheduler job drgero-consolidate-due", "schedule")
    ]
    assert api.update_masks == [["schedule"]]
    assert api.mutation_count == 1
    assert client.get_job(name=f"{PARENT}/jobs/drgero-consolidate-due").schedule == "0 * * * *"
    api.reset_counts()
    assert {c.verb for c in reconcile_jobs(client, PARENT, declared(jobs_file), apply=True)} == {
        "keep"
    }
    assert api.mutation_count == 0


def test_changed_retry_deadline_and_invoker_name_exactly_those_fields(
    tmp_path: Path, api: CloudSchedulerStandIn, client: scheduler_v1.CloudSchedulerClient
) -> None:
    reconcile_jobs(client, PARENT, declared(), apply=True)
    api.reset_counts()

    def edit(document: dict[str, Any]) -> None:
        job_named(document, "runs-watchdog").update(attempt_deadline="900s", retry={"count": 4})

    desired = desired_jobs(
        parent=PARENT,
        jobs_url=JOBS_URL,
        invoker_email="other-invoker@drgero-prod.iam.gserviceaccount.com",
        jobs_file=edited(tmp_path, edit),
    )
    changes = reconcile_jobs(client, PARENT, desired, apply=True)

    details = {c.resource: c.detail for c in changes}
    assert details["scheduler job drgero-runs-watchdog"] == (
        "attempt_deadline, http_target.oidc_token.service_account_email, "
        "retry_config.retry_count, retry_config.min_backoff_duration"
    )
    assert details["scheduler job drgero-consolidate-due"] == (
        "http_target.oidc_token.service_account_email"
    )
    job = client.get_job(name=f"{PARENT}/jobs/drgero-runs-watchdog")
    assert job.attempt_deadline.total_seconds() == 900
    assert job.retry_config.retry_count == 4
    assert job.retry_config.min_backoff_duration.total_seconds() == 10  # the defaults' again
    assert job.http_target.oidc_token.service_account_email.startswith("other-invoker@")
    assert job.http_target.oidc_token.audience == JOBS_URL


def test_a_job_dropped_from_the_file_is_deleted_and_foreign_jobs_are_left_alone(
    tmp_path: Path, api: CloudSchedulerStandIn, client: scheduler_v1.CloudSchedulerClient
) -> None:
    reconcile_jobs(client, PARENT, declared(), apply=True)
    foreign = scheduler_v1.Job(
        name=f"{PARENT}/jobs/backup-nightly",
        schedule="0 3 * * *",
        http_target=scheduler_v1.HttpTarget(uri="https://example.org/backup"),
    )
    client.create_job(parent=PARENT, job=foreign)
    api.reset_counts()

    def drop(document: dict[str, Any]) -> None:
        document["jobs"] = [j for j in document["jobs"] if j["name"] != "runs-watchdog"]

    changes = reconcile_jobs(client, PARENT, declared(edited(tmp_path, drop)), apply=True)

    assert [c for c in changes if c.verb != "keep"] == [
        type(changes[0])(
            "delete", "scheduler job drgero-runs-watchdog", "not in infra/scheduler.yaml"
        )
    ]
    assert [(m.method, m.name) for m in api.mutations] == [
        ("DeleteJob", f"{PARENT}/jobs/drgero-runs-watchdog")
    ]
    remaining = sorted(job.name.rsplit("/", 1)[-1] for job in client.list_jobs(parent=PARENT))
    kept = [f"drgero-{job.name}" for job in load_jobs() if job.name != "runs-watchdog"]
    assert remaining == sorted(["backup-nightly", *kept])


def test_the_plan_reads_only(
    tmp_path: Path, api: CloudSchedulerStandIn, client: scheduler_v1.CloudSchedulerClient
) -> None:
    fresh = reconcile_jobs(client, PARENT, declared(), apply=False)
    assert {c.verb for c in fresh} == {"create"} and len(fresh) == len(load_jobs())
    assert api.mutation_count == 0 and api.jobs == {}

    reconcile_jobs(client, PARENT, declared(), apply=True)
    api.reset_counts()

    def edit(document: dict[str, Any]) -> None:
        job_named(document, "scheduled-runs").update(schedule="*/2 * * * *")
        document["jobs"] = [j for j in document["jobs"] if j["name"] != "runs-watchdog"]

    planned = reconcile_jobs(client, PARENT, declared(edited(tmp_path, edit)), apply=False)
    untouched = {"runs-watchdog", "scheduled-runs"}
    assert sorted((c.verb, c.resource) for c in planned) == sorted(
        [
            ("delete", "scheduler job drgero-runs-watchdog"),
            ("update", "scheduler job drgero-scheduled-runs"),
            *(
                ("keep", f"scheduler job drgero-{j.name}")
                for j in load_jobs()
                if j.name not in untouched
            ),
        ]
    )
    assert api.mutation_count == 0


def test_a_job_of_the_old_deploy_loses_its_internal_key_header(
    api: CloudSchedulerStandIn, client: scheduler_v1.CloudSchedulerClient
) -> None:
    """deploy.sh created jobs on the load balancer's URL, the internal key in a header and the
    load balancer's URL as the token's audience; reconcile rewrites exactly those fields."""
    old_base = "https://api.drgero.example"
    client.create_job(
        parent=PARENT,
        job=scheduler_v1.Job(
            name=f"{PARENT}/jobs/drgero-runs-watchdog",
            description="Fail runs whose shards stalled past the run's deadline.",
            schedule="* * * * *",
            time_zone="UTC",
            http_target=scheduler_v1.HttpTarget(
                uri=old_base + "/internal/jobs/runs-watchdog",
                http_method=scheduler_v1.HttpMethod.POST,
                headers={"X-DrGero-Internal-Key": "k" * 40},
                oidc_token=scheduler_v1.OidcToken(service_account_email=INVOKER),
            ),
        ),
    )
    api.reset_counts()
    [watchdog] = [job for job in declared() if job.name.endswith("/drgero-runs-watchdog")]

    changes = reconcile_jobs(client, PARENT, [watchdog], apply=True)

    assert [(c.verb, c.detail) for c in changes] == [
        (
            "update",
            "attempt_deadline, http_target.uri, http_target.headers, "
            "http_target.oidc_token.audience, retry_config.retry_count, "
            "retry_config.max_backoff_duration, retry_config.max_doublings",
        )
    ]
    job = client.get_job(name=watchdog.name)
    assert dict(job.http_target.headers) == {"User-Agent": "Google-Cloud-Scheduler"}
    assert job.http_target.uri == JOBS_URL + "/internal/jobs/runs-watchdog"
    assert job.http_target.oidc_token.audience == JOBS_URL
    assert differing_fields(watchdog, job) == []


def test_a_job_with_another_kind_of_token_gets_the_oidc_token_whole(
    api: CloudSchedulerStandIn, client: scheduler_v1.CloudSchedulerClient
) -> None:
    [watchdog] = [job for job in declared() if job.name.endswith("/drgero-runs-watchdog")]
    oauth = scheduler_v1.Job(watchdog)
    oauth.http_target.oauth_token = scheduler_v1.OAuthToken(service_account_email=INVOKER)
    client.create_job(parent=PARENT, job=oauth)

    [change] = reconcile_jobs(client, PARENT, [watchdog], apply=True)

    assert (change.verb, change.detail) == ("update", "http_target.oidc_token")
    job = client.get_job(name=watchdog.name)
    assert job.http_target.oidc_token.audience == JOBS_URL
    assert "oauth_token" not in job.http_target


def test_reconcile_reads_every_page_of_jobs() -> None:
    with CloudSchedulerStandIn(page_size=1) as api, api.client() as client:
        reconcile_jobs(client, PARENT, declared(), apply=True)
        api.reset_counts()
        changes = reconcile_jobs(client, PARENT, declared(), apply=True)
    assert {c.verb for c in changes} == {"keep"} and len(changes) == len(load_jobs())
    assert api.mutation_count == 0


# -- the stand-in refuses what the API refuses --------------------------------------------------


def a_job(name: str = f"{PARENT}/jobs/drgero-x", **fields: Any) -> scheduler_v1.Job:
    values: dict[str, Any] = {
        "name": name,
        "schedule": "* * * * *",
        "http_target": scheduler_v1.HttpTarget(uri="https://example.org/x"),
    }
    return scheduler_v1.Job(**(values | fields))


def test_a_duplicate_create_is_already_exists(client: scheduler_v1.CloudSchedulerClient) -> None:
    client.create_job(parent=PARENT, job=a_job())
    with pytest.raises(gexc.AlreadyExists):
        client.create_job(parent=PARENT, job=a_job(schedule="0 * * * *"))
    assert client.get_job(name=f"{PARENT}/jobs/drgero-x").schedule == "* * * * *"


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["schedul"], "has no field 'schedul'"),
        (["http_target.url"], "has no field 'url'"),
        (["schedule.x"], "has no sub-fields"),
        (["state"], "output-only"),
        (["user_update_time"], "output-only"),
    ],
)
def test_an_unknown_or_output_only_mask_path_is_invalid_argument(
    api: CloudSchedulerStandIn,
    client: scheduler_v1.CloudSchedulerClient,
    paths: list[str],
    message: str,
) -> None:
    client.create_job(parent=PARENT, job=a_job())
    api.reset_counts()
    with pytest.raises(gexc.InvalidArgument, match=message):
        client.update_job(job=a_job(schedule="0 * * * *"), update_mask={"paths": paths})
    assert api.mutation_count == 0
    assert client.get_job(name=f"{PARENT}/jobs/drgero-x").schedule == "* * * * *"


def test_update_applies_only_the_masked_fields(client: scheduler_v1.CloudSchedulerClient) -> None:
    client.create_job(parent=PARENT, job=a_job(description="before"))
    updated = client.update_job(
        job=a_job(schedule="0 * * * *", description="after"), update_mask={"paths": ["schedule"]}
    )
    assert (updated.schedule, updated.description) == ("0 * * * *", "before")


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (a_job(schedule=""), "schedule is required"),
        (a_job(schedule="every minute please"), "not a valid schedule"),
        (scheduler_v1.Job(name=f"{PARENT}/jobs/drgero-x", schedule="* * * * *"), "needs a target"),
        (a_job(name="projects/p/jobs/x"), "is not projects/PROJECT_ID"),
        (a_job(name=f"{PARENT}/jobs/bad id"), "is not projects/PROJECT_ID"),
        (a_job(name="projects/other/locations/l/jobs/x"), "is not under parent"),
        (a_job(attempt_deadline={"seconds": 3600}), "outside"),
        (a_job(time_zone="Mars/Olympus"), "not a tz database name"),
        (a_job(http_target=scheduler_v1.HttpTarget(uri="ftp://x")), "must begin with http"),
        (a_job(retry_config=scheduler_v1.RetryConfig(retry_count=6)), "outside 0..5"),
    ],
)
def test_a_malformed_job_is_invalid_argument(
    api: CloudSchedulerStandIn,
    client: scheduler_v1.CloudSchedulerClient,
    job: scheduler_v1.Job,
    message: str,
) -> None:
    with pytest.raises(gexc.InvalidArgument, match=message):
        client.create_job(parent=PARENT, job=job)
    assert api.jobs == {} and api.mutation_count == 0


def test_a_missing_job_is_not_found(client: scheduler_v1.CloudSchedulerClient) -> None:
    name = f"{PARENT}/jobs/drgero-missing"
    with pytest.raises(gexc.NotFound):
        client.get_job(name=name)
    with pytest.raises(gexc.NotFound):
        client.delete_job(name=name)
    with pytest.raises(gexc.NotFound):
        client.update_job(job=a_job(name=name), update_mask={"paths": ["schedule"]})


def test_pause_and_resume_set_the_state(client: scheduler_v1.CloudSchedulerClient) -> None:
    client.create_job(parent=PARENT, job=a_job())
    name = f"{PARENT}/jobs/drgero-x"
    assert client.pause_job(name=name).state == scheduler_v1.Job.State.PAUSED
    assert client.get_job(name=name).state == scheduler_v1.Job.State.PAUSED
    assert client.resume_job(name=name).state == scheduler_v1.Job.State.ENABLED


def test_the_stand_in_speaks_the_real_service_name(api: CloudSchedulerStandIn) -> None:
    """A raw gRPC call by full method name, as any client of the real API makes it."""
    with grpc.insecure_channel(api.host) as channel:
        list_jobs = channel.unary_unary(
            "/google.cloud.scheduler.v1.CloudScheduler/ListJobs",
            request_serializer=lambda m: type(m).serialize(m),
            response_deserializer=scheduler_v1.ListJobsResponse.deserialize,
        )
        answer = list_jobs(scheduler_v1.ListJobsRequest(parent=PARENT), timeout=5)
    assert list(answer.jobs) == []
