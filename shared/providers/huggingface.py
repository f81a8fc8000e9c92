"""Hugging Face: inference endpoints as candidate models, and the Hub for GET datasets.

:class:`HuggingFaceEndpoint` calls an endpoint's OpenAI-compatible route (TGI and vLLM serve
``/v1/chat/completions``). :class:`HuggingFaceHub` checks a token (``/api/whoami-v2``), turns
the dataset URLs users paste (parsed by :mod:`shared.providers.huggingface_urls`) into file
download URLs on the configured ``HF_ENDPOINT`` (the Hub, or the local simulator), and streams
a ``.jsonl``/``.jsonl.gz`` file as rows without holding it in memory: gzip is inflated chunk by
chunk and each line parsed on its own.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from shared.domain.jsonl import JsonlError, iter_lines
from shared.providers.base import ChatRequest, Completion, StreamEvent
from shared.providers.chat_format import chat_body, open_chat_stream, post_chat
from shared.providers.errors import (
    DatasetAccessDenied,
    DatasetInvalid,
    DatasetNotFound,
    DatasetTooLarge,
    InvalidUpstreamResponse,
    MissingCredentials,
)
from shared.providers.http import (
    checked_endpoint_url,
    endpoint_label,
    json_of,
    raise_for_upstream,
    read_answer,
    send,
    translating,
)
from shared.providers.huggingface_urls import HUB_HOSTS, parse_dataset_url, short_url
from shared.providers.reading import iter_decoded

HUB_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# A dataset download may be large: the read timeout bounds each wait for bytes, not the total.
DATASET_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# The longest line of a dataset file: the default of ``Settings.dataset_max_line_bytes``.
MAX_LINE_BYTES = 16 * 1024 * 1024
# Gzip is inflated at most this many bytes at a time (memory, not a limit on the file).
INFLATE_CHUNK_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class HuggingFaceEndpoint:
    """A Hugging Face inference endpoint, called on its OpenAI-compatible route."""

    def __init__(
        self, *, client: httpx.Client, url: str, token: str | None, model: str | None
    ) -> None:
        parsed = checked_endpoint_url(url)
        if not parsed.path.rstrip("/").endswith("/chat/completions"):
            parsed = parsed.copy_with(path=parsed.path.rstrip("/") + "/v1/chat/completions")
        self._client = client
        self._url = str(parsed)
        self._token = token
        # TGI ignores the model name but older versions require one; "tgi" is its convention.
        self._model = model or "tgi"
        self.label = endpoint_label("huggingface", parsed)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def complete(self, request: ChatRequest, *, timeout: httpx.Timeout | float) -> Completion:
        return post_chat(
            self._client, self._url, body=chat_body(request, self._model), headers=self._headers,
            label=self.label, timeout=timeout, secrets=[self._token],
        )  # fmt: skip

    def stream(
        self, request: ChatRequest, *, timeout: httpx.Timeout | float
    ) -> Iterator[StreamEvent]:
        return open_chat_stream(
            self._client, self._url, body=chat_body(request, self._model), headers=self._headers,
            label=self.label, timeout=timeout, secrets=[self._token],
        )  # fmt: skip


class HuggingFaceHub:
    """The Hub's token check and dataset files, at ``endpoint`` (``HF_ENDPOINT``)."""

    def __init__(self, *, client: httpx.Client, endpoint: str, token: str | None) -> None:
        self._client = client
        self._endpoint = endpoint.rstrip("/")
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.label = "huggingface-hub"

    def whoami(self) -> dict[str, Any]:
        """The token's account (``name``, ``type``, ``orgs``, ``auth``); 401: UpstreamAuthFailed."""
        if not self._token:
            raise MissingCredentials("huggingface-hub: no Hugging Face token to check")
        response = send(
            self._client,
            "GET",
            self._endpoint + "/api/whoami-v2",
            label=self.label,
            timeout=HUB_TIMEOUT,
            secrets=[self._token],
            headers=self._headers,
        )
        data = json_of(response, label=self.label)
        if not isinstance(data, dict):
            raise InvalidUpstreamResponse(f"{self.label}: whoami did not answer a JSON object")
        return data

    def resolve_dataset_url(self, url: str) -> str:
        """The download URL on our endpoint for an ``hf://`` or Hub dataset file URL."""
        owner, name, revision, path = parse_dataset_url(
            url, hosts=HUB_HOSTS | {urlsplit(self._endpoint).hostname or ""}
        )
        return (
            f"{self._endpoint}/datasets/{quote(owner, safe='')}/{quote(name, safe='')}"
            f"/resolve/{quote(revision, safe='')}/{quote(path)}"
        )

    def open_rows(
        self,
        url: str,
        *,
        max_bytes: int | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        timeout: httpx.Timeout = DATASET_TIMEOUT,
    ) -> Iterator[dict[str, Any]]:
        """Stream the dataset's rows (a generator: errors surface on the first ``next()``).

        ``max_bytes`` caps the uncompressed size; past it, DatasetTooLarge. A line longer than
        ``max_line_bytes`` is DatasetInvalid. Stop iterating to read only a prefix (validation
        does): the connection is closed with the generator.
        """
        download_url = self.resolve_dataset_url(url)
        label = f"{self.label}:{short_url(url)}"
        with (
            translating(label),
            self._client.stream(
                "GET", download_url, headers=self._headers, timeout=timeout, follow_redirects=True
            ) as response,
        ):
            if response.status_code >= 400:
                answer = read_answer(self._client, response, label=label)
                self._raise_for_dataset(answer, url=url, label=label)
            data = _inflate(iter_decoded(response, label=label), url=url)
            try:
                lines = _split_lines(
                    data, url=url, max_bytes=max_bytes, max_line_bytes=max_line_bytes
                )
                yield from iter_lines(lines)
            except JsonlError as exc:
                raise DatasetInvalid(
                    f"{short_url(url)}: {exc}", url=url, line=exc.line, reason=str(exc)
                ) from exc

    def _raise_for_dataset(self, response: httpx.Response, *, url: str, label: str) -> None:
        status = response.status_code
        if status in (401, 403):
            if self._token:
                hint = (
                    "the Hugging Face token cannot read it (private or gated: accept the "
                    "dataset's terms on the Hub, or use a token with access)"
                )
            else:
                hint = "private or gated: add a Hugging Face token in integrations"
            raise DatasetAccessDenied(f"{short_url(url)}: {hint}", url=url, status=status)
        if status == 404:
            hint = "no such dataset file: check the owner, name, revision and path"
            if self._token:
                hint += " (the Hub also answers 404 to a token that cannot see a private dataset)"
            raise DatasetNotFound(f"{short_url(url)}: {hint}", url=url, status=status)
        raise_for_upstream(response, label=label, secrets=[self._token])


def _inflate(chunks: Iterable[bytes], *, url: str) -> Iterator[bytes]:
    """Pass bytes through, gunzipping (all members) when the data starts with gzip's magic.

    Detection is by content, not by name: an HTTP layer may already have removed a gzip
    Content-Encoding, and a misnamed plain file still reads. Inflated data comes out at most
    :data:`INFLATE_CHUNK_BYTES` at a time, however well the input compresses (gzip reaches
    about 1000:1, so one 64 KiB read off the wire could otherwise be 64 MiB in memory).
    """
    iterator = iter(chunks)
    head = b""
    for chunk in iterator:
        head += chunk
        if len(head) >= len(_GZIP_MAGIC):
            break
    if not head.startswith(_GZIP_MAGIC):
        yield head
        yield from iterator
        return
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    fed = False  # has the current gzip member seen any bytes?
    try:
        for chunk in itertools.chain([head], iterator):
            data = chunk
            while data:
                fed = True
                out = decompressor.decompress(data, INFLATE_CHUNK_BYTES)
                if out:
                    yield out
                if decompressor.eof:
                    data = decompressor.unused_data  # a next gzip member may follow
                    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    fed = False
                    continue
                data = decompressor.unconsumed_tail
                while not data and len(out) == INFLATE_CHUNK_BYTES:  # output still pending
                    out = decompressor.decompress(b"", INFLATE_CHUNK_BYTES)
                    if out:
                        yield out
                    data = decompressor.unconsumed_tail
    except zlib.error as exc:
        raise DatasetInvalid(
            f"{short_url(url)}: the gzip data is corrupt", url=url, line=None, reason=str(exc)
        ) from exc
    if fed and not decompressor.eof:
        raise DatasetInvalid(
            f"{short_url(url)}: the gzip data ends early (truncated file)",
            url=url,
            line=None,
            reason="truncated gzip",
        )


def _split_lines(
    chunks: Iterable[bytes], *, url: str, max_bytes: int | None, max_line_bytes: int
) -> Iterator[bytes]:
    """The lines of a byte stream, each measured against ``max_line_bytes`` (without its
    ``\\n`` or ``\\r\\n``) before it is yielded, and the total against ``max_bytes``.

    Each chunk is searched once, and a line that spans chunks is gathered in one buffer, so
    time is linear in the stream and memory is one chunk plus one line (at most the limit).
    """
    partial = bytearray()  # the start of a line that continues in the next chunk
    total = 0
    line_number = 0
    for chunk in chunks:
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise DatasetTooLarge(
                f"{short_url(url)}: the dataset is larger than {max_bytes} bytes uncompressed"
                " (the limit is DRGERO_DATASET_MAX_BYTES)",
                url=url,
                max_bytes=max_bytes,
            )
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            line_number += 1
            if partial:
                partial += memoryview(chunk)[start:newline]
                line = bytes(partial)
                partial.clear()
            else:
                line = chunk[start:newline]
            _check_line(line, line_number, url=url, limit=max_line_bytes)
            yield line
            start = newline + 1
        partial += memoryview(chunk)[start:]
        # One byte of slack: a line at the limit may end with the "\r" of a "\r\n".
        if len(partial) > max_line_bytes + 1:
            _check_line(partial, line_number + 1, url=url, limit=max_line_bytes)
    if partial:
        _check_line(partial, line_number + 1, url=url, limit=max_line_bytes)
        yield bytes(partial)


def _check_line(line: bytes | bytearray, number: int, *, url: str, limit: int) -> None:
    if len(line) - line.endswith(b"\r") > limit:
        raise DatasetInvalid(
            f"{short_url(url)}: line {number} is longer than {limit} bytes"
            " (the limit is DRGERO_DATASET_MAX_LINE_BYTES)",
            url=url,
            line=number,
            reason="line too long",
        )
