"""Hugging Face: inference endpoints as candidate models, and the Hub for GET datasets.

:class:`HuggingFaceEndpoint` calls an endpoint's OpenAI-compatible route (TGI and vLLM serve
``/v1/chat/completions``). :class:`HuggingFaceHub` checks a token (``/api/whoami-v2``), turns
the dataset URLs users paste into file download URLs on the configured ``HF_ENDPOINT`` (the
Hub, or the local simulator), and streams a ``.jsonl``/``.jsonl.gz`` file as rows without
holding it in memory: gzip is inflated chunk by chunk and each line parsed on its own.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from shared.domain.jsonl import JsonlError, iter_lines
from shared.providers.base import ChatRequest, Completion, StreamEvent
from shared.providers.chat_format import chat_body, open_chat_stream, post_chat
from shared.providers.errors import (
    DatasetAccessDenied,
    DatasetInvalid,
    DatasetNotFound,
    DatasetTooLarge,
    DatasetUrlInvalid,
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
from shared.providers.reading import iter_decoded

HUB_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# A dataset download may be large: the read timeout bounds each wait for bytes, not the total.
DATASET_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# The longest line of a dataset file: the default of ``Settings.dataset_max_line_bytes``.
MAX_LINE_BYTES = 16 * 1024 * 1024
# Gzip is inflated at most this many bytes at a time (memory, not a limit on the file).
INFLATE_CHUNK_BYTES = 64 * 1024
DEFAULT_REVISION = "main"
HUB_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})
# Revisions that contain "/" and may be written unescaped (as huggingface_hub accepts them).
_SPECIAL_REF = re.compile(r"^(refs/pr/\d+|refs/convert/\w+)(/|$)")
_GZIP_MAGIC = b"\x1f\x8b"
_EXAMPLE = "https://huggingface.co/datasets/<owner>/<name>/resolve/main/<file>.jsonl"


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
        label = f"{self.label}:{_short(url)}"
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
                    f"{_short(url)}: {exc}", url=url, line=exc.line, reason=str(exc)
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
            raise DatasetAccessDenied(f"{_short(url)}: {hint}", url=url, status=status)
        if status == 404:
            hint = "no such dataset file: check the owner, name, revision and path"
            if self._token:
                hint += " (the Hub also answers 404 to a token that cannot see a private dataset)"
            raise DatasetNotFound(f"{_short(url)}: {hint}", url=url, status=status)
        raise_for_upstream(response, label=label, secrets=[self._token])


def parse_dataset_url(
    url: str, *, hosts: frozenset[str] | set[str] = HUB_HOSTS
) -> tuple[str, str, str, str]:
    """``(owner, name, revision, path)`` of a dataset file URL, or DatasetUrlInvalid.

    ``https://`` URLs are accepted on the Hub's hosts and on ``hosts`` (the configured
    ``HF_ENDPOINT``, so the local simulator's URLs work as pasted).
    """
    text = url.strip()
    if text.startswith("hf://"):
        owner, name, revision, path = _parse_hf_path(text)
    elif text.startswith(("https://", "http://")):
        owner, name, revision, path = _parse_hub_url(text, hosts=hosts)
    else:
        raise DatasetUrlInvalid(
            f"{_short(text)!r} is not a Hugging Face dataset URL: use {_EXAMPLE} "
            "or hf://datasets/<owner>/<name>/<file>.jsonl"
        )
    _check_parts(text, owner=owner, name=name, revision=revision, path=path)
    segments = path.split("/")
    if not path.lower().endswith((".jsonl", ".jsonl.gz")):
        raise DatasetUrlInvalid(
            f"{_short(text)!r}: the file must be .jsonl or .jsonl.gz, not {segments[-1]!r}"
        )
    return owner, name, revision, path


# Hub repo names: letters, digits, "_", "." and "-", at most 96, starting with a letter or digit.
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
# What no part may hold once decoded: "%" followed by an encoded ".", "/" or "\\" (the part was
# encoded twice, and a server that decodes again would see a traversal).
_DOUBLE_ENCODED = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)


def _check_parts(text: str, *, owner: str, name: str, revision: str, path: str) -> None:
    """Refuse parts that would change which Hub path the download asks for: dot segments,
    empty segments, backslashes, control characters and double encoding, in every part (all
    are decoded already). The file path keeps its "/"s; the revision is sent as one segment."""

    def refuse(part: str, value: str, why: str) -> None:
        raise DatasetUrlInvalid(f"{_short(text)!r}: the {part} {value!r} is not valid: {why}")

    for part, value in (("owner", owner), ("name", name)):
        if not _REPO_PART.fullmatch(value) or ".." in value:
            refuse(part, value, 'Hub names are letters, digits, "_", "." and "-" (no "..")')
    for part, value in (("revision", revision), ("file path", path)):
        if "\\" in value:
            refuse(part, value, "it contains a backslash")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            refuse(part, value, "it contains a control character")
        if _DOUBLE_ENCODED.search(value):
            refuse(part, value, 'it holds a percent-encoded ".", "/" or "\\" (encoded twice)')
        segments = value.split("/")
        if "" in segments:
            refuse(part, value, "it has an empty segment")
        if any(segment in (".", "..") for segment in segments):
            refuse(part, value, 'it has a "." or ".." segment')
    if ".." in revision:
        refuse("revision", revision, 'a revision has no ".."')


def _parse_hf_path(text: str) -> tuple[str, str, str, str]:
    rest = text.removeprefix("hf://")
    if not rest.startswith("datasets/"):
        raise DatasetUrlInvalid(
            f"{_short(text)!r}: only dataset repos are supported (hf://datasets/<owner>/<name>/...)"
        )
    parts = rest.removeprefix("datasets/").split("/", 2)
    if len(parts) < 3 or not parts[0] or not parts[1]:
        raise DatasetUrlInvalid(
            f"{_short(text)!r}: expected hf://datasets/<owner>/<name>[@revision]/<file>.jsonl"
        )
    owner, name_rev, path = parts
    name, at, revision = name_rev.partition("@")
    if at and revision == "refs":  # an unescaped special ref: @refs/pr/1/data.jsonl
        special = _SPECIAL_REF.match("refs/" + path)
        if special:
            revision, path = special.group(1), ("refs/" + path)[special.end() :]
    revision = unquote(revision)
    if not name or (at and not revision):
        raise DatasetUrlInvalid(f"{_short(text)!r}: the dataset name or revision is empty")
    return owner, name, revision or DEFAULT_REVISION, unquote(path)


def _parse_hub_url(text: str, *, hosts: frozenset[str] | set[str]) -> tuple[str, str, str, str]:
    parts = urlsplit(text)
    if (parts.hostname or "").lower() not in hosts:
        raise DatasetUrlInvalid(
            f"{_short(text)!r} is not on huggingface.co: GET datasets are read from the Hub"
        )
    segments = parts.path.strip("/").split("/")
    if not segments or segments[0] != "datasets":
        raise DatasetUrlInvalid(
            f"{_short(text)!r} is not a dataset URL: GET datasets live under "
            "huggingface.co/datasets/<owner>/<name>"
        )
    if len(segments) < 6 or segments[3] not in ("resolve", "blob", "raw"):
        raise DatasetUrlInvalid(
            f"{_short(text)!r} points at a dataset page, not a file: link one .jsonl or "
            f".jsonl.gz file, like {_EXAMPLE}"
        )
    owner, name, revision, rest = segments[1], segments[2], segments[4], segments[5:]
    if revision == "refs" and len(rest) > 2:  # an unescaped refs/pr/1 or refs/convert/x
        special = _SPECIAL_REF.match("refs/" + "/".join(rest))
        if special:
            revision = special.group(1)
            rest = rest[2:]
    return unquote(owner), unquote(name), unquote(revision), unquote("/".join(rest))


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
            f"{_short(url)}: the gzip data is corrupt", url=url, line=None, reason=str(exc)
        ) from exc
    if fed and not decompressor.eof:
        raise DatasetInvalid(
            f"{_short(url)}: the gzip data ends early (truncated file)",
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
                f"{_short(url)}: the dataset is larger than {max_bytes} bytes uncompressed"
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
            f"{_short(url)}: line {number} is longer than {limit} bytes"
            " (the limit is DRGERO_DATASET_MAX_LINE_BYTES)",
            url=url,
            line=number,
            reason="line too long",
        )


def _short(url: str) -> str:
    """A URL for messages: without query or fragment (they may carry signed tokens)."""
    return url.split("?", 1)[0].split("#", 1)[0][:300]
