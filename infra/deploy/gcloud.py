"""How the deploy runs gcloud: argv lists (never a shell), secrets only on stdin.

:class:`Gcloud` is what the deploy steps call. :class:`SubprocessGcloud` runs the real CLI;
``infra.deploy.recorder.Recorder`` stands in for it in ``make deploy-check`` and in plans for
an empty project. Every command gets ``--project`` and ``--quiet`` (no prompt may wait on a
terminal in Cloud Build), reads add ``--format=json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Protocol

# A gcloud call that has not answered in this long is stuck (a deploy of one function takes
# a few minutes; Cloud Build times the whole build out anyway).
COMMAND_TIMEOUT_SECONDS = 1200
# IAM is eventually consistent: a service account created a second ago may not be bindable
# yet, and two policy edits at once are refused. Such a change is retried with backoff.
RETRIED_ERRORS = ("does not exist", "concurrent policy changes", "aborted", "try again")
RETRY_DELAYS_SECONDS = (2.0, 4.0, 8.0, 16.0, 30.0)


class GcloudFailed(RuntimeError):
    """A gcloud command failed; the message has its first error line (never its stdin)."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        first = next((line for line in lines if "ERROR" in line), lines[-1] if lines else "")
        super().__init__(f"gcloud {' '.join(args[:4])} ... failed ({returncode}): {first}")
        self.args_ = args
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class Call:
    """One command as the deploy issued it (for the plan, the recorder and the check)."""

    args: tuple[str, ...]
    mutates: bool
    stdin: bytes | None = None


class Gcloud(Protocol):
    project: str

    def read(self, *args: str) -> Any:
        """Run a read-only command and return its JSON output."""
        ...

    def run(self, *args: str, stdin: bytes | None = None) -> str:
        """Run a command that changes something; returns its stdout."""
        ...


def full_args(project: str, args: tuple[str, ...], *, read: bool) -> list[str]:
    extra = [f"--project={project}", "--quiet"]
    if read:
        extra.append("--format=json")
    return [*args, *extra]


class SubprocessGcloud:
    """The real gcloud, authenticated as whoever runs the deploy."""

    def __init__(
        self,
        project: str,
        *,
        executable: str | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS_SECONDS,
    ) -> None:
        self.project = project
        found = executable or shutil.which("gcloud")
        if not found:
            raise RuntimeError("gcloud is not installed (https://cloud.google.com/sdk)")
        self._gcloud = found
        self._retry_delays = retry_delays

    def read(self, *args: str) -> Any:
        output = self._call(full_args(self.project, args, read=True), None)
        return json.loads(output) if output.strip() else None

    def run(self, *args: str, stdin: bytes | None = None) -> str:
        argv = full_args(self.project, args, read=False)
        retried = any(arg.endswith("-iam-policy-binding") for arg in args[:4])
        for delay in (*self._retry_delays, None) if retried else (None,):
            try:
                return self._call(argv, stdin)
            except GcloudFailed as exc:
                transient = any(marker in exc.stderr.lower() for marker in RETRIED_ERRORS)
                if delay is None or not transient:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _call(self, argv: list[str], stdin: bytes | None) -> str:
        env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
        done = subprocess.run(
            [self._gcloud, *argv],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            env=env,
            check=False,
        )
        stderr = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            raise GcloudFailed(argv, done.returncode, stderr)
        return done.stdout.decode("utf-8", "replace")


def has_active_account(executable: str | None = None) -> bool:
    """Whether this machine's gcloud has an account to act as (else a plan assumes an empty
    project)."""
    found = executable or shutil.which("gcloud")
    if not found:
        return False
    try:
        done = subprocess.run(
            [found, "auth", "list", "--filter=status:ACTIVE", "--format=value(account)"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())
