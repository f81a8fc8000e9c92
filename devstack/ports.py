"""Loopback ports for the local stack: pick a free one, tell whether one is taken, wait for one."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

LOOPBACK = "127.0.0.1"
# The egress allow-list of the local stack and the tests (DRGERO_EGRESS_ALLOW_CIDRS): loopback
# only, so that model calls reach the simulator. Production never sets it.
LOOPBACK_EGRESS_CIDRS = "127.0.0.0/8,::1/128"


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (the kernel's pick for ``bind(host, 0)``).

    There is a small race between closing this probe socket and the emulator binding the port;
    on one machine running its own tests that is acceptable.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def resolve_port(port: int, host: str = LOOPBACK) -> int:
    """``port`` itself, or a free port when it is 0."""
    return port if port else free_port(host)


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on ``host:port`` now.

    SO_REUSEADDR mirrors what the servers themselves set, so connections of a previous run that
    linger in TIME_WAIT don't count as "taken"; only a live listener does. A listener bound with
    SO_REUSEPORT (the Cloud Tasks emulator's gRPC server) is also detected, because this probe
    does not set SO_REUSEPORT.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Call ``check`` until it returns True or ``timeout`` seconds pass; whether it did."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
