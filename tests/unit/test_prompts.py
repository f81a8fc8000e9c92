"""The task prompt applied to rows (runs) and to chats (inference)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import prompts
from shared.domain.prompts import (
    PLACEHOLDERS,
    NoUserMessage,
    inference_messages,
    render_task,
    task_messages,
)


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_each_placeholder_is_replaced(placeholder):
    assert render_task(f"Q: {placeholder}\nA:", "2+2") == "Q: 2+2\nA:"


def test_every_occurrence_of_every_placeholder_is_replaced():
    prompt = "{input} / {question} / {query} / {input}"
    assert render_task(prompt, "x") == "x / x / x / x"


def test_without_placeholder_the_input_is_appended_after_a_blank_line():
    assert render_task("Translate to French.", "cat") == "Translate to French.\n\ncat"
    assert render_task("Translate to French.  \n\n", "cat") == "Translate to French.\n\ncat"


def test_empty_or_blank_prompt_gives_the_input_alone():
    assert render_task("", "cat") == "cat"
    assert render_task(" \n\t", "cat") == "cat"


def test_input_is_kept_exactly():
    assert render_task("P: {input}", "  spaced  \n") == "P:   spaced  \n"
    assert render_task("P", "  spaced  \n") == "P\n\n  spaced  \n"


def test_json_braces_and_lookalikes_are_not_interpreted():
    prompt = 'Answer as {"answer": "..."} for {input}. {Input} { input } {0} {}'
    assert render_task(prompt, "q") == 'Answer as {"answer": "..."} for q. {Input} { input } {0} {}'
    assert render_task("{{input}}", "q") == "{q}"


def test_prompt_with_only_lookalikes_appends():
    assert render_task('Reply {"a": 1} {Input}', "q") == 'Reply {"a": 1} {Input}\n\nq'


def test_input_containing_a_placeholder_is_not_expanded_again():
    assert render_task("A {input} B {query}", "{query}") == "A {query} B {query}"
    assert render_task("A {input}", "{input}") == "A {input}"


def test_backslashes_and_group_references_in_input_are_literal():
    assert render_task("x={input}", r"\1 \g<0> \n") == r"x=\1 \g<0> \n"


def test_task_messages_is_one_user_message():
    assert task_messages("Solve: {input}", "1+1") == [{"role": "user", "content": "Solve: 1+1"}]
    assert task_messages("Solve.", "1+1") == [{"role": "user", "content": "Solve.\n\n1+1"}]


def test_prompt_version_is_a_nonempty_constant():
    assert isinstance(prompts.PROMPT_VERSION, str) and prompts.PROMPT_VERSION


# Inference.


def test_single_user_message_matches_what_a_run_sends():
    for prompt in ("Solve: {input}", "Solve."):
        chat = [{"role": "user", "content": "1+1"}]
        assert inference_messages(prompt, chat) == task_messages(prompt, "1+1")


def test_last_user_message_is_rendered_and_the_rest_kept_in_order():
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second", "name": "bob"},
        {"role": "tool", "content": "trailing", "tool_call_id": "t1"},
    ]
    assert inference_messages("Q: {question}", chat) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "Q: second", "name": "bob"},
        {"role": "tool", "content": "trailing", "tool_call_id": "t1"},
    ]
    assert inference_messages("Task.", chat)[3]["content"] == "Task.\n\nsecond"


def test_caller_messages_are_not_modified():
    chat = [{"role": "user", "content": "hi"}]
    inference_messages("P {input}", chat)
    assert chat == [{"role": "user", "content": "hi"}]


def test_content_parts_keep_their_non_text_parts():
    image = {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}
    chat = [
        {
            "role": "user",
            "content": [
                image,
                {"type": "text", "text": "What is"},
                {"type": "text", "text": "this?"},
            ],
        }
    ]
    assert inference_messages("Q: {input}", chat) == [
        {"role": "user", "content": [image, {"type": "text", "text": "Q: What is\nthis?"}]}
    ]


def test_content_without_text_gets_the_task_as_first_part():
    image = {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}
    chat = [{"role": "user", "content": [image]}]
    assert inference_messages("Describe.", chat) == [
        {"role": "user", "content": [{"type": "text", "text": "Describe.\n\n"}, image]}
    ]


def test_null_content_is_empty_input():
    assert inference_messages("Q: {input}!", [{"role": "user", "content": None}]) == [
        {"role": "user", "content": "Q: !"}
    ]


def test_a_chat_without_user_message_is_refused():
    with pytest.raises(NoUserMessage, match="role 'user'"):
        inference_messages("P", [{"role": "system", "content": "x"}])
    with pytest.raises(NoUserMessage):
        inference_messages("P", [])


def test_unsupported_content_is_refused():
    with pytest.raises(ValueError, match="content"):
        inference_messages("P", [{"role": "user", "content": 42}])


# Properties.

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
placeholder_free = texts.filter(lambda t: not prompts.has_placeholder(t))


@given(prompt=texts, input_text=placeholder_free)
def test_no_placeholder_survives_when_the_input_has_none(prompt, input_text):
    assert not prompts.has_placeholder(render_task(prompt, input_text))


@given(prompt=placeholder_free, input_text=texts)
def test_without_placeholder_the_result_ends_with_the_input(prompt, input_text):
    rendered = render_task(prompt, input_text)
    assert rendered.endswith(input_text)
    assert rendered.startswith(prompt.rstrip())


@given(
    parts=st.lists(placeholder_free, min_size=1, max_size=5),
    placeholders=st.lists(st.sampled_from(PLACEHOLDERS), min_size=4, max_size=4),
    input_text=texts,
)
def test_placeholders_are_replaced_in_one_pass(parts, placeholders, input_text):
    # A placeholder starts with "{" and has no other "{", so none can straddle a seam.
    prompt = "".join(p + ph for p, ph in zip(parts, placeholders, strict=False))
    expected = "".join(p + input_text for p, _ in zip(parts, placeholders, strict=False))
    assert render_task(prompt, input_text) == expected


def test_only_parts_of_type_text_are_text():
    # An image part that carries a "text" field (a caption) is not the input.
    captioned = {"type": "image_url", "text": "a caption", "image_url": {"url": "https://x/c.png"}}
    untyped = {"text": "no type"}
    chat = [
        {"role": "user", "content": [captioned, untyped, {"type": "text", "text": "What is this?"}]}
    ]
    assert prompts.message_text(chat[0]["content"]) == "What is this?"
    assert inference_messages("Q: {input}", chat) == [
        {
            "role": "user",
            "content": [captioned, untyped, {"type": "text", "text": "Q: What is this?"}],
        }
    ]
