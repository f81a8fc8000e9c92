"""Structured JSON logs on stdout (Cloud Logging reads them), with secrets scrubbed.

Scrubbing happens where records are born: :func:`configure` installs a log-record factory that
replaces anything shaped like one of our tokens (``drgero_...``, ``hpd_...``), a provider key
(``sk-...``) or a Hugging Face token (``hf_...``) with a masked form. Every record of every
logger in the process passes through it, ours and the libraries', whatever handler later writes
it, so a careless log call cannot leak a secret. Request headers are never logged in the first
place.

While a request is served, every line written in its context (the router's access line, the
handler's own lines, lines written while a streamed answer is produced) carries the request's
id (``request_id``, the ``X-Request-Id`` the response echoes) and, when the request came with a
trace context, the fields Cloud Logging reads to group lines under their Cloud Trace:
``logging.googleapis.com/trace`` (``projects/<project>/traces/<trace id>``), ``.../spanId`` and
``.../trace_sampled``. The router binds them with :func:`request_context` (a context variable, so
concurrent requests on other threads keep their own). Work on background threads after the
answer (the write-behind) runs outside any request and carries none.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

SECRET_PATTERN = re.compile(r"\b(drgero_|hpd_|sk-or-v1-|sk-or-|sk-|hf_)[A-Za-z0-9_\-]{8,}")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_installed = False

TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"


@dataclass(frozen=True)
class RequestContext:
    """What every log line of one request carries."""

    request_id: str
    trace: str | None = None  # projects/<project>/traces/<32 hex digits>
    span_id: str | None = None  # 16 hex digits
    trace_sampled: bool | None = None

    def fields(self) -> dict[str, Any]:
        found: dict[str, Any] = {"request_id": self.request_id}
        if self.trace is not None:
            found[TRACE_FIELD] = self.trace
            if self.span_id is not None:
                found[SPAN_FIELD] = self.span_id
            if self.trace_sampled is not None:
                found[SAMPLED_FIELD] = self.trace_sampled
        return found


_request: ContextVar[RequestContext | None] = ContextVar("drgero_request", default=None)
_CONTEXT_ATTRIBUTE = "drgero_request_context"
_NOT_EXTRA = _STANDARD | {_CONTEXT_ATTRIBUTE}


@contextmanager
def request_context(context: RequestContext) -> Iterator[None]:
    """Lines logged inside carry ``context``'s fields."""
    token = _request.set(context)
    try:
        yield
    finally:
        _request.reset(token)


def current_request() -> RequestContext | None:
    return _request.get()


def scrub(text: str) -> str:
    return SECRET_PATTERN.sub(lambda m: m.group(1) + "***", text)


def _scrubbing_factory(base: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed format call: keep what we can
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        # Taken where the record is born (the request's thread), whenever it is written.
        setattr(record, _CONTEXT_ATTRIBUTE, _request.get())
        return record

    return make


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Records born before configure() installed the factory: the context of now.
        context = record.__dict__.get(_CONTEXT_ATTRIBUTE, _request.get())
        if isinstance(context, RequestContext):
            entry.update(context.fields())
        entry.update({k: v for k, v in record.__dict__.items() if k not in _NOT_EXTRA})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, default=str))


def configure() -> None:
    """Scrub every record, and write ours as JSON lines on stdout (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    logging.setLogRecordFactory(_scrubbing_factory(logging.getLogRecordFactory()))
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    for name in ("drgero", "shared"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
