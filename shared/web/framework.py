"""The Flask app that functions-framework builds around each function, made to speak our JSON.

``functions_framework.create_app(target, source)`` (what ``functions-framework --target`` and
Cloud Functions run) builds one Flask app and routes every path to the function, except paths
Flask's own routing refuses before our :class:`~shared.web.router.Router` is called: a newline
in the path (``%0A``), ``/robots.txt`` and ``/favicon.ico`` (404), ``//double//slashes`` (a
308 redirect). Flask answers those with HTML pages, and a crash with text. :func:`adopt_app`
makes that app answer them as every other error, ``{"error": {...}}`` JSON.

functions-framework executes the source module (``main.py``) inside the new app's context, for
every ``create_app`` call (the local dispatcher calls it once per target): ``main.py`` calls
:func:`adopt_app` there, which is also where ``functions_framework.errorhandler`` registers.
"""

from __future__ import annotations

import logging

import flask
from werkzeug.exceptions import HTTPException

from shared.errors import DrGeroError
from shared.web.http import error_response, http_error_response

log = logging.getLogger("drgero.http")

# functions-framework's own marker of a crashed request, kept on our 500 (its logs read it).
CRASH_HEADER = ("X-Google-Status", "crash")


def adopt_app() -> None:
    """Configure the app functions-framework is building now (nothing outside ``create_app``)."""
    if not flask.has_app_context():
        return
    app = flask.current_app
    # Rules added after the source module runs take this default when they bind; Flask's own
    # (static files) is bound already.
    app.url_map.merge_slashes = False
    for rule in app.url_map.iter_rules():
        rule.merge_slashes = False
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _crash)  # before Flask's 500 page or the crash text
    app.register_error_handler(500, _crash)


def _http_error(exc: HTTPException) -> flask.Response:
    return http_error_response(exc, flask.request)


def _crash(exc: Exception) -> flask.Response:
    original = getattr(exc, "original_exception", None) or exc
    if isinstance(original, HTTPException):
        # Werkzeug's own error after the function answered: functions-framework reads what is
        # left of the body, and a client that stopped sending mid-body makes that a 400.
        log.info("request ended by %s after the function answered", type(original).__name__)
        return http_error_response(original, flask.request)
    log.error("unhandled error outside the router", exc_info=original)
    response = error_response(DrGeroError("internal error"))
    response.headers[CRASH_HEADER[0]] = CRASH_HEADER[1]
    return response
