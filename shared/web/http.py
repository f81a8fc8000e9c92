"""HTTP plumbing below the router: request bodies, tokens, and answers (JSON, streams, errors).

Every error leaves as ``{"error": {...}}`` JSON (:func:`error_response`): a
:class:`~shared.errors.DrGeroError` with its status and code, pydantic validation errors as 422
with the failing fields, Werkzeug's own errors with their status. Bodies are read bounded
(:func:`read_json`: size, depth, finite numbers) and validated (:func:`parse`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, TypeVar

import flask
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from shared.errors import (
    BadRequest,
    DrGeroError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    error_body,
)
from shared.settings import get_settings

M = TypeVar("M", bound=BaseModel)

TOKEN_HEADERS = ("X-API-Key", "X-Dr.Gero-API-Key")


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
