"""A hostile upstream: a real threaded HTTP server whose routes answer what a test sets.

``HostileServer`` listens on a loopback address (``127.0.0.1`` unless told otherwise) and serves
each path from a :class:`Route`: a status, headers and a body given as an iterable of byte
chunks (so a test can stream a gzip bomb or an endless SSE line without building it in memory).
The request headers each path received are kept in ``seen``. Nothing here is a mock: the code
under test talks HTTP to it over a socket.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MiB = 1024 * 1024


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Callable[[], Iterable[bytes]] = lambda: [b""]


class HostileServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.seen: dict[str, list[dict[str, str]]] = {}
        routes, seen = self.routes, self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                seen.setdefault(path, []).append(dict(self.headers.items()))
                route = routes.get(path, Route(status=404, body=lambda: [b"no such route"]))
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for chunk in route.body():
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what a bounded reader should do
                self.close_connection = True

            do_GET = _answer
            do_POST = _answer

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def gzip_bomb(decoded_bytes: int) -> bytes:
    """``decoded_bytes`` zeros, gzipped (200 MiB is about 200 KiB on the wire)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(MiB)
    parts = [compressor.compress(zeros) for _ in range(decoded_bytes // MiB)]
    parts.append(compressor.flush())
    return b"".join(parts)


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def repeated(piece: bytes, times: int) -> Callable[[], Iterator[bytes]]:
    """A body of ``piece`` sent ``times`` times, never held whole in memory."""
    return lambda: (piece for _ in range(times))


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)
