"""Run JavaScript in a real headless Chromium and hand its results back to a pytest test.

What a browser enforces (CORS above all: a blocked cross-origin ``fetch``, a preflight, a
stream read as it arrives) can only be shown by a browser. A test writes one HTML page whose
``<script>`` does its fetches and reports what it saw; ``run_in_browser`` serves that page from
a local origin (``PageServer``), opens it in Chromium (driven by URL only: no selenium, no
devtools protocol), waits for the page's report and returns it as a dict (``open_page``
returns the page's console too)::

    page = browser_page(f'''
        const pushed = await attempt("{api_url}/v1/push", {{method: "POST",
                                      headers: {{"X-API-Key": key}}, body: "[]"}});
        return {{pushed}};
    ''')
    report = run_in_browser(page, server=page_server)  # the fixture of tests/browser
    assert report["pushed"]["status"] == 200

The page's JS reports with ``fetch(location.origin + '/report', {method: 'POST', body:
JSON.stringify(results)})``; ``browser_page`` wraps a script body in a page that does this (and
reports a thrown error as a failure of the test) and includes ``JS_HELPERS``:

- ``attempt(url, init)`` -> ``{ok, status, body, headers, error}``: ``fetch`` and read the body
  as text; a request the browser blocks (CORS, a refused connection) gives ``ok: false,
  status: null`` and ``error: "TypeError: Failed to fetch"``.
- ``readStream(url, init)`` -> ``{ok, status, error, chunks: [{ms, text}], count, body,
  firstChunkMs, doneMs}``: reads ``response.body.getReader()`` chunk by chunk, recording each
  chunk with the milliseconds since the request started, so a test can show a stream (SSE) was
  read progressively and not only once complete.
- ``report(results)``: post the results to the page server (what ``browser_page`` calls).

Chromium is Debian's ``chromium`` package (``make browser`` installs it when it can); a test
calls ``require_chromium()`` (or uses the ``chromium`` fixture of ``tests/browser``) to be
skipped with a clear message where it is absent. Every run gets a fresh profile directory and
Chromium's whole process group is killed at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

# How long a page may take to report. Chromium starts in ~1 s on an idle machine; a loaded
# 2-core CI machine running the stack next to it can take several times that.
REPORT_TIMEOUT = 30.0
# How often the test thread checks for the report (and whether Chromium died early).
POLL_INTERVAL = 0.05
# How long Chromium gets to exit after SIGTERM before its process group is SIGKILLed.
KILL_GRACE = 5.0
# How much of Chromium's stderr a failure message quotes, and the lines it leaves out: this
# machine has no D-Bus, and the zygote complains when it is killed. The page's console
# (`INFO:CONSOLE`) and CORS errors are what a failing test wants to see.
STDERR_TAIL_CHARS = 4000
STDERR_NOISE = ("dbus/", "idle_linux.cc", "zygote_communication_linux.cc")

INSTALL_HINT = "apt-get install -y --no-install-recommends chromium (or: make browser)"

# Without the background-networking flags Chromium keeps trying Google's services, whose
# connections this closed network refuses; --no-sandbox because tests run as root.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--enable-logging=stderr",
)


def chromium_path() -> str | None:
    """Where Chromium is installed (Debian's ``chromium``), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """Chromium's path; skips the calling test, saying how to install it, when it is absent."""
    path = chromium_path()
    if path is None:
        pytest.skip(
            "headless Chromium is not installed, so the browser (CORS) tests cannot run; "
            f"install it with: {INSTALL_HINT}"
        )
    return path


JS_HELPERS = """
async function attempt(url, init) {
  try {
    const response = await fetch(url, init);
    const headers = {};
    response.headers.forEach((value, name) => { headers[name] = value; });
    const body = await response.text();
    return {ok: response.ok, status: response.status, body, headers, error: null};
  } catch (e) {
    return {ok: false, status: null, body: null, headers: null, error: String(e)};
  }
}

async function readStream(url, init) {
  const start = performance.now();
  const since = () => Math.round(performance.now() - start);
  const result = {ok: false, status: null, error: null, chunks: [], count: 0, body: "",
                  firstChunkMs: null, doneMs: null};
  try {
    const response = await fetch(url, init);
    result.ok = response.ok;
    result.status = response.status;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      const text = decoder.decode(value, {stream: true});
      result.chunks.push({ms: since(), text});
      result.body += text;
    }
    result.body += decoder.decode();
  } catch (e) {
    result.error = String(e);
  }
  result.count = result.chunks.length;
  result.firstChunkMs = result.count ? result.chunks[0].ms : null;
  result.doneMs = since();
  return result;
}

async function report(results) {
  await fetch(location.origin + "/report", {method: "POST", body: JSON.stringify(results)});
}
"""

# The key under which a page reports that its script threw (run_in_browser fails the test).
PAGE_ERROR_KEY = "__page_error__"


def browser_page(script_body: str, *, title: str = "browser test") -> str:
    """A page that runs ``script_body`` (the body of an async function returning the results,
    which may use ``await`` and ``JS_HELPERS``) and reports its return value, or its error.

    The helpers load in a script of their own, so that one that does not even parse (a typo in
    ``script_body``) is reported at once by the error listener instead of timing out.
    """
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{escape(title)}</title></head><body>
<script>
{JS_HELPERS}
window.addEventListener("error", (event) => report({{{PAGE_ERROR_KEY}: String(event.message)}}));
</script>
<script>
(async () => {{
{script_body}
}})().then(
  (results) => report(results === undefined ? {{}} : results),
  (e) => report({{{PAGE_ERROR_KEY}: String(e && e.stack || e)}}),
);
</script>
</body></html>
"""


@dataclass
class _Page:
    html: str
    reported: threading.Event = field(default_factory=threading.Event)
    report: Any = None


class PageServer:
    """One local origin that serves test pages (``GET /page/<id>``) and takes their reports.

    ``POST /report`` belongs to the page named by the request's Referer (Chromium sends the full
    URL same-origin), else to the page served last. Binds 127.0.0.1 on ``port`` (a free one by
    default); ``host`` only names the origin (``"localhost"`` is another origin, same machine).
    A test that needs an allowed and a disallowed origin starts two servers.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._pages: dict[str, _Page] = {}
        self._last: str | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self.origin = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> PageServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def add_page(self, html: str) -> str:
        """Serve ``html`` under a new URL (returned) and expect a report from it."""
        page_id = uuid.uuid4().hex
        with self._lock:
            self._pages[page_id] = _Page(html)
            self._last = page_id
        return f"{self.origin}/page/{page_id}"

    def page_html(self, page_id: str) -> str | None:
        with self._lock:
            page = self._pages.get(page_id)
        return page.html if page else None

    def take_report(self, referer: str | None, body: Any) -> bool:
        """Keep the first report of the page ``referer`` names (else the last page served)."""
        with self._lock:
            page_id = _page_id(referer) if referer else None
            page = self._pages.get(page_id or self._last or "")
            if page is None or page.reported.is_set():
                return False
            page.report = body
            page.reported.set()
            return True

    def report_of(self, url: str, *, timeout: float) -> tuple[bool, Any]:
        """Wait up to ``timeout`` for the report of the page at ``url``: (arrived, report)."""
        with self._lock:
            page = self._pages[_page_id(url) or ""]
        arrived = page.reported.wait(timeout)
        return arrived, page.report


def _page_id(url: str) -> str | None:
    marker = "/page/"
    if marker not in url:
        return None
    return url.split(marker, 1)[1].split("?", 1)[0].split("#", 1)[0]


def _handler_for(server: PageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            html = server.page_html(_page_id(self.path) or "")
            if html is None:
                self._send(404, b"not found", "text/plain")
                return
            self._send(200, html.encode(), "text/html; charset=utf-8")

        def do_POST(self) -> None:
            if self.path != "/report":
                self._send(404, b"not found", "text/plain")
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = {PAGE_ERROR_KEY: f"the report is not JSON: {raw[:200]!r}"}
            accepted = server.take_report(self.headers.get("Referer"), body)
            self._send(204 if accepted else 409, b"", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's output is for the test; Chromium's stderr says what the page did

    return Handler


@dataclass(frozen=True)
class PageRun:
    """What one page did in Chromium: its report and its console (``console.log`` lines and
    Chromium's own messages, e.g. "... has been blocked by CORS policy: ...")."""

    url: str
    report: Any
    console: list[str]


def run_in_browser(
    html: str, *, server: PageServer | None = None, timeout: float = REPORT_TIMEOUT
) -> Any:
    """Open ``html`` in headless Chromium, served from ``server``'s origin (a fresh 127.0.0.1
    origin when None), and return the JSON the page reports. See ``open_page``."""
    return open_page(html, server=server, timeout=timeout).report


def open_page(
    html: str, *, server: PageServer | None = None, timeout: float = REPORT_TIMEOUT
) -> PageRun:
    """Open ``html`` in headless Chromium, served from ``server``'s origin (a fresh 127.0.0.1
    origin when None), wait for its report and stop Chromium.

    Fails the test (AssertionError with the tail of Chromium's stderr) when no report arrives
    within ``timeout`` seconds, when Chromium exits first, or when the page reports an error
    (``browser_page`` reports a thrown exception). Skips the test when Chromium is absent.
    """
    executable = require_chromium()
    if server is None:
        with PageServer() as own:
            return open_page(html, server=own, timeout=timeout)
    url = server.add_page(html)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        stderr_path = Path(profile) / "stderr.log"
        user_data = Path(profile) / "profile"
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [executable, *CHROMIUM_FLAGS, f"--user-data-dir={user_data}", url],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # its own process group: killed whole at the end
            )
            try:
                arrived, report, early_exit = _wait_for_report(server, url, process, timeout)
            finally:
                _kill_group(process)
        lines = stderr_path.read_text(errors="replace").splitlines()
    log = _stderr_tail(lines)
    if not arrived:
        why = (
            f"no report within {timeout:g} s from"
            if early_exit is None
            else f"Chromium exited with {early_exit} without a report from"
        )
        raise AssertionError(f"{why} the page {url}; Chromium's stderr ends with:\n{log}")
    if isinstance(report, dict) and PAGE_ERROR_KEY in report:
        raise AssertionError(
            f"the page {url} failed: {report[PAGE_ERROR_KEY]}\nChromium's stderr ends with:\n{log}"
        )
    return PageRun(url=url, report=report, console=_console(lines))


def _stderr_tail(lines: list[str]) -> str:
    kept = [line for line in lines if not any(noise in line for noise in STDERR_NOISE)]
    return "\n".join(kept)[-STDERR_TAIL_CHARS:]


def _console(lines: list[str]) -> list[str]:
    # [pid:tid:date:INFO:CONSOLE:line] "message", source: url (line)
    marker = ":CONSOLE:"
    return [line.split("] ", 1)[-1] for line in lines if marker in line]


def _wait_for_report(
    server: PageServer, url: str, process: subprocess.Popen[bytes], timeout: float
) -> tuple[bool, Any, int | None]:
    """(arrived, report, Chromium's exit code if it exited by itself first)."""
    # Polling (not one long wait) notices a Chromium that died at start-up at once.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arrived, report = server.report_of(url, timeout=POLL_INTERVAL)
        if arrived:
            return True, report, None
        exit_code = process.poll()
        if exit_code is not None:
            arrived, report = server.report_of(url, timeout=0)
            return arrived, report, exit_code
    return False, None, None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Stop Chromium and every helper process it started (renderers, zygotes, utilities)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(KILL_GRACE)
    # Helpers still running after the browser exited, or a browser that ignored SIGTERM.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
