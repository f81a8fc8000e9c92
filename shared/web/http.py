"""HTTP plumbing shared by every function: routing, bodies, tokens and error mapping.

An entry point declares its routes on a :class:`Router`; the router answers 404/405 for paths
and methods it does not serve, turns every :class:`~shared.errors.DrGeroError` into its JSON
error, pydantic validation errors into 422 with the failing fields, Google API failures into
503, and anything unexpected into a 500 with a request id but never a stack trace.

Every router also serves ``GET /healthz`` and ``GET /readyz`` (``shared.web.health``), and
binds each request's id and trace context to the log lines written while it is served
(``shared.web.request_log``).

A path matches a route's template whole (a trailing newline is not "the end"). Where a literal
template and a ``{name}`` template both match a path (``/v1/integrations/validate`` and
``/v1/integrations/{provider}``), the literal one owns it: a method it does not serve is 405.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import flask
from google.api_core import exceptions as gexc
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from shared import logs, wiring
from shared.errors import (
    BadRequest,
    DrGeroError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
    error_body,
)
from shared.services import origins
from shared.settings import get_settings
from shared.web import cors, request_log
from shared.web.health import HEALTH_PATHS, LIVENESS_PATH, READINESS_PATH, liveness, readiness
from shared.web.internal import require_internal
from shared.wiring import Deps

log = logging.getLogger("drgero.http")

# Called as ``handler(request, deps, **path_params)``: the router hands every handler the
# dependencies of this instance (``shared.wiring``), so no handler reaches for a global.
Handler = Callable[..., Any]
M = TypeVar("M", bound=BaseModel)

TOKEN_HEADERS = ("X-API-Key", "X-Dr.Gero-API-Key")
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
        deps: Callable[[], Deps] = wiring.deps,
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
            _Route("GET", _compile(READINESS_PATH)[0], lambda _: readiness(name), 1, health=True),
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
                require_internal(request, deps.settings, self.name, certs=deps.oidc_certs())
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


def to_response(result: Any) -> flask.Response:
    """Handlers return a Response, a body, or (body, status[, headers])."""
    if isinstance(result, flask.Response):
        return result
    status, headers = 200, dict[str, str]()
    if isinstance(result, tuple):
        result, status, *rest = result
        headers = rest[0] if rest else {}
    if result is None:
        return flask.Response(status=status, headers=headers)
    return json_response(result, status, headers)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> flask.Response:
    return flask.Response(
        json.dumps(body, ensure_ascii=False, default=str),
        status=status,
        headers=headers or {},
        mimetype="application/json",
    )


def stream_response(chunks: Iterator[bytes], headers: dict[str, str]) -> flask.Response:
    return flask.Response(flask.stream_with_context(chunks), status=200, headers=headers)


def error_response(error: DrGeroError) -> flask.Response:
    headers: dict[str, str] = {}
    retry_after = error.details.get("retry_after_seconds")
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="drgero"'
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(error.details.get("allowed", []))
    return json_response(error_body(error), error.status, headers)


# Werkzeug's HTTP errors by status, as our own (its HTML pages are never an answer of ours).
_HTTP_ERRORS: dict[int, type[DrGeroError]] = {
    cls.status: cls for cls in (BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType)
}


def http_error_response(exc: HTTPException, request: flask.Request) -> flask.Response:
    """The JSON error for an HTTP error that Werkzeug or Flask raised, not one of ours."""
    status = exc.code or 500
    if status == 404:
        return error_response(NotFound(f"no endpoint at {request.method} {request.path}"))
    if status == 405:
        allowed = sorted(getattr(exc, "valid_methods", None) or [])
        return error_response(
            MethodNotAllowed(f"{request.method} is not allowed on {request.path}", allowed=allowed)
        )
    known = _HTTP_ERRORS.get(status)
    if known is not None:
        return error_response(known(exc.description or known.default_code))
    code = "bad_request" if status < 500 else "internal"
    body = {"error": {"code": code, "message": exc.description or exc.name}}
    return json_response(body, status)


# Tags of our discriminated unions: pydantic puts the chosen tag into an error's location
# ("dataset.push.daily_limit"); clients know the field as "dataset.daily_limit".
UNION_TAGS = frozenset(
    {"push", "get", "exact", "judge", "human", "openrouter", "custom", "huggingface", "drgero"}
)


def validation_error(exc: ValidationError) -> ValidationFailed:
    problems = [_problem(item) for item in exc.errors(include_url=False, include_input=False)]
    first = problems[0]
    where = f"{first['field']}: " if first["field"] else ""
    return ValidationFailed(f"invalid request: {where}{first['message']}", errors=problems)


def _problem(item: Any) -> dict[str, Any]:
    loc = [str(part) for i, part in enumerate(item["loc"]) if i == 0 or part not in UNION_TAGS]
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
        ctx = item.get("ctx") or {}
        discriminator = str(ctx.get("discriminator", "")).strip("'")
        loc.append(discriminator)
        expected = ctx.get("expected_tags", "")
        tag = ctx.get("tag")
        message = (
            f"must be one of {expected} (got {tag!r})"
            if item["type"] == "union_tag_invalid"
            else f"is required: one of {expected}"
        )
    return {"field": ".".join(loc) or None, "message": message, "type": item["type"]}


def bearer_token(request: flask.Request) -> str | None:
    """The token from ``Authorization: Bearer``, ``X-API-Key`` or ``X-Dr.Gero-API-Key``."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for header in TOKEN_HEADERS:
        value = request.headers.get(header, "").strip()
        if value:
            return value
    return None


def read_json(
    request: flask.Request,
    *,
    max_bytes: int | None = None,
    allow_non_finite: bool = False,
    integral_floats: bool = False,
) -> Any:
    """The request's JSON body: 415 unless JSON, 413 over ``max_bytes``, 400 if malformed.

    ``max_bytes`` defaults to the ``request_max_body_bytes`` setting (the admin API's bodies;
    push and inference pass their own, larger, limits).

    ``integral_floats`` reads a number with a zero fraction (``5.0``, ``1e3``) as an integer, as
    JSON Schema's ``integer`` does: request models are strict and would refuse ``5.0`` for an
    integer field that the OpenAPI document says takes it.

    ``NaN`` and ``Infinity`` are not JSON and answer 400, unless ``allow_non_finite``: the push
    accepts them at parse time to reject only the rows that hold them. Arrays and objects
    nested deeper than the ``request_max_json_depth`` setting answer 400 ``json_too_deep``
    (so do bodies too deep for the parser itself), before any model or handler sees them.
    """
    mimetype = (request.mimetype or "").lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as JSON with 'Content-Type: application/json'"
            f" (got {request.content_type or 'no Content-Type'})"
        )
    if max_bytes is None:
        max_bytes = get_settings().request_max_body_bytes
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(request.content_length, max_bytes)
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise _too_large(None, max_bytes)
    if not raw.strip():
        raise BadRequest("the request body is empty; send a JSON document", code="empty_body")
    max_depth = get_settings().request_max_json_depth
    try:
        if allow_non_finite:
            body = json.loads(raw)
        else:
            number = _integral_or_float if integral_floats else _finite
            body = json.loads(raw, parse_constant=_no_constants, parse_float=number)
    except RecursionError as exc:
        raise _too_deep(max_depth) from exc
    except UnicodeDecodeError as exc:
        raise BadRequest("the body is not UTF-8 text", code="invalid_json") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            code="invalid_json",
            line=exc.lineno,
            column=exc.colno,
        ) from exc
    except ValueError as exc:  # an integer over Python's 4300 digits, a float that overflows
        reason = str(exc).split(";")[0]
        raise BadRequest(
            f"the body holds a number this API cannot read: {reason}", code="invalid_json"
        ) from exc
    if _deeper_than(body, max_depth):
        raise _too_deep(max_depth)
    return body


def parse(model: type[M], request: flask.Request) -> M:
    """The JSON body validated into ``model``.

    An absent body counts as ``{}`` (every field's default), except on PATCH: a PATCH without a
    body changes nothing and is a mistake, 400 ``empty_body``.
    """
    absent = not request.content_length and not request.headers.get("Transfer-Encoding")
    if absent and request.method == "PATCH":
        raise BadRequest(
            "a PATCH needs a JSON body with the fields to change; the body is empty",
            code="empty_body",
        )
    if absent:
        return model.model_validate({})
    data = read_json(request, integral_floats=True)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_body_shape")
    return model.model_validate(data)


_CONTAINERS = (dict, list)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` deep in ``value`` (``[]`` is 1 deep).

    Level by level, without recursion: each container is looked at once (``value`` comes from
    ``json.loads``, whose containers are exactly ``dict`` and ``list``).
    """
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(limit):
        inner: list[Any] = []
        for container in level:
            items = container.values() if type(container) is dict else container
            inner += [item for item in items if type(item) in _CONTAINERS]
        if not inner:
            return False
        level = inner
    return bool(level)


def _too_deep(limit: int) -> BadRequest:
    return BadRequest(
        f"the JSON body nests arrays and objects too deep; the limit is {limit} levels",
        code="json_too_deep",
        max_depth=limit,
    )


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} overflows a 64-bit float; send a finite number")
    return value


def _integral_or_float(text: str) -> int | float:
    value = _finite(text)
    # Only where the float is exact: past 2**53 a "zero fraction" is rounding, not the number.
    return int(value) if value.is_integer() and abs(value) <= 2**53 else value


def _no_constants(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON; send a finite number or null", name, 0)


def _too_large(size: int | None, limit: int) -> PayloadTooLarge:
    got = f" ({size} bytes)" if size is not None else ""
    return PayloadTooLarge(
        f"the body is too large{got}; the limit is {limit} bytes", max_bytes=limit
    )
