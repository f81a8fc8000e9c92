"""Log lines written while a request is served carry its request id and Cloud Trace context.

The lines are the real JSON lines (``shared.logs.JsonFormatter``, what Cloud Logging reads on
stdout), captured from real requests to functions served by ``functions_framework.create_app``:
a production function for the access line, and a small function of the test's own whose handler
logs mid-request, crashes, and logs while its answer streams.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import flask
import functions_framework
import pytest

from devstack.dispatcher import DEFAULT_SOURCE
from shared import logs
from shared.settings import Settings, get_settings

LOCAL = "http://localhost"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"
SAMPLED_KEY = "logging.googleapis.com/trace_sampled"

FAKE_MAIN = """
import logging

import functions_framework

from shared import logs
from shared.web.http import stream_response
from shared.web.router import Router

logs.configure()
log = logging.getLogger("drgero.fake")
router = Router("fake", deps=lambda: None)  # its routes need no dependencies


@router.route("GET", "/v1/work")
def _work(request, deps):
    log.info("working on it")
    return {"done": True}


@router.route("GET", "/v1/crash")
def _crash(request, deps):
    raise RuntimeError("boom")


@router.route("GET", "/v1/stream")
def _stream(request, deps):
    def chunks():
        for n in range(3):
            log.info("chunk %d", n)
            yield f"{n}\\n".encode()

    return stream_response(chunks(), {"Content-Type": "text/plain"})


@functions_framework.http
def fake(request):
    return router(request)
"""

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """The JSON lines the ``drgero`` loggers write from now on, parsed."""
    logs.configure()
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("drgero")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # the fuzz module quiets drgero.http; this one reads it
    http_level = logging.getLogger("drgero.http").level
    logging.getLogger("drgero.http").setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in sink.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logging.getLogger("drgero.http").setLevel(http_level)


@pytest.fixture(scope="module")
def fake_app(tmp_path_factory: pytest.TempPathFactory) -> flask.Flask:
    source = tmp_path_factory.mktemp("logs-fake") / "logs_fake_main.py"
    source.write_text(FAKE_MAIN)
    return functions_framework.create_app(target="fake", source=str(source))


@pytest.fixture(scope="module")
def status_app() -> flask.Flask:
    return functions_framework.create_app(target="status", source=str(DEFAULT_SOURCE))


def trace_of(trace_id: str) -> str:
    return f"projects/{get_settings().project_id}/traces/{trace_id}"


def access_line(lines: list[dict[str, Any]]) -> dict[str, Any]:
    [line] = [line for line in lines if "httpRequest" in line]
    return line


def test_the_access_line_carries_a_w3c_trace_and_http_request(
    stack: Any, status_app: flask.Flask, log_lines: Lines
) -> None:
    response = status_app.test_client().get(
        LOCAL + "/v1/leaderboard/lb1/dataset/status?token=hpd_querysecret123&x=1",
        headers={"traceparent": f"00-{TRACE}-{SPAN}-01", "User-Agent": "probe/1.0"},
    )
    assert response.status_code == 401
    line = access_line(log_lines())
    assert line[TRACE_KEY] == trace_of(TRACE)
    assert line[SPAN_KEY] == SPAN
    assert line[SAMPLED_KEY] is True
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert line["function"] == "status"
    request = line["httpRequest"]
    assert re.fullmatch(r"\d+\.\d{6}s", request.pop("latency")), line
    assert request == {
        "requestMethod": "GET",
        "requestUrl": "/v1/leaderboard/lb1/dataset/status",  # no query string: it may hold data
        "status": 401,
        "userAgent": "probe/1.0",
    }
    assert "querysecret" not in json.dumps(line)


def test_the_cloud_trace_header_counts_when_there_is_no_valid_traceparent(
    stack: Any, status_app: flask.Flask, log_lines: Lines
) -> None:
    client = status_app.test_client()
    client.get(
        LOCAL + "/v1/leaderboard/lb1/dataset/status",
        headers={"X-Cloud-Trace-Context": f"{TRACE}/{int(SPAN, 16)};o=0"},
    )
    client.get(
        LOCAL + "/v1/leaderboard/lb1/dataset/status",
        headers={"traceparent": "00-nonsense-01", "X-Cloud-Trace-Context": f"{TRACE}/17;o=1"},
    )
    first, second = [line for line in log_lines() if "httpRequest" in line]
    assert (first[TRACE_KEY], first[SPAN_KEY], first[SAMPLED_KEY]) == (trace_of(TRACE), SPAN, False)
    assert (second[TRACE_KEY], second[SPAN_KEY], second[SAMPLED_KEY]) == (
        trace_of(TRACE),
        f"{17:016x}",
        True,
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": f"00-{TRACE}-{SPAN}-01-tail"},
        {"traceparent": f"00-{TRACE.upper()}-{SPAN}-01"},
        {"X-Cloud-Trace-Context": f"{TRACE}/{2**64};o=1"},
        {"X-Cloud-Trace-Context": "x" * 8000},
        {"traceparent": "f" * 8000, "X-Cloud-Trace-Context": f"{TRACE[:-1]}/1;o=1"},
    ],
)
def test_malformed_trace_headers_are_ignored_not_refused(
    stack: Any, status_app: flask.Flask, log_lines: Lines, headers: dict[str, str]
) -> None:
    response = status_app.test_client().get(LOCAL + "/healthz", headers=headers)
    assert response.status_code == 200
    line = access_line(log_lines())
    assert TRACE_KEY not in line and SPAN_KEY not in line and SAMPLED_KEY not in line
    assert line["request_id"] == response.headers["X-Request-Id"]


def test_the_request_id_is_on_every_line_of_the_request(
    fake_app: flask.Flask, log_lines: Lines
) -> None:
    client = fake_app.test_client()
    headers = {"X-Request-Id": "client-req-42", "traceparent": f"00-{TRACE}-{SPAN}-01"}
    response = client.get(LOCAL + "/v1/work", headers=headers)
    assert response.status_code == 200 and response.headers["X-Request-Id"] == "client-req-42"
    crashed = client.get(LOCAL + "/v1/crash")
    assert crashed.status_code == 500
    crash_id = crashed.headers["X-Request-Id"]
    assert crashed.get_json()["error"]["request_id"] == crash_id
    logging.getLogger("drgero.fake").info("between requests")

    lines = log_lines()
    [working] = [line for line in lines if line["message"] == "working on it"]
    assert working["request_id"] == "client-req-42"
    assert (working[TRACE_KEY], working[SPAN_KEY]) == (trace_of(TRACE), SPAN)
    [unhandled] = [line for line in lines if line["message"] == "unhandled error"]
    assert unhandled["request_id"] == crash_id and "RuntimeError" in unhandled["exception"]
    assert TRACE_KEY not in unhandled  # this request had no trace header
    [between] = [line for line in lines if line["message"] == "between requests"]
    assert "request_id" not in between and TRACE_KEY not in between


def test_lines_written_while_an_answer_streams_carry_the_request_id(
    fake_app: flask.Flask, log_lines: Lines
) -> None:
    response = fake_app.test_client().get(LOCAL + "/v1/stream", headers={"X-Request-Id": "s-1"})
    assert response.get_data() == b"0\n1\n2\n"
    chunks = [line for line in log_lines() if line["message"].startswith("chunk ")]
    assert [line["message"] for line in chunks] == ["chunk 0", "chunk 1", "chunk 2"]
    assert {line["request_id"] for line in chunks} == {"s-1"}


@pytest.mark.parametrize(
    "hostile",
    ["x" * 129, "has space", "new\tline", '"><script>', "caf\u00e9".encode().decode("latin-1")],
)
def test_a_hostile_request_id_is_replaced_by_a_generated_one(
    fake_app: flask.Flask, log_lines: Lines, hostile: str
) -> None:
    response = fake_app.test_client().get(LOCAL + "/v1/work", headers={"X-Request-Id": hostile})
    assert response.status_code == 200
    echoed = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", echoed), echoed
    [working] = [line for line in log_lines() if line["message"] == "working on it"]
    assert working["request_id"] == echoed


def test_the_request_id_bound_is_a_setting() -> None:
    assert Settings().request_id_max_chars == 128
    with pytest.raises(ValueError, match="request_id_max_chars"):
        Settings(request_id_max_chars=8)


def test_a_long_user_agent_is_cut_to_its_setting(
    stack: Any, status_app: flask.Flask, log_lines: Lines
) -> None:
    limit = get_settings().log_user_agent_max_chars
    status_app.test_client().get(LOCAL + "/healthz", headers={"User-Agent": "u" * (limit * 4)})
    assert access_line(log_lines())["httpRequest"]["userAgent"] == "u" * limit
    assert Settings().log_user_agent_max_chars == 512
