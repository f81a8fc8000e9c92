"""Every function behind one local base URL, routed by the table in ``shared.web.routes``.

Each target gets its own ``functions_framework.create_app`` app, exactly what
``functions-framework --target NAME`` serves, and the request goes to it unchanged (full path),
as the production load balancer's URL map forwards it to the function.

``create_app`` may be called once per target in one process: every call builds a fresh Flask
app and re-executes ``main.py`` as a new ``main`` module (so ``main.py`` must stay import-only,
which it is: it re-exports the entry points, whose modules Python imports once). Side effects
of each call, harmless here: it sets ``os.environ["FUNCTION_TARGET"]`` to the last target and
appends the source's directory to ``sys.path`` again.

A path that no entry of the table matches (``/healthz``, ``/readyz``, ``/``, an unknown
``/internal`` path) goes to the default function (``DEFAULT_FUNCTION``, ``api``), as the load
balancer's URL map sends it to its default service: api's router answers it (health, or a JSON
404). Every answer is JSON: each app answers JSON for what Flask refuses before the function is
called (``shared.web.framework``, set up by ``main.py`` in every app).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import functions_framework
from werkzeug.serving import BaseWSGIServer, make_server

from shared.errors import NotFound, error_body
from shared.web.routes import DEFAULT_FUNCTION, function_for_path, targets

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

DEFAULT_SOURCE = Path(__file__).resolve().parent.parent / "main.py"


class Dispatcher:
    """A WSGI app that hands each request to the function that serves its path."""

    def __init__(self, apps: dict[str, WSGIApp]) -> None:
        self.apps = apps

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        target = function_for_path(path) or DEFAULT_FUNCTION
        if target not in self.apps:  # only when built without every function
            method = environ.get("REQUEST_METHOD", "GET")
            body = error_body(NotFound(f"no endpoint at {method} {path}"))
            return _json(start_response, "404 Not Found", body)
        return self.apps[target](environ, start_response)


def build_app(source: Path = DEFAULT_SOURCE) -> Dispatcher:
    """One functions-framework app per target of ``shared.web.routes``, behind one dispatcher."""
    apps: dict[str, WSGIApp] = {
        target: functions_framework.create_app(target=target, source=str(source))
        for target in targets()
    }
    return Dispatcher(apps)


def serve(
    app: WSGIApp, host: str = "127.0.0.1", port: int = 0
) -> tuple[BaseWSGIServer, threading.Thread]:
    """Serve ``app`` from a daemon thread (one thread per request); port 0 picks a free port.

    The server's ``server_port`` is the port actually bound; ``server.shutdown()`` stops it.
    """
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, name=f"wsgi-{server.server_port}", daemon=True
    )
    thread.start()
    return server, thread


def _json(start_response: Callable[..., Any], status: str, body: object) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]
