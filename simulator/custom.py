"""Simulated customer endpoints, for the "custom" and "Hugging Face endpoint" candidate types.

- ``POST /custom/<name>``: an OpenAI chat-completions request in; the answer in the endpoint's
  format: ``chat`` (chat-completions JSON), ``json`` (the answer at ``field_path`` of a JSON
  object, ``result.text`` by default) or ``text`` (a plain-text body). The names ``chat``,
  ``json`` and ``text`` work without configuration (no auth); other names, auth (``none``,
  ``bearer`` with ``token``, ``header`` with ``header_name`` and ``token``) and behaviour come
  from ``custom_endpoints`` in the config or ``POST /_sim/custom-endpoints``.
- ``POST /endpoints/<name>/.../chat/completions``: an OpenAI-compatible server (a Hugging Face
  Inference Endpoint's ``/v1/chat/completions``), always the chat format.

Answers follow the answer key like models do, hashed as model ``custom/<name>``.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, Response, request

from simulator import chat
from simulator.config import CustomEndpoint
from simulator.state import SimulatorState
from simulator.web import bearer_token, error_response, json_body, json_response

FORMATS = ("chat", "json", "text")


def register(app: Flask, state: SimulatorState) -> None:
    @app.post("/custom/<name>")
    def custom(name: str) -> Response:
        endpoint = state.custom_endpoint(name)
        if endpoint is None and name in FORMATS:
            endpoint = CustomEndpoint()
        if endpoint is None:
            return error_response(404, f"No custom endpoint named {name!r}")
        answer_format = endpoint.format or (name if name in FORMATS else "chat")
        return _serve(state, name, endpoint, answer_format)

    @app.post("/endpoints/<name>/<path:rest>")
    def openai_compatible(name: str, rest: str) -> Response:
        if not rest.rstrip("/").endswith("chat/completions"):
            return error_response(404, f"No route /endpoints/{name}/{rest}")
        endpoint = state.custom_endpoint(name) or CustomEndpoint()
        return _serve(state, name, endpoint, "chat")


def _serve(
    state: SimulatorState, name: str, endpoint: CustomEndpoint, answer_format: str
) -> Response:
    stats_id = f"custom/{name}"
    if not authorized(endpoint):
        state.count(stats_id, "401")
        return error_response(401, "Missing or invalid credentials")
    body = json_body(request)
    problem = chat.chat_request_problem(body)
    if problem is not None:
        state.count(stats_id, "400")
        return error_response(400, problem)
    stream = answer_format == "chat" and bool(body.get("stream"))
    result = chat.simulate(state, endpoint.as_model(name), body, stream=stream, stats_id=stats_id)
    if isinstance(result, Response):
        return result
    if answer_format == "json":
        return json_response(nest(endpoint.field_path, result.content))
    if answer_format == "text":
        return Response(result.content, mimetype="text/plain")
    model_name = body.get("model") if isinstance(body.get("model"), str) else stats_id
    return chat.chat_response(
        state, result, stream=stream, model_name=model_name, stats_id=stats_id
    )


def authorized(endpoint: CustomEndpoint) -> bool:
    if endpoint.auth == "none":
        return True
    if endpoint.auth == "bearer":
        presented = bearer_token(request) or ""
    else:
        presented = request.headers.get(endpoint.header_name, "")
    return bool(presented) and hmac.compare_digest(presented.encode(), endpoint.token.encode())


def nest(field_path: str, value: str) -> dict[str, Any]:
    """``nest("result.text", "x") == {"result": {"text": "x"}}``."""
    names = [name for name in field_path.split(".") if name] or ["text"]
    nested: Any = value
    for name in reversed(names):
        nested = {name: nested}
    result: dict[str, Any] = nested
    return result
