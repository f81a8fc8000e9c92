"""The provider boundary is total: whatever reading an answer raises leaves as a ProviderError.

Each answer comes from a real server; endpoints are built by the factory, as runs and
inference build them. A stored config that predates the add-time checks (a non-ASCII token, a
header value with CR/LF) fails its calls with a non-retryable provider error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.providers.base import ChatRequest
from shared.providers.errors import (
    InvalidUpstreamResponse,
    ProviderError,
    RequestNotSendable,
    UpstreamUnavailable,
)
from shared.providers.factory import build_endpoint
from shared.settings import Settings
from tests.providers.hostile import HostileServer, Route

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
REQUEST = ChatRequest(messages=[{"role": "user", "content": "hello"}])
DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"Content-Type": "application/json"}
CHAT_OK = b'{"choices": [{"message": {"content": "fine"}, "finish_reason": "stop"}]}'


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with HostileServer() as started:
        started.routes.update(
            {
                "/deep": Route(headers=JSON, body=lambda: [DEEP]),
                "/deep-field": Route(headers=JSON, body=lambda: [b'{"a": ' + DEEP + b"}"]),
                "/deep-error": Route(status=500, headers=JSON, body=lambda: [DEEP]),
                "/digits": Route(headers=JSON, body=lambda: [b'{"a": ' + b"9" * 10_000 + b"}"]),
                "/ok": Route(headers=JSON, body=lambda: [CHAT_OK]),
            }
        )
        yield started


def _custom(server: HostileServer, path: str, **extra: Any) -> dict[str, Any]:
    return {"platform": "custom", "endpoint": server.base_url + path} | extra


def _build(client: httpx.Client, model: dict[str, Any], token: str | None = None) -> Any:
    return build_endpoint(
        model,
        client=client,
        settings=Settings(),
        openrouter_key=None,
        secrets={"ref": token} if token is not None else {},
    )


@pytest.mark.parametrize(
    ("path", "response"),
    [
        ("/deep", {"format": "chat"}),
        ("/deep-field", {"format": "json", "field": "a"}),
        ("/digits", {"format": "json", "field": "a"}),
    ],
)
def test_a_deep_or_huge_json_answer_is_an_invalid_response(
    server: HostileServer, client: httpx.Client, path: str, response: dict[str, str]
) -> None:
    endpoint = _build(client, _custom(server, path, response=response))
    with pytest.raises(InvalidUpstreamResponse) as info:
        endpoint.complete(REQUEST, timeout=TIMEOUT)
    assert not info.value.retryable
    with pytest.raises(ProviderError):  # a JSON answer to a stream request reads the same way
        list(_build(client, _custom(server, path)).stream(REQUEST, timeout=TIMEOUT))


def test_a_deep_error_body_keeps_its_status(server: HostileServer, client: httpx.Client) -> None:
    with pytest.raises(UpstreamUnavailable) as info:
        _build(client, _custom(server, "/deep-error")).complete(REQUEST, timeout=TIMEOUT)
    assert info.value.status == 500


@pytest.mark.parametrize(
    ("auth", "token"),
    [
        ({"method": "bearer", "secret_ref": "ref"}, "tökén-ünicode"),
        ({"method": "bearer", "secret_ref": "ref"}, "abc\r\nX-Injected: 1"),
        ({"method": "header", "header_name": "X-Key", "secret_ref": "ref"}, "nul\x00byte"),
    ],
)
def test_a_stored_token_httpx_refuses_is_a_provider_error_not_a_crash(
    server: HostileServer, client: httpx.Client, auth: dict[str, str], token: str
) -> None:
    endpoint = _build(client, _custom(server, "/ok", auth=auth), token=token)
    for call in (
        lambda: endpoint.complete(REQUEST, timeout=TIMEOUT),
        lambda: list(endpoint.stream(REQUEST, timeout=TIMEOUT)),
    ):
        with pytest.raises(RequestNotSendable) as info:
            call()
        assert info.value.code == "endpoint_config_invalid" and not info.value.retryable
        assert token not in str(info.value)
    assert "/ok" not in server.seen  # nothing was sent


def test_a_good_answer_still_reads(server: HostileServer, client: httpx.Client) -> None:
    endpoint = _build(client, _custom(server, "/ok"))
    assert endpoint.complete(REQUEST, timeout=TIMEOUT).output == "fine"
