"""The OpenAI chat-completions wire format that three of the four platforms share.

OpenRouter, custom chat endpoints and Hugging Face endpoints (TGI, vLLM) all speak it: the
request body (:func:`chat_body`), the response parser (:func:`parse_chat_completion`), the SSE
stream reader (:func:`iter_sse_chat`, :class:`StreamAccumulator`), and the calls that send a
request and read its answer, whole (:func:`post_chat`) or streamed (:func:`open_chat_stream`),
into the value types of :mod:`shared.providers.base`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpx

from shared.providers.base import ChatRequest, Completion, StreamEvent, as_timeout
from shared.providers.errors import InvalidUpstreamResponse, UpstreamUnavailable
from shared.providers.http import (
    error_for_status,
    json_of,
    limits_of,
    provider_message_of,
    raise_for_upstream,
    read_answer,
    send,
    translating,
)
from shared.providers.reading import iter_decoded, iter_lines, too_large


def chat_body(request: ChatRequest, model: str | None) -> dict[str, Any]:
    """The OpenAI chat-completions request body; unset options are left out, not sent as null."""
    body: dict[str, Any] = {"messages": request.messages}
    if model is not None:
        body["model"] = model
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.response_format is not None:
        body["response_format"] = request.response_format
    return body


def parse_chat_completion(data: Any, *, label: str, latency_ms: float) -> Completion:
    """Read an OpenAI chat-completions response (OpenRouter's ``usage.cost`` included)."""
    if not isinstance(data, dict):
        raise InvalidUpstreamResponse(f"{label}: the response is not a JSON object")
    raise_embedded_error(data, label=label)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise InvalidUpstreamResponse(f"{label}: the response has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise InvalidUpstreamResponse(f"{label}: the first choice has no message")
    finish_reason = _str_or_none(choice.get("finish_reason"))
    refusal = bool(message.get("refusal")) or finish_reason == "content_filter"
    content = message.get("content")
    output = _content_text(content)
    if output is None:
        if not refusal and content is not None:
            raise InvalidUpstreamResponse(f"{label}: message.content is not text")
        output = ""
    prompt_tokens, completion_tokens, cost = _usage(data.get("usage"))
    return Completion(
        output=output,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost,
        latency_ms=latency_ms,
        model=_str_or_none(data.get("model")),
        finish_reason=finish_reason,
        refusal=refusal,
    )


def raise_embedded_error(data: dict[str, Any], *, label: str) -> None:
    """OpenRouter reports errors that happen after a 200 inside the body (or an SSE event)."""
    error = data.get("error")
    if not error:
        return
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) and 400 <= code < 600 else 502
    raise error_for_status(
        status, label=label, provider_message=provider_message_of(data), retry_after=None
    )


def iter_sse_chat(
    lines: Iterable[str], *, label: str, max_event_bytes: int | None = None
) -> Iterator[dict[str, Any] | None]:
    """Parse an OpenAI-style SSE stream into its JSON chunks; ``None`` stands for ``[DONE]``.

    Follows the SSE framing: ``data:`` lines accumulate until a blank line ends the event, and
    lines starting with ``:`` (OpenRouter's ``: OPENROUTER PROCESSING`` keep-alives) are comments.
    An error event (OpenRouter reports failures after the 200 that way) raises ProviderError.
    One event's data may hold at most ``max_event_bytes`` characters (the SSE line cap).
    """
    data_lines: list[str] = []
    size = 0
    for line in itertools.chain(lines, [""]):
        if line.startswith(":"):
            continue
        if line:
            field, _, value = line.partition(":")
            if field == "data":
                data_lines.append(value.removeprefix(" "))
                size += len(data_lines[-1]) + 1
                if max_event_bytes is not None and size > max_event_bytes:
                    raise too_large(
                        label,
                        "one event of the stream",
                        setting="upstream_max_sse_line_bytes",
                        limit=max_event_bytes,
                    )
            continue
        size = 0
        if not data_lines:
            continue
        payload = "\n".join(data_lines)
        data_lines = []
        if payload.strip() == "[DONE]":
            yield None
            return
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise InvalidUpstreamResponse(f"{label}: a stream event is not JSON") from exc
        if not isinstance(chunk, dict):
            raise InvalidUpstreamResponse(f"{label}: a stream event is not a JSON object")
        raise_embedded_error(chunk, label=label)
        yield chunk


def post_chat(
    client: httpx.Client,
    url: str,
    *,
    body: dict[str, Any],
    headers: Mapping[str, str],
    label: str,
    timeout: httpx.Timeout | float,
    secrets: list[str | None],
) -> Completion:
    """POST an OpenAI chat-completions request and read its answer (every chat endpoint)."""
    started = time.perf_counter()
    response = send(
        client, "POST", url, label=label, timeout=as_timeout(timeout), secrets=secrets,
        json=body, headers=dict(headers),
    )  # fmt: skip
    data = json_of(response, label=label)
    latency_ms = (time.perf_counter() - started) * 1000.0
    return parse_chat_completion(data, label=label, latency_ms=latency_ms)


def open_chat_stream(
    client: httpx.Client,
    url: str,
    *,
    body: dict[str, Any],
    headers: Mapping[str, str],
    label: str,
    timeout: httpx.Timeout | float,
    secrets: list[str | None],
) -> Iterator[StreamEvent]:
    """The streaming form of :func:`post_chat` (usage asked for in the last chunk)."""
    streaming = {**body, "stream": True, "stream_options": {"include_usage": True}}
    return stream_chat(
        client, url, body=streaming, headers=headers, label=label,
        timeout=as_timeout(timeout), secrets=secrets,
    )  # fmt: skip


def stream_chat(
    client: httpx.Client,
    url: str,
    *,
    body: dict[str, Any],
    headers: Mapping[str, str],
    label: str,
    timeout: httpx.Timeout,
    secrets: list[str | None],
) -> Iterator[StreamEvent]:
    """POST an OpenAI-compatible streaming request; yield deltas, then the whole completion.

    A server that ignores ``stream`` and answers one JSON completion is accepted (one delta).
    A stream that stops with neither ``[DONE]`` nor a finish reason was cut off: it raises
    UpstreamUnavailable rather than pass a truncated answer off as complete.
    """
    started = time.perf_counter()
    accumulator = StreamAccumulator(label=label)
    done = False
    limits = limits_of(client)
    with (
        translating(label),
        client.stream("POST", url, json=body, headers=headers, timeout=timeout) as response,
    ):
        if not 200 <= response.status_code < 300 or "application/json" in response.headers.get(
            "content-type", ""
        ):
            answer = read_answer(client, response, label=label)
            raise_for_upstream(answer, label=label, secrets=secrets)
            latency_ms = (time.perf_counter() - started) * 1000.0
            completion = parse_chat_completion(
                json_of(answer, label=label), label=label, latency_ms=latency_ms
            )
            if completion.output:
                yield StreamEvent(delta=completion.output)
            yield StreamEvent(completion=completion)
            return
        lines = iter_lines(
            iter_decoded(response, label=label),
            max_line=limits.sse_line_bytes,
            label=label,
        )
        for chunk in iter_sse_chat(lines, label=label, max_event_bytes=limits.sse_line_bytes):
            if chunk is None:
                done = True
                break
            delta = accumulator.add(chunk)
            if accumulator.output_bytes > limits.stream_output_bytes:
                raise too_large(
                    label,
                    "the streamed answer",
                    setting="upstream_max_stream_output_bytes",
                    limit=limits.stream_output_bytes,
                )
            if delta:
                yield StreamEvent(delta=delta)
    if not done and accumulator.finish_reason is None:
        raise UpstreamUnavailable(f"{label}: the stream ended before the answer was complete")
    latency_ms = (time.perf_counter() - started) * 1000.0
    yield StreamEvent(completion=accumulator.completion(latency_ms=latency_ms))


class StreamAccumulator:
    """Collects stream chunks into deltas and, at the end, one :class:`Completion`."""

    def __init__(self, *, label: str) -> None:
        self.label = label
        self.parts: list[str] = []
        self.output_bytes = 0  # UTF-8 bytes of the deltas so far (the stream output cap)
        self.model: str | None = None
        self.finish_reason: str | None = None
        self.refusal = False
        self.usage: tuple[int | None, int | None, float | None] = (None, None, None)

    def add(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; return its text delta ("" when it carries none)."""
        self.model = _str_or_none(chunk.get("model")) or self.model
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return ""
        choice = choices[0]
        self.finish_reason = _str_or_none(choice.get("finish_reason")) or self.finish_reason
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = {}
        if delta.get("refusal") or self.finish_reason == "content_filter":
            self.refusal = True
        text = _content_text(delta.get("content")) or ""
        if text:
            self.parts.append(text)
            self.output_bytes += len(text.encode("utf-8", "surrogatepass"))
        return text

    def completion(self, *, latency_ms: float) -> Completion:
        prompt_tokens, completion_tokens, cost = self.usage
        return Completion(
            output="".join(self.parts),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            latency_ms=latency_ms,
            model=self.model,
            finish_reason=self.finish_reason,
            refusal=self.refusal,
        )


def _content_text(content: Any) -> str | None:
    """Message content as text: a string, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(t for t in texts if isinstance(t, str))
    return None


def _usage(usage: Any) -> tuple[int | None, int | None, float | None]:
    if not isinstance(usage, dict):
        return None, None, None
    return (
        _int_or_none(usage.get("prompt_tokens")),
        _int_or_none(usage.get("completion_tokens")),
        float_or_none(usage.get("cost")),
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def float_or_none(value: Any) -> float | None:
    """A finite number from a JSON value (numbers or numeric strings), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
