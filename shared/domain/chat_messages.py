"""Chat messages → input text: how a row's ``messages`` read as the text a model is asked.

The rule is the **messages** rule of :mod:`shared.domain.rows` (OpenAI-style chat messages, one
``"<role>: <text>"`` block per message, content parts and tool calls as placeholders). Within one
message, its content parts and tool calls are joined by single newlines; an invalid message is a
ValueError whose text names it (``messages[2].content``) and says what is wrong.
"""

from __future__ import annotations

from typing import Any

from shared.domain.jsonl import canonical_json, json_type_name


def render_messages(messages: list[dict[str, Any]]) -> str:
    """Chat messages as input text (rules in the module docstring); ValueError if they are invalid.

    The error message names the message (``messages[2].content``) and what is wrong with it.
    """
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty array of message objects")
    blocks = (_render_message(f"messages[{i}]", message) for i, message in enumerate(messages))
    return "\n\n".join(block for block in blocks if block)


def _render_message(where: str, message: Any) -> str:
    if not isinstance(message, dict):
        raise ValueError(f"{where} must be an object with role and content, got {a_json(message)}")
    role = message.get("role")
    if not isinstance(role, str) or not role.strip():
        raise ValueError(f"{where}.role must be a non-empty string, got {a_json(role)}")
    pieces = [_render_content(f"{where}.content", message.get("content"))]
    pieces += _render_tool_calls(where, message)
    text = "\n".join(piece for piece in pieces if piece.strip())
    return f"{role}: {text}" if text else ""


def _render_content(where: str, content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise ValueError(
            f"{where} must be a string, null or an array of content parts, got {a_json(content)}"
        )
    return "\n".join(_render_part(f"{where}[{j}]", part) for j, part in enumerate(content))


def _render_part(where: str, part: Any) -> str:
    kind = part.get("type") if isinstance(part, dict) else None
    if not isinstance(part, dict) or not isinstance(kind, str) or not kind:
        raise ValueError(f"{where} must be a content part object with a string 'type'")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise ValueError(f"{where}.text must be a string, got {a_json(text)}")
        return text
    return {"image_url": "[image]", "input_audio": "[audio]"}.get(kind, f"[{kind}]")


def _render_tool_calls(where: str, message: dict[str, Any]) -> list[str]:
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise ValueError(f"{where}.tool_calls must be an array, got {a_json(calls)}")
    rendered = []
    for k, call in enumerate(calls or []):
        function = call.get("function") if isinstance(call, dict) else None
        rendered.append(_render_call(f"{where}.tool_calls[{k}].function", function))
    if message.get("function_call") is not None:  # the legacy single-call form
        rendered.append(_render_call(f"{where}.function_call", message["function_call"]))
    return rendered


def _render_call(where: str, function: Any) -> str:
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise ValueError(f"{where} must be an object with a string 'name'")
    arguments = function.get("arguments")
    if arguments is not None and not isinstance(arguments, str):
        arguments = canonical_json(arguments)
    return f"[tool call {name}({arguments or ''})]"


def a_json(value: Any) -> str:
    """``a JSON <type>``: how rejection and error texts name the type of a value."""
    return f"a JSON {json_type_name(value)}"
