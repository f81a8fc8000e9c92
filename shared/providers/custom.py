"""Custom endpoints: a team's own HTTP model behind a URL.

We always send an OpenAI chat-completions body (``model``, ``messages``, ``max_tokens``,
``temperature``; unset options left out) and accept three answer shapes, chosen per candidate
model by :class:`ResponseFormat`:

* ``chat`` — an OpenAI chat-completions JSON (streaming supported, as OpenAI-style SSE);
* ``json`` — any JSON; the answer is at a dotted ``field`` path (``"result.text"``,
  ``"choices.0.text"``: numbers index lists);
* ``text`` — the whole body is the answer.

Auth is none, ``Authorization: Bearer <token>``, or ``<header_name>: <token>``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from shared.providers.base import ChatRequest, Completion, StreamEvent, as_timeout
from shared.providers.chat_format import chat_body, open_chat_stream, parse_chat_completion
from shared.providers.errors import InvalidUpstreamResponse, ModelConfigInvalid, NotSupported
from shared.providers.http import checked_endpoint_url, endpoint_label, json_of, send

AuthMethod = Literal["none", "bearer", "header"]
ResponseKind = Literal["chat", "json", "text"]

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Headers a user may not set: they would break the request or reach cloud internals.
_RESERVED_HEADERS = {
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "accept-encoding",  # we decode gzip and deflate ourselves, bounded, and ask for no other
    "metadata-flavor",
    "x-google-metadata-request",
}


# What an HTTP header value may hold here: printable ASCII, no CR/LF, no edge whitespace.
_HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def auth_problem(
    *, method: str, header_name: str | None, token: str | None, max_token_chars: int
) -> str | None:
    """Why this auth could not be sent as HTTP headers (checked when a model is added), or None.

    Checking here rather than at call time means a stored model can always build its request:
    h11 refuses a header name outside RFC 9110's token characters or a value with CR/LF,
    and httpx refuses a value that is not ASCII.
    """
    if method == "header":
        name = header_name or ""
        if not _HEADER_NAME.match(name) or len(name) > 100:
            return "auth.header_name must be a valid HTTP header name (letters, digits, '-')"
        if name.lower() in _RESERVED_HEADERS:
            return f"auth.header_name {name} cannot be used: it is set by the request itself"
    if token is not None:
        if len(token) > max_token_chars:
            return (
                f"the token is longer than {max_token_chars} characters"
                " (the limit DRGERO_ENDPOINT_TOKEN_MAX_CHARS)"
            )
        if not _HEADER_VALUE.fullmatch(token):
            return (
                "the token must be printable ASCII, without line breaks or spaces at either"
                " end (it is sent as an HTTP header value)"
            )
    return None


@dataclass(frozen=True)
class AuthConfig:
    method: AuthMethod
    token: str | None = dataclasses.field(repr=False)  # never in a repr, so never in a log line
    header_name: str | None = None

    def __post_init__(self) -> None:
        if self.method not in ("none", "bearer", "header"):
            raise ModelConfigInvalid("auth.method must be none, bearer or header")
        if self.method != "none" and not self.token:
            raise ModelConfigInvalid(f"auth.method {self.method} needs a token")
        if self.method == "header":
            name = self.header_name or ""
            if not _HEADER_NAME.match(name):
                raise ModelConfigInvalid("auth.header_name must be a valid HTTP header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ModelConfigInvalid(f"auth.header_name {name} cannot be used")

    def headers(self) -> dict[str, str]:
        if self.method == "bearer":
            return {"Authorization": f"Bearer {self.token}"}
        if self.method == "header":
            return {str(self.header_name): str(self.token)}
        return {}


@dataclass(frozen=True)
class ResponseFormat:
    kind: ResponseKind
    field: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("chat", "json", "text"):
            raise ModelConfigInvalid("response.format must be chat, json or text")
        if self.kind == "json" and not (self.field and all(self.field.split("."))):
            raise ModelConfigInvalid('response.format json needs a field such as "result.text"')


class CustomEndpoint:
    """A team's own endpoint, called with an OpenAI chat-completions body."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        url: str,
        auth: AuthConfig,
        response: ResponseFormat,
        model: str | None,
    ) -> None:
        parsed = checked_endpoint_url(url)
        self._client = client
        self._url = str(parsed)
        self._auth = auth
        self._format = response
        self._model = model
        self.label = endpoint_label("custom", parsed)

    def complete(self, request: ChatRequest, *, timeout: httpx.Timeout | float) -> Completion:
        started = time.perf_counter()
        response = send(
            self._client,
            "POST",
            self._url,
            label=self.label,
            timeout=as_timeout(timeout),
            secrets=[self._auth.token],
            json=chat_body(request, self._model),
            headers=self._auth.headers(),
        )
        latency_ms = (time.perf_counter() - started) * 1000.0
        if self._format.kind == "chat":
            data = json_of(response, label=self.label)
            return parse_chat_completion(data, label=self.label, latency_ms=latency_ms)
        if self._format.kind == "json":
            data = json_of(response, label=self.label)
            output = extract_field(data, str(self._format.field), label=self.label)
        else:
            output = response.text
        return Completion(
            output=output,
            prompt_tokens=None,
            completion_tokens=None,
            cost_usd=None,
            latency_ms=latency_ms,
            model=self._model,
            finish_reason=None,
        )

    def stream(
        self, request: ChatRequest, *, timeout: httpx.Timeout | float
    ) -> Iterator[StreamEvent]:
        if self._format.kind != "chat":
            raise NotSupported(
                f"{self.label}: streaming needs a chat-completions endpoint, "
                f"this one answers {self._format.kind}"
            )
        return open_chat_stream(
            self._client, self._url, body=chat_body(request, self._model),
            headers=self._auth.headers(), label=self.label, timeout=timeout,
            secrets=[self._auth.token],
        )  # fmt: skip


def extract_field(data: Any, path: str, *, label: str) -> str:
    """The answer at a dotted path; numbers index lists. Non-strings become JSON text."""
    value = data
    walked: list[str] = []
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and _is_index(part) and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            where = ".".join(walked) or "the top level"
            raise InvalidUpstreamResponse(
                f"{label}: field {path!r} not found (no {part!r} at {where}; {_shape(value)})"
            )
        walked.append(part)
    if value is None:
        raise InvalidUpstreamResponse(f"{label}: field {path!r} is null")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _is_index(part: str) -> bool:
    return part.lstrip("-").isdigit()


def _shape(value: Any) -> str:
    """What was there instead, without echoing the content (it may be sensitive)."""
    if isinstance(value, dict):
        keys = sorted(str(k) for k in value)[:10]
        return "keys there: " + (", ".join(keys) if keys else "none")
    if isinstance(value, list):
        return f"a list of {len(value)} items there"
    return f"a {type(value).__name__} there"
