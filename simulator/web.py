"""Small HTTP helpers shared by the simulator's routes: JSON answers, errors, credentials."""

from __future__ import annotations

import json
from typing import Any

from flask import Request, Response


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def error_response(
    status: int, message: str, *, metadata: dict[str, Any] | None = None, **headers: str
) -> Response:
    """OpenRouter's error body, ``{"error": {"code", "message", "metadata"?}}``.

    Keyword arguments become headers, underscores turned into dashes (``Retry_After=...``).
    """
    error: dict[str, Any] = {"code": status, "message": message}
    if metadata:
        error["metadata"] = metadata
    response = json_response({"error": error}, status)
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def json_body(request: Request) -> Any:
    """The request's JSON body, or None when it has none or it does not parse."""
    return request.get_json(silent=True, force=True)
