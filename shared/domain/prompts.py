"""The task prompt ("challenge prompt") applied to a dataset row or an inference request.

One rule, the product's: if the prompt contains ``{input}``, ``{question}`` or ``{query}``,
Dr.Gero replaces the placeholder with the input; otherwise it appends the input to the prompt.
Precisely (:func:`render_task`):

- Every occurrence of each placeholder is replaced by the input text, in one pass: an input that
  itself contains ``{input}`` is inserted as is, never expanded again. Placeholders are matched
  literally and case-sensitively (``{Input}`` and ``{ input }`` are ordinary text). No other brace
  is interpreted, so prompts may contain JSON examples; there is no escape syntax
  (``{{input}}`` becomes ``{`` + input + ``}``).
- Without a placeholder the result is the prompt with its trailing whitespace removed, a blank
  line, then the input: ``prompt.rstrip() + "\\n\\n" + input``. A prompt that is empty or only
  whitespace gives the input alone.
- The input is never trimmed or otherwise changed.

**Runs** send each row to a candidate model as one user message holding the rendered task
(:func:`task_messages`).

**Inference** (:func:`inference_messages`) applies the same rule to the caller's chat, so the
production model sees exactly the shape it was ranked on: the caller's **last user message** is
replaced by the task rendered with that message's text. Every other message (system messages,
earlier turns, anything after the last user message) is kept, in order and unchanged. A one-message
call therefore sends exactly what a run sent for a row with the same input. The text of a message
is its string content, or the ``text`` of its text parts joined by newlines when the content is an
array of parts; in that case the rendered task becomes one text part at the place of the first
text part (or first, when there is none), and the other parts (images, audio) stay where they
were. A chat without a user message is refused with :class:`NoUserMessage`.

``PROMPT_VERSION`` names this rule; runs store it in their snapshot so a result can be traced to
the rendering that produced it. Change it whenever the rendering changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

PLACEHOLDERS = ("{input}", "{question}", "{query}")
PROMPT_VERSION = "task-prompt-v1"

_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))


class NoUserMessage(ValueError):
    """An inference chat has no user message to apply the task prompt to."""


def has_placeholder(system_prompt: str) -> bool:
    return _PLACEHOLDER_RE.search(system_prompt) is not None


def render_task(system_prompt: str, input_text: str) -> str:
    """The task prompt applied to one input (see the module docstring)."""
    if has_placeholder(system_prompt):
        # A function replacement: the input is inserted verbatim (no backslash or group escapes).
        return _PLACEHOLDER_RE.sub(lambda _match: input_text, system_prompt)
    prompt = system_prompt.rstrip()
    return f"{prompt}\n\n{input_text}" if prompt else input_text


def task_messages(system_prompt: str, input_text: str) -> list[dict[str, Any]]:
    """The chat messages a run sends to a candidate model for one row."""
    return [{"role": "user", "content": render_task(system_prompt, input_text)}]


def message_text(content: Any) -> str:
    """The text of a chat message's content: a string, null, or an array of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part["text"] for part in content if _is_text_part(part))
    raise ValueError(
        f"message content must be a string, null or an array of parts, not {type(content).__name__}"
    )


def inference_messages(
    system_prompt: str, caller_messages: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The caller's chat with the task prompt applied to its last user message.

    Returns new message dicts; the caller's are not modified.
    """
    messages = [dict(message) for message in caller_messages]
    last_user = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "user"), None
    )
    if last_user is None:
        raise NoUserMessage(
            "the chat has no message with role 'user'; send the input as a user message"
        )
    message = messages[last_user]
    content = message.get("content")
    rendered = render_task(system_prompt, message_text(content))
    message["content"] = _replace_text(content, rendered)
    return messages


def _is_text_part(part: Any) -> bool:
    return (
        isinstance(part, Mapping)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    )


def _replace_text(content: Any, rendered: str) -> Any:
    """``content`` with its text replaced by ``rendered``, non-text parts kept in place."""
    if not isinstance(content, list):
        return rendered
    parts: list[Any] = []
    placed = False
    for part in content:
        if not _is_text_part(part):
            parts.append(part)
        elif not placed:
            parts.append({**part, "text": rendered})
            placed = True
    if not placed:
        parts.insert(0, {"type": "text", "text": rendered})
    return parts
