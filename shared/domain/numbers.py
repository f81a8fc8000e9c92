"""Reading a whole answer as one number, as exact-match scoring compares them.

The grammar (``shared.domain.scoring``'s step 3): an optional sign (``+``, ``-`` or U+2212
minus), an optional currency sign (``$ € £ ¥``), digits with an optional decimal part, where
thousands may be grouped with commas (``1,234.5``; groups of exactly three digits), an optional
exponent (``1e-3``), and an optional trailing ``%``, which is ignored. Whitespace around the parts
is allowed. Anything else is not a number (``None``). The text is scanned once, left to right,
in linear time whatever it holds (a hostile answer cannot make it slow).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SIGNS = "+-\u2212"
_NEGATIVE = ("-", "\u2212")
_CURRENCIES = "$\u20ac\u00a3\u00a5"


def parse_number(text: str) -> Decimal | None:
    """The number ``text`` spells (the grammar above), or None.

    A scanner over the grammar in one pass, without backtracking, so time is linear in the
    text: a regular expression with ``\\s*`` around optional parts tries every split of a
    whitespace run (400 spaces then ``x`` took minutes), and tenants choose the text.
    """
    end = len(text)
    at = _skip_space(text, 0, end)
    sign = sign2 = ""
    if at < end and text[at] in _SIGNS:
        sign, at = text[at], _skip_space(text, at + 1, end)
    if at < end and text[at] in _CURRENCIES:
        at = _skip_space(text, at + 1, end)
    if at < end and text[at] in _SIGNS:
        sign2, at = text[at], _skip_space(text, at + 1, end)
    if sign and sign2:
        return None
    digits, at = _scan_digits(text, at, end)
    if digits is None:
        return None
    exponent_start = at
    if at < end and text[at] in "eE":
        at += 1
        if at < end and text[at] in "+-":
            at += 1
        if _skip_digits(text, at, end) == at:
            return None
        at = _skip_digits(text, at, end)
    exponent = text[exponent_start:at]
    at = _skip_space(text, at, end)
    if at < end and text[at] == "%":
        at = _skip_space(text, at + 1, end)
    if at != end:
        return None
    try:
        value = Decimal(digits.replace(",", "") + exponent)
    except InvalidOperation:  # an exponent too large for Decimal to hold
        return None
    # copy_negate is exact: unary minus would round in the current context (and may overflow)
    return value.copy_negate() if (sign or sign2) in _NEGATIVE else value


# Single greedy runs, matched at a position: they cannot backtrack, and run at C speed.
_SPACE_RUN = re.compile(r"\s*")
_DIGIT_RUN = re.compile(r"[0-9]*")  # ASCII only: other scripts' digits are not read as numbers


def _skip_space(text: str, at: int, end: int) -> int:
    return _SPACE_RUN.match(text, at, end).end()  # type: ignore[union-attr]  # always matches


def _skip_digits(text: str, at: int, end: int) -> int:
    return _DIGIT_RUN.match(text, at, end).end()  # type: ignore[union-attr]  # always matches


def _scan_digits(text: str, at: int, end: int) -> tuple[str | None, int]:
    """The digits part at ``at`` (``1234``, ``1,234``, ``12.``, ``12.5``, ``.5``) and its end."""
    start = at
    lead_end = at = _skip_digits(text, at, end)
    if 1 <= lead_end - start <= 3:  # thousands groups: exactly three digits after each comma
        while at + 4 <= end and text[at] == "," and _skip_digits(text, at + 1, at + 4) == at + 4:
            at += 4
        if at < end and "0" <= text[at] <= "9":  # 1,2345 is not grouped: only "1" is digits
            at = lead_end
    if at < end and text[at] == ".":
        fraction_end = _skip_digits(text, at + 1, end)
        if at == start and fraction_end == at + 1:  # a lone "."
            return None, at
        at = fraction_end
    elif at == start:
        return None, at
    return text[start:at], at


# Numbers as tenants write them may be far beyond the default context (``1e999999999999``):
# compare them in the widest context with no traps, where an overflow is an infinity (never
# within a tolerance) instead of an exception.
