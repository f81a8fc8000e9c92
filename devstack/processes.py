"""Child processes of the local stack, each in its own process group, never left behind.

An emulator is rarely one process: ``gcloud emulators firestore start`` is a Python launcher that
runs a shell script that runs Java. Each child is therefore started in a new session (its own
process group) and stopped by signalling the whole group: SIGTERM, a grace period, then SIGKILL.
Every started process is also stopped at interpreter exit. A crash that skips ``atexit`` (SIGKILL
of the parent) is covered by ``devstack.run``'s pidfile, which records process-group ids with
their start times so a later run can end them safely.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


def group_members(pgid: int) -> list[int]:
    """Pids of the living (non-zombie) processes in process group ``pgid`` (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and fields[2] != "Z" and int(fields[4]) == pgid:
            members.append(int(entry.name))
    return members


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if it is gone.

    A pid and its start time together name one process for good: pids are reused, the pair isn't.
    """
    fields = _stat_fields(pid)
    return int(fields[21]) if fields is not None else None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its end.
    head, _, rest = raw.rpartition(")")
    return [head.split(" (", 1)[0], head.split(" (", 1)[-1], *rest.split()]


def kill_group(pgid: int, *, grace: float = 10.0) -> None:
    """SIGTERM every process in group ``pgid``, wait up to ``grace`` seconds, then SIGKILL."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if group_members(pgid):
        logger.warning("process group %d ignored SIGTERM for %.0fs; killing it", pgid, grace)
        _signal_group(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


class ManagedProcess:
    """One child process group with its output in a log file."""

    def __init__(
        self,
        *,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pgid(self) -> int:
        """The process-group id (the leader's pid: each child starts a new session)."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._popen.pid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        with _live_lock:
            _live.add(self)

    def exit_code(self) -> int | None:
        """The leader's exit code, or None while it runs."""
        return self._popen.poll() if self._popen is not None else None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, *, grace: float = 10.0) -> None:
        """End the whole process group; safe to call twice."""
        if self._popen is None:
            return
        kill_group(self._popen.pid, grace=grace)
        try:
            self._popen.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            logger.error("%s (pid %d) did not exit after SIGKILL", self.name, self._popen.pid)
        with _live_lock:
            _live.discard(self)


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        remaining = list(_live)
    for process in remaining:
        process.stop(grace=5.0)
