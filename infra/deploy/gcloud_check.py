"""Replay recorded gcloud commands through the real gcloud on this machine, offline, and say
which ones gcloud accepts.

The deploy records every gcloud command it would run (an argv list without the leading
``gcloud``). Here each one goes through the installed Google Cloud SDK with no account, no
project and no network: a command that gcloud's parser and its own argument validation accept
stops at "You do not currently have an active account selected" (**accepted**); an unknown
flag, an invalid choice, a missing argument or a malformed value stops earlier (**rejected**,
with gcloud's message).

Speed: one ``gcloud`` process costs about 2 s here (most of it building the CLI), and a deploy
records 100-200 commands. So one long-lived worker (``gcloud_worker.py``) runs in gcloud's own
interpreter, builds the CLI once and replays every command in-process with ``cli.Execute``,
tens of milliseconds each (~150 commands in ~5 s). ``check_subprocess`` runs a real ``gcloud``
per command instead: slow, and the reference the in-process replay is tested against.

Isolation: every check gets a fresh ``CLOUDSDK_CONFIG`` and ``HOME`` (none of the machine's
accounts, projects or credentials; an environment built from an allowlist, so no
``GOOGLE_APPLICATION_CREDENTIALS`` or ``CLOUDSDK_CORE_ACCOUNT`` leaks in), prompts, update
checks, surveys, usage reporting and the GCE metadata probe are off, stdin is ``/dev/null``.
The worker refuses every internet socket and name lookup (a command that tries is reported,
``outcome == "network"``), and a command that runs past ``timeout`` is reported and the
replay goes on with the next one. We never import ``googlecloudsdk`` into our own process.

    python -m infra.deploy.gcloud_check commands.json [--cwd DIR] [--timeout S] [--subprocess]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import queue
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

DEFAULT_TIMEOUT_SECONDS = 30.0  # one command's replay (the first of a command group: ~0.7 s)
STARTUP_TIMEOUT_SECONDS = 60.0  # the worker's start: gcloud's imports and its CLI tree (~1 s)
_GRACE_SECONDS = 10.0  # past a command's own timer before the worker is killed from outside
_WORKER = Path(__file__).with_name("gcloud_worker.py")
# What gcloud says when parsing passed and it needs credentials it does not have.
_CREDENTIAL_STOPS = (
    "You do not currently have an active account selected",
    "does not have any valid credentials",
)

Outcome = Literal["accepted", "ran", "rejected", "network", "timeout", "crash"]


class GcloudCheckError(Exception):
    """gcloud is not installed, or its replay worker could not start."""


@dataclass(frozen=True)
class Verdict:
    """What gcloud made of one command."""

    command: tuple[str, ...]
    accepted: bool
    message: str  # gcloud's first error line ("ERROR: (gcloud.run.deploy) ..."), or ours
    # accepted: stopped for want of credentials; ran: finished (exit 0) offline; rejected:
    # gcloud refused it; network / timeout: it tried to go online / ran too long; crash:
    # gcloud (or its worker) failed in a way it does not handle.
    outcome: Outcome
    exit_code: int | None = None  # gcloud's (2: its argument parser refused); None: stopped
    # The exception gcloud's handlers caught (in-process replay only): "" when its argument
    # parser refused (that one prints and exits 2 itself).
    error_type: str = ""
    output: str = ""  # everything gcloud printed (bounded)

    def line(self) -> str:
        shown = "gcloud " + shlex.join(self.command)
        if self.accepted:
            return f"ok      {shown}"
        return f"{self.outcome.upper():<7} {shown}\n        {self.message}"


@dataclass(frozen=True)
class Gcloud:
    """The installed SDK, as ``gcloud info`` describes it."""

    executable: str
    sdk_root: str
    python: str
    site_packages: bool  # the wrapper runs its python without -S (the bundled interpreter)
    version: str


@functools.cache
def find_gcloud() -> Gcloud | None:
    """The gcloud on PATH, or None when there is none."""
    executable = shutil.which("gcloud")
    if executable is None:
        return None
    fields = "installation.sdk_root,basic.python_location,basic.site_packages,basic.version"
    with tempfile.TemporaryDirectory(prefix="gcloud-check-") as tmp:
        try:
            done = subprocess.run(
                [executable, "info", f"--format=json({fields})"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=_isolated_env(Path(tmp)),
                timeout=STARTUP_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise GcloudCheckError(f"`gcloud info` took over {exc.timeout:g} s") from exc
    if done.returncode != 0:
        raise GcloudCheckError(f"`gcloud info` failed: {done.stderr.strip()[-2000:]}")
    info = json.loads(done.stdout)
    return Gcloud(
        executable=executable,
        sdk_root=info["installation"]["sdk_root"],
        python=info["basic"]["python_location"],
        site_packages=bool(info["basic"]["site_packages"]),
        version=info["basic"]["version"],
    )


def require_gcloud() -> Gcloud:
    found = find_gcloud()
    if found is None:
        raise GcloudCheckError("gcloud is not installed (not on PATH)")
    return found


def check(
    commands: Sequence[Sequence[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[Verdict]:
    """One verdict per command, in order, from one in-process replay (relative paths in the
    commands are taken from ``cwd``, the current directory by default)."""
    argvs = [_argv(command) for command in commands]
    if not argvs:
        return []
    gcloud = require_gcloud()
    verdicts: list[Verdict] = []
    with tempfile.TemporaryDirectory(prefix="gcloud-check-") as tmp:
        env = _isolated_env(Path(tmp))
        env["CLOUDSDK_ROOT_DIR"] = gcloud.sdk_root
        if gcloud.site_packages:
            env["CLOUDSDK_PYTHON_SITEPACKAGES"] = "1"
        while len(verdicts) < len(argvs):  # a worker that stops is replaced for the rest
            verdicts += _Replay(gcloud, argvs[len(verdicts) :], Path(tmp), env, timeout).run(cwd)
    return verdicts


def check_subprocess(
    commands: Sequence[Sequence[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[Verdict]:
    """The same verdicts from one real ``gcloud`` process per command (~2 s each)."""
    gcloud = require_gcloud()
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="gcloud-check-") as tmp:
        env = _isolated_env(Path(tmp))
        # No socket guard out here: a dead local proxy makes any HTTP attempt fail at once.
        env.update(
            CLOUDSDK_PROXY_TYPE="http", CLOUDSDK_PROXY_ADDRESS="127.0.0.1", CLOUDSDK_PROXY_PORT="9"
        )
        for argv in map(_argv, commands):
            try:
                done = subprocess.run(
                    [gcloud.executable, *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=cwd,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                verdicts.append(_timed_out(argv, timeout))
                continue
            output = done.stdout.decode("utf-8", "replace")
            verdicts.append(_judge_text(argv, done.returncode, output))
    return verdicts


def _judge_text(argv: tuple[str, ...], returncode: int, output: str) -> Verdict:
    message = first_error_line(output)
    if returncode == 0:
        return Verdict(argv, True, message, "ran", returncode, output=output)
    if any(stop in output for stop in _CREDENTIAL_STOPS):
        return Verdict(argv, True, message, "accepted", returncode, output=output)
    return Verdict(argv, False, message, "rejected", returncode, output=output)


def first_error_line(output: str) -> str:
    """gcloud's first ``ERROR:`` line, else its first line, else ''."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("ERROR:")), lines[0] if lines else "")


def _argv(command: Sequence[str]) -> tuple[str, ...]:
    if isinstance(command, str) or not all(isinstance(arg, str) for arg in command):
        raise TypeError(f"a command is a list of strings (argv without 'gcloud'): {command!r}")
    return tuple(command)


def _timed_out(argv: tuple[str, ...], timeout: float) -> Verdict:
    message = f"gcloud did not finish within {timeout:g} s (the gcloud_check timeout)"
    return Verdict(argv, False, message, "timeout")


def _isolated_env(tmp: Path) -> dict[str, str]:
    """An environment with nothing of the machine's Google identity in it."""
    (tmp / "config").mkdir(exist_ok=True)
    (tmp / "home").mkdir(exist_ok=True)
    env = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL") if name in os.environ}
    env.update(
        HOME=str(tmp / "home"),  # no ~/.config/gcloud, ~/.boto or ADC file of the machine
        CLOUDSDK_CONFIG=str(tmp / "config"),
        CLOUDSDK_CORE_DISABLE_PROMPTS="1",
        CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="true",
        CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="true",
        CLOUDSDK_SURVEY_DISABLE_PROMPTS="true",
        # On a GCE VM (Cloud Build too) gcloud would take the metadata server's account and run
        # the commands for real.
        CLOUDSDK_CORE_CHECK_GCE_METADATA="false",
        # Else gcloud asks the metadata server whether it runs on GCE, for its user agent.
        CLOUDSDK_METRICS_ENVIRONMENT="gcloud_check",
        CLOUDSDK_CORE_DISABLE_FILE_LOGGING="true",
        CLOUDSDK_ENCODING="UTF-8",
        PYTHONIOENCODING="UTF-8",
    )
    return env


class _Replay:
    """One worker process over a list of commands; stops early if the worker has to go."""

    def __init__(
        self,
        gcloud: Gcloud,
        argvs: list[tuple[str, ...]],
        tmp: Path,
        env: dict[str, str],
        timeout: float,
    ) -> None:
        self.gcloud, self.argvs, self.tmp, self.env, self.timeout = gcloud, argvs, tmp, env, timeout
        self.lines: queue.Queue[str | None] = queue.Queue()

    def run(self, cwd: str | os.PathLike[str] | None) -> list[Verdict]:
        commands = self.tmp / "commands.json"
        commands.write_text(json.dumps([list(argv) for argv in self.argvs]), encoding="utf-8")
        log_path = self.tmp / "worker.log"
        python_args = [] if self.gcloud.site_packages else ["-S"]  # as gcloud's wrapper does
        argv = [self.gcloud.python, *python_args, str(_WORKER), self.gcloud.sdk_root]
        read_end, write_end = os.pipe()  # the worker's result lines
        argv += [str(commands), str(self.tmp / "output"), repr(self.timeout), str(write_end)]
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=cwd,
                pass_fds=(write_end,),
            )
        os.close(write_end)
        reader = os.fdopen(read_end, "r", encoding="utf-8")
        reading = threading.Thread(target=self._read, args=(reader,), daemon=True)
        reading.start()
        try:
            return self._collect(worker, log_path)
        finally:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
            reading.join(timeout=5)  # the pipe's write end died with the worker: EOF
            reader.close()

    def _read(self, reader: IO[str]) -> None:
        try:
            for line in reader:
                self.lines.put(line)
        except (OSError, ValueError):  # closed under us (a grandchild kept the pipe open)
            pass
        self.lines.put(None)

    def _next(self, wait: float) -> dict[str, Any] | Literal["late"] | None:
        try:
            line = self.lines.get(timeout=wait)
        except queue.Empty:
            return "late"
        return None if line is None else json.loads(line)

    def _collect(self, worker: subprocess.Popen[bytes], log_path: Path) -> list[Verdict]:
        ready = self._next(STARTUP_TIMEOUT_SECONDS)
        if not isinstance(ready, dict):
            worker.kill()
            worker.wait()
            tail = log_path.read_text(errors="replace")[-3000:]
            raise GcloudCheckError(f"the gcloud replay worker did not start: {tail}")
        verdicts: list[Verdict] = []
        for argv in self.argvs:
            result = self._next(self.timeout + _GRACE_SECONDS)
            if result == "late":  # stuck where its own timer cannot reach (C code)
                verdicts.append(_timed_out(argv, self.timeout))
                break
            if result is None:
                worker.wait()
                tail = log_path.read_text(errors="replace").strip()[-2000:]
                message = f"gcloud's replay worker died (exit {worker.returncode}): {tail}"
                verdicts.append(Verdict(argv, False, message, "crash"))
                break
            assert isinstance(result, dict)
            verdicts.append(self._judge(argv, result))
        return verdicts

    def _judge(self, argv: tuple[str, ...], result: dict[str, Any]) -> Verdict:
        output: str = result["output"]
        message = first_error_line(output)
        code: int | None = result["exit_code"]
        error_type: str = result["error_type"]
        if result["network"]:
            message = f"gcloud tried to reach the network ({result['network'][0]}): stopped there"
            return Verdict(argv, False, message, "network", code, error_type, output)
        if result["timed_out"]:
            return _timed_out(argv, self.timeout)
        if result["credentials_stop"]:
            return Verdict(argv, True, message, "accepted", code, error_type, output)
        if code == 0:
            return Verdict(argv, True, message, "ran", code, error_type, output)
        return Verdict(argv, False, message, "rejected", code, error_type, output)


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.deploy.gcloud_check",
        description="Replay gcloud commands (a JSON list of argv lists, without 'gcloud') "
        "through the real gcloud, offline, and say which it accepts.",
    )
    parser.add_argument("file", help="the JSON file of commands ('-' for stdin)")
    parser.add_argument("--cwd", help="where relative paths in the commands start")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
    parser.add_argument("--subprocess", action="store_true", help="one gcloud per command (slow)")
    options = parser.parse_args(args)
    source = sys.stdin if options.file == "-" else open(options.file, encoding="utf-8")  # noqa: SIM115
    with source:
        commands = json.load(source)
    replay = check_subprocess if options.subprocess else check
    started = time.monotonic()
    try:
        verdicts = replay(commands, cwd=options.cwd, timeout=options.timeout)
    except GcloudCheckError as exc:
        print(f"gcloud_check: {exc}", file=sys.stderr)
        return 2
    for verdict in verdicts:
        print(verdict.line())
    refused = sum(not verdict.accepted for verdict in verdicts)
    elapsed = time.monotonic() - started
    print(f"{len(verdicts)} commands, {refused} not accepted, {elapsed:.1f} s", file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
