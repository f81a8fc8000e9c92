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
   regular expression in `RE2 syntax <https://github.com/google/re2/wiki/Syntax>`_ that must
   match the whole normalised output (``case`` makes it case-insensitive instead of
   case-folding, the pattern itself is never normalised, and ``.`` does not match newlines
   unless the pattern says ``(?s)``). RE2 runs in time linear in the output, whatever the
   pattern, so a pushed row cannot freeze a worker; the price is that backreferences
   (``\\1``), lookaround (``(?=``, ``(?<!``), possessive quantifiers and ``\\Z`` (write ``\\z``)
   are not supported, and ``\\d``, ``\\w``, ``\\s``, ``\\b`` are ASCII (``\\pL``, ``\\pN`` are the
   Unicode classes). A pattern RE2 cannot compile (:func:`check_pattern` says why) scores
   ``None`` with RE2's message, like a row without an answer: it is the dataset's fault, not the
   model's; so does a pattern holding an unpaired surrogate (U+D800 to U+DFFF, which no UTF-8
   text holds), while one in the output (a model's JSON may escape one) reads as U+FFFD.

**Bounds.** Everything above takes time linear in the two strings (numbers are read by a
scanner, not a backtracking pattern). Strings longer than ``max_chars`` (the deployment's
``scoring_max_chars``) are not compared: an output that long fails, an expected answer that
long is not scored. JSON nested deeper than Python's parser reads (about 1000 levels) counts as
not JSON, and the comparison falls through to text.

JSON and the tolerances only make sense with ``match: "exact"``; other combinations are refused
when the config is validated.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, localcontext
from typing import Annotated, Any, Literal

import re2
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.numbers import parse_number

Normalisation = Literal["trim", "case", "whitespace", "punctuation", "unicode"]
NORMALISATION_ORDER: tuple[Normalisation, ...] = (
    "unicode",
    "punctuation",
    "case",
    "whitespace",
    "trim",
)

_Tolerance = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# The longest output or expected answer that is compared; the default of the deployment's
# ``Settings.scoring_max_chars`` (the domain reads no settings: services pass theirs in). A
# pushed row is at most 256 KiB, so an expected answer is never cut by the default.
DEFAULT_MAX_CHARS = 256 * 1024


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


def score_exact(
    output: str, expected: str | None, config: ExactConfig, *, max_chars: int = DEFAULT_MAX_CHARS
) -> Score:
    """Compare ``output`` with ``expected`` under ``config`` (see the module docstring).

    Strings longer than ``max_chars`` are not compared (the service passes the deployment's
    ``scoring_max_chars``): an output that long fails, an expected answer that long is not
    scored. Every step below is linear in the length of the strings.
    """
    if expected is None:
        return Score(None, None, "no expected answer")
    if len(expected) > max_chars:
        return Score(
            None,
            None,
            f"the expected answer is {len(expected)} characters, longer than the scoring limit"
            f" of {max_chars} characters (DRGERO_SCORING_MAX_CHARS); not scored",
        )
    if len(output) > max_chars:
        return _result(
            False,
            f"the output is {len(output)} characters, longer than the scoring limit of"
            f" {max_chars} characters (DRGERO_SCORING_MAX_CHARS); not compared",
        )
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


_WIDE = Context(prec=28, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])


def _numbers_close(a: Decimal | int, b: Decimal | int, config: ExactConfig) -> bool:
    # Decimal arithmetic, so that 3.1 and 3 are within a tolerance of 0.1 as written.
    with localcontext(_WIDE):
        x, y = Decimal(a), Decimal(b)
        if x == y:
            return True
        diff = abs(x - y)
        if not diff.is_finite():
            return False
        absolute = Decimal(repr(config.numeric_tolerance or 0.0))
        relative = Decimal(repr(config.relative_tolerance or 0.0))
        return diff <= absolute or diff <= relative * max(abs(x), abs(y))


_NOT_JSON = object()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except ValueError:  # json.JSONDecodeError is a ValueError
        return _NOT_JSON
    except RecursionError:  # valid JSON nested deeper than Python's parser goes: unread
        return _NOT_JSON


def _json_equal(a: Any, b: Any, config: ExactConfig) -> bool:
    """Step 2's equality, with an explicit stack: a value nested up to the parser's limit must
    not run out of the interpreter's (the caller may already be deep in it)."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            pending.extend(zip(x, y, strict=True))
        elif isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            pending.extend((x[k], y[k]) for k in x)
        elif not _json_scalars_equal(x, y, config):
            return False
    return True


def _json_scalars_equal(a: Any, b: Any, config: ExactConfig) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | Decimal) and isinstance(b, int | Decimal):
        return a == b or (config.uses_numbers and _numbers_close(a, b, config))
    if isinstance(a, str) and isinstance(b, str):
        return normalize_text(a, config.normalize) == normalize_text(b, config.normalize)
    return a is None and b is None


def check_pattern(pattern: str) -> str | None:
    """Why RE2 cannot run ``pattern`` (backreferences, lookaround, too large...), or None."""
    try:
        _compile(pattern, ignore_case=False)
    except re2.error as error:
        return _re2_message(error)
    return None


# UTF-8, which RE2 reads, cannot encode an unpaired surrogate (a model's JSON answer may escape
# one, "\\ud800"): the wrapper would raise UnicodeEncodeError instead of scoring the row.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _compile(pattern: str, *, ignore_case: bool) -> Any:
    if _SURROGATE.search(pattern):
        raise re2.error("the pattern holds an unpaired surrogate (U+D800 to U+DFFF), not text")
    options = re2.Options()
    options.log_errors = False  # the message is returned; RE2 would also print it to stderr
    options.case_sensitive = not ignore_case
    return re2.compile(pattern, options)


def _re2_message(error: re2.error) -> str:
    detail = error.args[0] if error.args else "unknown error"
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return str(detail)


def _score_regex(output: str, pattern: str, config: ExactConfig) -> Score:
    steps = [step for step in config.normalize if step != "case"]
    try:
        compiled = _compile(pattern, ignore_case="case" in config.normalize)
    except re2.error as error:
        return Score(
            None,
            None,
            f"the expected answer is not a valid regular expression: {_re2_message(error)}",
        )
    readable = _SURROGATE.sub("\ufffd", normalize_text(output, steps))
    matched = compiled.fullmatch(readable) is not None
    return _result(
        matched, "output matches the pattern" if matched else ("output does not match the pattern")
    )
