"""The local stack's pidfile: which process groups a run started, so a later run can end them.

``devstack.run`` writes it as soon as the emulators are spawned and removes it on a clean stop.
If it is still there at the next start, the previous run crashed (or was SIGKILLed) and its
emulators may still hold their ports: they are ended here. Each entry stores a pid with the
kernel's start time of that process, so a pid since reused by an unrelated program is never
signalled.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from devstack.processes import group_members, kill_group, process_start_time

logger = logging.getLogger(__name__)


class StackAlreadyRunning(RuntimeError):
    """Another live ``devstack.run`` owns the pidfile."""


def write_pidfile(path: Path, groups: dict[str, int]) -> None:
    """Record this process as owner and ``groups`` (name -> process-group id)."""
    record = {
        "owner": {"pid": os.getpid(), "start_time": process_start_time(os.getpid())},
        "groups": [
            {"name": name, "pgid": pgid, "start_time": process_start_time(pgid)}
            for name, pgid in groups.items()
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)


def end_stale_processes(path: Path) -> list[str]:
    """End the process groups a crashed run left behind; the names of those ended.

    Raises StackAlreadyRunning when the run that wrote the pidfile is still alive.
    """
    if not path.exists():
        return []
    try:
        record = json.loads(path.read_text())
        owner = record["owner"]
        groups = record["groups"]
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("ignoring unreadable pidfile %s", path)
        path.unlink(missing_ok=True)
        return []
    if owner["pid"] != os.getpid() and _is_same_process(owner["pid"], owner["start_time"]):
        raise StackAlreadyRunning(
            f"another local stack is running (pid {owner['pid']}); stop it with Ctrl-C in its "
            f"terminal or `kill {owner['pid']}`"
        )
    ended = []
    for group in groups:
        if _belongs_to_stale_run(group["pgid"], group["start_time"]):
            logger.warning(
                "ending %s (process group %d) left by a previous run", group["name"], group["pgid"]
            )
            kill_group(group["pgid"], grace=5.0)
            ended.append(group["name"])
    path.unlink(missing_ok=True)
    return ended


def _is_same_process(pid: int, start_time: int | None) -> bool:
    return start_time is not None and process_start_time(pid) == start_time


def _belongs_to_stale_run(pgid: int, start_time: int | None) -> bool:
    """Whether group ``pgid`` is still the one recorded.

    Either its leader is the recorded process, or the leader is gone but members remain (a
    process-group id is not handed out again while any member of that group lives).
    """
    leader_start = process_start_time(pgid)
    if leader_start is None:
        return bool(group_members(pgid))
    return leader_start == start_time
