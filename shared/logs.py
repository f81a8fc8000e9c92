"""Structured JSON logs on stdout (Cloud Logging reads them), with secrets scrubbed.

Every record goes through :class:`SecretScrubber`, which replaces anything shaped like one of
our tokens (``drgero_...``, ``hpd_...``) or a provider key (``sk-...``) with a masked form, so a
careless log call cannot leak one. Request headers are never logged.
"""

from __future__ import annotations

import json
import logging
import re
import sys

SECRET_PATTERN = re.compile(r"\b(drgero_|hpd_|sk-or-v1-|sk-)[A-Za-z0-9_\-]{8,}")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def scrub(text: str) -> str:
    return SECRET_PATTERN.sub(lambda m: m.group(1) + "***", text)


class SecretScrubber(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        return True


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
    """Install the JSON handler on the ``drgero`` and ``shared`` loggers (idempotent)."""
    for name in ("drgero", "shared", "devstack"):
        logger = logging.getLogger(name)
        if any(isinstance(f, SecretScrubber) for f in logger.filters):
            continue
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.addFilter(SecretScrubber())
        logger.setLevel(logging.INFO)
        logger.propagate = True
