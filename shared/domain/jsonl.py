"""Canonical JSON and JSONL encoding.

One encoding everywhere a byte-for-byte stable form matters: content ids of rows, the size a row
is measured by, and the lines of dataset files. Canonical JSON means keys sorted, no whitespace,
non-ASCII characters written as themselves (UTF-8), and strict JSON only: NaN, Infinity and
unpaired UTF-16 surrogates are refused with :class:`ValueError` rather than written as text that
other JSON readers reject.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


class JsonlError(ValueError):
    """A JSONL stream has a line that is not a JSON object; ``line`` is its 1-based number."""

    def __init__(self, message: str, *, line: int) -> None:
        super().__init__(message)
        self.line = line


def canonical_json(obj: Any) -> str:
    """Compact JSON with sorted keys; raises ValueError for NaN/Infinity."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def canonical_bytes(obj: Any) -> bytes:
    """:func:`canonical_json` as UTF-8; raises ValueError also for unpaired surrogates."""
    return canonical_json(obj).encode("utf-8")


def dumps_line(obj: Any) -> bytes:
    """One JSONL line: canonical JSON, a newline, UTF-8."""
    return canonical_bytes(obj) + b"\n"


def iter_lines(lines: Iterable[bytes | str]) -> Iterator[dict[str, Any]]:
    """Parse a JSONL stream (a binary or text file object, or any iterable of lines).

    Blank lines are skipped and a UTF-8 byte-order mark on the first line is ignored. A line that
    is not valid UTF-8, not valid JSON, or not a JSON object raises :class:`JsonlError`. Lines are
    parsed one at a time, so memory stays at one line whatever the stream's size.
    """
    for number, line in enumerate(lines, start=1):
        text = _decode(line, number)
        if number == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JsonlError(f"line {number} is not valid JSON: {exc.msg}", line=number) from exc
        if not isinstance(obj, dict):
            kind = json_type_name(obj)
            raise JsonlError(f"line {number} is a JSON {kind}, not an object", line=number)
        yield obj


def json_type_name(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages: "string", "array", "null", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _decode(line: bytes | str, number: int) -> str:
    if isinstance(line, str):
        return line
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonlError(f"line {number} is not valid UTF-8", line=number) from exc
