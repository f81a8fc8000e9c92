"""The router every function declares its routes on: dispatch, CORS, health and error mapping.

An entry point declares its routes on a :class:`Router`; the router answers 404/405 for paths
and methods it does not serve, turns every :class:`~shared.errors.DrGeroError` into its JSON
error, pydantic validation errors into 422 with the failing fields, transient Google API failures
into 503, and anything unexpected into a 500 with a request id but never a stack trace.

Every router also serves ``GET /healthz`` and ``GET /readyz`` (``shared.web.health``), and
binds each request's id and trace context to the log lines written while it is served
(``shared.web.request_log``). Each handler is called with the request, this instance's
dependencies (``Deps``, built once) and the path's parameters. A private router (worker, jobs)
verifies its caller's ID token before any route runs.

A path matches a route's template whole (a trailing newline is not "the end"). Where a literal
template and a ``{name}`` template both match a path (``/v1/integrations/validate`` and
``/v1/integrations/{provider}``), the literal one owns it: a method it does not serve is 405.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flask
from google.api_core import exceptions as gexc
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from shared import bootstrap, logs
from shared.bootstrap import Deps
from shared.errors import (
    DrGeroError,
    MethodNotAllowed,
    NotFound,
    Unavailable,
)
from shared.services import origins
from shared.web import cors, request_log
from shared.web.health import HEALTH_PATHS, LIVENESS_PATH, READINESS_PATH, liveness, readiness
from shared.web.http import (
    error_response,
    http_error_response,
    json_response,
    to_response,
    validation_error,
)
from shared.web.internal import require_internal

log = logging.getLogger("drgero.http")

# Called as ``handler(request, deps, **path_params)``: the router hands every handler the
# dependencies of this instance (``shared.bootstrap``), so no handler reaches for a global.
Handler = Callable[..., Any]
# Every router by function name (the deploy's URL-map check walks them).
ROUTERS: dict[str, Router] = {}


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    literal_segments: int  # how specific the template is: more literal segments win
    template: str = ""
    health: bool = False  # a health path: answered without the dependencies (``/healthz``)


class Router:
    def __init__(
        self,
        name: str,
        *,
        overhead_header: str | None = None,
        private: bool = False,
        deps: Callable[[], Deps] = bootstrap.deps,
    ) -> None:
        """``overhead_header``: name a header that every response carries with the time spent
        here, minus what handlers report as spent upstream in ``flask.g.upstream_ms``.
        ``private``: the function is called by Cloud Tasks and Cloud Scheduler only. Every
        route verifies the caller's ID token first (``shared.web.internal``); no browser
        calls it (no CORS), and a permanent Google API error drops the task (200, logged with
        its reason) instead of asking for a retry that would fail the same way.
        ``deps``: what builds (once) and returns this instance's dependencies; each handler
        is called with them."""
        self.name = name
        self._deps = deps
        self._routes: list[_Route] = []
        self._overhead_header = overhead_header
        self._cors = not private
        self._private = private
        # Served by every router, ahead of (and never shadowed by) its own routes.
        self._health = [
            _Route("GET", _compile(LIVENESS_PATH)[0], lambda _: liveness(name), 1, health=True),
            _Route(
                "GET",
                _compile(READINESS_PATH)[0],
                lambda _: readiness(name, self._deps),
                1,
                health=True,
            ),
        ]
        ROUTERS[name] = self

    def routes(self) -> list[tuple[str, str]]:
        """(method, template) of every route, as registered."""
        return [(route.method, route.template) for route in self._routes]

    def route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``method`` on ``template`` (``{name}`` matches a segment).

        A template that matches ``/healthz`` or ``/readyz`` is refused: every router serves
        those itself."""
        pattern, literal = _compile(template)
        for path in HEALTH_PATHS:
            if pattern.fullmatch(path):
                raise ValueError(f"{self.name}: {template} would shadow the health path {path}")

        def register(handler: Handler) -> Handler:
            self._routes.append(_Route(method.upper(), pattern, handler, literal, template))
            return handler

        return register

    def __call__(self, request: flask.Request) -> flask.Response:
        started = time.perf_counter()
        context = request_log.context_of(request)
        with logs.request_context(context):
            response = self._answer_browser(request, context.request_id)
            response.headers[request_log.REQUEST_ID_HEADER] = context.request_id
            if self._overhead_header:
                spent = (time.perf_counter() - started) * 1000 - float(
                    getattr(flask.g, "upstream_ms", 0)
                )
                response.headers[self._overhead_header] = f"{max(0.0, spent):.1f}"
            request_log.access(request, response, self.name, time.perf_counter() - started)
        if response.is_streamed:
            # A streamed answer is produced after this returns: its lines belong to it too.
            response.response = request_log.in_context(response.response, context)
        return response

    def _answer_browser(self, request: flask.Request, request_id: str) -> flask.Response:
        """:meth:`_answer`, with CORS: preflights answered here, allowed origins decorated."""
        if not self._cors or "Origin" not in request.headers:
            return self._answer(request, request_id)
        try:
            if cors.is_preflight(request):
                answer = cors.preflight(request, self._deps(), self._methods(request.path))
                if answer is not None:
                    return answer
                return self._answer(request, request_id)  # no route here: the 404
            decision = cors.decide(request, self._deps())
        except gexc.GoogleAPICallError:
            log.exception("origin lookup failed")
            return error_response(
                Unavailable(
                    "a storage service is unavailable; retry shortly", request_id=request_id
                )
            )
        with origins.serving(decision):
            response = self._answer(request, request_id)
        cors.decorate(response, decision)
        return response

    def _methods(self, path: str) -> list[str]:
        """The methods served at ``path`` (by its most literal templates), for a preflight."""
        matches = [
            route for route in [*self._health, *self._routes] if route.pattern.fullmatch(path)
        ]
        most_literal = max((route.literal_segments for route in matches), default=0)
        return [route.method for route in matches if route.literal_segments == most_literal]

    def _answer(self, request: flask.Request, request_id: str) -> flask.Response:
        try:
            return self._dispatch(request)
        except DrGeroError as exc:
            return error_response(exc)
        except HTTPException as exc:  # Werkzeug's own (a client gone mid-body, ...)
            return http_error_response(exc, request)
        except ValidationError as exc:
            return error_response(validation_error(exc))
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            if is_transient(exc):
                log.exception("storage call failed")
                return error_response(
                    Unavailable(
                        "a storage service is unavailable; retry shortly", request_id=request_id
                    )
                )
            if self._private:  # the same call would fail again: drop the task, say why
                log.exception(
                    "dropping %s %s: permanent %s", request.method, request.path,
                    type(exc).__name__,
                )  # fmt: skip
                return json_response(
                    {"status": "dropped", "reason": "permanent_error",
                     "error": type(exc).__name__, "request_id": request_id}
                )  # fmt: skip
            log.exception("storage call failed permanently")
            return error_response(
                DrGeroError("internal error; quote the request id", request_id=request_id)
            )
        except Exception:
            log.exception("unhandled error")
            return error_response(
                DrGeroError("internal error; quote the request id", request_id=request_id)
            )

    def _dispatch(self, request: flask.Request) -> flask.Response:
        path = request.path
        routes = [*self._health, *self._routes]
        matches = [(route, m) for route in routes if (m := route.pattern.fullmatch(path))]
        most_literal = max((route.literal_segments for route, _ in matches), default=0)
        allowed = []
        for route, match in matches:
            if route.literal_segments < most_literal:
                continue  # a literal template owns this path
            if route.method != request.method:
                allowed.append(route.method)
                continue
            if route.health:
                return to_response(route.handler(request))
            deps = self._deps()
            if self._private:  # who calls, before anything is read: Cloud Tasks or Scheduler
                require_internal(request, deps.settings, self.name, certs=deps.oidc_certs)
            return to_response(route.handler(request, deps, **match.groupdict()))
        if allowed:
            raise MethodNotAllowed(
                f"{request.method} is not allowed on {path}; use {', '.join(sorted(allowed))}",
                allowed=sorted(allowed),
            )
        raise NotFound(f"no endpoint at {request.method} {path}")


# Google API failures worth a retry: the service was down, busy or slow, or a transaction lost
# a race. Anything else (an invalid argument, a missing index, a permission) fails the same way
# every time.
TRANSIENT_ERRORS = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.Aborted,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.BadGateway,
    gexc.GatewayTimeout,
    gexc.Unknown,
    gexc.RetryError,
)


def is_transient(exc: Exception) -> bool:
    """Whether a Google API failure may succeed when tried again."""
    return isinstance(exc, TRANSIENT_ERRORS)


def _compile(template: str) -> tuple[re.Pattern[str], int]:
    """A template's pattern, and how many literal segments it has."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/"))
    literal = sum(1 for part in template.split("/") if part and not part.startswith("{"))
    return re.compile(f"^{regex}/?$"), literal
