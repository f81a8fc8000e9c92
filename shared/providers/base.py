"""The one small interface every model endpoint implements, and its value types.

A run, a judge and the inference endpoint all talk to a candidate model the same way: build a
:class:`ChatRequest`, call :meth:`Endpoint.complete` (or :meth:`Endpoint.stream`) with an
explicit timeout, and read a :class:`Completion`. Which platform answers (OpenRouter, a custom
URL, a Hugging Face endpoint, a Dr.Gero model) is decided once, by ``factory.build_endpoint``.

Failures are :class:`~shared.providers.errors.ProviderError` subclasses; a content refusal is
not a failure but a :class:`Completion` with ``refusal=True`` (inference must not fall back on
it). The OpenAI chat-completions wire format that three of the four platforms share is in
:mod:`shared.providers.chat_format`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from shared.providers.errors import ProviderError
from shared.providers.http import translating


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    response_format: dict[str, Any] | None = None


@dataclass(frozen=True)
class Completion:
    output: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None  # provider-reported (OpenRouter usage.cost) when present
    latency_ms: float  # measured by us, end to end
    model: str | None  # what the upstream says answered
    finish_reason: str | None
    refusal: bool = False  # finish_reason "content_filter" or a refusal field


@dataclass(frozen=True)
class StreamEvent:
    """One step of a streamed answer.

    Every event but the last carries a text ``delta`` (the deltas concatenate to the answer).
    The last event has ``completion`` set: the whole answer with usage, cost and latency, as
    :meth:`Endpoint.complete` would have returned it.
    """

    delta: str = ""
    completion: Completion | None = None


class Endpoint(Protocol):
    label: str  # for errors and traces; never contains a secret or a URL query

    def complete(self, request: ChatRequest, *, timeout: httpx.Timeout | float) -> Completion: ...

    def stream(
        self, request: ChatRequest, *, timeout: httpx.Timeout | float
    ) -> Iterator[StreamEvent]:
        """Yield deltas then a final event with usage; raise NotSupported if not chat-compatible.

        A generator: nothing is sent until the first ``next()``, and upstream errors before the
        first delta surface there (so a caller can still fall back). Closing the generator
        early closes the upstream connection.
        """
        ...


class GuardedEndpoint:
    """An endpoint behind the provider boundary: every exception its calls raise, reading and
    parsing included (a 1000-deep JSON answer's RecursionError, a header httpx refuses),
    leaves as a ProviderError. ``shared.providers.factory`` wraps every endpoint it builds."""

    def __init__(self, inner: Endpoint) -> None:
        self.inner = inner
        self.label = inner.label

    def complete(self, request: ChatRequest, *, timeout: httpx.Timeout | float) -> Completion:
        with translating(self.label):
            return self.inner.complete(request, timeout=timeout)

    def stream(
        self, request: ChatRequest, *, timeout: httpx.Timeout | float
    ) -> Iterator[StreamEvent]:
        with translating(self.label):
            yield from self.inner.stream(request, timeout=timeout)


class UnusableEndpoint:
    """A stored config we can no longer build (it predates a check): every call fails with
    ``error``, so a run scores that model's rows as errors instead of failing its shard."""

    def __init__(self, label: str, error: ProviderError) -> None:
        self.label = label
        self._error = error

    def complete(self, request: ChatRequest, *, timeout: httpx.Timeout | float) -> Completion:
        raise self._error

    def stream(
        self, request: ChatRequest, *, timeout: httpx.Timeout | float
    ) -> Iterator[StreamEvent]:
        raise self._error
        yield  # a generator, like every endpoint's stream  # pragma: no cover


def as_timeout(timeout: httpx.Timeout | float) -> httpx.Timeout:
    return timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
