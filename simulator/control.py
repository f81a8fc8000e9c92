"""Control routes for tests and demos, under ``/_sim`` (not part of any real provider's API).

- ``POST /_sim/answer-key``: ``{"rows": [{"input", "expected"}, ...], "replace": false}``
  (``prompt``/``question`` and ``output``/``answer`` are accepted as aliases).
- ``POST /_sim/models``: add or patch models by id: one object, a list, or ``{"models": [...]}``.
- ``POST /_sim/custom-endpoints``: add or patch one: ``{"name": "...", "auth": "bearer", ...}``.
- ``POST /_sim/hf/files``: ``{"repo", "path", "content_base64" | "content", "private"}``.
- ``GET /_sim/stats``: calls per model id (and streams, streams cut by their client, and
  streams the model broke off itself: ``stream_cut_after_chunks``), downloads, the last
  requests (secrets masked).
- ``POST /_sim/reset``: statistics, answer key, key usage and runtime patches back to the config.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Flask, Response, request
from pydantic import ValidationError

from simulator.config import AnswerRow
from simulator.hub import write_dataset_file
from simulator.openrouter import model_json
from simulator.state import SimulatorState
from simulator.web import error_response, json_body, json_response

_INPUT_ALIASES = ("input", "prompt", "question")
_EXPECTED_ALIASES = ("expected", "output", "answer")


class ControlError(ValueError):
    """A control request that cannot be applied; answered with 400."""


def register(app: Flask, state: SimulatorState) -> None:
    @app.errorhandler(ControlError)
    def bad_control_request(error: ControlError) -> Response:
        return error_response(400, str(error))

    @app.post("/_sim/answer-key")
    def answer_key() -> Response:
        body = _object(json_body(request))
        rows = answer_rows(body.get("rows"))
        total = state.add_answer_key(rows, replace=bool(body.get("replace", False)))
        return json_response({"added": len(rows), "rows": total})

    @app.post("/_sim/models")
    def models() -> Response:
        body = json_body(request)
        items = body.get("models") if isinstance(body, dict) and "models" in body else body
        items = items if isinstance(items, list) else [items]
        try:
            updated = [state.upsert_model(_object(item)) for item in items]
        except (ValidationError, ValueError) as error:
            raise ControlError(str(error)) from None
        return json_response({"data": [model_json(model) for model in updated]})

    @app.post("/_sim/custom-endpoints")
    def custom_endpoints() -> Response:
        body = dict(_object(json_body(request)))
        name = body.pop("name", None)
        if not isinstance(name, str) or not name:
            raise ControlError("'name' is required")
        try:
            endpoint = state.upsert_custom_endpoint(name, body)
        except ValidationError as error:
            raise ControlError(str(error)) from None
        return json_response({"name": name} | endpoint.model_dump())

    @app.post("/_sim/hf/files")
    def hf_files() -> Response:
        body = _object(json_body(request))
        repo, path = body.get("repo"), body.get("path")
        if not isinstance(repo, str) or not isinstance(path, str):
            raise ControlError("'repo' and 'path' are required strings")
        content = file_content(body)
        try:
            write_dataset_file(
                state.hf_root, repo, path, content, private=bool(body.get("private"))
            )
        except ValueError as error:
            raise ControlError(str(error)) from None
        url = f"{request.host_url}datasets/{repo}/resolve/main/{path}"
        return json_response({"repo": repo, "path": path, "bytes": len(content), "url": url})

    @app.get("/_sim/stats")
    def stats() -> Response:
        return json_response(state.stats())

    @app.post("/_sim/reset")
    def reset() -> Response:
        state.reset()
        return json_response({"reset": True})


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ControlError("expected a JSON object")
    return value


def answer_rows(raw: Any) -> list[AnswerRow]:
    if not isinstance(raw, list):
        raise ControlError("'rows' must be an array")
    rows = []
    for index, item in enumerate(raw):
        row = _object(item)
        key_input = next((row[name] for name in _INPUT_ALIASES if name in row), None)
        expected = next((row[name] for name in _EXPECTED_ALIASES if name in row), None)
        if isinstance(expected, int | float) and not isinstance(expected, bool):
            expected = str(expected)
        if not isinstance(key_input, str) or not key_input or not isinstance(expected, str):
            raise ControlError(f"row {index} needs a non-empty 'input' and an 'expected' string")
        rows.append(AnswerRow(input=key_input, expected=expected))
    return rows


def file_content(body: dict[str, Any]) -> bytes:
    if isinstance(body.get("content_base64"), str):
        try:
            return base64.b64decode(body["content_base64"], validate=True)
        except binascii.Error:
            raise ControlError("'content_base64' is not valid base64") from None
    if isinstance(body.get("content"), str):
        return str(body["content"]).encode()
    raise ControlError("'content_base64' (or 'content', text) is required")
