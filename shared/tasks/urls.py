"""Where an internal call goes: the URL of the private function that serves a path.

One answer for three parties, so they cannot disagree: the task queue sends a task there, the
ID token Cloud Tasks (or Cloud Scheduler) attaches carries that URL as its audience, and the
handler (``shared.web.internal``) expects exactly that audience. ``DRGERO_INTERNAL_BASE_URL``
may hold ``{function}`` (production: ``https://drgero-{function}-<number>.<region>.run.app``,
Cloud Run's deterministic URL of each function); without it, one base URL serves them all.

Which function serves a path is the routing table's answer (``shared.web.routes``, a pure
table; it is imported here although it sits in ``shared/web`` because the table is data that
every layer reads, not web machinery).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import FUNCTION_PLACEHOLDER
from shared.web.routes import INTERNAL_PREFIX, function_for_path


@dataclass(frozen=True)
class InternalTarget:
    function: str  # the router's name: worker, jobs
    audience: str  # the function's own URL, what its ID token must carry
    url: str  # audience + path


def function_url(internal_base_url: str, function: str) -> str:
    """The base URL (and ID-token audience) of ``function``."""
    return internal_base_url.replace(FUNCTION_PLACEHOLDER, function).rstrip("/")


def internal_target(internal_base_url: str, path: str) -> InternalTarget:
    """Where an internal call to ``path`` goes; ValueError for a path no function serves."""
    function = function_for_path(path) if path.startswith(INTERNAL_PREFIX) else None
    if function is None:
        raise ValueError(f"{path!r} is not an internal path any function serves")
    audience = function_url(internal_base_url, function)
    return InternalTarget(function=function, audience=audience, url=audience + path)
