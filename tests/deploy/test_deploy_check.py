"""``make deploy-check``: the deploy to a fresh project and its re-run, against the recorder
(gcloud and the project), the gRPC stand-in of Cloud Scheduler and the Cloud Tasks emulator,
every command replayed through the real gcloud of this machine."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from devstack.cloud_scheduler import CloudSchedulerStandIn
from devstack.inprocess import InProcessStack
from infra.deploy import gcloud_check
from infra.deploy.check import Report, run_check
from infra.deploy.config import Target, load

REPO = Path(__file__).resolve().parents[2]
PLAN = [sys.executable, "-m", "infra.deploy", "plan", "--empty"]


@pytest.fixture
def tasks_client(stack: InProcessStack) -> Iterator[tasks_v2.CloudTasksClient]:
    channel = grpc.insecure_channel(stack.env["CLOUD_TASKS_EMULATOR_HOST"])
    yield tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    channel.close()


@pytest.fixture
def scheduler() -> Iterator[CloudSchedulerStandIn]:
    with CloudSchedulerStandIn() as stand_in:
        yield stand_in


def fresh_config():
    # A project of its own: the emulator's queues and the stand-in's jobs start empty for it.
    return load(Target(f"drgero-check-{uuid.uuid4().hex[:8]}", "europe-west1", "api.example.com"))


@pytest.fixture(scope="module")
def replayed() -> dict[str, Report]:
    return {}


def test_deploy_check_passes_a_fresh_project_and_a_rerun_that_changes_nothing(
    tasks_client, scheduler, replayed, capsys
):
    if gcloud_check.find_gcloud() is None:
        pytest.skip("gcloud is not installed: the replay cannot run")
    config = fresh_config()
    with scheduler.client() as scheduler_client:
        report = run_check(
            config,
            scheduler_client=scheduler_client,
            tasks_client=tasks_client,
            replay=lambda commands: gcloud_check.check(commands, cwd=REPO),
        )
    print("\n".join(report.problems))
    assert report.ok, report.problems
    first = {c.resource: c.verb for c in report.first}
    assert all(c.verb == "create" or c.verb == "update" for c in report.first if c.mutates)
    assert not [c for c in report.second if c.mutates]
    # Everything the issue names is created on a fresh project.
    for resource in (
        "Firestore database (default)",
        f"bucket gs://{config.bucket}",
        "secret drgero-secrets-key",
        f"service account {config.account_email('tasks')}",
        f"service account {config.account_email('scheduler')}",
        "function drgero-worker",
        "function drgero-inference",
        "URL map drgero-lb",
        f"managed certificate {config.certificate}",
        "forwarding rule drgero-https",
        "Cloud Armor policy drgero-push-throttle",
        "Cloud Armor policy drgero-inference-throttle",
        "tasks queue drgero",
        "scheduler job drgero-runs-watchdog",
    ):
        assert first.get(resource) == "create", resource
    # The re-run read the scheduler jobs and changed none (the stand-in counts every call).
    assert scheduler.mutation_count == len(
        [c for c in report.first if c.resource.startswith("scheduler job")]
    )
    replayed["report"] = report


def test_the_private_functions_are_private_and_the_public_ones_behind_the_balancer(replayed):
    report = replayed.get("report")
    if report is None:
        pytest.skip("the deploy check did not run")
    deploys = {
        call.args[2]: call.args for call in report.calls if call.args[:2] == ("run", "deploy")
    }
    assert set(deploys) == {f"drgero-{name}" for name in
                            ("push", "status", "consolidation", "runs", "worker", "inference",
                             "jobs", "api")}  # fmt: skip
    for name in ("worker", "jobs"):
        args = deploys[f"drgero-{name}"]
        assert "--ingress=internal" in args and "--no-allow-unauthenticated" in args
    for name in ("push", "status", "consolidation", "runs", "inference", "api"):
        args = deploys[f"drgero-{name}"]
        assert "--ingress=internal-and-cloud-load-balancing" in args
        assert "--allow-unauthenticated" in args
    assert "--min-instances=1" in deploys["drgero-inference"]
    assert "--no-cpu-throttling" in deploys["drgero-inference"]
    assert all(any(a.startswith("--max-instances=") for a in args) for args in deploys.values())
    invokers = [
        call.args for call in report.calls if "add-iam-policy-binding" in call.args
        and "roles/run.invoker" in " ".join(call.args)
    ]  # fmt: skip
    assert sorted(args[3] for args in invokers) == ["drgero-jobs", "drgero-worker"]


def test_no_secret_value_on_a_command_line(replayed):
    report = replayed.get("report")
    if report is None:
        pytest.skip("the deploy check did not run")
    secrets = [call for call in report.calls if call.stdin]
    assert len(secrets) == 1 and secrets[0].args[:2] == ("secrets", "create")
    assert "--data-file=-" in secrets[0].args
    value = secrets[0].stdin.decode()
    assert len(value) == 44  # a Fernet key, generated
    assert not [call for call in report.calls if value in " ".join(call.args)]


def test_the_check_fails_on_a_flag_gcloud_does_not_know():
    if gcloud_check.find_gcloud() is None:
        pytest.skip("gcloud is not installed")
    typo = ["run", "deploy", "drgero-push", "--region=europe-west1", "--ingres=internal"]
    verdicts = gcloud_check.check([[*typo, "--project=p", "--quiet"]])
    assert not verdicts[0].accepted and "unrecognized arguments" in verdicts[0].message


def test_the_plan_for_an_empty_project_prints_every_action_and_touches_nothing():
    done = subprocess.run(
        [*PLAN, "--project=acme-prod-1", "--region=europe-west1", "--domain=api.example.com"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("# ") and "empty project" in lines[0]
    actions = [line for line in lines if not line.startswith("#")]
    assert len(actions) > 80
    # All new, except attaching the Cloud Armor policy to a backend just created.
    updates = [line for line in actions if line.split()[0] != "create"]
    assert updates and all(line.endswith("-throttle)") for line in updates), updates
    assert any("function drgero-worker" in line for line in actions)
    assert any("scheduler job drgero-" in line for line in actions)
    assert lines[-1].startswith("# ") and "to change" in lines[-1]


def test_bad_input_is_refused_with_the_field_named():
    done = subprocess.run(
        [*PLAN, "--project=Bad_Project", "--region=europe-west1", "--domain=api.example.com"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "PROJECT" in done.stderr
