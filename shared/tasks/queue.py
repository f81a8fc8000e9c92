"""Enqueueing Cloud Tasks that call our own internal endpoints.

Tasks carry a pointer (a leaderboard id, a reason), never data. A task may be given a name:
Cloud Tasks refuses a second task with the same name (also for a while after the first ran),
which makes "enqueue once per trigger" safe under concurrent triggers. Every handler is still
idempotent, because Cloud Tasks delivers at least once.

A task goes to the private function that serves its path, at that function's own URL
(``shared.tasks.urls``), and carries an ID token whose audience is that URL: in production
Cloud Tasks mints it for ``DRGERO_TASKS_SERVICE_ACCOUNT`` (``oidc_token``); locally, where the
emulator mints none, the queue asks the token stand-in (``DRGERO_DEV_ID_TOKEN_URL``) and sends
it as the ``Authorization`` header itself. Every task has a ``dispatch_deadline``
(``DRGERO_TASKS_DISPATCH_DEADLINE_SECONDS``): how long Cloud Tasks waits before it retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import tasks_v2

from shared.providers.google_identity import IdTokenSource
from shared.settings import Settings
from shared.tasks.messages import TaskMessage
from shared.tasks.urls import internal_target

# What a failed enqueue raises, for callers that carry on without the task (push: the
# scheduled job consolidates the rows instead).
ENQUEUE_ERRORS: tuple[type[Exception], ...] = (gexc.GoogleAPICallError,)

log = logging.getLogger(__name__)


def build_task(
    settings: Settings,
    *,
    path: str,
    payload: dict[str, Any],
    name: str | None = None,
    bearer_token: Callable[[str], str] | None = None,
) -> tasks_v2.Task:
    """The task that POSTs ``payload`` to the function serving ``path``.

    ``bearer_token(audience)`` gives the local stand-in's token (the emulator mints none);
    without it the task asks Cloud Tasks for an ID token of ``tasks_service_account``.
    """
    target = internal_target(settings.internal_base_url, path)
    headers = {"Content-Type": "application/json"}
    if bearer_token is not None:
        headers["Authorization"] = f"Bearer {bearer_token(target.audience)}"
    http_request = tasks_v2.HttpRequest(
        http_method=tasks_v2.HttpMethod.POST,
        url=target.url,
        headers=headers,
        body=json.dumps(payload).encode(),
    )
    if bearer_token is None and settings.tasks_service_account:
        http_request.oidc_token = tasks_v2.OidcToken(
            service_account_email=settings.tasks_service_account, audience=target.audience
        )
    task = tasks_v2.Task(
        http_request=http_request,
        dispatch_deadline=timedelta(seconds=settings.tasks_dispatch_deadline_seconds),
    )
    if name:
        task.name = f"{settings.tasks_queue}/tasks/{name}"
    return task


class TaskQueue:
    def __init__(self, client: Callable[[], tasks_v2.CloudTasksClient], settings: Settings) -> None:
        self._client = client  # built lazily: most requests never enqueue
        self._settings = settings
        self._dev_tokens = (
            IdTokenSource(url=settings.dev_id_token_url) if settings.dev_id_token_url else None
        )

    def enqueue(self, message: TaskMessage, *, name: str | None = None) -> bool:
        """Create the task that delivers ``message`` to its path, named ``name`` or the
        message's own name; False when the name was taken (already enqueued)."""
        settings = self._settings
        task = build_task(
            settings,
            path=message.path,
            payload=message.model_dump(mode="json"),
            name=name or message.default_name(),
            bearer_token=self._bearer_token(),
        )
        try:
            self._client().create_task(parent=settings.tasks_queue, task=task)
        except gexc.AlreadyExists:
            log.info("task %s already exists; not enqueued again", name)
            return False
        return True

    def _bearer_token(self) -> Callable[[str], str] | None:
        tokens, email = self._dev_tokens, self._settings.tasks_service_account
        if tokens is None or email is None:  # production: Cloud Tasks attaches the token
            return None
        return lambda audience: tokens.token(audience=audience, email=email)
