"""What the log lines of one request carry, and its access line.

The :class:`~shared.web.router.Router` binds :func:`context_of` around the whole request (and
around each chunk of a streamed answer, :func:`in_context`), so every line written meanwhile,
by the router or by the handler and whatever it calls on the request's thread, carries the
request's id and its Cloud Trace context (``shared.logs``). :func:`access` writes the one line
per request, with the ``httpRequest`` fields Cloud Logging shows requests by.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import flask

from shared import logs
from shared.settings import get_settings
from shared.web import trace_context

log = logging.getLogger("drgero.http")

REQUEST_ID_HEADER = "X-Request-Id"


def context_of(request: flask.Request) -> logs.RequestContext:
    """The request's id (the client's ``X-Request-Id`` if plain and short enough, else a new
    one) and its trace context (``traceparent``, else ``X-Cloud-Trace-Context``)."""
    settings = get_settings()
    request_id = (
        trace_context.client_request_id(
            request.headers.get(REQUEST_ID_HEADER), max_chars=settings.request_id_max_chars
        )
        or uuid.uuid4().hex
    )
    trace = trace_context.from_headers(request.headers)
    if trace is None:
        return logs.RequestContext(request_id)
    return logs.RequestContext(
        request_id,
        trace=f"projects/{settings.project_id}/traces/{trace.trace_id}",
        span_id=trace.span_id,
        trace_sampled=trace.sampled,
    )


def in_context(chunks: Iterable[Any], context: logs.RequestContext) -> Iterator[Any]:
    """``chunks``, each produced (and the stream closed) inside the request's log context: a
    streamed answer is produced after the router has returned."""
    iterator = iter(chunks)
    try:
        while True:
            with logs.request_context(context):
                try:
                    chunk = next(iterator)
                except StopIteration:
                    return
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            with logs.request_context(context):
                close()


def access(request: flask.Request, response: flask.Response, function: str, seconds: float) -> None:
    """The request's access line: the path without its query string (which may carry data),
    and of the headers only the User-Agent (cut to ``log_user_agent_max_chars``). For a
    streamed answer the latency is the time to its first byte."""
    http_request: dict[str, Any] = {
        "requestMethod": request.method,
        "requestUrl": request.path,
        "status": response.status_code,
        "latency": f"{seconds:.6f}s",
    }
    user_agent = request.headers.get("User-Agent", "")
    if user_agent:
        http_request["userAgent"] = user_agent[: get_settings().log_user_agent_max_chars]
    log.info(
        "%s %s -> %s",
        request.method,
        request.path,
        response.status_code,
        extra={"function": function, "httpRequest": http_request},
    )
