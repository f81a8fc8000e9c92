"""The local stack, as ``make dev`` runs it: ``python -m devstack.run [--reset]``.

Starts the emulators (data kept in ``.dev/data``), serves every function behind one base URL
from this process, runs the scheduler, makes sure a workspace and admin token exist, writes the
sourceable ``.dev.env`` and waits for Ctrl-C. Stopping saves Firestore's data first.

Environment (all optional): ``DRGERO_DEV_PORT`` (8080), ``DRGERO_FIRESTORE_PORT`` (8681),
``DRGERO_STORAGE_PORT`` (4443), ``DRGERO_TASKS_PORT`` (8123), ``DRGERO_SIMULATOR_PORT`` (8090)
— 0 picks a free port —;
``DRGERO_DEV_DIR`` (``<repo>/.dev``) and ``DRGERO_DEV_ENV_FILE`` (``<repo>/.dev.env``), so a
test can run a second stack without touching the developer's.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Protocol

import httpx
from cryptography.fernet import Fernet

from devstack.emulators import REPO_ROOT, EmulatorError, Emulators, StackConfig
from devstack.identity import LOCAL_SCHEDULER_ACCOUNT, invoker_env
from devstack.pidfile import StackAlreadyRunning, end_stale_processes, write_pidfile
from devstack.ports import LOOPBACK, LOOPBACK_EGRESS_CIDRS, port_is_free
from devstack.scheduler import Scheduler
from shared.providers.google_identity import IdTokenSource
from simulator.server import Simulator

logger = logging.getLogger("devstack")

FIRESTORE_SAVE_INTERVAL_SECONDS = 120.0
PORT_VARIABLES = {  # env var -> (default port, what listens there)
    "DRGERO_DEV_PORT": (8080, "API (the function dispatcher)"),
    "DRGERO_FIRESTORE_PORT": (8681, "Firestore emulator"),
    "DRGERO_STORAGE_PORT": (4443, "Cloud Storage emulator"),
    "DRGERO_TASKS_PORT": (8123, "Cloud Tasks emulator"),
}


class DevStackError(RuntimeError):
    """The stack cannot start; the message says why and what to do."""


class Service(Protocol):
    """A process the stack runs besides the emulators (its env is exported to the functions)."""

    name: str

    def start(self) -> dict[str, str]: ...  # environment for the functions, e.g. a base URL
    def stop(self) -> None: ...
    def process_groups(self) -> dict[str, int]: ...  # recorded in the pidfile


def extra_services() -> list[Service]:
    """Services started after the emulators and before the functions.

    The simulator always serves the ID tokens of internal calls (the Cloud Tasks emulator mints
    none); it stands in for OpenRouter and the Hugging Face Hub too unless an
    ``OPENROUTER_API_KEY`` is set (then the functions talk to the real services).
    """
    return [SimulatorService(models=not os.environ.get("OPENROUTER_API_KEY"))]


class SimulatorService:
    """The simulator (``simulator/``), served from a thread of this process: the token stand-in
    of internal calls and, with ``models``, the model providers.

    Port from ``DRGERO_SIMULATOR_PORT`` (8090; 0 picks a free one); dataset files for GET
    leaderboards live in ``<dev dir>/data/hf`` (Hub layout: ``owner/name/path``).
    """

    name = "model simulator"

    def __init__(self, *, models: bool = True) -> None:
        self.models = models
        raw = os.environ.get("DRGERO_SIMULATOR_PORT", "8090")
        if not raw.isdigit() or int(raw) >= 65536:
            raise DevStackError(f"DRGERO_SIMULATOR_PORT={raw!r} is not a port number")
        port = int(raw)
        if port and not port_is_free(port):
            raise DevStackError(
                f"port {port} (model simulator) is already in use; choose another: "
                f"DRGERO_SIMULATOR_PORT=<port> make dev"
            )
        self.simulator = Simulator(port=port, hf_root=DevPaths.from_env().data / "hf")

    def start(self) -> dict[str, str]:
        self.simulator.start()
        logger.info("model simulator on %s", self.simulator.base_url)
        return self.simulator.env(models=self.models)

    def stop(self) -> None:
        self.simulator.stop()

    def process_groups(self) -> dict[str, int]:
        return {}  # a thread of this process, nothing to record


@dataclass(frozen=True)
class DevPaths:
    dev_dir: Path
    env_file: Path

    @property
    def data(self) -> Path:
        return self.dev_dir / "data"

    @property
    def logs(self) -> Path:
        return self.dev_dir / "logs"

    @property
    def pidfile(self) -> Path:
        return self.dev_dir / "stack.pid"

    @property
    def secrets_key(self) -> Path:
        return self.dev_dir / "secrets_key"

    @classmethod
    def from_env(cls) -> DevPaths:
        return cls(
            dev_dir=Path(os.environ.get("DRGERO_DEV_DIR", REPO_ROOT / ".dev")).resolve(),
            env_file=Path(os.environ.get("DRGERO_DEV_ENV_FILE", REPO_ROOT / ".dev.env")).resolve(),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--reset", action="store_true", help="wipe the persisted emulator data first"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)

    stopping = threading.Event()
    _install_signal_handlers(stopping)
    try:
        run(DevPaths.from_env(), reset=args.reset, stopping=stopping)
    except (DevStackError, EmulatorError, StackAlreadyRunning) as error:
        print(f"\nmake dev: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass  # Ctrl-C during start-up; run() has cleaned up
    return 0


def run(paths: DevPaths, *, reset: bool, stopping: threading.Event) -> None:
    """Start everything, wait until ``stopping`` is set, stop everything (in reverse order)."""
    if reset:
        shutil.rmtree(paths.data, ignore_errors=True)
        print(f"Wiped {paths.data}")
    ended = end_stale_processes(paths.pidfile)
    if ended:
        print(f"Ended processes left by a previous run: {', '.join(ended)}")
    ports = {name: _port_from_env(name) for name in PORT_VARIABLES}
    _check_ports_free(ports)

    emulators = Emulators(
        StackConfig(
            firestore_port=ports["DRGERO_FIRESTORE_PORT"],
            storage_port=ports["DRGERO_STORAGE_PORT"],
            tasks_port=ports["DRGERO_TASKS_PORT"],
            data_dir=paths.data,
            log_dir=paths.logs,
        )
    )
    services: list[Service] = []
    server = scheduler = None
    try:
        started = time.monotonic()
        emulators.spawn()
        write_pidfile(paths.pidfile, emulators.process_groups())
        print("Starting emulators (Firestore takes a few seconds)...", flush=True)
        emulators.wait_ready()
        print(f"Emulators ready in {time.monotonic() - started:.1f}s", flush=True)
        os.environ.update(emulators.env())
        os.environ["DRGERO_EGRESS_ALLOW_CIDRS"] = LOOPBACK_EGRESS_CIDRS  # the simulator
        os.environ.update(invoker_env())  # who may call the private functions
        os.environ["DRGERO_SECRETS_KEY"] = _local_secret(
            paths.secrets_key, lambda: Fernet.generate_key().decode()
        )

        groups = emulators.process_groups()
        service_env: dict[str, str] = {}
        for service in extra_services():
            services.append(service)
            service_env |= service.start()
            os.environ.update(service_env)
            groups.update(service.process_groups())
            write_pidfile(paths.pidfile, groups)

        # Imported only now: the functions read their settings from the environment set above.
        from devstack.dispatcher import DEFAULT_SOURCE, build_app, serve

        if not DEFAULT_SOURCE.exists():
            raise DevStackError(f"{DEFAULT_SOURCE} does not exist yet: nothing to serve")
        app = build_app(DEFAULT_SOURCE)
        server, _ = serve(app, LOOPBACK, ports["DRGERO_DEV_PORT"])
        base_url = f"http://{LOOPBACK}:{server.server_port}"
        os.environ["DRGERO_INTERNAL_BASE_URL"] = base_url
        os.environ["DRGERO_PUBLIC_BASE_URL"] = base_url
        # Loading the functions validated (and cached) the settings before the port was known.
        from shared import bootstrap

        bootstrap.reset()
        scheduler = Scheduler(
            base_url,
            id_tokens=IdTokenSource(url=os.environ["DRGERO_DEV_ID_TOKEN_URL"]),
            service_account=LOCAL_SCHEDULER_ACCOUNT,
        ).start()

        credentials = _workspace_credentials(base_url, paths.env_file)
        local_env = emulators.env() | service_env | invoker_env()
        _write_env_file(paths.env_file, base_url, credentials, local_env)
        _print_banner(base_url, credentials, paths, time.monotonic() - started)

        while not stopping.wait(timeout=FIRESTORE_SAVE_INTERVAL_SECONDS):
            _save_quietly(emulators)
    finally:
        # Further Ctrl-C must not interrupt saving and stopping (a SIGKILL still can; the
        # pidfile then lets the next run clean up).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("\nStopping the local stack...")
        if scheduler is not None:
            scheduler.stop()
        if server is not None:
            server.shutdown()
        for service in reversed(services):
            service.stop()
        emulators.stop()
        paths.pidfile.unlink(missing_ok=True)
        print("Stopped.")


def _install_signal_handlers(stopping: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        # While starting, there is no wait loop to notice the event: interrupt start-up instead.
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def _port_from_env(name: str) -> int:
    default, _ = PORT_VARIABLES[name]
    raw = os.environ.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise DevStackError(f"{name}={raw!r} is not a port number") from None
    if not 0 <= port < 65536:
        raise DevStackError(f"{name}={raw!r} is not a port number")
    return port


def _check_ports_free(ports: dict[str, int]) -> None:
    for name, port in ports.items():
        if port and not port_is_free(port):
            what = PORT_VARIABLES[name][1]
            raise DevStackError(
                f"port {port} ({what}) is already in use. Stop whatever listens there "
                f"(`ss -ltnp | grep :{port}` shows it; another `make dev`?) or choose another "
                f"port: {name}=<port> make dev"
            )


def _local_secret(path: Path, make: Callable[[], str]) -> str:
    """A key of this checkout (the secrets key), generated once and reused."""
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    key = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    return key


def _workspace_credentials(base_url: str, env_file: Path) -> dict[str, str]:
    """The dev workspace's id and admin token: the ones in ``.dev.env`` if still valid, else new."""
    previous = _read_env_file(env_file)
    token = previous.get("DRGERO_TOKEN", "")
    if token and _token_works(base_url, token):
        return {"workspace_id": previous.get("DRGERO_WORKSPACE_ID", ""), "token": token}
    from shared import bootstrap
    from shared.services import accounts

    # The pro plan, as `drgero bootstrap` gives by default: the dev workspace is not capped.
    result = accounts.bootstrap_workspace(bootstrap.deps(), name="dev", plan="pro")
    return {"workspace_id": str(result["workspace_id"]), "token": str(result["token"])}


# How long a restarted stack may take to answer its first request (the emulators reload their
# saved data; a loaded machine is slow): only an answer decides whether the saved token works.
TOKEN_CHECK_SECONDS = 60.0


def _token_works(base_url: str, token: str, *, within: float = TOKEN_CHECK_SECONDS) -> bool:
    """Whether the stack accepts ``token``: True on 200, False on any other answer. A timeout,
    a refused connection or a 5xx is no answer yet: asked again until ``within`` seconds pass
    (then False, and a new token is made)."""
    deadline = time.monotonic() + within
    while True:
        try:
            response = httpx.get(
                f"{base_url}/v1/workspace",
                headers={"Authorization": f"Bearer {token}"},
                timeout=max(1.0, min(10.0, deadline - time.monotonic())),
            )
            if response.status_code < 500:
                return response.status_code == 200
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def _read_env_file(env_file: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not env_file.exists():
        return values
    for line in env_file.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


def _write_env_file(
    env_file: Path, base_url: str, credentials: dict[str, str], emulator_env: dict[str, str]
) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"# Written by `make dev` (devstack/run.py) at {stamp}. Use it with: source .dev.env",
        f"export API_BASE={shlex.quote(base_url)}",
    ]
    lines += [
        f"export DRGERO_TOKEN={shlex.quote(credentials['token'])}",
        f"export DRGERO_WORKSPACE_ID={shlex.quote(credentials['workspace_id'])}",
    ]
    lines.append(
        "# Emulators and the simulator of the local stack (models: OPENROUTER_BASE_URL,"
        " HF_ENDPOINT; ID tokens and invokers of internal calls), for CLI tools and scripts:"
    )
    lines += [f"export {name}={shlex.quote(value)}" for name, value in emulator_env.items()]
    env_file.touch(mode=0o600)
    env_file.write_text("\n".join(lines) + "\n")


def _print_banner(
    base_url: str, credentials: dict[str, str], paths: DevPaths, elapsed: float
) -> None:
    token = credentials["token"]
    print(
        "\n"
        f"  Dr.Gero local stack is up ({elapsed:.1f}s)\n"
        f"    API base   {base_url}\n"
        f"    token      {token}\n"
        f"    env        source {_relative(paths.env_file)}\n"
        '    try        curl -sS $API_BASE/v1/workspace -H "Authorization: Bearer $DRGERO_TOKEN"\n'
        "    walk       README.md, 'From an empty stack to a ranked leaderboard' (then inference)\n"
        '    openai     OpenAI(base_url=f"{API_BASE}/v1", api_key=DRGERO_TOKEN),'
        ' model="leaderboard/<id>"\n'
        "    tokens     .venv/bin/drgero tokens list   (spend and budgets)\n"
        f"    logs       {_relative(paths.logs)}/ (emulators); requests are logged below\n"
        "    stop       Ctrl-C\n",
        flush=True,
    )


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _save_quietly(emulators: Emulators) -> None:
    """Periodic Firestore export, so a crash loses minutes of dev data, not all of it."""
    try:
        emulators.save_firestore()
    except EmulatorError as error:
        logger.warning("%s", error)


if __name__ == "__main__":
    sys.exit(main())
