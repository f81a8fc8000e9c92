"""The browser harness itself, against a small CORS API of its own (not the stack).

``CorsApi`` allows one origin: it answers preflights for ``X-API-Key`` with CORS headers only
for that origin, and counts the non-OPTIONS requests its handler ran. Chromium must then let
the allowed page push and read a stream as it arrives, block the other origin's requests at the
preflight (the handler never runs), and the harness must fail loudly when a page throws or
never reports.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests import browser_support
from tests.browser_support import PageServer, browser_page, open_page, run_in_browser

API_KEY = "harness-key"
STREAM_EVENTS = 4
STREAM_GAP = 0.25  # seconds between two events: far above what Chromium needs to deliver one


class CorsApi:
    """A threaded HTTP API on 127.0.0.1 that answers CORS for ``allowed_origin`` only."""

    def __init__(self, allowed_origin: str) -> None:
        self.allowed_origin = allowed_origin
        self.handled = 0  # requests the handler ran (everything but OPTIONS)
        self.preflights = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _api_handler(self))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def count(self, *, preflight: bool) -> None:
        with self._lock:
            if preflight:
                self.preflights += 1
            else:
                self.handled += 1

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        if origin != self.allowed_origin:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _api_handler(api: CorsApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_OPTIONS(self) -> None:
            api.count(preflight=True)
            headers = api.cors_headers(self.headers.get("Origin"))
            if headers:
                headers |= {
                    "Access-Control-Allow-Methods": "POST",
                    "Access-Control-Allow-Headers": "X-API-Key, Content-Type",
                    "Access-Control-Max-Age": "0",
                }
            self._send(204, b"", headers)

        def do_POST(self) -> None:
            api.count(preflight=False)
            cors = api.cors_headers(self.headers.get("Origin"))
            length = int(self.headers.get("Content-Length") or 0)
            rows = json.loads(self.rfile.read(length) or b"[]")
            if self.headers.get("X-API-Key") != API_KEY:
                self._send(401, b'{"error": "bad key"}', cors)
            elif self.path == "/push":
                self._send(200, json.dumps({"accepted": len(rows)}).encode(), cors)
            elif self.path == "/stream":
                self._stream(cors)
            else:
                self._send(404, b"{}", cors)

        def _stream(self, cors: dict[str, str]) -> None:
            # HTTP/1.0 without Content-Length: the body ends when the connection closes.
            self.send_response(200)
            for name, value in {**cors, "Content-Type": "text/event-stream"}.items():
                self.send_header(name, value)
            self.end_headers()
            for index in range(STREAM_EVENTS):
                self.wfile.write(f"data: {index}\n\n".encode())
                self.wfile.flush()
                time.sleep(STREAM_GAP)
            self.wfile.write(b"data: [DONE]\n\n")

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def api(page_server: PageServer) -> Iterator[CorsApi]:
    server = CorsApi(allowed_origin=page_server.origin)
    yield server
    server.close()


def _push_and_stream_page(api_url: str) -> str:
    init = {
        "method": "POST",
        "headers": {"X-API-Key": API_KEY, "Content-Type": "application/json"},
        "body": json.dumps([{"input": "2+2"}, {"input": "3+3"}]),
    }
    return browser_page(f"""
        const init = {json.dumps(init)};
        const push = await attempt("{api_url}/push", init);
        const stream = await readStream("{api_url}/stream", init);
        return {{origin: location.origin, push, stream}};
    """)


def test_the_allowed_origin_pushes_and_reads_a_stream_as_it_arrives(
    chromium: str, page_server: PageServer, api: CorsApi
) -> None:
    report = run_in_browser(_push_and_stream_page(api.url), server=page_server)

    assert report["origin"] == page_server.origin
    push = report["push"]
    assert push["error"] is None
    assert push["status"] == 200
    assert json.loads(push["body"]) == {"accepted": 2}
    stream = report["stream"]
    assert stream["error"] is None, stream
    assert stream["status"] == 200
    assert stream["body"] == "".join(f"data: {i}\n\n" for i in range(STREAM_EVENTS)) + (
        "data: [DONE]\n\n"
    )
    # Read as it arrived: several chunks, the first long before the stream ended.
    assert stream["count"] > 1, stream
    spread_ms = stream["chunks"][-1]["ms"] - stream["chunks"][0]["ms"]
    assert spread_ms >= 0.8 * (STREAM_EVENTS - 1) * STREAM_GAP * 1000, stream
    assert api.preflights >= 1  # X-API-Key made both requests preflighted
    assert api.handled == 2


def test_another_origin_is_blocked_at_the_preflight_and_the_handler_never_runs(
    chromium: str, other_page_server: PageServer, api: CorsApi
) -> None:
    run = open_page(_push_and_stream_page(api.url), server=other_page_server)

    report = run.report
    assert report["origin"] == other_page_server.origin
    assert report["push"]["status"] is None
    assert report["push"]["error"] == "TypeError: Failed to fetch"
    assert report["stream"]["error"] == "TypeError: Failed to fetch"
    assert report["stream"]["count"] == 0
    assert api.preflights == 2  # the browser asked, once per request, and was refused
    assert api.handled == 0
    blocked = [line for line in run.console if "has been blocked by CORS policy" in line]
    assert len(blocked) == 2, run.console


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ('throw new Error("the page broke");', "Error: the page broke"),
        ("const broken = ;", "Uncaught SyntaxError"),
    ],
    ids=["throws", "does-not-parse"],
)
def test_a_page_that_fails_fails_the_test_at_once_with_its_error(
    chromium: str, script: str, error: str
) -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=f"failed: {error}"):
        run_in_browser(browser_page(script))
    assert time.monotonic() - started < browser_support.REPORT_TIMEOUT / 2


def test_a_page_that_never_reports_fails_the_test_with_chromiums_stderr(chromium: str) -> None:
    # The page's console goes to Chromium's stderr, which the failure quotes. The timeout
    # leaves a loaded machine's Chromium time to start and run the page (~1.5 s when idle).
    page = '<!doctype html><script>console.log("the page ran but never reported")</script>'
    with pytest.raises(AssertionError, match=r"no report within 5 s .*stderr ends with") as info:
        run_in_browser(page, timeout=5)
    assert "the page ran but never reported" in str(info.value)


def test_without_chromium_the_test_is_skipped_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(browser_support, "chromium_path", lambda: None)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install -y .*chromium"):
        browser_support.require_chromium()
