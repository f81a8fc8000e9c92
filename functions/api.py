"""Entry point ``api``: the admin API (workspace, tokens, integrations, leaderboards, candidate
models, Dr.Gero models, traces, downloads). Handlers live in ``functions/api_routes/``."""

from __future__ import annotations

import flask
import functions_framework

from functions.api_routes import router


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    return router(request)
