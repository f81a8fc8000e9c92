"""LLM-judge prompts and the reading of judge answers."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.judge import (
    JudgeConfig,
    JudgeVerdict,
    UnparseableJudgeAnswer,
    judge_messages,
    judge_response_format,
    parse_judge_answer,
    resolve_rubric,
)

ZERO_ONE = JudgeConfig()
TEN = JudgeConfig(scale="1-10")
BINARY = JudgeConfig(scale="binary")


# Config.


def test_defaults():
    config = JudgeConfig()
    assert (config.model, config.platform) == ("openai/gpt-4o-mini", "openrouter")
    assert config.rubric is None
    assert config.scale == "0-1"
    assert config.pass_threshold == 0.5
    assert config.max_attempts == 3


def test_extra_fields_are_kept():
    config = JudgeConfig.model_validate({"platform": "custom", "endpoint": "https://judge.example"})
    assert config.model_dump()["endpoint"] == "https://judge.example"


@pytest.mark.parametrize(
    "bad",
    [{"scale": "0-100"}, {"pass_threshold": 1.5}, {"max_attempts": 0}, {"model": ""}],
)
def test_invalid_config(bad):
    with pytest.raises(ValidationError):
        JudgeConfig.model_validate(bad)


# Prompt.


def test_user_message_has_the_four_labelled_blocks_in_order():
    messages = judge_messages(
        task="What is 2+2?", output="4", expected="4", rubric="Exact number.", config=ZERO_ONE
    )
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == (
        "Task:\nWhat is 2+2?\n\n"
        "Expected answer:\n4\n\n"
        "Candidate answer:\n4\n\n"
        "Rubric:\nExact number."
    )


def test_missing_expected_and_rubric_are_none():
    messages = judge_messages(task="T", output="O", expected=None, rubric=None, config=ZERO_ONE)
    assert messages[1]["content"] == (
        "Task:\nT\n\nExpected answer:\n(none)\n\nCandidate answer:\nO\n\nRubric:\n(none)"
    )


def test_empty_expected_answer_is_shown_as_empty_not_none():
    messages = judge_messages(task="T", output="O", expected="", rubric=None, config=ZERO_ONE)
    assert "Expected answer:\n\n\nCandidate answer:" in messages[1]["content"]


def test_rubric_precedence():
    config = JudgeConfig(rubric="Board rubric")
    assert resolve_rubric("Row rubric", config) == "Row rubric"
    assert resolve_rubric(None, config) == "Board rubric"
    assert resolve_rubric("  ", config) == "Board rubric"
    assert resolve_rubric(None, JudgeConfig(rubric=" ")) is None
    messages = judge_messages(task="T", output="O", expected=None, rubric=None, config=config)
    assert messages[1]["content"].endswith("Rubric:\nBoard rubric")


@pytest.mark.parametrize(
    ("scale", "words"),
    [("binary", "1 if the candidate"), ("0-1", "from 0"), ("1-10", "from 1")],
)
def test_system_message_states_scale_and_json_form(scale, words):
    system = judge_messages(
        task="T", output="O", expected=None, rubric=None, config=JudgeConfig(scale=scale)
    )[0]["content"]
    assert words in system
    assert "ONLY with a JSON object" in system
    assert system.endswith('{"score": <number>, "reason": "<one sentence>"}')


def test_response_format_is_a_strict_json_schema():
    fmt = judge_response_format()
    assert fmt["type"] == "json_schema"
    schema = fmt["json_schema"]["schema"]
    assert fmt["json_schema"]["strict"] is True
    assert schema["required"] == ["score", "reason"]
    assert schema["properties"] == {"score": {"type": "number"}, "reason": {"type": "string"}}
    assert schema["additionalProperties"] is False


# Parsing.


def test_plain_json_answer():
    assert parse_judge_answer('{"score": 0.8, "reason": "Mostly right."}', ZERO_ONE) == (
        JudgeVerdict(0.8, "Mostly right.", 0.8, True)
    )


def test_fenced_json_answer():
    text = '```json\n{"score": 0, "reason": "Wrong."}\n```'
    assert parse_judge_answer(text, ZERO_ONE) == JudgeVerdict(0.0, "Wrong.", 0.0, False)


def test_object_after_prose_and_before_prose():
    text = 'Let me think. {"note": 1} The verdict: {"score": 1, "reason": "ok"} Done. {"score": 0}'
    assert parse_judge_answer(text, ZERO_ONE).score == 1.0


def test_nested_object_with_a_score_is_found():
    assert parse_judge_answer('{"verdict": {"score": 0.25}}', ZERO_ONE).score == 0.25


def test_numeric_string_score_and_missing_reason():
    assert parse_judge_answer('{"score": " 0.5 "}', ZERO_ONE) == JudgeVerdict(0.5, "", 0.5, True)


def test_non_string_reason_becomes_json_text():
    verdict = parse_judge_answer('{"score": 1, "reason": ["a", "b"]}', ZERO_ONE)
    assert verdict.reason == '["a", "b"]'


def test_ten_point_scale_is_normalised():
    assert parse_judge_answer('{"score": 1}', TEN) == JudgeVerdict(0.0, "", 1.0, False)
    assert parse_judge_answer('{"score": 10}', TEN) == JudgeVerdict(1.0, "", 10.0, True)
    assert parse_judge_answer('{"score": 7}', TEN).score == pytest.approx(6 / 9)
    assert parse_judge_answer('{"score": 5.5}', TEN).score == 0.5


def test_binary_scale():
    assert parse_judge_answer('{"score": 1}', BINARY).score == 1.0
    assert parse_judge_answer('{"score": false}', BINARY).score == 0.0
    with pytest.raises(UnparseableJudgeAnswer, match="0 or 1"):
        parse_judge_answer('{"score": 0.5}', BINARY)


def test_pass_threshold_is_inclusive_on_normalised_score():
    config = JudgeConfig(scale="1-10", pass_threshold=2 / 3)
    assert parse_judge_answer('{"score": 7}', config).passed  # (7-1)/9 == 2/3
    assert not parse_judge_answer('{"score": 6.9}', config).passed


@pytest.mark.parametrize(
    ("text", "config", "message"),
    [
        ("I think it is good.", ZERO_ONE, "no JSON object"),
        ('{"grade": 1}', ZERO_ONE, "no 'score' field"),
        ("{'score': 1}", ZERO_ONE, "no JSON object"),
        ('{"score": 1,}', ZERO_ONE, "no JSON object"),
        ('{"score": "high"}', ZERO_ONE, "is not a number"),
        ('{"score": null}', ZERO_ONE, "not a number"),
        ('{"score": [1]}', ZERO_ONE, "not a number"),
        ('{"score": true}', ZERO_ONE, "not a number on the 0-1 scale"),
        ('{"score": NaN}', ZERO_ONE, "not a finite number"),
        ('{"score": 7}', ZERO_ONE, "outside the 0-1 scale"),
        ('{"score": -0.1}', ZERO_ONE, "outside the 0-1 scale"),
        ('{"score": 0}', TEN, "outside the 1-10 scale"),
        ('{"score": 11}', TEN, "between 1 and 10"),
        ("", ZERO_ONE, "no JSON object"),
    ],
)
def test_unparseable_answers(text, config, message):
    with pytest.raises(UnparseableJudgeAnswer, match=message):
        parse_judge_answer(text, config)


def test_error_message_quotes_a_short_snippet_of_the_answer():
    with pytest.raises(UnparseableJudgeAnswer) as caught:
        parse_judge_answer("bad answer\n" * 100, ZERO_ONE)
    message = str(caught.value)
    assert '"bad answer bad answer' in message
    assert message.endswith('…"')
    assert len(message) < 400


def test_unparseable_is_a_value_error():
    assert issubclass(UnparseableJudgeAnswer, ValueError)


# Properties.


@given(
    raw=st.floats(min_value=1, max_value=10),
    reason=st.text(max_size=30),
    prose=st.text(alphabet="abc .:\n", max_size=20),
)
def test_any_in_range_answer_round_trips(raw, reason, prose):
    text = prose + json.dumps({"score": raw, "reason": reason}) + prose
    verdict = parse_judge_answer(text, TEN)
    assert verdict.raw_score == raw
    assert 0.0 <= verdict.score <= 1.0
    assert verdict.reason == reason.strip()


@given(raw=st.floats(allow_nan=False, allow_infinity=False))
def test_zero_one_scale_accepts_exactly_the_unit_interval(raw):
    text = json.dumps({"score": raw})
    if 0 <= raw <= 1:
        assert parse_judge_answer(text, ZERO_ONE).score == raw
    else:
        with pytest.raises(UnparseableJudgeAnswer):
            parse_judge_answer(text, ZERO_ONE)


# What mutation testing found unpinned (issue 18).


def test_binary_scale_reads_true_as_one():
    assert parse_judge_answer('{"score": true, "reason": "ok"}', BINARY) == JudgeVerdict(
        1.0, "ok", 1.0, True
    )
    assert parse_judge_answer('{"score": false}', BINARY) == JudgeVerdict(0.0, "", 0.0, False)


def test_a_broken_object_before_the_verdict_is_skipped():
    text = 'Draft: {"score": } Final: {"score": 0.5, "reason": "half"}'
    assert parse_judge_answer(text, ZERO_ONE) == JudgeVerdict(0.5, "half", 0.5, True)


def test_only_the_first_64_object_starts_are_tried():
    verdict = '{"score": 1}'
    assert parse_judge_answer('{"note": 1} ' * 63 + verdict, ZERO_ONE).score == 1.0
    with pytest.raises(UnparseableJudgeAnswer):
        parse_judge_answer('{"note": 1} ' * 64 + verdict, ZERO_ONE)
    with pytest.raises(UnparseableJudgeAnswer):
        parse_judge_answer('{"note": } ' * 64 + verdict, ZERO_ONE)


def test_an_answer_of_exactly_the_limit_is_read():
    answer = '{"score": 1, "reason": "' + "x" * 74 + '"}'
    assert len(answer) == 100
    assert parse_judge_answer(answer, ZERO_ONE, max_chars=100).score == 1.0
    with pytest.raises(UnparseableJudgeAnswer):
        parse_judge_answer(answer, ZERO_ONE, max_chars=99)


def test_a_non_string_reason_keeps_its_non_ascii_text():
    verdict = parse_judge_answer('{"score": 1, "reason": {"pourquoi": "déjà vu"}}', ZERO_ONE)
    assert verdict.reason == '{"pourquoi": "déjà vu"}'


def test_the_error_quotes_an_answer_of_200_characters_whole_and_as_written():
    answer = ("pas de verdict, désolé " * 10)[:199] + "!"
    assert len(answer) == 200
    with pytest.raises(UnparseableJudgeAnswer) as caught:
        parse_judge_answer(answer, ZERO_ONE)
    assert json.dumps(answer, ensure_ascii=False) in str(caught.value)
    with pytest.raises(UnparseableJudgeAnswer) as caught:
        parse_judge_answer(answer + "x", ZERO_ONE)
    assert json.dumps(answer + "x", ensure_ascii=False) not in str(caught.value)


def test_response_format_is_exactly_the_verdict_schema():
    assert judge_response_format() == {
        "type": "json_schema",
        "json_schema": {
            "name": "judge_verdict",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"score": {"type": "number"}, "reason": {"type": "string"}},
                "required": ["score", "reason"],
                "additionalProperties": False,
            },
        },
    }


def test_verdict_to_json_publishes_its_four_fields():
    assert JudgeVerdict(0.5, "half right", 5.5, True).to_json() == {
        "score": 0.5,
        "reason": "half right",
        "raw_score": 5.5,
        "passed": True,
    }
