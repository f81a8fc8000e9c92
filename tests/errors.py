"""Assertions on the JSON error contract, shared by every API test."""

from __future__ import annotations

import json
from typing import Any

import httpx


def strict_json(text: str) -> Any:
    """Parse as RFC 8259 JSON: NaN and Infinity, which Python's json allows, are errors."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"the response is not valid JSON: it contains {constant}")

    return json.loads(text, parse_constant=refuse)


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is a JSON error ``{"error": {"code", "message", ...}}`` with this status."""
    assert response.status_code == status, response.text
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = strict_json(response.text)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and error["message"].strip(), body
    assert "Traceback" not in response.text
    if code is not None:
        assert error["code"] == code, body
    return error
