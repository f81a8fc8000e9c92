"""The one exception tree of the provider layer.

Every failure talking to a model endpoint or to the Hugging Face Hub is translated, at the
boundary, into a :class:`ProviderError`; no ``httpx`` exception escapes ``shared.providers``.
Each error says whether trying again may help (``retryable``), how long the upstream asked us
to wait (``retry_after``, seconds), the upstream's HTTP status when there was one (``status``)
and the upstream's own words (``provider_message``, secrets scrubbed). ``message`` is ours: it
names the endpoint by its label (never a URL query, header or key) and is safe to show a user.

Hierarchy::

    ProviderError
    ├── RateLimited              429                                      retryable
    ├── UpstreamUnavailable      5xx, connection refused/reset, bad gateway retryable
    │   ├── UpstreamResponseTooLarge  an answer past a read cap (decoded bytes, SSE line,
    │   │                             streamed output): not retried, inference falls back
    │   └── EndpointNotAllowed   the egress policy refused the address (loopback, private,
    │                            metadata...): not retried, inference falls back
    ├── UpstreamTimeout          our timeout fired, or the upstream's 408  retryable
    ├── UpstreamAuthFailed       401/403: wrong, revoked or unscoped key
    ├── UpstreamRejected         any other 4xx (bad request, 402 no credits, unknown model)
    ├── InvalidUpstreamResponse  2xx we cannot use: not JSON, too deep, a missing or null
    │                            field, or anything else reading it raised
    ├── RequestNotSendable       the stored config makes a request HTTP refuses to send (a
    │                            header name or token that is not valid HTTP)
    ├── NotSupported             the endpoint cannot do this (e.g. stream a JSON endpoint)
    ├── MissingCredentials       we have no key/token to send (nothing was called)
    └── DatasetError             reading a GET dataset from the Hub
        ├── DatasetNotFound      404: no such repo, revision or file
        ├── DatasetAccessDenied  401/403: private or gated
        ├── DatasetInvalid       a line is not a JSON object, or the gzip data is broken
        └── DatasetTooLarge      more bytes than the caller allowed

    DatasetUrlInvalid(ValueError)   a dataset URL we cannot read (wrong form or file type)
    ModelConfigInvalid(ValueError)  a stored candidate-model config we cannot build

The two ``ValueError`` classes are about what a user typed, not about an upstream: they are
raised before any network call. Services map all of these onto ``shared.errors`` once.
Every class has a ``code``: the public error code a service reports for it.
"""

from __future__ import annotations

from typing import ClassVar


class ProviderError(Exception):
    """An upstream call failed; ``retryable`` says whether the same call may succeed later."""

    default_retryable: ClassVar[bool] = False
    code: ClassVar[str] = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        provider_message: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.provider_message = provider_message
        self.retryable = self.default_retryable if retryable is None else retryable

    def __str__(self) -> str:
        if self.provider_message:
            return f"{self.message} (upstream said: {self.provider_message})"
        return self.message


class RateLimited(ProviderError):
    default_retryable = True
    code = "upstream_rate_limited"


class UpstreamUnavailable(ProviderError):
    default_retryable = True


class UpstreamResponseTooLarge(UpstreamUnavailable):
    """An answer went past ``limit`` bytes (the setting ``setting``); nothing more was read."""

    default_retryable = False  # the same call would send the same answer
    code = "upstream_response_too_large"

    def __init__(self, message: str, *, setting: str, limit: int) -> None:
        super().__init__(message)
        self.setting = setting
        self.limit = limit


class EndpointNotAllowed(UpstreamUnavailable):
    """The egress policy refused where a URL leads (``reason`` says which kind of address)."""

    default_retryable = False
    code = "endpoint_not_allowed"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class UpstreamTimeout(ProviderError):
    default_retryable = True
    code = "upstream_timeout"


class UpstreamAuthFailed(ProviderError):
    pass


class UpstreamRejected(ProviderError):
    pass


class InvalidUpstreamResponse(ProviderError):
    pass


class RequestNotSendable(ProviderError):
    code = "endpoint_config_invalid"


class NotSupported(ProviderError):
    pass


class MissingCredentials(ProviderError):
    pass


class DatasetError(ProviderError):
    """Base of the errors reading a GET dataset; ``url`` is the URL the user gave."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        provider_message: str | None = None,
    ) -> None:
        super().__init__(message, status=status, provider_message=provider_message)
        self.url = url


class DatasetNotFound(DatasetError):
    pass


class DatasetAccessDenied(DatasetError):
    pass


class DatasetInvalid(DatasetError):
    """A line that is not a JSON object (``line`` is 1-based), or broken gzip (``line`` None)."""

    def __init__(self, message: str, *, url: str, line: int | None, reason: str) -> None:
        super().__init__(message, url=url)
        self.line = line
        self.reason = reason


class DatasetTooLarge(DatasetError):
    def __init__(self, message: str, *, url: str, max_bytes: int) -> None:
        super().__init__(message, url=url)
        self.max_bytes = max_bytes


class DatasetUrlInvalid(ValueError):
    """The dataset URL is not a Hugging Face ``.jsonl``/``.jsonl.gz`` file URL we can read."""


class ModelConfigInvalid(ValueError):
    """A candidate-model config is missing a field or names an unknown platform."""
