"""The local stand-in for Google's ID tokens: what Cloud Tasks and Cloud Scheduler attach.

Production's private functions accept only ID tokens that Google signs for the invoker service
accounts (``shared.web.internal``). The Cloud Tasks emulator mints none, so the local stack asks
this stand-in instead and the functions verify its tokens exactly as they verify Google's:

- ``GET /_sim/google/oauth2/v1/certs``: Google's v1 format, key id → PEM X.509 certificate,
  with ``Cache-Control: max-age``; point ``DRGERO_OIDC_CERTS_URL`` here.
- ``POST /_sim/google/id-token`` ``{"audience", "email"}`` → ``{"token"}`` (the IAM Credentials
  ``generateIdToken`` answer's shape): an RS256 ID token shaped like Google's for a service
  account (``iss``, ``aud``, ``azp``, ``sub``, ``email``, ``email_verified``, ``iat``, ``exp``
  one hour later).

The RSA key is generated when the simulator starts and lives as long as it does (a ``reset``
keeps it, so tokens issued before still verify).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask, Response, request
from google.auth import crypt, jwt

from simulator.web import error_response, json_body, json_response

CERTS_PATH = "/_sim/google/oauth2/v1/certs"
ID_TOKEN_PATH = "/_sim/google/id-token"  # noqa: S105 (a path)
ISSUER = "https://accounts.google.com"
TOKEN_LIFETIME_SECONDS = 3600
CERTS_MAX_AGE_SECONDS = 3600


def identity_env(base_url: str) -> dict[str, str]:
    """The settings that make our functions trust this stand-in and take tokens from it."""
    return {
        "DRGERO_OIDC_CERTS_URL": base_url + CERTS_PATH,
        "DRGERO_DEV_ID_TOKEN_URL": base_url + ID_TOKEN_PATH,
    }


class GoogleIdentity:
    """One signing key, its certificate, and the tokens it signs."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.now(UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "drgero-simulator")])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        der = certificate.public_bytes(serialization.Encoding.DER)
        self.key_id = hashlib.sha1(der).hexdigest()  # noqa: S324 (an id, as Google's are)
        self.certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._signer = crypt.RSASigner.from_string(private_pem, key_id=self.key_id)

    def certs(self) -> dict[str, str]:
        return {self.key_id: self.certificate_pem}

    def id_token(self, *, audience: str, email: str) -> str:
        now = int(time.time())
        subject = str(int(hashlib.sha256(email.encode()).hexdigest(), 16))[:21]
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": audience,
            "azp": subject,
            "sub": subject,
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
        }
        return jwt.encode(self._signer, payload).decode()


def register(app: Flask, identity: GoogleIdentity) -> None:
    @app.get(CERTS_PATH)
    def certs() -> Response:
        response = json_response(identity.certs())
        response.headers["Cache-Control"] = f"public, max-age={CERTS_MAX_AGE_SECONDS}"
        return response

    @app.post(ID_TOKEN_PATH)
    def id_token() -> Response:
        body = json_body(request)
        if not isinstance(body, dict):
            return error_response(400, 'the body must be {"audience": "...", "email": "..."}')
        audience, email = body.get("audience"), body.get("email")
        if not isinstance(audience, str) or not audience:
            return error_response(400, "`audience` must be a non-empty string")
        if not isinstance(email, str) or "@" not in email:
            return error_response(400, "`email` must be a service account email")
        return json_response({"token": identity.id_token(audience=audience, email=email)})
