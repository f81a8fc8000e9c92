"""ID tokens the tests sign with their own keys, and a certs endpoint the tests run.

``SigningKey`` is an RSA key with a self-signed certificate, as Google publishes them;
``CertsServer`` is a threaded ``http.server`` answering Google's v1 certs format (key id → PEM)
with a ``Cache-Control: max-age`` and counting its requests; what it serves can change while
it runs (key rotation). ``token`` signs any claims; ``unsigned`` builds an ``alg: none`` token.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

ISSUER = "https://accounts.google.com"


class SigningKey:
    def __init__(self, key_id: str | None = None) -> None:
        self.key_id = key_id or uuid.uuid4().hex
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-" + self.key_id)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(self._key, hashes.SHA256())
        )
        self.certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        private = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._private_pem = private

    def token(self, claims: dict[str, Any], *, key_id: str | None = None) -> str:
        """``claims`` signed RS256 by this key, the header naming ``key_id`` (default its own)."""
        signer = crypt.RSASigner.from_string(self._private_pem, key_id=key_id or self.key_id)
        return jwt.encode(signer, claims).decode()


def claims(*, audience: str, email: str, lifetime: int = 3600, **changes: Any) -> dict[str, Any]:
    """Claims shaped like Google's ID token for a service account; ``changes`` override."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": audience,
        "azp": "104212345678901234567",
        "sub": "104212345678901234567",
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + lifetime,
    }
    return base | changes


def unsigned(payload: dict[str, Any], *, key_id: str = "none") -> str:
    """An ``alg: none`` token with no signature (what a forger sends first)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': key_id})}.{part(payload)}."


class CertsServer:
    """Google's certs endpoint, locally: ``serve`` changes what it answers."""

    def __init__(self, *keys: SigningKey, max_age: int = 3600) -> None:
        self.max_age = max_age
        self.hits = 0
        self.status = 200
        self.body: bytes = b""
        self.extra_headers: dict[str, str] = {}
        self._lock = threading.Lock()
        self.serve(*keys)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.hits += 1
                    status, body, max_age = owner.status, owner.body, owner.max_age
                    extra = dict(owner.extra_headers)
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Cache-Control", f"public, max-age={max_age}")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/oauth2/v1/certs"

    def serve(self, *keys: SigningKey) -> None:
        with self._lock:
            self.body = json.dumps({key.key_id: key.certificate_pem for key in keys}).encode()

    def serve_raw(self, body: bytes, *, status: int = 200) -> None:
        with self._lock:
            self.body, self.status = body, status

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
