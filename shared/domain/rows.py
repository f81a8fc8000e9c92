"""Pushed rows → normalised dataset rows.

The push body is one row object, an array of rows, or an object whose ``rows``, ``events`` or
``samples`` field holds the array (:func:`extract_rows`). Each row is then normalised on its own
(:func:`normalise_rows`): a bad row is rejected with a code and a sentence, never by raising, and
the other rows of the push are still accepted. These are the field rules:

- **input** is the first of ``input``, ``prompt``, ``question``, ``query`` that is present and not
  null. Strings are kept exactly as sent, but an empty or whitespace-only string counts as absent.
  Numbers become their decimal text, booleans ``true``/``false``, objects and arrays compact JSON
  with sorted keys.
- **messages** (OpenAI-style chat messages) become the input when no input field is given. They
  must be a non-empty array of objects, each with a string ``role`` and a ``content`` that is a
  string, null, or an array of content parts. The text is one block per message,
  ``"<role>: <text>"``, blocks separated by a blank line. Text parts give their text, images
  ``[image]``, audio ``[audio]``, other parts ``[<type>]``; a tool call on an assistant message
  gives ``[tool call <name>(<arguments>)]``; messages with no text are left out. When both an input
  field and messages are given, the input field wins and the messages are still kept on the row.
  Messages are checked whenever they are given (``invalid_messages``).
- A row with neither an input field nor messages, or whose messages have no text, is rejected
  with ``missing_input``.
- **expected** is the first of ``output``, ``response``, ``completion``, ``answer``, ``expected``
  that is present and not null, converted like input (an empty string is kept as an empty answer).
  Without one, expected is null.
- **rubric** is a string or null.
- **id** is the first of ``id``, ``example_id``, ``trace_id`` that is present and not null: a
  string of at most 256 characters that is not blank (kept exactly as sent), or an integer (kept
  as its decimal text). A row without an id gets a content id, ``c_`` followed by 32 hex digits
  of a SHA-256 of its input text. The content id depends only on the input, in every process and
  every release, so rows with identical input pushed without ids are the same dataset row: the
  newest one wins at consolidation.
- **metadata** is an object or null. Every field of the row not used above is kept in the row's
  metadata under its own name, nothing is dropped; this includes the alias fields that were not
  chosen (e.g. ``prompt`` when ``input`` was also given). Where a key of the ``metadata`` object
  and a top-level field have the same name, the ``metadata`` object wins.
- Known metadata fields, top-level or inside ``metadata``, are checked and normalised: ``tags``
  (an array of strings, or one string which becomes a one-element array); ``user_id``,
  ``session_id``, ``conversation_id`` (strings, integers become text); ``latency_ms`` and
  ``cost_usd`` (numbers ≥ 0); ``model`` and ``provider`` (strings). Any of them may be null.
- A row must be a JSON object (``row_not_object``) and its compact JSON must fit the row size
  limit (``row_too_large``). NaN, Infinity and unpaired surrogates are refused (``invalid_field``).

A row is rejected for the first problem found, in this order: not an object, too large, values
JSON cannot carry, id, input and messages, expected, rubric, metadata. Rejection codes:
``row_not_object``, ``row_too_large``, ``invalid_id``, ``invalid_messages``, ``missing_input``,
``invalid_field`` (with the field's name). Messages are rendered as text by
:mod:`shared.domain.chat_messages`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain.chat_messages import a_json, render_messages
from shared.domain.jsonl import canonical_bytes, canonical_json, json_type_name

INPUT_FIELDS = ("input", "prompt", "question", "query")
EXPECTED_FIELDS = ("output", "response", "completion", "answer", "expected")
ID_FIELDS = ("id", "example_id", "trace_id")
BODY_ARRAY_FIELDS = ("rows", "events", "samples")
MAX_ID_LENGTH = 256
_CONTENT_ID_SALT = "drgero-row-v1\n"


class BodyShapeError(ValueError):
    """The push body is not a row, an array of rows, or an object holding one array of rows."""


@dataclass(frozen=True, slots=True)
class Row:
    """One normalised dataset row. Frozen, but ``messages`` and ``metadata`` are not copied."""

    id: str
    input: str
    expected: str | None = None
    rubric: str | None = None
    messages: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "input": self.input,
            "expected": self.expected,
            "rubric": self.rubric,
        }
        if self.messages is not None:
            data["messages"] = self.messages
        data["metadata"] = self.metadata
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        """Read back a row written by :meth:`to_json`; ValueError if it is not one."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a dataset row must be an object, got {json_type_name(data)}")
        for name in ("id", "input"):
            if not isinstance(data.get(name), str):
                raise ValueError(f"dataset row field {name!r} must be a string")
        for name in ("expected", "rubric"):
            if not isinstance(data.get(name), str | None):
                raise ValueError(f"dataset row field {name!r} must be a string or null")
        messages, metadata = data.get("messages"), data.get("metadata", {})
        if not isinstance(messages, list | None):
            raise ValueError("dataset row field 'messages' must be an array or absent")
        if not isinstance(metadata, dict):
            raise ValueError("dataset row field 'metadata' must be an object")
        return cls(
            data["id"], data["input"], data.get("expected"), data.get("rubric"), messages, metadata
        )


@dataclass(frozen=True, slots=True)
class RowRejection:
    """Why the row at ``index`` of a push was not accepted."""

    index: int
    code: str
    message: str
    field: str | None = None


class _Rejected(Exception):
    """Internal: unwinds one row's normalisation; becomes a :class:`RowRejection`."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def extract_rows(body: Any) -> list[Any]:
    """The raw rows of a push body (see the module docstring); BodyShapeError for other shapes."""
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        raise BodyShapeError(
            f"the push body must be a row object, an array of rows, or an object with "
            f"'rows', 'events' or 'samples'; got a JSON {json_type_name(body)}"
        )
    arrays = [name for name in BODY_ARRAY_FIELDS if isinstance(body.get(name), list)]
    if len(arrays) > 1:
        raise BodyShapeError(
            f"the push body has arrays under {', '.join(repr(n) for n in arrays)}; "
            "send the rows under exactly one of 'rows', 'events' or 'samples'"
        )
    return body[arrays[0]] if arrays else [body]


def normalise_rows(
    raw_rows: list[Any], *, max_row_bytes: int
) -> tuple[list[tuple[int, Row]], list[RowRejection]]:
    """Normalise every raw row; accepted rows and rejections both carry the row's index."""
    accepted: list[tuple[int, Row]] = []
    rejected: list[RowRejection] = []
    for index, raw in enumerate(raw_rows):
        try:
            accepted.append((index, _normalise_row(raw, max_row_bytes)))
        except _Rejected as reason:
            rejected.append(RowRejection(index, reason.code, reason.message, reason.field))
    return accepted, rejected


def content_id(input_text: str) -> str:
    """The id of a row pushed without one: the same for the same input in every process/release."""
    digest = hashlib.sha256((_CONTENT_ID_SALT + input_text).encode("utf-8")).hexdigest()
    return "c_" + digest[:32]


def _normalise_row(raw: Any, max_row_bytes: int) -> Row:
    if not isinstance(raw, dict):
        raise _Rejected(
            "row_not_object", f"the row is a JSON {json_type_name(raw)}; each row must be an object"
        )
    size = _size_in_bytes(raw)
    if size > max_row_bytes:
        raise _Rejected(
            "row_too_large",
            f"the row is {size} bytes as compact JSON; the limit is {max_row_bytes} bytes",
        )
    id_field, row_id = _pick_id(raw)
    input_field, input_value = _first_present(raw, INPUT_FIELDS, skip_blank=True)
    messages, rendered = _pick_messages(raw)
    if input_field is not None:
        input_text = _as_text(input_value)
    elif messages is None:
        blank = [name for name in INPUT_FIELDS if name in raw]
        hint = f" ({', '.join(blank)}: empty or null)" if blank else ""
        raise _Rejected(
            "missing_input",
            f"row has no input: give one of input, prompt, question, query or messages{hint}",
        )
    elif not rendered.strip():
        raise _Rejected("missing_input", "row has no input: its messages contain no text")
    else:
        input_text = rendered
    expected_field, expected_value = _first_present(raw, EXPECTED_FIELDS, skip_blank=False)
    expected = None if expected_field is None else _as_text(expected_value)
    rubric = raw.get("rubric")
    if not isinstance(rubric, str | None):
        raise _Rejected(
            "invalid_field",
            f"field 'rubric' must be a string or null, got {json_type_name(rubric)}",
            "rubric",
        )
    used = {"messages", "rubric", "metadata", id_field, input_field, expected_field}
    metadata = _metadata(raw, used)
    return Row(
        id=row_id if row_id is not None else content_id(input_text),
        input=input_text,
        expected=expected,
        rubric=rubric,
        messages=messages,
        metadata=metadata,
    )


def _size_in_bytes(raw: dict[str, Any]) -> int:
    try:
        return len(canonical_bytes(raw))
    except (ValueError, TypeError, RecursionError):
        # A field is named only when its name can be written: the name goes into the rejection,
        # which is sent back and stored. An unstorable name itself makes the row "the row".
        bad = next(
            (n for n, value in raw.items() if _is_storable(n) and not _is_storable(value)), None
        )
        where = f"field {bad!r}" if bad is not None else "the row"
        raise _Rejected(
            "invalid_field",
            f"{where} contains a value JSON cannot store (NaN, Infinity or an unpaired surrogate)",
            bad,
        ) from None


def _is_storable(value: Any) -> bool:
    try:
        canonical_bytes(value)
    except (ValueError, TypeError, RecursionError):
        return False
    return True


def _first_present(
    raw: dict[str, Any], names: tuple[str, ...], *, skip_blank: bool
) -> tuple[str | None, Any]:
    for name in names:
        value = raw.get(name)
        if value is None or (skip_blank and isinstance(value, str) and not value.strip()):
            continue
        return name, value
    return None, None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return canonical_json(value)


def _pick_id(raw: dict[str, Any]) -> tuple[str | None, str | None]:
    name, value = _first_present(raw, ID_FIELDS, skip_blank=False)
    if name is None:
        return None, None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        problem = f"is a JSON {json_type_name(value)}"
    elif not value.strip():
        problem = "is empty"
    elif len(value) > MAX_ID_LENGTH:
        problem = f"has {len(value)} characters"
    else:
        return name, value
    raise _Rejected(
        "invalid_id",
        f"field {name!r} {problem}; an id must be a non-blank string of at most "
        f"{MAX_ID_LENGTH} characters, or an integer",
        name,
    )


def _pick_messages(raw: dict[str, Any]) -> tuple[list[dict[str, Any]] | None, str]:
    messages = raw.get("messages")
    if messages is None:
        return None, ""
    try:
        return messages, render_messages(messages)
    except ValueError as exc:
        raise _Rejected("invalid_messages", str(exc), "messages") from None


def _metadata(raw: dict[str, Any], used: set[str | None]) -> dict[str, Any]:
    explicit = raw.get("metadata")
    if not isinstance(explicit, dict | None):
        raise _Rejected(
            "invalid_field",
            f"field 'metadata' must be an object or null, got {a_json(explicit)}",
            "metadata",
        )
    metadata = {name: value for name, value in raw.items() if name not in used}
    metadata.update(explicit or {})
    for name, check in _KNOWN_METADATA.items():
        if name in metadata:
            where = f"metadata.{name}" if explicit and name in explicit else name
            metadata[name] = check(where, metadata[name])
    return metadata


def _tags(where: str, value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if value is None or (isinstance(value, list) and all(isinstance(t, str) for t in value)):
        return value
    raise _bad_type(where, value, "a string or an array of strings")


def _identifier(where: str, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    raise _bad_type(where, value, "a string or an integer")


def _amount(where: str, value: Any) -> Any:
    if value is None:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value >= 0 and math.isfinite(value):
            return value
        raise _Rejected("invalid_field", f"field {where!r} must be ≥ 0, got {value}", where)
    raise _bad_type(where, value, "a number ≥ 0")


def _text(where: str, value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    raise _bad_type(where, value, "a string")


def _bad_type(where: str, value: Any, expected: str) -> _Rejected:
    return _Rejected(
        "invalid_field", f"field {where!r} must be {expected}, got {a_json(value)}", where
    )


_KNOWN_METADATA: dict[str, Callable[[str, Any], Any]] = {
    "tags": _tags,
    "user_id": _identifier,
    "session_id": _identifier,
    "conversation_id": _identifier,
    "latency_ms": _amount,
    "cost_usd": _amount,
    "model": _text,
    "provider": _text,
}
