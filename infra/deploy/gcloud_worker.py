"""The replay loop that runs inside gcloud's own Python (never import it from ours).

``infra.deploy.gcloud_check`` starts this file with the interpreter ``gcloud info`` names and
feeds it commands; it bootstraps gcloud exactly as ``lib/gcloud.py`` does, builds the CLI once
(about 0.8 s) and then runs each command with ``cli.Execute(argv)``, as gcloud's own test
framework does, which costs tens of milliseconds instead of the ~2 s of a fresh ``gcloud``.

    python3 gcloud_worker.py SDK_ROOT COMMANDS.json OUTPUT_FILE TIMEOUT_SECONDS RESULTS_FD

After a ``{"ready": true}`` line, for each command it writes one JSON line to RESULTS_FD: the
exit code, the class of the exception gcloud stopped on (``NoActiveAccountException``,
``ArgumentError``, ...), the network connection it tried (refused here, so a replay never
leaves the machine; the command stops there), whether it ran out of time, and the start of
what it printed (fds 1 and 2 point to OUTPUT_FILE while the command runs: whatever gcloud
writes, through whichever stream object, is caught). Runs on Python 3.8+.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, NoReturn

MAX_OUTPUT_BYTES = 64 * 1024  # of one command's output sent back (an error is in its first lines)
_network_attempts: list[str] = []


class CommandTimeout(BaseException):
    """The command ran past its time (raised by SIGALRM; a BaseException, so that it goes
    past gcloud's handlers, which catch Exception)."""


class NetworkRefused(BaseException):
    """The command tried to open an internet connection or resolve a name."""


def _refuse_network() -> None:
    """Stop a command at its first internet socket or name lookup (gcloud would retry a
    refused connection for minutes; nothing it does past that point is offline any more)."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    inet = (socket.AF_INET, socket.AF_INET6)

    def refuse(attempt: str) -> NoReturn:
        _network_attempts.append(attempt)
        raise NetworkRefused(attempt)

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in inet:
            refuse(f"connect {address!r}")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if sock.family in inet:
            refuse(f"connect {address!r}")
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None:
            refuse(f"resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo


def _load_cli(sdk_root: str) -> Any:
    """Bootstrap as ``lib/gcloud.py`` does (its sys.path set-up, its vendored ``google``)."""
    sys.path.insert(0, os.path.join(sdk_root, "lib"))
    import gcloud as bootstrap  # lib/gcloud.py: puts lib and lib/third_party on sys.path

    sys.path = bootstrap.reorder_sys_path(sys.path)
    bootstrap._fix_google_module()
    gcloud_main = bootstrap._import_gcloud_main()
    return gcloud_main.CreateCLI([])


def _stop_reason(exc: BaseException | None) -> str:
    """The exception gcloud handled before it exited (SystemExit's context), or ''."""
    while exc is not None and isinstance(exc, SystemExit):
        exc = exc.__context__
    return "" if exc is None else type(exc).__name__


def _is_credentials_stop(exc: BaseException | None) -> bool:
    """True when gcloud stopped because it has no usable credentials (parsing passed)."""
    from googlecloudsdk.core.credentials import exceptions as creds_exceptions
    from googlecloudsdk.core.credentials import store

    while exc is not None and isinstance(exc, SystemExit):
        exc = exc.__context__
    credential_errors = (
        creds_exceptions.AuthenticationException,
        store.NoCredentialsForAccountException,
    )
    return exc is not None and isinstance(exc, credential_errors)


def _run_one(
    execute: Callable[[list[str]], Any], argv: list[str], timeout: float
) -> dict[str, Any]:
    del _network_attempts[:]
    exit_code: int | None = 0
    stopped: BaseException | None = None
    timed_out = False
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        result = execute(argv)
        if hasattr(result, "__next__"):  # list commands yield lazily: errors surface here
            for _ in result:
                pass
    except SystemExit as exc:
        code = exc.code
        exit_code = code if isinstance(code, int) else (0 if code is None else 1)
        stopped = exc
    except CommandTimeout:
        timed_out, exit_code = True, None
    except NetworkRefused:  # recorded in _network_attempts
        exit_code = None
    except Exception as exc:  # a gcloud crash (not a known error): report it, keep going
        exit_code, stopped = 1, exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout.flush()
        sys.stderr.flush()
    return {
        "exit_code": exit_code,
        "error_type": _stop_reason(stopped),
        "credentials_stop": _is_credentials_stop(stopped),
        "network": list(_network_attempts),
        "timed_out": timed_out,
    }


def _send(results: Any, message: dict[str, Any]) -> None:
    results.write(json.dumps(message) + "\n")
    results.flush()


def main() -> None:
    sdk_root, commands_file, output_file, timeout, results_fd = sys.argv[1:6]
    with open(commands_file, encoding="utf-8") as f:
        commands: list[list[str]] = json.load(f)
    results = os.fdopen(int(results_fd), "w", encoding="utf-8")

    def on_alarm(signum: int, frame: Any) -> None:
        raise CommandTimeout

    signal.signal(signal.SIGALRM, on_alarm)
    _refuse_network()
    cli = _load_cli(sdk_root)
    from googlecloudsdk.core.credentials import creds_context_managers

    _send(results, {"ready": True})
    saved = os.dup(1), os.dup(2)
    with creds_context_managers.CredentialProvidersManager():  # as gcloud_main.main does
        for argv in commands:
            out = os.open(output_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.close(out)
            try:
                outcome = _run_one(
                    lambda a: cli.Execute(a, call_arg_complete=False), argv, float(timeout)
                )
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
            with open(output_file, "rb") as printed:
                outcome["output"] = printed.read(MAX_OUTPUT_BYTES).decode("utf-8", "replace")
            _send(results, outcome)


if __name__ == "__main__":
    main()
