"""Enqueueing Cloud Tasks that call our own internal endpoints.

Tasks carry a pointer (a leaderboard id, a reason), never data. A task may be given a name:
Cloud Tasks refuses a second task with the same name (also for a while after the first ran),
which makes "enqueue once per trigger" safe under concurrent triggers. Every handler is still
idempotent, because Cloud Tasks delivers at least once.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import tasks_v2

from shared.settings import Settings

log = logging.getLogger(__name__)

INTERNAL_KEY_HEADER = "X-DrGero-Internal-Key"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def task_name(*parts: str) -> str:
    """A valid, deterministic task id built from ``parts``."""
    return _NAME_UNSAFE.sub("-", "-".join(parts))[:450]


class TaskQueue:
    def __init__(self, client: Callable[[], tasks_v2.CloudTasksClient], settings: Settings) -> None:
        self._client = client  # built lazily: most requests never enqueue
        self._settings = settings

    def enqueue(self, *, path: str, payload: dict[str, Any], name: str | None = None) -> bool:
        """Create a task POSTing ``payload`` to ``path``; False when the name was taken."""
        settings = self._settings
        headers = {"Content-Type": "application/json"}
        if settings.internal_key is not None:
            headers[INTERNAL_KEY_HEADER] = settings.internal_key.get_secret_value()
        http_request = tasks_v2.HttpRequest(
            http_method=tasks_v2.HttpMethod.POST,
            url=settings.internal_base_url.rstrip("/") + path,
            headers=headers,
            body=json.dumps(payload).encode(),
        )
        if settings.tasks_service_account:
            http_request.oidc_token = tasks_v2.OidcToken(
                service_account_email=settings.tasks_service_account
            )
        task = tasks_v2.Task(http_request=http_request)
        if name:
            task.name = f"{settings.tasks_queue}/tasks/{name}"
        try:
            self._client().create_task(parent=settings.tasks_queue, task=task)
        except gexc.AlreadyExists:
            log.info("task %s already exists; not enqueued again", name)
            return False
        return True
