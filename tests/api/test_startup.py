"""A function refuses to start with a configuration that cannot work (internal calls whose
URLs or tokens are misconfigured), as ``functions-framework --target`` starts it: the error
names the setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devstack.dispatcher import DEFAULT_SOURCE
from shared.web.routes import targets

START = (
    "import functions_framework, sys\n"
    "for target in sys.argv[1].split(','):\n"
    "    functions_framework.create_app(target=target, source=sys.argv[2])\n"
    "print('started')\n"
)


def start(*names: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Start the functions ``names`` in a fresh interpreter with ``env`` (no other DRGERO_*)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DRGERO_")} | env
    return subprocess.run(
        [sys.executable, "-c", START, ",".join(names), str(DEFAULT_SOURCE)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=DEFAULT_SOURCE.parent,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DRGERO_INTERNAL_BASE_URL": "https://drgero-{name}.run.app"}, "DRGERO_INTERNAL_BASE_URL"),
        ({"DRGERO_DEV_ID_TOKEN_URL": "http://127.0.0.1:9/t"}, "DRGERO_TASKS_SERVICE_ACCOUNT"),
        ({"DRGERO_TASKS_DISPATCH_DEADLINE_SECONDS": "3600"}, "tasks_dispatch_deadline_seconds"),
    ],
)
def test_a_function_does_not_start_with_internal_calls_misconfigured(
    env: dict[str, str], named: str
) -> None:
    for target in ("api", "worker"):
        started = start(target, **env)
        assert started.returncode != 0 and "started" not in started.stdout, started.stdout
        assert named in started.stderr, started.stderr[-2000:]


def test_every_function_starts_with_a_production_configuration_or_none() -> None:
    production = {
        "DRGERO_INTERNAL_BASE_URL": "https://drgero-{function}-123456789.europe-west1.run.app",
        "DRGERO_INTERNAL_INVOKERS": "drgero-tasks@p.iam.gserviceaccount.com",
        "DRGERO_TASKS_SERVICE_ACCOUNT": "drgero-tasks@p.iam.gserviceaccount.com",
    }
    started = start(*targets(), **production)
    assert started.returncode == 0 and "started" in started.stdout, started.stderr[-2000:]
    started = start(*targets())
    assert started.returncode == 0 and "started" in started.stdout, started.stderr[-2000:]
