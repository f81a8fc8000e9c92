"""Bounded answers: every upstream read stops at its cap, in memory close to the cap.

The upstream is a real threaded HTTP server (``tests.providers.hostile``) serving gzip bombs
(200 MiB of zeros, about 200 KiB on the wire), endless SSE lines and oversized bodies; the code
under test reads them through the production client. Peak memory is measured with tracemalloc.
"""

from __future__ import annotations

import itertools
import json
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from shared.providers.base import ChatRequest
from shared.providers.custom import AuthConfig, CustomEndpoint, ResponseFormat
from shared.providers.errors import (
    DatasetTooLarge,
    ProviderError,
    UpstreamResponseTooLarge,
    UpstreamUnavailable,
)
from shared.providers.huggingface import HuggingFaceHub
from shared.providers.openrouter import OpenRouterCatalog
from shared.providers.reading import ReadLimits
from tests.providers import loopback_client
from tests.providers.hostile import HostileServer, MiB, Route, chunks, gzip_bomb, repeated

CAP = 4 * MiB
LIMITS = ReadLimits(
    body_bytes=CAP, error_body_bytes=64 * 1024, sse_line_bytes=MiB, stream_output_bytes=2 * MiB
)
SLACK = 2 * MiB  # what one call may hold beyond its cap (one decode step, parsing, httpx)
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
REQUEST = ChatRequest(messages=[{"role": "user", "content": "hello"}])
BOMB = gzip_bomb(200 * MiB)
GZIP = {"Content-Encoding": "gzip"}


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _delta(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


# The rest of an event whose "data: " came in an earlier read, then [DONE], with CRLF ends.
_SPLIT_EVENT = json.dumps(_delta(" legs.")).encode() + b"\r\n\r\ndata: [DONE]\r\n\r\n"

ROUTES = {
    "/bomb/text": Route(headers=GZIP | {"Content-Type": "text/plain"}, body=lambda: chunks(BOMB)),
    "/bomb/json": Route(
        headers=GZIP | {"Content-Type": "application/json"}, body=lambda: chunks(BOMB)
    ),
    "/bomb/error": Route(
        status=500, headers=GZIP | {"Content-Type": "text/plain"}, body=lambda: chunks(BOMB)
    ),
    "/bomb/sse": Route(
        headers=GZIP | {"Content-Type": "text/event-stream"}, body=lambda: chunks(BOMB)
    ),
    "/plain/big": Route(
        headers={"Content-Type": "text/plain"}, body=repeated(b"x" * 65536, 5 * 16 + 1)
    ),
    "/plain/declared": Route(
        headers={"Content-Type": "text/plain", "Content-Length": str(5 * MiB)},
        body=repeated(b"x" * MiB, 5),
    ),
    "/sse/long-line": Route(
        headers={"Content-Type": "text/event-stream"},
        body=lambda: itertools.chain([b"data: "], (b"x" * 65536 for _ in range(200))),
    ),
    "/sse/many-data-lines": Route(
        headers={"Content-Type": "text/event-stream"},
        body=repeated(b"data: " + b"y" * 1000 + b"\n", 3000),
    ),
    "/sse/endless": Route(
        headers={"Content-Type": "text/event-stream"},
        body=repeated(_sse(_delta("z" * 60000)), 200),
    ),
    "/sse/fine": Route(
        headers={"Content-Type": "text/event-stream"},
        body=lambda: iter([_sse(_delta("Eight")), b"data: ", _SPLIT_EVENT]),
    ),
    "/datasets/acme/bomb/resolve/main/rows.jsonl": Route(headers=GZIP, body=lambda: chunks(BOMB)),
}


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with HostileServer() as started:
        started.routes.update(ROUTES)
        yield started


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with loopback_client(read_limits=LIMITS) as made:
        yield made


def _custom(client: httpx.Client, url: str, kind: str = "text") -> CustomEndpoint:
    return CustomEndpoint(
        client=client,
        url=url,
        auth=AuthConfig(method="none", token=None),
        response=ResponseFormat(kind=kind, field="a" if kind == "json" else None),  # type: ignore[arg-type]
        model=None,
    )


def _peak(call: Callable[[], object]) -> tuple[BaseException | None, int]:
    """What ``call`` raised (None if nothing) and the peak traced memory while it ran."""
    tracemalloc.start()
    try:
        call()
        raised: BaseException | None = None
    except Exception as exc:  # the test asserts on it
        raised = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


def _assert_too_large(raised: BaseException | None, setting: str, limit: int) -> None:
    assert isinstance(raised, UpstreamResponseTooLarge), repr(raised)
    assert raised.code == "upstream_response_too_large"
    assert raised.setting == setting and raised.limit == limit
    assert str(limit) in str(raised) and setting in str(raised)
    assert not raised.retryable  # the same call would be sent the same bomb


@pytest.mark.parametrize(("path", "kind"), [("/bomb/text", "text"), ("/bomb/json", "json"),
                                            ("/bomb/json", "chat")])  # fmt: skip
def test_a_gzip_bomb_stops_at_the_body_cap_in_bounded_memory(
    server: HostileServer, client: httpx.Client, path: str, kind: str
) -> None:
    endpoint = _custom(client, server.base_url + path, kind)
    raised, peak = _peak(lambda: endpoint.complete(REQUEST, timeout=TIMEOUT))
    _assert_too_large(raised, "DRGERO_UPSTREAM_MAX_BODY_BYTES", CAP)
    assert peak < CAP + SLACK, f"peak {peak / MiB:.1f} MiB for a cap of {CAP / MiB:.0f} MiB"


def test_an_error_body_bomb_is_read_only_as_far_as_its_message(
    server: HostileServer, client: httpx.Client
) -> None:
    endpoint = _custom(client, server.base_url + "/bomb/error")
    raised, peak = _peak(lambda: endpoint.complete(REQUEST, timeout=TIMEOUT))
    assert type(raised) is UpstreamUnavailable and raised.status == 500, repr(raised)
    assert peak < LIMITS.error_body_bytes + SLACK


@pytest.mark.parametrize("path", ["/plain/big", "/plain/declared"])
def test_a_plain_body_past_the_cap_is_too_large(
    server: HostileServer, client: httpx.Client, path: str
) -> None:
    endpoint = _custom(client, server.base_url + path)
    raised, peak = _peak(lambda: endpoint.complete(REQUEST, timeout=TIMEOUT))
    _assert_too_large(raised, "DRGERO_UPSTREAM_MAX_BODY_BYTES", CAP)
    assert peak < CAP + SLACK


@pytest.mark.parametrize(
    ("path", "setting", "limit"),
    [
        ("/sse/long-line", "DRGERO_UPSTREAM_MAX_SSE_LINE_BYTES", MiB),
        ("/bomb/sse", "DRGERO_UPSTREAM_MAX_SSE_LINE_BYTES", MiB),
        ("/sse/many-data-lines", "DRGERO_UPSTREAM_MAX_SSE_LINE_BYTES", MiB),
        ("/sse/endless", "DRGERO_UPSTREAM_MAX_STREAM_OUTPUT_BYTES", 2 * MiB),
    ],
)
def test_streams_stop_at_the_line_and_output_caps(
    server: HostileServer, client: httpx.Client, path: str, setting: str, limit: int
) -> None:
    endpoint = _custom(client, server.base_url + path, "chat")
    raised, peak = _peak(lambda: list(endpoint.stream(REQUEST, timeout=TIMEOUT)))
    _assert_too_large(raised, setting, limit)
    assert peak < 2 * limit + SLACK  # the deltas a caller holds, and the bounded buffer


def test_a_stream_within_the_caps_reads_as_before(
    server: HostileServer, client: httpx.Client
) -> None:
    """CRLF line ends and an event split across reads still parse."""
    endpoint = _custom(client, server.base_url + "/sse/fine", "chat")
    events = list(endpoint.stream(REQUEST, timeout=TIMEOUT))
    assert [e.delta for e in events[:-1]] == ["Eight", " legs."]
    assert events[-1].completion is not None and events[-1].completion.output == "Eight legs."


def test_the_catalog_and_the_hub_read_through_the_same_bound(
    server: HostileServer, client: httpx.Client
) -> None:
    server.routes["/models"] = ROUTES["/bomb/json"]
    catalog = OpenRouterCatalog(client=client, base_url=server.base_url, api_key="sk-or-x")
    raised, peak = _peak(catalog.models)
    _assert_too_large(raised, "DRGERO_UPSTREAM_MAX_BODY_BYTES", CAP)
    assert peak < CAP + SLACK

    # A Hub download's Content-Encoding is undone in bounded steps too (the dataset's own
    # cap then applies to what comes out).
    hub = HuggingFaceHub(client=client, endpoint=server.base_url, token=None)
    url = f"{server.base_url}/datasets/acme/bomb/resolve/main/rows.jsonl"
    raised, peak = _peak(lambda: list(hub.open_rows(url, max_bytes=CAP)))
    assert isinstance(raised, DatasetTooLarge), repr(raised)
    assert peak < 3 * CAP + SLACK  # the line splitter's buffer may hold the cap twice


def test_every_too_large_answer_is_a_provider_error() -> None:
    assert issubclass(UpstreamResponseTooLarge, ProviderError)
