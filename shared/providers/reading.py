"""Bounded reads of upstream answers: the one way a provider reads a response body.

httpx would decode ``Content-Encoding`` without a bound (one 64 KiB network read of a gzip bomb
inflates to ~64 MiB at once) and ``response.read()`` keeps whatever arrives. Here the raw bytes
(``iter_raw``) are decoded by us, at most :data:`DECODE_STEP` bytes out per step, and every
reader counts the *decoded* bytes and stops as soon as a cap is passed, so the memory one call
holds stays within one step of its cap:

* :func:`read_body` — a whole body (JSON, text, an error body), up to ``limit`` bytes: past it,
  :class:`UpstreamResponseTooLarge` (or, for error bodies, the first ``limit`` bytes).
* :func:`iter_lines` — the lines of a stream (SSE), each at most ``max_line`` bytes; we split
  lines ourselves because httpx's ``iter_lines`` has no bound on a line.
* :func:`iter_decoded` — the decoded body in bounded pieces, for readers with their own caps
  (Hub dataset downloads).

The caps are :class:`ReadLimits`, from ``Settings`` (``DRGERO_UPSTREAM_MAX_*``).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from shared.providers.errors import InvalidUpstreamResponse, UpstreamResponseTooLarge

DECODE_STEP = 64 * 1024  # the most bytes one decoding step produces
# Encodings we decode ourselves; the client asks for no other (Accept-Encoding).
ACCEPT_ENCODING = "gzip, deflate"
_EOL = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class ReadLimits:
    """Caps on what one upstream call may deliver (decoded bytes); see ``Settings``."""

    body_bytes: int = 8 * 1024 * 1024
    error_body_bytes: int = 64 * 1024
    sse_line_bytes: int = 1024 * 1024
    stream_output_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Any) -> ReadLimits:
        return cls(
            body_bytes=settings.upstream_max_body_bytes,
            error_body_bytes=settings.upstream_max_error_body_bytes,
            sse_line_bytes=settings.upstream_max_sse_line_bytes,
            stream_output_bytes=settings.upstream_max_stream_output_bytes,
        )


def too_large(label: str, what: str, *, setting: str, limit: int) -> UpstreamResponseTooLarge:
    return UpstreamResponseTooLarge(
        f"{label}: {what} is larger than {limit} bytes (the limit DRGERO_{setting.upper()})",
        setting=f"DRGERO_{setting.upper()}",
        limit=limit,
    )


def read_body(
    response: httpx.Response, *, limit: int, label: str, truncate: bool = False
) -> httpx.Response:
    """The response with its body read (decoded, at most ``limit`` bytes) into memory.

    Past ``limit``: UpstreamResponseTooLarge, or with ``truncate`` the first ``limit`` bytes
    (enough for an error body's message). The answer is a new ``httpx.Response`` holding the
    decoded bytes, so ``.json()``, ``.text`` and ``.headers`` work as usual.
    """
    declared = response.headers.get("content-length", "")
    encoded = bool(_encodings(response))
    if not truncate and not encoded and declared.isdigit() and int(declared) > limit:
        raise too_large(label, "the answer", setting="upstream_max_body_bytes", limit=limit)
    pieces: list[bytes] = []
    size = 0
    for piece in iter_decoded(response, label=label):
        if size + len(piece) > limit:
            if not truncate:
                raise too_large(label, "the answer", setting="upstream_max_body_bytes", limit=limit)
            pieces.append(piece[: limit - size])
            break
        pieces.append(piece)
        size += len(piece)
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=b"".join(pieces),
        request=response.request,
        extensions=response.extensions,
    )


def iter_decoded(response: httpx.Response, *, label: str) -> Iterator[bytes]:
    """The body with its Content-Encoding undone, in pieces of at most DECODE_STEP bytes."""
    pieces: Iterable[bytes] = response.iter_raw()
    for encoding in reversed(_encodings(response)):  # the last one listed was applied last
        if encoding in ("gzip", "x-gzip"):
            pieces = _inflate(pieces, zlib.MAX_WBITS | 16, label=label)
        elif encoding == "deflate":
            pieces = _inflate(pieces, None, label=label)
        elif encoding != "identity":
            raise InvalidUpstreamResponse(
                f"{label}: the answer's Content-Encoding {encoding[:40]!r} was not asked for"
            )
    for piece in pieces:
        for start in range(0, len(piece), DECODE_STEP):  # identity: raw reads may be larger
            yield piece[start : start + DECODE_STEP]


def iter_lines(pieces: Iterable[bytes], *, max_line: int, label: str) -> Iterator[str]:
    """Lines (``\\n``, ``\\r\\n`` or ``\\r`` ends one), each at most ``max_line`` bytes.

    Lines are UTF-8 (SSE's encoding), undecodable bytes replaced.
    """
    buffer = bytearray()
    after_cr = False  # the last piece ended in "\r": a "\n" opening the next one belongs to it
    for piece in pieces:
        start = 1 if after_cr and piece.startswith(b"\n") else 0
        after_cr = False
        for end in _EOL.finditer(piece, start):
            _append(buffer, piece[start : end.start()], max_line=max_line, label=label)
            yield buffer.decode("utf-8", "replace")
            buffer.clear()
            start = end.end()
            after_cr = end.group() == b"\r" and start == len(piece)
        _append(buffer, piece[start:], max_line=max_line, label=label)
    if buffer:
        yield buffer.decode("utf-8", "replace")


def _append(buffer: bytearray, data: bytes, *, max_line: int, label: str) -> None:
    if len(buffer) + len(data) > max_line:
        raise too_large(
            label, "one line of the stream", setting="upstream_max_sse_line_bytes", limit=max_line
        )
    buffer += data


def _encodings(response: httpx.Response) -> list[str]:
    values = response.headers.get_list("content-encoding", split_commas=True)
    return [v.strip().lower() for v in values if v.strip()]


def _inflate(pieces: Iterable[bytes], wbits: int | None, *, label: str) -> Iterator[bytes]:
    """zlib-decode ``pieces`` at most DECODE_STEP bytes out at a time.

    ``wbits`` None is HTTP's "deflate": zlib-wrapped as the RFC says, or raw deflate as some
    servers send it (told apart by the first byte, as browsers do). Gzip may hold several
    members one after the other.
    """
    decompressor: Any = None
    finished = False
    try:
        for piece in pieces:
            data = b"" if finished else piece
            while data:
                if decompressor is None:
                    bits = wbits if wbits is not None else _deflate_bits(data)
                    decompressor = zlib.decompressobj(bits)
                while True:
                    out = decompressor.decompress(data, DECODE_STEP)
                    if out:
                        yield out
                    data = decompressor.unconsumed_tail
                    if decompressor.eof or (not data and len(out) < DECODE_STEP):
                        break
                if decompressor.eof:  # a next gzip member may follow; other trailing bytes
                    data = decompressor.unused_data  # are ignored, as httpx ignores them
                    decompressor = None
                    if wbits is None or not data.startswith(b"\x1f\x8b"):
                        data, finished = b"", True
        if decompressor is not None:
            tail = decompressor.flush(DECODE_STEP)
            if tail:
                yield tail
    except zlib.error as exc:
        raise InvalidUpstreamResponse(f"{label}: the compressed answer is corrupt") from exc


def _deflate_bits(data: bytes) -> int:
    zlib_wrapped = len(data) >= 2 and (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
    return zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS
