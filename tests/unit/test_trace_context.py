"""Trace context and request ids from request headers: strict, and never an error."""

from __future__ import annotations

import pytest

from shared.web.trace_context import (
    TraceContext,
    client_request_id,
    from_cloud_trace_context,
    from_headers,
    from_traceparent,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def test_a_w3c_traceparent_gives_trace_span_and_sampling() -> None:
    assert from_traceparent(f"00-{TRACE}-{SPAN}-01") == TraceContext(TRACE, SPAN, True)
    assert from_traceparent(f"00-{TRACE}-{SPAN}-00") == TraceContext(TRACE, SPAN, False)
    assert from_traceparent(f"00-{TRACE}-{SPAN}-03") == TraceContext(TRACE, SPAN, True)
    # A later version may append fields after its own dash; its first four still count.
    assert from_traceparent(f"01-{TRACE}-{SPAN}-01-extra") == TraceContext(TRACE, SPAN, True)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        f"00-{TRACE}-{SPAN}",  # no flags
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
        f"ff-{TRACE}-{SPAN}-01",  # version ff is invalid
        f"00-{TRACE.upper()}-{SPAN}-01",  # lowercase hex only
        f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE[:-1]}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}1-01",
        f"0x-{TRACE}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}-0g",
        f"00-{TRACE}-{SPAN}-01\n",
        f" 00-{TRACE}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}-01, 00-{TRACE}-{SPAN}-01",  # two headers folded into one
        f"01-{TRACE}-{SPAN}-01x",  # what follows must start with a dash
        f"01-{TRACE}-{SPAN}-01-" + "x" * 10_000,  # oversized
        "\u0660" * 2 + f"-{TRACE}-{SPAN}-01",  # digits that are not ASCII
    ],
)
def test_a_malformed_traceparent_is_ignored(value: str | None) -> None:
    assert from_traceparent(value) is None


def test_a_cloud_trace_context_gives_its_decimal_span_id_in_hex() -> None:
    assert from_cloud_trace_context(f"{TRACE}/1;o=1") == TraceContext(TRACE, "0" * 15 + "1", True)
    span = int(SPAN, 16)
    assert from_cloud_trace_context(f"{TRACE}/{span};o=0") == TraceContext(TRACE, SPAN, False)
    biggest = 2**64 - 1
    assert from_cloud_trace_context(f"{TRACE}/{biggest}") == TraceContext(TRACE, "f" * 16, None)
    assert from_cloud_trace_context(TRACE) == TraceContext(TRACE, None, None)
    assert from_cloud_trace_context(f"{TRACE};o=1") == TraceContext(TRACE, None, True)
    # Google's own examples use upper case: the id is the same id.
    assert from_cloud_trace_context(f"{TRACE.upper()}/7;o=1") == TraceContext(
        TRACE, "0" * 15 + "7", True
    )


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        f"{TRACE}/",
        f"{TRACE}/-1",
        f"{TRACE}/0x10",
        f"{TRACE}/{2**64}",  # past 64 bits
        f"{TRACE}/{'1' * 21}",
        f"{TRACE}/1;o=2",
        f"{TRACE}/1;o=1;o=1",
        f"{TRACE}/1;o=1 ",
        f"{TRACE[:-1]}/1;o=1",
        f"{'0' * 32}/1;o=1",
        f"{TRACE}/\u0661;o=1",  # a digit that is not ASCII
        f"{TRACE}/1;o=1\n{TRACE}/2",
    ],
)
def test_a_malformed_cloud_trace_context_is_ignored(value: str | None) -> None:
    assert from_cloud_trace_context(value) is None


def test_traceparent_wins_and_a_malformed_one_falls_back_to_the_cloud_header() -> None:
    cloud = f"{'a' * 32}/5;o=1"
    both = {"traceparent": f"00-{TRACE}-{SPAN}-01", "X-Cloud-Trace-Context": cloud}
    assert from_headers(both) == TraceContext(TRACE, SPAN, True)
    broken = {"traceparent": "garbage", "X-Cloud-Trace-Context": cloud}
    assert from_headers(broken) == TraceContext("a" * 32, "0" * 15 + "5", True)
    assert from_headers({"traceparent": "garbage", "X-Cloud-Trace-Context": "junk"}) is None
    assert from_headers({}) is None


def test_a_client_request_id_is_kept_only_when_short_and_plain() -> None:
    for good in ("abc", "0f" * 16, "req-2026-01-01T10:00:00.123Z", "a" * 128, "A1+/b=="):
        assert client_request_id(good, max_chars=128) == good
    for bad in (
        None,
        "",
        "a" * 129,
        "two words",
        "line\nbreak",
        "-starts-with-dash",
        '"quoted"',
        "<script>",
        "caf\u00e9",
        "tab\there",
    ):
        assert client_request_id(bad, max_chars=128) is None
