"""Cursor pagination over Firestore queries, newest first.

Every listed record has an ``id`` field and a timestamp; pages are ordered by
``(timestamp desc, id desc)`` and a cursor is the url-safe encoding of the last item's pair.
Lists return ``{"items": [...], "next_cursor": "..." | null}``; passing ``next_cursor`` back as
``cursor`` gives the following page. A page never repeats or skips an item, even while new
items arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud import firestore

from shared.errors import BadRequest

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(order_value: datetime, item_id: str) -> str:
    raw = json.dumps([order_value.isoformat(), item_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode())
        order_value, item_id = json.loads(raw)
        return datetime.fromisoformat(order_value), str(item_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise BadRequest("cursor is not one this API returned", code="invalid_cursor") from exc


def page_size(raw: str | None, *, default: int = 50) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"limit must be an integer, got {raw!r}", code="invalid_limit") from exc
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}", code="invalid_limit")
    return value


def fetch_page(
    query: Any, *, order_field: str = "created_at", limit: int, cursor: str | None
) -> Page:
    """One page of ``query``, ordered by ``order_field`` then ``id``, both descending."""
    ordered = query.order_by(order_field, direction=firestore.Query.DESCENDING).order_by(
        "id", direction=firestore.Query.DESCENDING
    )
    if cursor:
        order_value, item_id = decode_cursor(cursor)
        ordered = ordered.start_after({order_field: order_value, "id": item_id})
    items = [snap.to_dict() for snap in ordered.limit(limit + 1).stream()]
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(items[-1][order_field], items[-1]["id"]) if more else None
    return Page(items=items, next_cursor=next_cursor)
