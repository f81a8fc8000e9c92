"""Exact-match scoring and judge parsing against hostile text: time, size and nesting bounds.

Rows are pushed by tenants and answers come from models they choose: any of them may carry text
built to make a parser backtrack or recurse. Every case here must finish in a few milliseconds
(the wall bound is generous, so it holds on a loaded machine, and fails against a polynomial
parser by minutes) and give a score or a parse failure, never an exception.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.judge import JudgeConfig, UnparseableJudgeAnswer, parse_judge_answer
from shared.domain.numbers import parse_number
from shared.domain.scoring import (
    DEFAULT_MAX_CHARS,
    ExactConfig,
    check_pattern,
    score_exact,
)
from shared.settings import Settings

# A backtracking parser takes minutes to hours on these inputs, a linear one milliseconds: a
# bound of seconds tells them apart even on a loaded 2-core CI machine (0.5 s flaked there).
WALL_SECONDS = 5.0
N = 100_000

NUMBERS = ExactConfig(numeric_tolerance=0.1)


def timed(fn, *args, **kw):
    started = time.perf_counter()
    value = fn(*args, **kw)
    elapsed = time.perf_counter() - started
    assert elapsed < WALL_SECONDS, f"took {elapsed:.2f} s"
    return value


# The shapes that make a backtracking number grammar (three optional parts, each with ``\s*``
# around it, then ``\s*%?\s*\Z``) try every split of a whitespace run; long digit runs, signs,
# dots, commas and exponents for good measure.
HOSTILE_NUMBERS = {
    "spaces then x": " " * N + "x",
    "digit, spaces, x": "1" + " " * N + "x",
    "currency, spaces, x": "$" + " " * N + "x",
    "sign, spaces, currency, spaces, x": "-" + " " * N + "$" + " " * N + "x",
    "spaces around every part": " " * N + "-" + " " * N + "1" + " " * N + "%" + " " * N + "x",
    "digits then x": "1" * N + "x",
    "digit groups then x": "1" + ",234" * (N // 4) + ",5",
    "digit commas": "1," * N,
    "signs": "-" * N,
    "signs and spaces": "- " * N + "1",
    "dots": "." * N,
    "digits and dots": "1." * N,
    "long fraction, bad exponent": "1." + "1" * N + "e",
    "long exponent": "1e" + "1" * N,
    "percents": "1" + "%" * N,
}


@pytest.mark.parametrize("text", HOSTILE_NUMBERS.values(), ids=HOSTILE_NUMBERS.keys())
def test_the_number_parser_is_linear(text):
    timed(parse_number, text)


@pytest.mark.parametrize("text", HOSTILE_NUMBERS.values(), ids=HOSTILE_NUMBERS.keys())
def test_scoring_hostile_numbers_is_linear(text):
    # The cap is raised so that the parser itself is measured, not the length check.
    score = timed(score_exact, text, "1", NUMBERS, max_chars=10 * N)
    assert score.passed is False
    score = timed(score_exact, "1", text, NUMBERS, max_chars=10 * N)
    assert score.passed is False


def test_a_long_number_is_still_read():
    assert timed(parse_number, " " * N + "1" * 1000 + " " * N) == Decimal("1" * 1000)


# The grammar the old backtracking pattern spelt, kept here as the oracle of the new parser.
_OLD_NUMBER_RE = re.compile(
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


def _old_parse_number(text: str) -> Decimal | None:
    found = _OLD_NUMBER_RE.match(text)
    if found is None or (found["sign"] and found["sign2"]):
        return None
    # (The old parser read other scripts' digits in an exponent by accident: "1e٣" was 1000.)
    if not (found["digits"] + (found["exponent"] or "")).isascii():
        return None
    value = Decimal(found["digits"].replace(",", "") + (found["exponent"] or ""))
    negative = (found["sign"] or found["sign2"] or "+") in "-\u2212"
    return -value if negative else value


number_like = st.text(alphabet=" \t\n1230,.eE+-\u2212$€%x٣\u00a0", max_size=14)


@settings(max_examples=500)
@given(text=number_like)
def test_the_new_parser_reads_what_the_old_pattern_read(text):
    assert parse_number(text) == _old_parse_number(text)


@pytest.mark.parametrize(
    "text",
    ["1e999999999999999999999", "1e" + "9" * 50, "-1e999999999999", "1e-999999999999999999999"],
)
def test_huge_exponents_score_without_an_exception(text):
    for output, expected in ((text, "1"), ("1", text), (text, text)):
        for config in (NUMBERS, ExactConfig(relative_tolerance=0.5)):
            score = score_exact(output, expected, config)
            assert score.passed is (output == expected)


# Length cap.


def test_the_cap_default_is_the_settings_default():
    assert Settings().scoring_max_chars == DEFAULT_MAX_CHARS


def test_an_output_over_the_cap_fails_without_being_compared():
    score = timed(score_exact, "a" * 101, "a", ExactConfig(match="contains"), max_chars=100)
    assert score.passed is False and score.value == 0.0
    assert "101 characters" in score.detail and "100" in score.detail


def test_an_expected_answer_over_the_cap_is_not_scored():
    score = score_exact("a", "a" * 101, ExactConfig(), max_chars=100)
    assert score.value is None and score.passed is None
    assert "longer than the scoring limit of 100 characters" in score.detail


def test_strings_at_the_cap_are_scored():
    assert score_exact("a" * 100, "a" * 100, ExactConfig(), max_chars=100).passed is True


# Regular expressions run on RE2: linear in the text, whatever the pattern.

REGEX = ExactConfig(match="regex")


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"(a+)+$", "a" * 40 + "!"),  # exponential on a backtracking engine
        (r"(a|aa)+b", "a" * 50),
        (r"(x+x+)+y", "x" * 40),
        (r"(\s*)*x", " " * N),
    ],
)
def test_catastrophic_patterns_run_in_linear_time(pattern, text):
    score = timed(score_exact, text, pattern, REGEX)
    assert score.passed is False and score.detail == "output does not match the pattern"


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(a)\1", "invalid escape sequence"),
        (r"(?=a)a", "invalid perl operator"),
        (r"(?<!a)b", "invalid perl operator"),
        (r"a++", "bad repetition operator"),
        ("(", "missing )"),
    ],
)
def test_patterns_re2_cannot_run_are_not_scored_and_say_why(pattern, problem):
    score = score_exact("a", pattern, REGEX)
    assert score.value is None and score.passed is None
    assert score.detail.startswith("the expected answer is not a valid regular expression")
    assert problem in score.detail and "b'" not in score.detail
    assert problem in (check_pattern(pattern) or "")


def test_check_pattern_accepts_what_re2_runs():
    assert check_pattern(r"(?i)answer: [a-d]\.?") is None
    assert check_pattern(r"(?s)\p{L}+.\d{1,3}") is None


def test_a_pattern_too_large_to_compile_is_refused():
    problem = check_pattern(r"(\pL{100}){10}")
    assert problem is not None and "too large" in problem


# Nesting: a 1000-deep JSON value is valid JSON that Python's parser cannot read.

DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000


@pytest.mark.parametrize("deep", [DEEP, DEEP_OBJECT, "[" * N])
def test_deep_json_under_json_scoring_is_a_parse_failure_not_an_exception(deep):
    config = ExactConfig(json=True, numeric_tolerance=0.1)
    assert timed(score_exact, deep, "[1]", config).passed is False
    assert timed(score_exact, "[1]", deep, config).passed is False
    same = timed(score_exact, deep, deep, config)  # unread as JSON, compared as text
    assert same.passed is True and same.detail == "output equals the expected answer"


def test_json_nested_just_below_the_parser_limit_compares_without_recursion():
    nested = "[" * 900 + "1" + "]" * 900
    config = ExactConfig(json=True)
    assert timed(score_exact, nested, nested.replace("1", "1.0"), config).passed is True
    assert timed(score_exact, nested, nested.replace("1", "2"), config).passed is False


JUDGE = JudgeConfig()


@pytest.mark.parametrize(
    "answer",
    [
        DEEP,
        DEEP_OBJECT,
        "[" * N,
        '{"score": 0.5, "reason": ' + DEEP + "}",
        "verdict: " + '{"score":' * 20_000,
        "{" * N,
        '{"a":' * 20_000,
    ],
)
def test_deep_judge_answers_are_unparseable_not_an_exception(answer):
    with pytest.raises(UnparseableJudgeAnswer):
        timed(parse_judge_answer, answer, JUDGE)


def test_a_judge_verdict_after_deep_prose_is_still_found():
    answer = DEEP + ' so: {"score": 0.75, "reason": "mostly right"}'
    assert timed(parse_judge_answer, answer, JUDGE).score == 0.75


def test_a_judge_answer_over_the_cap_is_unparseable():
    answer = '{"score": 1, "reason": "' + "x" * 200 + '"}'
    with pytest.raises(UnparseableJudgeAnswer, match="over the scoring limit of 100 characters"):
        parse_judge_answer(answer, JUDGE, max_chars=100)
    assert parse_judge_answer(answer, JUDGE).score == 1.0
