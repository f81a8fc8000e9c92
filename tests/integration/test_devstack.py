"""The local-stack tooling itself: emulators, dispatcher, scheduler, pidfile.

These tests start their own emulators (real subprocesses on free ports) and talk to them with
the real Google clients, so they fail when an emulator, a flag or a client upgrade breaks the
stack that every other integration test stands on.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import google.cloud.storage as storage
import grpc
import httpx
import pytest
from google.api_core.exceptions import PreconditionFailed
from google.auth import jwt as google_jwt
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore, tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport
from werkzeug.wrappers import Request, Response

from devstack import run as devstack_run
from devstack.dispatcher import Dispatcher, build_app, serve
from devstack.emulators import Emulators, StackConfig
from devstack.identity import LOCAL_SCHEDULER_ACCOUNT, LOCAL_TASKS_ACCOUNT
from devstack.pidfile import StackAlreadyRunning, end_stale_processes, write_pidfile
from devstack.ports import free_port, port_is_free
from devstack.processes import group_members, process_start_time
from devstack.scheduler import (
    DEFAULT_JOBS_FILE,
    Scheduler,
    SchedulerConfigError,
    load_jobs,
    next_fire_time,
)
from shared.providers.google_identity import IdTokenSource
from shared.settings import Settings
from shared.tasks.messages import Consolidate
from shared.tasks.queue import TaskQueue
from shared.web.routes import DEFAULT_FUNCTION, function_for_path, targets
from simulator.server import Simulator

PROJECT = "drgero-local"


@pytest.fixture(scope="module")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    config = StackConfig(log_dir=tmp_path_factory.mktemp("devstack-logs"), tasks_max_retries=5)
    with Emulators(config) as running:
        yield running


def firestore_client(stack: Emulators) -> firestore.Client:
    # The emulator host is passed by environment only, as the client reads it; restore after.
    with _env(FIRESTORE_EMULATOR_HOST=stack.env()["FIRESTORE_EMULATOR_HOST"]):
        return firestore.Client(project=PROJECT)


def storage_client(stack: Emulators) -> storage.Client:
    return storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": stack.env()["STORAGE_EMULATOR_HOST"]},
    )


def tasks_client(stack: Emulators) -> tasks_v2.CloudTasksClient:
    channel = grpc.insecure_channel(stack.env()["CLOUD_TASKS_EMULATOR_HOST"])
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


class _env:
    def __init__(self, **values: str) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for name, value in self.values.items():
            self.saved[name] = os.environ.get(name)
            os.environ[name] = value

    def __exit__(self, *exc: object) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Recorder:
    """A local HTTP server that records requests and answers with the next scripted status."""

    statuses: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self.arrived:
            status = self.statuses.pop(0) if self.statuses else 200
            self.requests.append(
                {"path": request.path, "headers": dict(request.headers), "body": request.get_data()}
            )
            self.arrived.notify_all()
        return Response("recorded", status=status)(environ, start_response)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    app = Recorder()
    server, _ = serve(app, port=0)
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


# -- emulators ------------------------------------------------------------------------------------


def test_emulators_listen_on_distinct_ports_and_describe_themselves(emulators: Emulators) -> None:
    env = emulators.env()
    ports = {emulators.firestore_port, emulators.storage_port, emulators.tasks_port}
    assert len(ports) == 3 and 0 not in ports
    assert env["FIRESTORE_EMULATOR_HOST"] == f"127.0.0.1:{emulators.firestore_port}"
    assert env["STORAGE_EMULATOR_HOST"] == f"http://127.0.0.1:{emulators.storage_port}"
    assert env["CLOUD_TASKS_EMULATOR_HOST"] == f"127.0.0.1:{emulators.tasks_port}"
    assert env["GOOGLE_CLOUD_PROJECT"] == env["DRGERO_PROJECT_ID"] == PROJECT
    assert env["DRGERO_TASKS_QUEUE"] == "projects/drgero-local/locations/local/queues/drgero"
    assert not any(port_is_free(port) for port in ports)


def test_firestore_write_then_read(emulators: Emulators) -> None:
    client = firestore_client(emulators)
    ref = client.collection(f"devstack-{uuid.uuid4().hex}").document("doc")
    ref.set({"n": 1, "at": datetime.now(UTC)})
    ref.update({"n": firestore.Increment(2)})
    assert (ref.get().to_dict() or {}).get("n") == 3


def test_reset_firestore_deletes_every_document(emulators: Emulators) -> None:
    client = firestore_client(emulators)
    ref = client.collection(f"devstack-{uuid.uuid4().hex}").document("doc")
    ref.set({"n": 1})
    emulators.reset_firestore()
    assert not ref.get().exists


def test_storage_bucket_exists_and_generation_zero_means_first_writer_wins(
    emulators: Emulators,
) -> None:
    bucket = storage_client(emulators).bucket(emulators.config.bucket)
    assert bucket.exists()
    name = f"devstack/{uuid.uuid4().hex}.jsonl"
    bucket.blob(name).upload_from_string(b'{"a": 1}\n', if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        bucket.blob(name).upload_from_string(b'{"a": 2}\n', if_generation_match=0)
    assert bucket.blob(name).download_as_bytes() == b'{"a": 1}\n'


def test_cloud_task_is_posted_to_its_url(
    emulators: Emulators, recorder: tuple[Recorder, str]
) -> None:
    app, base = recorder
    queue = emulators.config.queue
    task_id = f"devstack-{uuid.uuid4().hex}"
    tasks_client(emulators).create_task(
        parent=queue,
        task=tasks_v2.Task(
            name=f"{queue}/tasks/{task_id}",
            http_request=tasks_v2.HttpRequest(
                url=f"{base}/internal/tasks/consolidate",
                http_method=tasks_v2.HttpMethod.POST,
                headers={"Content-Type": "application/json", "Authorization": "Bearer t"},
                body=json.dumps({"leaderboard_id": "lb1"}).encode(),
            ),
        ),
    )
    [delivered] = app.wait_for(1)
    assert delivered["path"] == "/internal/tasks/consolidate"
    assert json.loads(delivered["body"]) == {"leaderboard_id": "lb1"}
    headers = delivered["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer t"  # what the local ID tokens travel in
    assert headers["X-Cloudtasks-Taskname"] == task_id
    assert (
        headers["X-Cloudtasks-Queuename"] == queue
    )  # the full path; Cloud Tasks sends the short id
    assert headers["X-Cloudtasks-Taskretrycount"] == "0"


def test_tasks_emulator_retries_a_5xx_answer(
    emulators: Emulators, recorder: tuple[Recorder, str]
) -> None:
    app, base = recorder
    app.statuses = [503, 500]
    tasks_client(emulators).create_task(
        parent=emulators.config.queue,
        task=tasks_v2.Task(http_request=tasks_v2.HttpRequest(url=f"{base}/retry", body=b"{}")),
    )
    deliveries = app.wait_for(3)
    assert [d["headers"]["X-Cloudtasks-Taskretrycount"] for d in deliveries[:3]] == ["0", "1", "2"]
    time.sleep(0.5)
    assert len(app.requests) == 3  # the 200 ended it


def test_tasks_emulator_does_not_reject_a_duplicate_task_name(
    emulators: Emulators, recorder: tuple[Recorder, str]
) -> None:
    """Cloud Tasks answers ALREADY_EXISTS here; the emulator accepts and delivers both.

    Code that relies on named tasks for de-duplication is therefore not exercised locally:
    handlers must be idempotent. If this starts failing, the emulator learnt de-duplication.
    """
    app, base = recorder
    queue = emulators.config.queue
    name = f"{queue}/tasks/devstack-dup-{uuid.uuid4().hex}"
    client = tasks_client(emulators)
    task = tasks_v2.Task(
        name=name, http_request=tasks_v2.HttpRequest(url=f"{base}/dup", body=b"{}")
    )
    client.create_task(parent=queue, task=task)
    app.wait_for(1)
    client.create_task(parent=queue, task=task)  # after the first was dispatched
    assert len(app.wait_for(2)) == 2


def test_stop_saves_data_and_leaves_no_process_behind(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path / "data", log_dir=tmp_path / "logs")
    stack = Emulators(config).start()
    groups = stack.process_groups()
    ports = [stack.firestore_port, stack.storage_port, stack.tasks_port]
    try:
        assert all(group_members(pgid) for pgid in groups.values())
        firestore_client(stack).collection("kept").document("doc").set({"n": 7})
        storage_client(stack).bucket(config.bucket).blob("kept.txt").upload_from_string(b"kept")
    finally:
        stack.stop()
    assert {name: group_members(pgid) for name, pgid in groups.items()} == {
        "firestore": [],
        "storage": [],
        "tasks": [],
    }
    assert all(port_is_free(port) for port in ports)

    with Emulators(config) as restarted:
        assert firestore_client(restarted).collection("kept").document("doc").get().to_dict() == {
            "n": 7
        }
        blob = storage_client(restarted).bucket(config.bucket).blob("kept.txt")
        assert blob.download_as_bytes() == b"kept"


def test_a_taken_port_is_refused_with_the_emulator_named(tmp_path: Path) -> None:
    server, _ = serve(Recorder(), port=0)
    try:
        config = StackConfig(storage_port=server.server_port, log_dir=tmp_path)
        with pytest.raises(RuntimeError, match=f"storage emulator: port {server.server_port}"):
            Emulators(config).start()
    finally:
        server.shutdown()


# -- dispatcher -----------------------------------------------------------------------------------

FAKE_MAIN = """
import flask
import functions_framework


def _entry_point(target):
    def handler(request):
        return flask.jsonify(function=target, path=request.path)

    handler.__name__ = target
    return functions_framework.http(handler)


""" + "".join(f'{target} = _entry_point("{target}")\n' for target in targets())


@pytest.fixture(scope="module")
def dispatcher_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Not named main.py: create_app registers the source as a module under its file name.
    source = tmp_path_factory.mktemp("fake-functions") / "devstack_fake_main.py"
    source.write_text(FAKE_MAIN)
    server, _ = serve(build_app(source), port=0)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/leaderboard/lb1/dataset/push",
        "/v1/leaderboard/lb1/dataset/status",
        "/v1/leaderboard/lb1/dataset/consolidate",
        "/internal/tasks/consolidate",
        "/internal/jobs/consolidate-due",
        "/v1/leaderboards",
        "/v1/leaderboard/lb1/runs",
        "/v1/leaderboard/lb1/ranking",
        "/internal/tasks/prepare-run",
        "/internal/tasks/evaluate-shard",
    ],
)
def test_dispatcher_hands_each_path_to_its_function(dispatcher_url: str, path: str) -> None:
    response = httpx.post(dispatcher_url + path)
    assert response.status_code == 200
    assert response.json() == {"function": function_for_path(path), "path": path}


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/", "/nowhere", "/internal/nothing/here", "/v2/x"]
)
def test_dispatcher_sends_what_no_route_matches_to_the_default_function(
    dispatcher_url: str, path: str
) -> None:
    """As the load balancer's URL map sends it to its default service; the real api answers
    health there, and a JSON 404 for the rest (tests/api/test_health.py)."""
    response = httpx.get(dispatcher_url + path)
    assert response.status_code == 200
    assert response.json() == {"function": DEFAULT_FUNCTION, "path": path}


def test_dispatcher_without_the_default_function_answers_a_json_404() -> None:
    server, _ = serve(Dispatcher({}), port=0)
    try:
        response = httpx.get(f"http://127.0.0.1:{server.server_port}/nowhere")
    finally:
        server.shutdown()
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "no endpoint at GET /nowhere"}
    }


# -- scheduler ------------------------------------------------------------------------------------


def test_declared_jobs_are_valid_and_served_by_the_jobs_function() -> None:
    jobs = load_jobs(DEFAULT_JOBS_FILE)
    assert "consolidate-due" in {job.name for job in jobs}
    for job in jobs:
        assert function_for_path(job.path) == "jobs", job


def test_next_fire_time_is_the_next_cron_slot_in_utc() -> None:
    [job] = [job for job in load_jobs(DEFAULT_JOBS_FILE) if job.name == "consolidate-due"]
    after = datetime(2026, 1, 1, 10, 7, 30, tzinfo=UTC)
    assert next_fire_time(job, after) == datetime(2026, 1, 1, 10, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def token_stand_in() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


def _scheduler(base: str, simulator: Simulator, jobs_file: Path = DEFAULT_JOBS_FILE) -> Scheduler:
    tokens = IdTokenSource(url=simulator.env()["DRGERO_DEV_ID_TOKEN_URL"])
    return Scheduler(base, jobs_file, id_tokens=tokens, service_account=LOCAL_SCHEDULER_ACCOUNT)


def _verified(headers: dict[str, str], simulator: Simulator) -> dict[str, Any]:
    scheme, _, token = headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return dict(google_jwt.decode(token, certs=simulator.identity.certs()))


def test_fire_sends_an_id_token_and_the_job_name(
    recorder: tuple[Recorder, str], token_stand_in: Simulator
) -> None:
    app, base = recorder
    scheduler = _scheduler(base, token_stand_in)
    try:
        assert scheduler.fire("consolidate-due").status_code == 200
    finally:
        scheduler.stop()
    [request] = app.requests
    assert request["path"] == "/internal/jobs/consolidate-due"
    assert request["headers"]["X-Cloudscheduler-Jobname"] == "consolidate-due"
    assert request["headers"]["User-Agent"] == "Google-Cloud-Scheduler"
    claims = _verified(request["headers"], token_stand_in)
    assert (claims["aud"], claims["email"]) == (base, LOCAL_SCHEDULER_ACCOUNT)
    assert not any(name.lower().startswith("x-drgero") for name in request["headers"])


def test_fire_calls_each_function_at_its_own_url(
    recorder: tuple[Recorder, str], token_stand_in: Simulator
) -> None:
    # A base URL naming the function (production: https://drgero-{function}-...run.app): the
    # job goes to, and its token is for, the jobs function's own URL.
    app, base = recorder
    scheduler = _scheduler(base + "/fn-{function}", token_stand_in)
    try:
        scheduler.fire("runs-watchdog")
    finally:
        scheduler.stop()
    [request] = app.requests
    assert request["path"] == "/fn-jobs/internal/jobs/runs-watchdog"
    assert _verified(request["headers"], token_stand_in)["aud"] == base + "/fn-jobs"


def test_a_job_no_internal_function_serves_is_refused(tmp_path: Path) -> None:
    jobs_file = tmp_path / "jobs.yaml"
    jobs_file.write_text("jobs:\n  - {name: oops, schedule: '* * * * *', path: /v1/workspace}\n")
    with pytest.raises(SchedulerConfigError, match="no internal function serves"):
        load_jobs(jobs_file)


def test_scheduler_thread_fires_due_jobs(
    tmp_path: Path, recorder: tuple[Recorder, str], token_stand_in: Simulator
) -> None:
    app, base = recorder
    jobs_file = tmp_path / "jobs.yaml"
    # A sixth cron field is seconds (croniter's extension): this job is due every second.
    jobs_file.write_text(
        "jobs:\n  - {name: tick, schedule: '* * * * * *', path: /internal/jobs/tick}\n"
    )
    scheduler = _scheduler(base, token_stand_in, jobs_file).start()
    try:
        assert len(app.wait_for(2, timeout=10.0)) >= 2
    finally:
        scheduler.stop()


def test_the_task_queue_sends_a_local_id_token_for_the_serving_function(
    emulators: Emulators, recorder: tuple[Recorder, str], token_stand_in: Simulator
) -> None:
    app, base = recorder
    settings = Settings(
        tasks_queue=emulators.config.queue,
        internal_base_url=base + "/fn-{function}",
        dev_id_token_url=token_stand_in.env()["DRGERO_DEV_ID_TOKEN_URL"],
        tasks_service_account=LOCAL_TASKS_ACCOUNT,
    )
    queue = TaskQueue(lambda: tasks_client(emulators), settings)
    assert queue.enqueue(Consolidate(leaderboard_id="lb9"))
    [delivered] = app.wait_for(1)
    assert delivered["path"] == "/fn-worker/internal/tasks/consolidate"
    claims = _verified(delivered["headers"], token_stand_in)
    assert (claims["aud"], claims["email"], claims["email_verified"]) == (
        base + "/fn-worker",
        LOCAL_TASKS_ACCOUNT,
        True,
    )
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["exp"] - claims["iat"] == 3600


# -- pidfile and ports ----------------------------------------------------------------------------


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )


def test_stale_process_groups_are_ended(tmp_path: Path) -> None:
    crashed_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    crashed_owner.wait()
    left_behind = _sleeper()
    pidfile = tmp_path / "stack.pid"
    try:
        pidfile.write_text(
            json.dumps(
                {
                    "owner": {"pid": crashed_owner.pid, "start_time": 1},
                    "groups": [
                        {
                            "name": "firestore",
                            "pgid": left_behind.pid,
                            "start_time": process_start_time(left_behind.pid),
                        }
                    ],
                }
            )
        )
        assert end_stale_processes(pidfile) == ["firestore"]
        assert left_behind.wait(timeout=10) == -signal.SIGTERM
        assert not pidfile.exists()
    finally:
        left_behind.kill()
        left_behind.wait()


def test_a_live_owner_is_not_disturbed(tmp_path: Path) -> None:
    owner = _sleeper()
    pidfile = tmp_path / "stack.pid"
    try:
        write_pidfile(pidfile, {"tasks": owner.pid})
        record = json.loads(pidfile.read_text())
        record["owner"] = {"pid": owner.pid, "start_time": process_start_time(owner.pid)}
        pidfile.write_text(json.dumps(record))
        with pytest.raises(StackAlreadyRunning, match=str(owner.pid)):
            end_stale_processes(pidfile)
        assert owner.poll() is None
    finally:
        owner.kill()
        owner.wait()


def test_port_is_free_sees_a_listener() -> None:
    port = free_port()
    assert port_is_free(port)
    server, _ = serve(Recorder(), port=port)
    try:
        assert not port_is_free(port)
    finally:
        server.shutdown()


class _Warming(http.server.BaseHTTPRequestHandler):
    """A stack that is still starting: 503 for its first answers, then what ``final`` says."""

    unavailable = 2
    final = 200
    seen = 0

    def do_GET(self) -> None:
        type(self).seen += 1
        status = 503 if type(self).seen <= type(self).unavailable else type(self).final
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("final", "works"), [(200, True), (401, False)])
def test_a_restarted_stack_keeps_its_token_unless_it_refuses_it(final: int, works: bool) -> None:
    handler = type("Warming", (_Warming,), {"final": final, "seen": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base_url = f"http://127.0.0.1:{server.server_port}"
        assert devstack_run._token_works(base_url, "drgero_saved", within=20) is works
        assert handler.seen == 3  # two "not yet" answers, then the one that decides
    finally:
        server.shutdown()
        server.server_close()


def test_a_stack_that_never_answers_gets_a_new_token() -> None:
    handler = type("Down", (_Warming,), {"unavailable": 10**6, "seen": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base_url = f"http://127.0.0.1:{server.server_port}"
        assert devstack_run._token_works(base_url, "drgero_saved", within=1.5) is False
    finally:
        server.shutdown()
        server.server_close()
