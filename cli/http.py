"""The admin HTTP API as the CLI speaks it, and the errors a user can act on.

``CliError`` is the one exception ``cli.main`` turns into a line on stderr and an exit status;
``ApiError`` is its subclass for the API's own error body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

PAGE_SIZE = 200  # the API's largest page: fewest round trips


class CliError(Exception):
    """A failure the user can act on: printed as one line on stderr, never as a traceback."""

    def __init__(self, message: str, *, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ApiError(CliError):
    """The API answered with its error body ``{"error": {"code", "message", ...}}``."""

    def __init__(self, *, code: str, message: str, http_status: int) -> None:
        super().__init__(f"error {code}: {message}")
        self.code = code
        self.http_status = http_status


class ApiClient:
    """The admin API as one token sees it; speaks HTTP only, so it works against any stack."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout or httpx.Timeout(30.0, connect=5.0),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def tokens(self, *, page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every API token of the workspace, page after page (``next_cursor``)."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            page = self._call("GET", "/v1/tokens", params=params)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def find_token(self, token_id: str) -> dict[str, Any]:
        # The API has no GET /v1/tokens/{id}: the list is the one place a token's spend shows.
        for token in self.tokens():
            if token["id"] == token_id:
                return token
        raise CliError(f"error token_not_found: no API token {token_id} in this workspace")

    def create_token(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", "/v1/tokens", json=body))

    def revoke_token(self, token_id: str) -> None:
        self._call("DELETE", f"/v1/tokens/{token_id}")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            # The message names the URL and the cause; the request's headers never appear.
            raise CliError(
                f"error: cannot reach the API at {self.base_url}"
                f" ({type(error).__name__}: {error}); is the stack running (make dev)?"
            ) from None
        if response.status_code >= 400:
            raise _api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"error: {method} {path} answered {response.status_code} with a body that is"
                f" not JSON: {response.text[:200]!r}"
            ) from None


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        # Not our error body (a proxy's page, an emulator's crash): say what came back.
        code = f"http_{response.status_code}"
        message = response.text.strip()[:200] or response.reason_phrase
    return ApiError(code=code, message=message, http_status=response.status_code)
