"""What a simulated model answers: the answer key, judging, token counts and cost. No I/O.

Correctness is a pure function of (model id, answer-key input), so a model with accuracy 0.7
is right on the same 70% of a dataset every time, whatever the prompt template around the
input. Judges compare the expected and candidate blocks of the judge prompt.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simulator.config import AnswerRow, Pricing

REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


def fraction(*parts: str) -> float:
    """A stable number in [0, 1) from the parts (sha256, first 32 bits)."""
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return int(digest[:8], 16) / 2**32


def short_hash(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:8]


def message_text(message: Any) -> str:
    """The text of one chat message; content may be a string or a list of parts."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return message_text(messages[-1]) if messages else ""


def all_text(messages: list[Any]) -> str:
    return "\n".join(message_text(message) for message in messages)


class AnswerKey:
    """Rows ``{input, expected}``; a prompt matches the longest input it contains."""

    def __init__(self, rows: list[AnswerRow] | None = None) -> None:
        self._rows: dict[str, str] = {}
        self._longest_first: list[str] = []
        self.add(rows or [])

    def add(self, rows: list[AnswerRow]) -> None:
        for row in rows:
            self._rows[row.input] = row.expected
        self._longest_first = sorted(self._rows, key=len, reverse=True)

    def extended(self, rows: list[AnswerRow]) -> AnswerKey:
        """A new key with these rows added (the same input replaces its expected answer)."""
        key = AnswerKey()
        key._rows = dict(self._rows)
        key.add(rows)
        return key

    def __len__(self) -> int:
        return len(self._rows)

    def match(self, messages: list[Any]) -> AnswerRow | None:
        """The entry found in the last user message, else anywhere in the conversation."""
        for text in (last_user_text(messages), all_text(messages)):
            for key_input in self._longest_first:
                if key_input in text:
                    return AnswerRow(input=key_input, expected=self._rows[key_input])
        return None


def candidate_answer(model_id: str, accuracy: float, row: AnswerRow | None, prompt: str) -> str:
    """The expected answer on the model's right rows, a stable wrong one otherwise."""
    if row is None:
        snippet = " ".join(prompt.split())[:200]
        return f"Simulated answer of {model_id} to: {snippet}"
    if fraction(model_id, row.input) < accuracy:
        return row.expected
    return f"wrong answer {short_hash(model_id, row.input)}"


# ---------------------------------------------------------------- judging

# Labels of the blocks of a judge prompt ("[ _]" matches "expected answer" and "expected_answer").
_EXPECTED = "|".join(
    [
        r"expected(?:[ _](?:answer|output|response))?",
        r"reference(?:[ _]answer)?",
        r"gold(?:[ _]answer)?",
        r"correct[ _]answer",
        r"ground[ _]truth",
    ]
)
_CANDIDATE = "|".join(
    [
        r"candidate(?:[ _](?:answer|output|response))?",
        r"model[ _](?:answer|output|response)",
        r"actual(?:[ _](?:answer|output))?",
        r"output|response|answer",
    ]
)
_OTHER = r"input|question|query|task|prompt|rubric|criteria|instructions?|context|score|reason"
_LABEL_LINE = re.compile(
    r"^[ \t]*(?:#+[ \t]*)?(?:\*\*)?[ \t]*"  # optional markdown heading or bold
    rf"({_EXPECTED}|{_CANDIDATE}|{_OTHER})"
    r"[ \t]*(?:\*\*)?[ \t]*:(?:\*\*)?[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_TAGGED = re.compile(r"<([a-z_]+)>(.*?)</\1>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class JudgeInput:
    expected: str
    candidate: str


def parse_judge_prompt(text: str) -> JudgeInput | None:
    """Find the expected and candidate blocks (``Label:`` lines or ``<label>`` tags).

    A block runs from its label to the next label line or the end (when the blocks are
    paragraphs, to the next label that starts a paragraph); the last block of each kind wins,
    so instructions that mention "Output:" before the data do no harm.
    """
    blocks: dict[str, str] = {}
    for match in _TAGGED.finditer(text):
        kind = _kind(match.group(1))
        if kind:
            blocks[kind] = match.group(2)
    labels = list(_LABEL_LINE.finditer(text))
    # Blocks separated by blank lines (our backend's format): then only labels that start a
    # paragraph count, so a candidate answer with an "Answer: 5" line stays whole.
    paragraph_labels = [match for match in labels if _starts_paragraph(text, match.start())]
    if {"expected", "candidate"} <= {_kind(match.group(1)) for match in paragraph_labels}:
        labels = paragraph_labels
    for index, match in enumerate(labels):
        kind = _kind(match.group(1))
        if kind:
            end = labels[index + 1].start() if index + 1 < len(labels) else len(text)
            blocks[kind] = text[match.end() : end]
    if "expected" not in blocks or "candidate" not in blocks:
        return None
    return JudgeInput(expected=_clean(blocks["expected"]), candidate=_clean(blocks["candidate"]))


def _starts_paragraph(text: str, position: int) -> bool:
    before = text[:position].rstrip(" \t")
    return not before.strip() or before.endswith("\n\n")


def _kind(label: str) -> str | None:
    label = label.lower().replace("_", " ")
    if re.fullmatch(_EXPECTED.replace("[ _]", " "), label):
        return "expected"
    if re.fullmatch(_CANDIDATE.replace("[ _]", " "), label):
        return "candidate"
    return None


def _clean(block: str) -> str:
    text = block.strip()
    fence = re.fullmatch(r"```[\w-]*\n?(.*?)\n?```", text, re.DOTALL)
    if fence:
        text = fence.group(1).strip()
    for quote in ('"""', '"', "'"):
        if len(text) >= 2 * len(quote) and text.startswith(quote) and text.endswith(quote):
            text = text[len(quote) : -len(quote)].strip()
            break
    return text


def normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


_TEN_POINT_SCALE = re.compile(
    r"\bfrom\s+1\b[^.\n]{0,40}?\bto\s+10\b|\b1\s*(?:-|to)\s*10\b", re.IGNORECASE
)
NO_EXPECTED = ("", "(none)", "none", "n/a")


def ten_point_scale(messages: list[Any]) -> bool:
    """Whether the judge is asked for 1..10 (in its system message, or anywhere without one)."""
    system = [m for m in messages if isinstance(m, dict) and m.get("role") == "system"]
    text = all_text(system) if system else all_text(messages)
    return bool(_TEN_POINT_SCALE.search(text))


def judge_verdict(judged: JudgeInput, *, ten_point: bool = False) -> dict[str, Any]:
    """Full marks when the candidate equals the expected answer (trimmed, casefolded).

    Without an expected answer, any answer but the simulator's own wrong ones passes.
    """
    if normalized(judged.expected) in NO_EXPECTED:
        right = not judged.candidate.startswith("wrong answer ")
        reason = "No expected answer; the candidate answer looks plausible."
    else:
        right = normalized(judged.expected) == normalized(judged.candidate)
        reason = "The candidate answer matches the expected answer."
    if not right:
        reason = "The candidate answer differs from the expected answer."
    high, low = (10, 1) if ten_point else (1.0, 0.0)
    return {"score": high if right else low, "reason": reason}


MALFORMED_JUDGE_TEXT = "The answer looks mostly fine to me, I would give it a good grade."


# ---------------------------------------------------------------- output shaping


def json_content(text: str, response_format: Any) -> str:
    """``text`` as JSON content for a ``json_object``/``json_schema`` request."""
    schema: Any = None
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or not properties:
        return json.dumps({"answer": text})
    filled: dict[str, Any] = {}
    placed = False
    for name, prop in properties.items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        if kind == "string" and not placed:
            filled[name], placed = text, True
        else:
            filled[name] = _EMPTY.get(kind if isinstance(kind, str) else "", "")
    if not placed:
        filled["answer"] = text
    return json.dumps(filled)


_EMPTY: dict[str, Any] = {"number": 0, "integer": 0, "boolean": False, "array": [], "object": {}}


def wants_json(response_format: Any) -> bool:
    return isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    )


def count_tokens(text: str) -> int:
    """About four characters per token, at least one."""
    return max(1, (len(text) + 3) // 4)


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    return text[: max(1, max_tokens) * 4]


def cost_usd(pricing: Pricing, prompt_tokens: int, completion_tokens: int) -> float:
    total = (
        pricing.per_token("prompt") * prompt_tokens
        + pricing.per_token("completion") * completion_tokens
        + pricing.per_token("request")
    )
    return float(total.quantize(Decimal("1e-12")))
