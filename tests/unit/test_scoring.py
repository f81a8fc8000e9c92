"""Exact-match evaluation."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.numbers import parse_number
from shared.domain.scoring import (
    ExactConfig,
    Score,
    check_pattern,
    normalize_text,
    score_exact,
    strip_code_fence,
)

ALL_STEPS = ["trim", "case", "whitespace", "punctuation", "unicode"]


def cfg(**kw) -> ExactConfig:
    return ExactConfig.model_validate(kw)


def passed(output, expected, **kw) -> bool | None:
    return score_exact(output, expected, cfg(**kw)).passed


# Config.


def test_defaults():
    config = ExactConfig()
    assert config.normalize == ["trim"]
    assert config.match == "exact"
    assert config.strip_code_fences is True
    assert config.json_ is False
    assert config.numeric_tolerance is None and config.relative_tolerance is None
    assert config.model_dump()["json"] is False
    assert ExactConfig.model_validate(ExactConfig(json=True).model_dump()).json_ is True
    assert ExactConfig.model_validate({"json_": True}).json_ is True  # a dump by field name


def test_config_refuses_unknown_fields_and_steps():
    with pytest.raises(ValidationError):
        cfg(normalise=["trim"])
    with pytest.raises(ValidationError):
        cfg(normalize=["stem"])


def test_config_refuses_negative_or_infinite_tolerances():
    with pytest.raises(ValidationError):
        cfg(numeric_tolerance=-0.1)
    with pytest.raises(ValidationError):
        cfg(relative_tolerance=float("inf"))


@pytest.mark.parametrize("option", [{"json": True}, {"numeric_tolerance": 0.1}])
@pytest.mark.parametrize("match", ["contains", "regex"])
def test_json_and_tolerances_need_exact_match(option, match):
    with pytest.raises(ValidationError, match="only apply with match 'exact'"):
        cfg(match=match, **option)


# Basics.


def test_no_expected_answer_is_not_scored():
    assert score_exact("anything", None, ExactConfig()) == Score(None, None, "no expected answer")


def test_exact_match_scores_one_or_zero():
    assert score_exact("Paris", "Paris", ExactConfig()) == Score(
        1.0, True, "output equals the expected answer"
    )
    assert score_exact("paris", "Paris", ExactConfig()) == Score(
        0.0, False, "output differs from the expected answer"
    )


def test_default_trims_but_keeps_case_and_inner_whitespace():
    assert passed("  Paris \n", "Paris")
    assert not passed("New  York", "New York")
    assert not passed("PARIS", "Paris")


def test_no_normalisation_at_all():
    assert not passed(" Paris", "Paris", normalize=[])
    assert passed("Paris", "Paris", normalize=[])


def test_empty_expected_answer_is_an_answer():
    assert passed("", "")
    assert passed("   ", "")
    assert not passed("x", "")


# Normalisation.


def test_each_normalisation():
    assert normalize_text("  a  ", ["trim"]) == "a"
    assert normalize_text("ÉCOLE Straße", ["case"]) == "école strasse"
    assert normalize_text(" a \t\n b ", ["whitespace"]) == " a b "
    assert normalize_text("a, b. «c»! d-e_f (g) $5 +1 =2% #3 <4>", ["punctuation"]) == (
        "a b c def g $5 +1 =2 3 <4>"
    )
    compatibility_forms = "\uff21\uff22\uff23\uff11\uff12\uff13 \ufb01 \u00b2"  # full-width, fi, ²
    assert normalize_text(compatibility_forms, ["unicode"]) == "ABC123 fi 2"


def test_normalisation_order_is_fixed_whatever_the_list_order():
    text = "  The  ANSWER is: «\uff30\uff41\uff52\uff49\uff53» .  "  # full-width Paris
    expected = "the answer is paris"
    assert normalize_text(text, ALL_STEPS) == expected
    assert normalize_text(text, list(reversed(ALL_STEPS))) == expected
    assert normalize_text(text, ALL_STEPS + ALL_STEPS) == expected


def test_punctuation_is_removed_before_trim():
    assert passed("Paris .", "Paris", normalize=["trim", "punctuation"])


def test_full_normalisation_match():
    assert passed(" the  Eiffel-Tower! ", "The EiffelTower", normalize=ALL_STEPS)
    assert not passed("the Eiffel Tower", "The EiffelTower", normalize=ALL_STEPS)


# Code fences.


def test_strip_code_fence():
    assert strip_code_fence('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert strip_code_fence("  ```\n42\n```  \n") == "42"
    assert strip_code_fence("```42```") == "42"
    assert strip_code_fence("```\nline1\nline2```") == "line1\nline2"
    assert strip_code_fence("Answer:\n```\n42\n```") == "Answer:\n```\n42\n```"
    assert strip_code_fence("```a``` and ```b```") == "```a``` and ```b```"
    assert strip_code_fence("``````") == ""
    assert strip_code_fence("`````") == "`````"


def test_fenced_output_is_unwrapped_by_default():
    assert passed("```\nParis\n```", "Paris")
    assert not passed("```\nParis\n```", "Paris", strip_code_fences=False)
    assert passed("```text\nParis\n```", "```\nParis\n```")


# Numbers.


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", Decimal(42)),
        (" -3.5 ", Decimal("-3.5")),
        ("+7", Decimal(7)),
        ("\u22122", Decimal(-2)),
        ("1,234.5", Decimal("1234.5")),
        ("1,234,567", Decimal(1234567)),
        ("$3", Decimal(3)),
        ("-$3.50", Decimal("-3.50")),
        ("$ -3", Decimal(-3)),
        ("€12", Decimal(12)),
        ("42%", Decimal(42)),
        ("42 %", Decimal(42)),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("1e-3", Decimal("0.001")),
        ("2.5E+2", Decimal(250)),
        ("1e400", Decimal("1e400")),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1,23", "12,3456", "1 234", "--3", "-$-3", "3 apples", "nan", "inf", "١٢", "0x10"],
)
def test_not_numbers(text):
    assert parse_number(text) is None


def test_numbers_compare_only_when_a_tolerance_is_set():
    assert not passed("3.0", "3")
    assert passed("3.0", "3", numeric_tolerance=0)
    assert passed("$1,000", "1000", numeric_tolerance=0)
    assert passed("50%", "50", numeric_tolerance=0)
    assert not passed("50%", "0.5", numeric_tolerance=0)


def test_absolute_tolerance_is_inclusive_and_decimal():
    score = score_exact("3.1", "3", cfg(numeric_tolerance=0.1))
    assert score == Score(1.0, True, "numbers 3.1 and 3 within tolerance")
    assert not passed("3.11", "3", numeric_tolerance=0.1)
    assert passed("-0.05", "0.05", numeric_tolerance=0.1)


def test_relative_tolerance_scales_with_the_larger_magnitude():
    assert passed("101", "100", relative_tolerance=0.01)
    assert passed("99", "100", relative_tolerance=0.01)
    assert not passed("98.9", "100", relative_tolerance=0.01)
    assert passed("0", "0", relative_tolerance=0.01)
    assert not passed("0.001", "0", relative_tolerance=0.01)


def test_either_tolerance_suffices():
    config = {"numeric_tolerance": 0.5, "relative_tolerance": 0.01}
    assert passed("1000", "1009", **config)  # relative: 9 <= 10.09
    assert passed("1.4", "1", **config)  # absolute
    assert not passed("1.6", "1", **config)


def test_non_numbers_fall_back_to_strings():
    assert passed("about three", "about three", numeric_tolerance=1)
    assert not passed("3 apples", "3", numeric_tolerance=1)


# JSON.


def test_json_values_ignore_key_order_and_number_spelling():
    config = {"json": True}
    assert passed('{"b": [1, 2], "a": 1.0}', '{"a": 1, "b": [1.00, 2]}', **config)
    assert not passed('{"b": [2, 1], "a": 1}', '{"a": 1, "b": [1, 2]}', **config)
    assert not passed('{"a": 1}', '{"a": 1, "b": null}', **config)
    assert not passed("true", "1", **config)
    assert not passed("[1]", "1", **config)
    assert passed("null", " null ", **config)
    assert score_exact('{"a":1}', '{"a":1}', cfg(json=True)).detail == "JSON values equal"
    assert score_exact('{"a":1}', '{"a":2}', cfg(json=True)).detail == "JSON values differ"


def test_json_strings_are_normalised_and_numbers_use_tolerances():
    config = {"json": True, "normalize": ["case", "trim"], "numeric_tolerance": 0.01}
    assert passed('{"city": " PARIS ", "t": 20.005}', '{"city": "paris", "t": 20}', **config)
    assert not passed('{"City": "paris", "t": 20}', '{"city": "paris", "t": 20}', **config)
    assert not passed('{"city": "paris", "t": 20.02}', '{"city": "paris", "t": 20}', **config)


def test_fenced_json_is_compared_as_json():
    assert passed('```json\n{"a": [1, 2]}\n```', '{"a":[1,2]}', json=True)


def test_json_nan_is_not_json_and_invalid_json_falls_back():
    assert not passed("NaN", "NaN ", json=True, normalize=[])
    assert passed("NaN", "NaN ", json=True)
    assert passed("{not json", "{not json", json=True)
    assert not passed("{not json", '{"a": 1}', json=True)


# Contains and regex.


def test_contains():
    config = {"match": "contains", "normalize": ["case", "trim"]}
    assert score_exact("The capital is PARIS.", "paris", cfg(**config)) == Score(
        1.0, True, "output contains the expected answer"
    )
    assert not passed("The capital is Lyon.", "paris", **config)
    assert passed("", "", **config)
    assert not passed("anything", "  ", **config)


def test_regex_fullmatches_the_normalised_output():
    assert score_exact(" 42 ", r"\d+", cfg(match="regex")) == Score(
        1.0, True, "output matches the pattern"
    )
    assert not passed("42 apples", r"\d+", match="regex")
    assert passed("Answer: B", r"answer: [a-d]", match="regex", normalize=["case"])
    assert not passed("Answer: B", r"answer: [a-d]", match="regex")
    assert not passed("a\nb", r"a.b", match="regex")
    assert passed("a\nb", r"(?s)a.b", match="regex")


def test_regex_pattern_is_not_unwrapped_or_normalised():
    assert passed("```\nx\n```", r"x", match="regex")
    assert passed("A  B", r"a b", match="regex", normalize=["case", "whitespace"])
    assert not passed("A  B", r"a  b", match="regex", normalize=["case", "whitespace"])


def test_invalid_regex_is_not_scored():
    score = score_exact("x", "(", cfg(match="regex"))
    assert score.value is None and score.passed is None
    assert score.detail.startswith("the expected answer is not a valid regular expression")


# Properties.

text = st.text(max_size=40)
steps = st.lists(st.sampled_from(ALL_STEPS), unique=True)


@given(answer=text, steps=steps)
def test_an_answer_always_matches_itself(answer, steps):
    assert passed(answer, answer, normalize=steps)
    assert passed(answer, answer, normalize=steps, match="contains")


@given(answer=text, steps=steps)
def test_normalisation_is_idempotent(answer, steps):
    once = normalize_text(answer, steps)
    assert normalize_text(once, steps) == once


@given(output=text, expected=text, steps=steps)
def test_scores_are_binary_and_consistent(output, expected, steps):
    score = score_exact(output, expected, cfg(normalize=steps))
    assert (score.value, score.passed) in {(1.0, True), (0.0, False)}


@given(
    a=st.decimals(
        allow_nan=False, allow_infinity=False, places=3, max_value=10**6, min_value=-(10**6)
    )
)
def test_a_number_is_within_any_tolerance_of_its_own_formatting(a):
    assert passed(f"{a:,}", str(a), numeric_tolerance=0)


# JSON equality, case by case (issue 18: each of these let a changed rule pass unnoticed).


def test_json_booleans_equal_only_the_same_boolean():
    assert passed("true", "true", json=True)
    assert passed("false", " false", json=True)
    assert not passed("true", "false", json=True)
    assert not passed("false", "true", json=True)
    assert not passed("[true, false]", "[true, true]", json=True)
    assert not passed("false", "0", json=True, numeric_tolerance=0.5)
    assert not passed("0", "false", json=True, numeric_tolerance=0.5)


def test_json_null_equals_only_null():
    assert passed('{"a": null}', '{"a": null}', json=True)
    for other in ('"x"', "0", "false", "[]", "{}", '""'):
        assert not passed("null", other, json=True), other
        assert not passed(other, "null", json=True), other
        assert not passed(f'{{"a": {other}}}', '{"a": null}', json=True), other


def test_json_values_of_different_types_never_compare_equal():
    # A string holding a number is not the number, even within a tolerance.
    tolerant = {"json": True, "numeric_tolerance": 0.5}
    assert not passed('"1"', "1", **tolerant)
    assert not passed("1", '"1"', **tolerant)
    assert not passed('["1"]', "[1]", **tolerant)
    assert passed("[1.2]", "[1]", **tolerant)
    # Containers of the same length but another kind: an object is not an array, a string is
    # not the array of its characters.
    assert not passed("{}", "[]", json=True)
    assert not passed("[]", "{}", json=True)
    assert not passed('"ab"', '["a", "b"]', json=True)
    assert not passed('["a", "b"]', '"ab"', json=True)
    assert not passed('{"a": 1}', "[1]", json=True)
    assert not passed('"a"', '{"a": "a"}', json=True)
    assert not passed('{"a": "a"}', '"a"', json=True)


def test_json_containers_compare_every_member():
    assert not passed("[1, 2]", "[1, 3]", json=True)
    assert not passed("[1, 2]", "[3, 2]", json=True)
    assert not passed("[1, 2]", "[1, 2, 3]", json=True)
    assert not passed('{"a": 1, "b": 2}', '{"a": 1, "b": 3}', json=True)
    assert not passed('{"a": 1, "b": 2}', '{"a": 3, "b": 2}', json=True)
    assert not passed('{"a": 1}', '{"b": 1}', json=True)
    assert passed('[{"a": [1, {"b": "x"}]}]', '[{"a": [1.0, {"b": "x"}]}]', json=True)
    assert not passed('[{"a": [1, {"b": "x"}]}]', '[{"a": [1, {"b": "y"}]}]', json=True)


def test_json_numbers_without_a_tolerance_must_be_equal():
    assert passed("[1e2]", "[100]", json=True)
    assert not passed("[1.5]", "[1]", json=True)
    assert not passed("1.0000001", "1", json=True)


def test_when_only_one_side_is_json_the_text_and_number_rules_decide():
    # "Paris" is not JSON, '"Paris"' is: compared as text, punctuation removed.
    score = score_exact("Paris", '"Paris"', cfg(json=True, normalize=["punctuation"]))
    assert score == Score(1.0, True, "output equals the expected answer")
    score = score_exact('"Paris"', "Paris", cfg(json=True, normalize=["punctuation"]))
    assert score == Score(1.0, True, "output equals the expected answer")
    assert not passed("Paris", '"Paris"', json=True)
    # "$3" is not JSON, "3" is: compared as numbers.
    score = score_exact("$3", "3", cfg(json=True, numeric_tolerance=0))
    assert score == Score(1.0, True, "numbers 3 and 3 within tolerance")
    assert passed("3", "$3.2", json=True, numeric_tolerance=0.5)
    assert not passed("3", "$4", json=True, numeric_tolerance=0.5)


def test_json_values_are_compared_before_numbers():
    # Both sides JSON numbers: the JSON rule decides (and says so), with the tolerance.
    score = score_exact("3.1", "3", cfg(json=True, numeric_tolerance=0.1))
    assert score == Score(1.0, True, "JSON values equal")


# Code fences: cut-off answers and regex mode.


def test_an_unclosed_code_fence_is_left_as_is():
    cut_off = '```json\n{"a": 1'
    assert strip_code_fence(cut_off) == cut_off
    assert strip_code_fence("```\n42") == "```\n42"
    assert strip_code_fence("42\n```") == "42\n```"
    assert not passed("```\nParis", "Paris")
    assert not passed(cut_off, '{"a": 1}', json=True)
    assert passed(cut_off, cut_off, json=True)


def test_fence_edges():
    assert strip_code_fence("```\n42\n\n```") == "42\n"  # only one final newline is the fence's
    assert strip_code_fence("```json\n```") == ""
    assert strip_code_fence("```x\n```") == ""
    assert strip_code_fence("  ```42```  ") == "42"
    assert strip_code_fence("``` 42 ```") == " 42 "


def test_regex_mode_unwraps_the_output_but_never_the_pattern():
    assert passed("```\n42\n```", r"\d+", match="regex")
    assert passed("```text\nB\n```", r"[A-D]", match="regex")
    # The pattern is used as written: a fenced pattern asks for the backticks themselves.
    assert not passed("x", "```x```", match="regex")
    assert not passed("```x```", "```x```", match="regex")  # the output is unwrapped to "x"
    assert passed("```x```", "```x```", match="regex", strip_code_fences=False)
    assert not passed("```\n42\n```", r"\d+", match="regex", strip_code_fences=False)
    assert passed("```\n42\n```", r"(?s)```.42.```", match="regex", strip_code_fences=False)


def test_other_modes_unwrap_both_sides():
    assert passed("the answer is Paris", "```\nParis\n```", match="contains")
    assert passed("```\nParis\n```", "```\nParis\n```", match="contains")
    assert not passed("```\nParis\n```", "```", match="contains")
    assert passed("Paris", "```Paris```")
    assert not passed("Paris", "```Paris```", strip_code_fences=False)


# Number forms.


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("\u22122.5", Decimal("-2.5")),
        ("\u2212 2", Decimal(-2)),
        ("$\u22123", Decimal(-3)),
        ("\u2212$3", Decimal(-3)),
        ("-\u00a33", Decimal(-3)),
        ("+$3", Decimal(3)),
        ("$+3", Decimal(3)),
        ("\u00a5500", Decimal(500)),
        ("\u00a5 1,000", Decimal(1000)),
        ("\u00a312", Decimal(12)),
        ("\u20ac-1", Decimal(-1)),
        ("   42", Decimal(42)),
        ("\t\n 42", Decimal(42)),
        (" - 42 % ", Decimal(-42)),
        ("1,234.", Decimal(1234)),
        ("1,234.50", Decimal("1234.50")),
        ("12,345", Decimal(12345)),
        ("123,456", Decimal(123456)),
        ("1234", Decimal(1234)),
        ("0.5", Decimal("0.5")),
        ("-.5", Decimal("-0.5")),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1e+3", Decimal(1000)),
        ("1,000e-3", Decimal(1)),
        ("5e0%", Decimal(5)),
        ("-0", Decimal(0)),
    ],
)
def test_number_forms(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "1234,567",  # a group after four digits is not a thousands group
        "1,2345",
        "1,234,56",
        ",123",
        "1,",
        "1,234,",
        "1,,234",
        "-\u22123",
        "\u2212-3",
        "\u2212$\u22123",
        "$$3",
        "3$",
        "\u00a5",
        "-",
        ".",
        "-.",
        "1e",
        "1e+",
        "1e-",
        "1e3.5",
        "1.2.3",
        "42%%",
        "% 42",
        "1 e3",
        "e3",
        "x42",
        "42x",
    ],
)
def test_number_forms_that_are_not_numbers(text):
    assert parse_number(text) is None


def test_negative_numbers_keep_their_sign_in_scoring():
    assert not passed("\u22123", "3", numeric_tolerance=1)
    assert passed("\u22123", "-3", numeric_tolerance=0)
    assert passed("$\u22123", "-$3", numeric_tolerance=0)
    assert not passed("\u00a5-3", "\u00a53", numeric_tolerance=1)


def test_number_details_name_both_values():
    score = score_exact(" \u22121,234. ", "-1234", cfg(numeric_tolerance=0))
    assert score == Score(1.0, True, "numbers -1234 and -1234 within tolerance")
    score = score_exact("\u00a55", "7", cfg(numeric_tolerance=1))
    assert score == Score(0.0, False, "numbers 5 and 7 outside tolerance")


@pytest.mark.parametrize(
    ("text", "value"),
    [("1,234.5678", Decimal("1234.5678")), ("1,234,567.25e1", Decimal("12345672.5"))],
)
def test_grouped_numbers_keep_a_long_fraction(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["1,.34", "1,e34", "1,-34", "42%x", "42 % x", "42%%"])
def test_broken_groups_and_text_after_the_percent_are_not_numbers(text):
    assert parse_number(text) is None


def test_a_difference_too_large_to_hold_is_never_within_a_tolerance():
    huge = "9e999999999999999999"  # the largest exponent Decimal holds: the difference overflows
    for config in (cfg(relative_tolerance=1), cfg(numeric_tolerance=1e300)):
        assert score_exact(huge, "-" + huge, config).passed is False
        assert score_exact(huge, huge, config).passed is True


def test_a_failed_contains_says_so():
    assert score_exact("Lyon", "Paris", cfg(match="contains")) == Score(
        0.0, False, "output does not contain the expected answer"
    )


def test_regex_case_is_case_insensitive_matching_not_case_folding():
    # Case-folding the output would turn "Straße" into "strasse", which the pattern does not
    # match; matching case-insensitively keeps the output as written.
    assert passed("Straße", "Straße", match="regex", normalize=["case"])
    assert passed("STRAßE", "straße", match="regex", normalize=["case", "trim"])
    assert not passed("STRASSE", "straße", match="regex", normalize=["case"])


def test_an_invalid_pattern_prints_nothing(capfd):
    # RE2 would also log the error to stderr, once per row: the message is in the result.
    assert check_pattern("(") is not None
    assert score_exact("x", "(", cfg(match="regex")).passed is None
    assert capfd.readouterr().err == ""


def test_score_to_json_publishes_value_passed_and_detail():
    assert Score(1.0, True, "output equals the expected answer").to_json() == {
        "value": 1.0,
        "passed": True,
        "detail": "output equals the expected answer",
    }
    assert Score(None, None, "no expected answer").to_json() == {
        "value": None,
        "passed": None,
        "detail": "no expected answer",
    }


@pytest.mark.parametrize("text", ["1,234E3", "1,234e3", "1,234.5E1"])
def test_grouped_numbers_take_an_exponent_in_either_case(text):
    assert parse_number(text) == Decimal(text.replace(",", ""))


def test_an_output_with_an_unpaired_surrogate_is_scored_in_regex_mode():
    # A model's JSON answer may escape a lone surrogate ("\ud800"): no UTF-8 text holds one, so
    # RE2 cannot read it as is. It reads as U+FFFD (one character), and the row is scored.
    assert passed("a\ud800b", "a.b", match="regex")
    assert passed("a\udfffb", "a\ufffdb", match="regex")
    assert not passed("\ud800", r"\d+", match="regex")


def test_a_pattern_with_an_unpaired_surrogate_is_not_scored():
    score = score_exact("x", "(x|\ud800)", cfg(match="regex"))
    assert score.value is None and score.passed is None
    assert check_pattern("(x|\ud800)") is not None
    assert check_pattern("x|\ufffd") is None
