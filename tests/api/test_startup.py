"""A function refuses to start with a configuration that would weaken it (a short internal
key), as ``functions-framework --target`` starts it: the error names the setting."""

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


@pytest.mark.parametrize("key", ["", "   ", "too-short-a-key"])
def test_a_function_does_not_start_with_an_empty_or_short_internal_key(key: str) -> None:
    for target in ("api", "worker"):
        started = start(target, DRGERO_INTERNAL_KEY=key)
        assert started.returncode != 0 and "started" not in started.stdout, started.stdout
        assert "DRGERO_INTERNAL_KEY" in started.stderr and "32" in started.stderr
        if key.strip():
            assert key not in started.stderr


def test_every_function_starts_with_a_long_key_or_none() -> None:
    started = start(*targets(), DRGERO_INTERNAL_KEY="k" * 32)
    assert started.returncode == 0 and "started" in started.stdout, started.stderr[-2000:]
    started = start(*targets())
    assert started.returncode == 0 and "started" in started.stdout, started.stderr[-2000:]
