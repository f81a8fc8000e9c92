"""Structured JSON logs on stdout (Cloud Logging reads them), with secrets scrubbed.

Scrubbing happens where records are born: :func:`configure` installs a log-record factory that
replaces anything shaped like one of our tokens (``drgero_...``, ``hpd_...``), a provider key
(``sk-...``) or a Hugging Face token (``hf_...``) with a masked form. Every record of every
logger in the process passes through it, ours and the libraries', whatever handler later writes
it, so a careless log call cannot leak a secret. Request headers are never logged in the first
place.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

SECRET_PATTERN = re.compile(r"\b(drgero_|hpd_|sk-or-v1-|sk-or-|sk-|hf_)[A-Za-z0-9_\-]{8,}")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_installed = False


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
        return record

    return make


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
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
