"""Firestore's production size limits, measured and enforced in our own code.

The emulator enforces only part of them: it refuses one string value over 1,048,487 bytes and a
gRPC message over 4 MiB, but it stores a 1.5 MiB document of many fields, which production
refuses (a document is at most 1 MiB, a commit at most 10 MiB). So every writer that stores
documents it does not fully control (traces, review items, idempotent answers) measures them
here, the way Firestore counts (https://cloud.google.com/firestore/docs/storage-size):

- a string is its UTF-8 bytes + 1; a number, timestamp 8; a boolean or null 1; bytes their
  length; an array the sum of its values; a map the sum of its keys (as strings) and values;
- a document is its name (each path segment as a string, + 16), its fields (as a map) and 32.

:func:`fit_document` cuts a document that is too large, field by field, largest first. A cut
field becomes ``{"truncated": true, "original_bytes": N, "head": "<first characters>"}``: a
trace or a review item stays readable and says plainly that it was cut and by how much. We cut
rather than move large fields to Cloud Storage because these writes sit on hot paths (write-
behind commits many calls' traces at once, an upload each would cost more than the call) and
what is cut is a copy: a run's full outputs stay in its results objects in Cloud Storage, an
inference input is the caller's own request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

# Firestore's own limits (production). Settings choose the budgets below them.
FIRESTORE_DOCUMENT_LIMIT = 1024 * 1024
FIRESTORE_COMMIT_WRITES_LIMIT = 500
HEAD_CHARS = 1000  # characters of a cut string kept in its marker

T = TypeVar("T")


def value_size(value: Any) -> int:
    """Bytes Firestore counts for one field value."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | datetime | date):
        return 8
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + 1
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Mapping):
        return sum(len(str(k).encode("utf-8", "surrogatepass")) + 1 + value_size(v)
                   for k, v in value.items())  # fmt: skip
    if isinstance(value, list | tuple):
        return sum(value_size(v) for v in value)
    return len(str(value).encode("utf-8", "surrogatepass")) + 1  # sentinels, references


def name_size(path: str) -> int:
    return sum(len(segment.encode("utf-8")) + 1 for segment in path.split("/")) + 16


def document_size(path: str, data: Mapping[str, Any]) -> int:
    """Bytes Firestore counts for the document ``data`` at ``path``."""
    return name_size(path) + value_size(data) + 32


def truncated(value: Any) -> dict[str, Any]:
    """The marker that replaces a field cut to keep its document under the limit."""
    if isinstance(value, str):
        original = len(value.encode("utf-8", "surrogatepass"))
        return {"truncated": True, "original_bytes": original, "head": value[:HEAD_CHARS]}
    return {"truncated": True, "original_bytes": value_size(value)}


def fit_document(path: str, data: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """``data`` itself if it fits in ``max_bytes``, else a copy with its largest fields cut.

    Top-level fields are cut largest first until the document fits (the few small fields that
    say what a document is, like ``id`` and ``kind``, are the last to go). A document that
    still does not fit (thousands of fields) is answered as cut as it gets: the caller's
    commit is refused and isolated (see ``writebehind``), never silently half-written.
    """
    size = document_size(path, data)
    if size <= max_bytes:
        return data
    fitted = dict(data)
    for key in sorted(fitted, key=lambda k: value_size(fitted[k]), reverse=True):
        before = value_size(fitted[key])
        marker = truncated(fitted[key])
        if value_size(marker) >= before:
            break  # every field left is smaller than a marker: nothing more to win
        fitted[key] = marker
        size += value_size(marker) - before
        if size <= max_bytes:
            break
    return fitted


def cut_by_size(
    items: Iterable[T], size: Any, *, max_count: int, max_bytes: int
) -> Iterator[list[T]]:
    """``items`` in groups of at most ``max_count`` items and about ``max_bytes`` (``size(item)``
    each); an item larger than ``max_bytes`` makes a group of its own."""
    group: list[T] = []
    group_bytes = 0
    for item in items:
        item_bytes = size(item)
        if group and (len(group) >= max_count or group_bytes + item_bytes > max_bytes):
            yield group
            group, group_bytes = [], 0
        group.append(item)
        group_bytes += item_bytes
    if group:
        yield group
