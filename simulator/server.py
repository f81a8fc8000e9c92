"""The simulator as a real HTTP server: OpenRouter under ``/api/v1``, the Hub at the root.

    sim = Simulator(SimulatorConfig.default(), port=0).start()
    sim.base_url        # http://127.0.0.1:PORT; OpenRouter base = base_url + "/api/v1"
    sim.stop()

Served by a threaded werkzeug server from a daemon thread (one thread per request, so slow
simulated models overlap like real ones). The helper methods (``add_answer_key``,
``upsert_model``, ...) do in-process what the ``/_sim`` control routes do over HTTP.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from simulator import control, custom, google_identity, hub, openrouter
from simulator.config import CustomEndpoint, SimModel, SimulatorConfig
from simulator.google_identity import GoogleIdentity, identity_env
from simulator.state import SimulatorState
from simulator.web import error_response, json_body

logger = logging.getLogger("simulator")
_MAX_RECORDED_BODY = 4000


def create_app(state: SimulatorState, identity: GoogleIdentity | None = None) -> Flask:
    app = Flask("simulator")
    google_identity.register(app, identity or GoogleIdentity())
    openrouter.register(app, state)
    custom.register(app, state)
    hub.register(app, state)
    control.register(app, state)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return error_response(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("simulator error on %s %s", request.method, request.path)
        return error_response(500, "Internal simulator error")

    @app.after_request
    def remember(response: Response) -> Response:
        if not request.path.startswith("/_sim"):
            state.remember_request(
                method=request.method,
                path=request.path,
                headers=dict(request.headers),
                body=_recorded_body(request),
                status=response.status_code,
            )
        return response

    return app


def _recorded_body(req: Request) -> Any:
    body = json_body(req)
    if body is not None:
        return body
    text = req.get_data(as_text=True)
    return text[:_MAX_RECORDED_BODY] if text else None


OPENROUTER_PATH = "/api/v1"


def simulator_env(base_url: str, *, models: bool = True) -> dict[str, str]:
    """What points our backend at a simulator: the ID tokens of internal calls (the certs the
    functions trust, where the task queue and the scheduler stand-in get tokens) and, with
    ``models``, the model providers (``OPENROUTER_API_KEY`` stays unset)."""
    env = identity_env(base_url)
    if models:
        env |= {"OPENROUTER_BASE_URL": base_url + OPENROUTER_PATH, "HF_ENDPOINT": base_url}
    return env


class Simulator:
    """One simulator server; ``start()`` is idempotent, ``stop()`` ends it."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        hf_root: Path | None = None,
    ) -> None:
        self.config = config if config is not None else SimulatorConfig.default()
        self.host = host
        self._requested_port = port
        self._owns_hf_root = hf_root is None
        self.hf_root = Path(hf_root) if hf_root else Path(tempfile.mkdtemp(prefix="drgero-sim-hf-"))
        self.hf_root.mkdir(parents=True, exist_ok=True)
        self.state = SimulatorState(self.config, hf_root=self.hf_root)
        self.identity = GoogleIdentity()
        self.app = create_app(self.state, self.identity)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Simulator:
        with self._lock:
            if self._server is None:
                self.hf_root.mkdir(parents=True, exist_ok=True)
                server = make_server(self.host, self._requested_port, self.app, threaded=True)
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.1},  # how long stop() may wait
                    name=f"simulator-{server.server_port}",
                    daemon=True,
                )
                thread.start()
                self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        if self._owns_hf_root:
            shutil.rmtree(self.hf_root, ignore_errors=True)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return int(self._server.server_port)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openrouter_base_url(self) -> str:
        return self.base_url + OPENROUTER_PATH

    def env(self, *, models: bool = True) -> dict[str, str]:
        return simulator_env(self.base_url, models=models)

    # In-process equivalents of the /_sim control routes.

    def add_answer_key(self, rows: list[dict[str, Any]], *, replace: bool = False) -> int:
        return self.state.add_answer_key(control.answer_rows(rows), replace=replace)

    def upsert_model(self, **fields: Any) -> SimModel:
        return self.state.upsert_model(fields)

    def upsert_custom_endpoint(self, name: str, **fields: Any) -> CustomEndpoint:
        return self.state.upsert_custom_endpoint(name, fields)

    def add_hf_file(self, repo: str, path: str, content: bytes, *, private: bool = False) -> str:
        """Add a dataset file; returns its ``resolve/main`` URL on this server."""
        hub.write_dataset_file(self.hf_root, repo, path, content, private=private)
        return f"{self.base_url}/datasets/{repo}/resolve/main/{path}"

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def reset(self) -> None:
        self.state.reset()
