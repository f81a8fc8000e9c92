"""Exact-match evaluation: a candidate's output against a row's expected answer, deterministically.

A row scores 1.0 (passed) or 0.0 (failed). A row without an expected answer scores ``None``
("no expected answer"): it is left out of the model's mean, never counted as 0, and it is not an
error. The leaderboard's :class:`ExactConfig` chooses the comparison; everything below is applied
in this order.

1. **Code fences** (``strip_code_fences``, on by default, because chat models often wrap a bare
   answer in Markdown): when the whole output, ignoring surrounding whitespace, is one fenced
   block (three backticks, an optional info string such as ``json`` on the opening line, the
   answer, three backticks), the answer inside is compared. The expected answer is unwrapped the
   same way, except in ``regex`` mode where it is a pattern. Prose around a block, or two blocks,
   leave the text as is.
2. **JSON** (``json``, off by default): when both sides parse as JSON (RFC 8259; NaN and
   Infinity are not JSON), their values are compared: object key order is irrelevant, arrays are
   ordered, numbers compare by value (``1`` equals ``1.0``; ``true`` is not ``1``), and strings
   inside are normalised like whole answers (step 4; keys are compared exactly). The tolerances of
   step 3 apply to numbers inside. When either side is not JSON, the comparison falls through.
3. **Numbers** (when ``numeric_tolerance`` or ``relative_tolerance`` is set): when both sides
   are a single number, they pass if ``|a - b| <= numeric_tolerance`` or
   ``|a - b| <= relative_tolerance * max(|a|, |b|)`` (an unset tolerance is 0). A number is an
   optional sign (``+``, ``-`` or U+2212 minus), an optional currency sign (``$ € £ ¥``),
   digits with an optional decimal part, where thousands may be grouped with commas
   (``1,234.5``; groups of exactly three digits), an optional exponent (``1e-3``), and an
   optional trailing ``%``, which is ignored: ``42%`` equals ``42``, not ``0.42``. Whitespace
   around the parts is allowed. Numbers are compared in decimal arithmetic, as written (``3.1``
   is within 0.1 of ``3``; binary floating point would say no), and both bounds are inclusive.
   When either side is not a number, the comparison falls through.
4. **Normalisation** (``normalize``, default ``["trim"]``), applied to both sides in this fixed
   order whatever the order of the list: ``unicode`` (NFKC: full-width and compatibility forms
   become plain ones), ``punctuation`` (every character of Unicode category P is removed, e.g.
   ``. , ; : ! ? ' " ( ) [ ] { } - _ « % # & @ *``; symbols such as ``$ + = < ^`` are kept),
   ``case`` (``str.casefold``), ``whitespace`` (every run of whitespace becomes one space),
   ``trim`` (leading and trailing whitespace removed). Punctuation goes before whitespace and
   trim so that ``"Paris ."`` becomes ``"Paris"``.
5. **Match** (``match``): ``exact`` — the normalised strings are equal; ``contains`` — the
   normalised expected answer occurs in the normalised output (an empty expected answer is
   contained only in an empty output, not in every output); ``regex`` — the expected answer is a
   Python regular expression that must match the whole normalised output (``re.fullmatch``;
   ``case`` makes it case-insensitive instead of case-folding, the pattern itself is never
   normalised, and ``.`` does not match newlines unless the pattern says ``(?s)``). An invalid
   pattern scores ``None`` with the compiler's message, like a row without an answer: it is the
   dataset's fault, not the model's.

JSON and the tolerances only make sense with ``match: "exact"``; other combinations are refused
when the config is validated.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Normalisation = Literal["trim", "case", "whitespace", "punctuation", "unicode"]
NORMALISATION_ORDER: tuple[Normalisation, ...] = (
    "unicode",
    "punctuation",
    "case",
    "whitespace",
    "trim",
)

_Tolerance = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _default_normalisation() -> list[Normalisation]:
    return ["trim"]


class ExactConfig(BaseModel):
    """How exact-match evaluation compares an output with the expected answer."""

    # The field is ``json`` on the wire; ``json_`` here because BaseModel has a ``json`` method.
    model_config = ConfigDict(
        extra="forbid", serialize_by_alias=True, validate_by_name=True, strict=True
    )

    normalize: list[Normalisation] = Field(default_factory=_default_normalisation)
    numeric_tolerance: _Tolerance | None = None
    relative_tolerance: _Tolerance | None = None
    json_: bool = Field(default=False, alias="json")
    match: Literal["exact", "contains", "regex"] = "exact"
    strip_code_fences: bool = True

    @model_validator(mode="after")
    def _exact_only_options(self) -> ExactConfig:
        if self.match != "exact":
            used = [
                name
                for name, on in (
                    ("json", self.json_),
                    ("numeric_tolerance", self.numeric_tolerance is not None),
                    ("relative_tolerance", self.relative_tolerance is not None),
                )
                if on
            ]
            if used:
                raise ValueError(
                    f"{', '.join(used)} only apply with match 'exact', not {self.match!r}"
                )
        return self

    @property
    def uses_numbers(self) -> bool:
        return self.numeric_tolerance is not None or self.relative_tolerance is not None


@dataclass(frozen=True, slots=True)
class Score:
    """One row's evaluation: ``value`` in [0, 1] or None (not scored), and why."""

    value: float | None
    passed: bool | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "passed": self.passed, "detail": self.detail}


def _result(passed: bool, detail: str) -> Score:
    return Score(1.0 if passed else 0.0, passed, detail)


def score_exact(output: str, expected: str | None, config: ExactConfig) -> Score:
    """Compare ``output`` with ``expected`` under ``config`` (see the module docstring)."""
    if expected is None:
        return Score(None, None, "no expected answer")
    if config.strip_code_fences:
        output = strip_code_fence(output)
        if config.match != "regex":
            expected = strip_code_fence(expected)
    if config.json_:
        got, want = _parse_json(output), _parse_json(expected)
        if got is not _NOT_JSON and want is not _NOT_JSON:
            equal = _json_equal(got, want, config)
            return _result(equal, "JSON values equal" if equal else "JSON values differ")
    if config.uses_numbers:
        got_n, want_n = parse_number(output), parse_number(expected)
        if got_n is not None and want_n is not None:
            close = _numbers_close(got_n, want_n, config)
            relation = "within" if close else "outside"
            return _result(close, f"numbers {got_n} and {want_n} {relation} tolerance")
    if config.match == "regex":
        return _score_regex(output, expected, config)
    got_s, want_s = (
        normalize_text(output, config.normalize),
        normalize_text(expected, config.normalize),
    )
    if config.match == "contains":
        found = want_s in got_s if want_s else not got_s
        return _result(
            found,
            "output contains the expected answer"
            if found
            else ("output does not contain the expected answer"),
        )
    equal = got_s == want_s
    return _result(
        equal,
        "output equals the expected answer"
        if equal
        else ("output differs from the expected answer"),
    )


def normalize_text(text: str, steps: Iterable[Normalisation]) -> str:
    """``text`` with the chosen normalisations applied in :data:`NORMALISATION_ORDER`."""
    chosen = set(steps)
    if "unicode" in chosen:
        text = unicodedata.normalize("NFKC", text)
    if "punctuation" in chosen:
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    if "case" in chosen:
        text = text.casefold()
    if "whitespace" in chosen:
        text = re.sub(r"\s+", " ", text)
    if "trim" in chosen:
        text = text.strip()
    return text


def strip_code_fence(text: str) -> str:
    """The answer inside ``text`` when all of it is one fenced code block, else ``text``."""
    stripped = text.strip()
    if len(stripped) < 6 or not (stripped.startswith("```") and stripped.endswith("```")):
        return text
    inner = stripped[3:-3]
    if "```" in inner:
        return text
    if "\n" not in inner:
        return inner
    _info, body = inner.split("\n", 1)
    return body.removesuffix("\n")


_NUMBER_RE = re.compile(
    r"""
    \A\s*
    (?P<sign>[+\-\u2212])?\s*
    [$\u20ac\u00a3\u00a5]?\s*
    (?P<sign2>[+\-\u2212])?\s*
    (?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)
    (?P<exponent>[eE][+\-]?\d+)?
    \s*%?\s*\Z
    """,
    re.VERBOSE,
)


def parse_number(text: str) -> Decimal | None:
    """The number ``text`` spells (module docstring, step 3), or None."""
    found = _NUMBER_RE.match(text)
    if found is None or (found["sign"] and found["sign2"]):
        return None
    if not found["digits"].isascii():  # \d also matches other scripts' digits
        return None
    value = Decimal(found["digits"].replace(",", "") + (found["exponent"] or ""))
    negative = (found["sign"] or found["sign2"] or "+") in "-\u2212"
    return -value if negative else value


def _numbers_close(a: Decimal | int, b: Decimal | int, config: ExactConfig) -> bool:
    # Decimal arithmetic, so that 3.1 and 3 are within a tolerance of 0.1 as written.
    diff = abs(Decimal(a) - Decimal(b))
    absolute = Decimal(repr(config.numeric_tolerance or 0.0))
    relative = Decimal(repr(config.relative_tolerance or 0.0))
    return diff <= absolute or diff <= relative * max(abs(Decimal(a)), abs(Decimal(b)))


_NOT_JSON = object()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except ValueError:  # json.JSONDecodeError is a ValueError
        return _NOT_JSON


def _json_equal(a: Any, b: Any, config: ExactConfig) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | Decimal) and isinstance(b, int | Decimal):
        return a == b or (config.uses_numbers and _numbers_close(a, b, config))
    if isinstance(a, str) and isinstance(b, str):
        return normalize_text(a, config.normalize) == normalize_text(b, config.normalize)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            _json_equal(x, y, config) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k], config) for k in a)
    return a is None and b is None


def _score_regex(output: str, pattern: str, config: ExactConfig) -> Score:
    steps = [step for step in config.normalize if step != "case"]
    flags = re.IGNORECASE if "case" in config.normalize else 0
    try:
        compiled = re.compile(pattern, flags)
    except re.error as error:
        return Score(None, None, f"the expected answer is not a valid regular expression: {error}")
    matched = compiled.fullmatch(normalize_text(output, steps)) is not None
    return _result(
        matched, "output matches the pattern" if matched else ("output does not match the pattern")
    )
