"""A whole local stack inside the current process, for tests and benchmarks.

Starts the emulators on free ports, points this process's environment at them, serves every
function from a thread and resets the cached clients, so that both HTTP calls to ``base_url``
and direct service calls reach the same emulators. ``make dev`` (``devstack.run``) is the
long-running, persistent variant of the same thing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from devstack.dispatcher import build_app, serve
from devstack.emulators import Emulators, StackConfig
from devstack.identity import LOCAL_TASKS_ACCOUNT, invoker_env
from devstack.ports import LOOPBACK_EGRESS_CIDRS
from shared import bootstrap
from shared.providers.google_identity import IdTokenSource
from shared.tasks.urls import internal_target
from simulator.config import SimulatorConfig
from simulator.server import Simulator
from simulator.server import simulator_env as server_env

# The simulated models keep their relative speeds at 1/100 of the configured latencies.
SIMULATOR_TIME_SCALE = 0.01


@dataclass
class InProcessStack:
    base_url: str
    emulators: Emulators
    env: dict[str, str]
    simulator: Simulator | None = None
    id_tokens: IdTokenSource | None = None

    def internal_headers(self, path: str, *, email: str = LOCAL_TASKS_ACCOUNT) -> dict[str, str]:
        """What Cloud Tasks (or, with the scheduler's email, Cloud Scheduler) would send to
        ``path``: an ID token of ``email`` for the function serving it."""
        if self.id_tokens is None:
            self.id_tokens = IdTokenSource(url=self.env["DRGERO_DEV_ID_TOKEN_URL"])
        audience = internal_target(self.base_url, path).audience
        return {"Authorization": f"Bearer {self.id_tokens.token(audience=audience, email=email)}"}


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so that ``local_stack`` stops what it started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@contextmanager
def local_stack(*, log_dir: Path, simulator_url: str | None = None) -> Iterator[InProcessStack]:
    """The stack; ``simulator_url`` points it at a simulator already running elsewhere (it
    serves the models and the ID tokens of internal calls either way)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
    emulators = Emulators(StackConfig(log_dir=log_dir, tasks_max_retries=20))
    emulators.start()
    saved = dict(os.environ)
    server = None
    simulator: Simulator | None = None
    try:
        if simulator_url is None:
            simulator_config = SimulatorConfig.default().model_copy(
                update={"time_scale": SIMULATOR_TIME_SCALE}
            )
            simulator = Simulator(simulator_config).start()
            simulator_env = simulator.env()
        else:
            simulator_env = server_env(simulator_url)
        env = emulators.env() | simulator_env | invoker_env()
        env |= {
            "DRGERO_SECRETS_KEY": Fernet.generate_key().decode(),
            "DRGERO_EGRESS_ALLOW_CIDRS": LOOPBACK_EGRESS_CIDRS,
        }
        os.environ.update(env)
        server, _thread = serve(build_app(), port=0)
        base_url = f"http://127.0.0.1:{server.server_port}"
        env |= {"DRGERO_INTERNAL_BASE_URL": base_url, "DRGERO_PUBLIC_BASE_URL": base_url}
        os.environ.update(env)
        bootstrap.reset()
        yield InProcessStack(base_url=base_url, emulators=emulators, env=env, simulator=simulator)
    finally:
        if server is not None:
            server.shutdown()
        if simulator is not None:
            simulator.stop()
        emulators.stop(persist=False)
        os.environ.clear()
        os.environ.update(saved)
        bootstrap.reset()
