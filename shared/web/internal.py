"""Guard of the internal endpoints: only Google-signed ID tokens of our invokers get in.

Cloud Tasks and Cloud Scheduler call the private functions (worker, jobs) at their own
``run.app`` URL with ``Authorization: Bearer <ID token>``, a JWT that Google signs for the
invoker service account. Cloud Run's IAM check already stands in front in production; this
check in code is what makes the endpoints safe whatever the ingress or IAM settings turn out
to be, and what the local stack exercises. A token is accepted only when all of these hold:

- it is an RS256 JWT whose signature verifies against Google's certificates
  (``DRGERO_OIDC_CERTS_URL``; cached, see ``shared.providers.google_identity``), checked by
  google-auth's ``jwt.decode``, as are its ``iat``/``exp`` (``DRGERO_OIDC_CLOCK_SKEW_SECONDS``);
- its audience is this function's own URL (``shared.tasks.urls``): a token minted for another
  function, or for the load balancer, is refused;
- its issuer is one of ``DRGERO_OIDC_ISSUERS``;
- its ``email`` is one of ``DRGERO_INTERNAL_INVOKERS`` and ``email_verified`` is true.

With no invokers configured every call is refused (403 ``internal_disabled``). Any other
refusal is 401 ``invalid_internal_token`` with a message saying what was wrong; no message
ever holds the token. Certificates that cannot be fetched answer 503
``internal_certs_unavailable`` (Cloud Tasks retries).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flask
from google.auth import exceptions as auth_exceptions
from google.auth import jwt

from shared.errors import Forbidden, Unauthenticated, Unavailable
from shared.providers.google_identity import GoogleCerts, IdentityUnavailable
from shared.settings import Settings
from shared.tasks.urls import function_url

ALGORITHM = "RS256"
_SHOWN_CHARS = 80  # of a claim quoted in a refusal (an issuer, an email)


def require_internal(
    request: flask.Request,
    settings: Settings,
    function: str,
    *,
    certs: Callable[[], GoogleCerts],
) -> Mapping[str, Any]:
    """The verified claims of the request's ID token, or a 401/403/503 error.

    ``function`` is the router's name (worker, jobs): its URL is the audience expected.
    ``certs`` gives this instance's cached certificates (``Deps.oidc_certs``), asked for only
    once a token is there to verify.
    """
    invokers = settings.internal_invoker_emails()
    if not invokers:
        raise Forbidden(
            "internal endpoints are disabled: DRGERO_INTERNAL_INVOKERS names no service account",
            code="internal_disabled",
        )
    token = _bearer(request)
    claims = _verified_claims(
        token,
        certs=certs(),
        audience=function_url(settings.internal_base_url, function),
        clock_skew=settings.oidc_clock_skew_seconds,
    )
    issuer = claims.get("iss")
    if issuer not in settings.oidc_issuer_list():
        raise _refused(f"the token's issuer {_shown(issuer)} is not accepted (DRGERO_OIDC_ISSUERS)")
    email = claims.get("email")
    if not isinstance(email, str) or email.lower() not in invokers:
        raise _refused(
            f"the token's email {_shown(email)} is not an invoker (DRGERO_INTERNAL_INVOKERS)"
        )
    if claims.get("email_verified") is not True:
        raise _refused("the token's email is not verified (email_verified is not true)")
    return claims


def _bearer(request: flask.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _refused("internal endpoint: no Authorization: Bearer <ID token> header")
    return token.strip()


def _verified_claims(
    token: str, *, certs: GoogleCerts, audience: str, clock_skew: int
) -> Mapping[str, Any]:
    try:
        header = jwt.decode_header(token)
    except (ValueError, TypeError, auth_exceptions.GoogleAuthError):
        # google-auth's message would quote the token: ours does not.
        raise _refused("the bearer token is not a JWT") from None
    algorithm = header.get("alg")
    if algorithm != ALGORITHM:
        raise _refused(
            f"the token's algorithm {_shown(algorithm)} is not {ALGORITHM}"
            " (unsigned tokens are refused)"
        )
    key_id = header.get("kid")
    if not isinstance(key_id, str) or not key_id:
        raise _refused("the token names no signing key (no kid in its header)")
    try:
        certificate = certs.certificate(key_id)
    except IdentityUnavailable as failure:
        raise Unavailable(
            f"cannot verify internal calls now: {failure.message}",
            code="internal_certs_unavailable",
            retry_after_seconds=5,
        ) from None
    if certificate is None:
        raise _refused(
            f"the token is signed by a key Google does not publish (kid {_shown(key_id)})"
        )
    try:
        claims: Mapping[str, Any] = jwt.decode(
            token,
            certs={key_id: certificate},
            audience=audience,
            clock_skew_in_seconds=clock_skew,
        )
    except (ValueError, TypeError, auth_exceptions.GoogleAuthError) as error:
        raise _refused(_why(str(error), audience)) from None
    return claims


def _why(reason: str, audience: str) -> str:
    """Our words for google-auth's refusal (its own may quote the token or its claims)."""
    if "signature" in reason:
        return "the token's signature does not verify"
    if "expired" in reason:
        return "the token has expired"
    if "too early" in reason:
        return "the token is issued in the future (iat)"
    if "audience" in reason:
        return f"the token's audience is not this function's URL ({audience})"
    if "required claim" in reason:
        return "the token has no iat or exp claim"
    return "the token does not verify"


def _refused(message: str) -> Unauthenticated:
    return Unauthenticated(message, code="invalid_internal_token")


def _shown(value: object) -> str:
    if value is None:
        return "(none)"
    return (
        repr(value)[:_SHOWN_CHARS] if isinstance(value, str) else f"of type {type(value).__name__}"
    )
