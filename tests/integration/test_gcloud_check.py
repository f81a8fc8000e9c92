"""The gcloud replay (infra/deploy/gcloud_check.py) against the real gcloud installed here:
what it accepts and refuses, that the in-process replay agrees with a real ``gcloud`` process,
that nothing of the machine's identity, stdin or network reaches it, and that it is fast."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infra.deploy.gcloud_check import check, check_subprocess

pytestmark = pytest.mark.skipif(
    shutil.which("gcloud") is None, reason="gcloud (Google Cloud SDK) is not installed"
)

ROOT = Path(__file__).resolve().parents[2]
NO_ACCOUNT = "You do not currently have an active account selected."
P = "--project=p"

RUN_DEPLOY = [
    "run",
    "deploy",
    "drgero-push",
    "--source=.",
    "--function=push",
    "--base-image=python312",
    "--region=europe-west1",
    P,
    "--no-cpu-throttling",
]
URL_MAP_IMPORT = [
    "compute",
    "url-maps",
    "import",
    "drgero-lb",
    "--source=url-map.yaml",
    "--global",
    P,
    "--quiet",
]
SCHEDULER_CREATE = [
    "scheduler",
    "jobs",
    "create",
    "http",
    "drgero-watchdog",
    "--location=europe-west1",
    "--schedule=*/5 * * * *",
    "--uri=https://drgero-jobs-1.europe-west1.run.app/internal/jobs/watchdog",
    "--oidc-service-account-email=drgero-scheduler@p.iam.gserviceaccount.com",
    "--oidc-token-audience=https://drgero-jobs-1.europe-west1.run.app",
    "--attempt-deadline=600s",
    P,
]
GOOD = [
    RUN_DEPLOY,
    URL_MAP_IMPORT,
    SCHEDULER_CREATE,
    [
        *RUN_DEPLOY[:4],
        "--env-vars-file=env.yaml",
        "--ingress=internal",
        "--max-instances=3",
        "--region=europe-west1",
        P,
    ],
    [
        "tasks",
        "queues",
        "create",
        "drgero-runs",
        "--location=europe-west1",
        "--max-concurrent-dispatches=4",
        P,
    ],
    ["secrets", "versions", "add", "drgero-secrets-key", "--data-file=-", P],
    [
        "firestore",
        "fields",
        "ttls",
        "update",
        "expires_at",
        "--collection-group=_writebehind",
        "--enable-ttl",
        P,
    ],
    [
        "run",
        "services",
        "add-iam-policy-binding",
        "drgero-worker",
        "--region=europe-west1",
        "--member=serviceAccount:drgero-tasks@p.iam.gserviceaccount.com",
        "--role=roles/run.invoker",
        P,
    ],
]
UNKNOWN_FLAG = [
    "scheduler",
    "jobs",
    "update",
    "http",
    "drgero-watchdog",
    "--location=europe-west1",
    "--headers=X=1",
    P,
]
INVALID_CHOICE = [
    "run",
    "deploy",
    "drgero-push",
    "--source=.",
    "--ingress=everywhere",
    "--region=europe-west1",
    P,
]
MISSING_POSITIONAL = ["iam", "service-accounts", "create", P]
MALFORMED_VALUE = [
    "run",
    "deploy",
    "drgero-push",
    "--source=.",
    "--max-instances=abc",
    "--region=europe-west1",
    P,
]
MISSING_FILE = [
    "run",
    "deploy",
    "drgero-push",
    "--source=.",
    "--env-vars-file=absent.yaml",
    "--region=europe-west1",
    P,
]
BOTH_TOKENS = [
    *SCHEDULER_CREATE[:-3],
    "--oauth-service-account-email=drgero-scheduler@p.iam.gserviceaccount.com",
    P,
]
BAD = [UNKNOWN_FLAG, INVALID_CHOICE, MISSING_POSITIONAL, MALFORMED_VALUE, MISSING_FILE, BOTH_TOKENS]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the commands reference, as the deploy writes them before it runs gcloud."""
    path = tmp_path_factory.mktemp("deploy")
    (path / "env.yaml").write_text('DRGERO_PROJECT: "p"\n')
    (path / "url-map.yaml").write_text(
        "name: drgero-lb\ndefaultService: global/backendServices/x\n"
    )
    (path / "main.py").write_text("")
    return path


def test_accepts_valid_deploy_commands(workdir: Path) -> None:
    verdicts = check(GOOD, cwd=workdir)

    assert [v.command for v in verdicts] == [tuple(c) for c in GOOD]
    for verdict in verdicts:
        assert verdict.accepted, verdict.line()
        assert verdict.outcome == "accepted"
        assert verdict.error_type == "NoActiveAccountException"
        assert verdict.message.endswith(NO_ACCOUNT)


def test_rejects_what_gcloud_refuses_with_its_message(workdir: Path) -> None:
    verdicts = check(BAD, cwd=workdir)
    unknown, choice, positional, malformed, missing, both = verdicts

    assert not any(v.accepted for v in verdicts)
    assert {v.outcome for v in verdicts} == {"rejected"}
    assert unknown.message.startswith(
        "ERROR: (gcloud.scheduler.jobs.update.http) unrecognized arguments: --headers=X=1"
    )
    assert (unknown.exit_code, choice.exit_code, positional.exit_code) == (2, 2, 2)
    assert choice.message == (
        "ERROR: (gcloud.run.deploy) argument --ingress: Invalid choice: 'everywhere'."
    )
    assert "[all, internal, internal-and-cloud-load-balancing]" in choice.output
    assert positional.message == (
        "ERROR: (gcloud.iam.service-accounts.create) argument NAME: Must be specified."
    )
    assert "abc is not an integer" in malformed.message
    assert (malformed.exit_code, malformed.error_type) == (1, "ArgumentError")
    assert "absent.yaml" in missing.message
    assert "At most one of [--oauth-service-account-email" in both.message


def test_in_process_replay_agrees_with_a_real_gcloud_process(workdir: Path) -> None:
    sample = [RUN_DEPLOY, URL_MAP_IMPORT, UNKNOWN_FLAG, INVALID_CHOICE, MALFORMED_VALUE]

    replayed = check(sample, cwd=workdir)
    # One real gcloud process per command (~2 s of CPU each, mostly start-up), one per core at
    # a time; the generous timeout is for a loaded machine, where each start-up takes longer.
    with ThreadPoolExecutor(max_workers=min(len(sample), os.cpu_count() or 1)) as pool:
        started = [pool.submit(check_subprocess, [c], cwd=workdir, timeout=120) for c in sample]
        real = [verdict for future in started for verdict in future.result()]

    assert [(v.accepted, v.outcome, v.message) for v in replayed] == [
        (v.accepted, v.outcome, v.message) for v in real
    ]
    assert [v.accepted for v in real] == [True, True, False, False, False]


def test_machine_identity_does_not_leak_in(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The machine's own gcloud set-up, as a developer's or a CI runner's environment has it.
    key_file = tmp_path / "adc.json"
    key_file.write_text(
        json.dumps({"type": "authorized_user", "client_id": "c", "refresh_token": "r"})
    )
    monkeypatch.setenv("CLOUDSDK_CORE_ACCOUNT", "ops@example.com")
    monkeypatch.setenv("CLOUDSDK_CORE_PROJECT", "the-real-project")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))

    settings, deploy, stdin = check(
        [
            ["config", "list", "--format=json"],
            RUN_DEPLOY,
            ["config", "list", "--flags-file=/dev/stdin"],  # reads our stdin: it must be empty
        ],
        cwd=workdir,
    )

    assert settings.outcome == "ran"
    properties = json.loads(settings.output)
    assert "account" not in properties["core"]
    assert "project" not in properties["core"]
    assert properties["core"]["disable_prompts"] == "1"
    assert deploy.message.endswith(NO_ACCOUNT)
    assert stdin.message == "ERROR: (gcloud) --flags-file [/dev/stdin] is empty."
    assert list(tmp_path.iterdir()) == [key_file]  # nothing written to the machine's config


def test_a_command_that_goes_online_is_stopped_and_reported(workdir: Path, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("ya29.not-a-real-token\n")  # so gcloud calls the API

    online, after = check(
        [["projects", "describe", "p", f"--access-token-file={tmp_path / 'token'}"], RUN_DEPLOY],
        cwd=workdir,
    )

    assert (online.accepted, online.outcome) == (False, "network")
    assert "resolve 'cloudresourcemanager.googleapis.com'" in online.message
    assert after.accepted and after.message.endswith(NO_ACCOUNT)


def test_a_command_that_hangs_is_timed_out_and_the_replay_goes_on(tmp_path: Path) -> None:
    fifo = tmp_path / "flags.fifo"
    os.mkfifo(fifo)  # opening it blocks until a writer comes: none will

    hung, after = check(
        [["config", "list", f"--flags-file={fifo}"], ["config", "list", "--format=json"]],
        timeout=3,
    )

    assert (hung.accepted, hung.outcome, hung.exit_code) == (False, "timeout", None)
    assert hung.message == "gcloud did not finish within 3 s (the gcloud_check timeout)"
    assert (after.accepted, after.outcome) == (True, "ran")


def test_a_deploys_worth_of_commands_is_fast(workdir: Path) -> None:
    commands = [(GOOD + BAD)[i % len(GOOD + BAD)] for i in range(150)]

    started = time.monotonic()
    verdicts = check(commands, cwd=workdir)
    elapsed = time.monotonic() - started

    assert [v.command for v in verdicts] == [tuple(c) for c in commands]
    assert [v.accepted for v in verdicts] == [c in GOOD for c in commands]
    # One gcloud process per command takes ~2.2 s each here (~330 s); the replay ~5 s.
    assert elapsed < 60, f"150 commands took {elapsed:.1f} s"


def test_command_line(workdir: Path, tmp_path: Path) -> None:
    commands_file = tmp_path / "commands.json"
    commands_file.write_text(json.dumps([RUN_DEPLOY, INVALID_CHOICE]))
    argv = [sys.executable, "-m", "infra.deploy.gcloud_check", str(commands_file)]

    done = subprocess.run(
        [*argv, "--cwd", str(workdir)], capture_output=True, text=True, cwd=ROOT, check=False
    )

    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ok      gcloud run deploy drgero-push --source=.")
    assert lines[1].startswith("REJECTED gcloud run deploy drgero-push")
    assert lines[2].strip().startswith("ERROR: (gcloud.run.deploy) argument --ingress")
    assert "2 commands, 1 not accepted" in done.stderr
