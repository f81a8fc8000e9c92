"""CORS on the wire: preflights answered by every public function, headers on its answers.

What is allowed is decided in ``shared.services.origins``; this module speaks the protocol:

- A **preflight** (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is
  answered by the router itself, before any route, token or body: 204 with
  ``Access-Control-Allow-Origin`` (the origin, echoed), ``Access-Control-Allow-Methods`` (the
  methods of the route at that path), ``Access-Control-Allow-Headers``,
  ``Access-Control-Max-Age`` and ``Vary``, when the origin may call the path; otherwise 403
  ``origin_not_allowed`` with no CORS header, which the browser turns into a blocked request
  (its real request is never sent). No handler runs for a preflight.
- Every other request with an allowed ``Origin`` gets ``Access-Control-Allow-Origin``,
  ``Vary: Origin`` and ``Access-Control-Expose-Headers`` on its answer (errors and streams
  included), unless its token refused the origin (then no CORS header at all).
"""

from __future__ import annotations

import flask

from shared.bootstrap import Deps
from shared.domain.origins import (
    EXPOSED_RESPONSE_HEADERS,
    allowed_request_headers,
    refused_request_headers,
    request_origin,
)
from shared.errors import Forbidden
from shared.services import origins
from shared.services.origins import CorsRequest

VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


def is_preflight(request: flask.Request) -> bool:
    return (
        request.method == "OPTIONS"
        and "Origin" in request.headers
        and "Access-Control-Request-Method" in request.headers
    )


def preflight(request: flask.Request, deps: Deps, methods: list[str]) -> flask.Response | None:
    """The answer to a preflight for a path served with ``methods``; None when no route
    serves the path (the router's 404)."""
    from shared.web.http import error_response

    if not methods:
        return None
    origin = request_origin(request.headers.get("Origin"))
    asked = request.headers.get("Access-Control-Request-Method", "").upper()
    decision = origins.decide(deps, origin, request.path) if origin else None
    if decision is None or not decision.allowed:
        response = error_response(
            Forbidden(
                f"the origin {request.headers.get('Origin')!r} may not call {request.path}:"
                " a workspace admin allows origins with PUT /v1/workspace",
                code="origin_not_allowed",
            )
        )
        response.headers["Vary"] = VARY
        return response
    requested = request.headers.get("Access-Control-Request-Headers")
    response = flask.Response(status=204)
    del response.headers["Content-Type"]  # no body, so no type (Flask adds text/html)
    response.headers.update(
        {
            "Access-Control-Allow-Origin": decision.origin,
            "Access-Control-Allow-Methods": ", ".join(sorted(set(methods))),
            "Access-Control-Allow-Headers": ", ".join(allowed_request_headers(requested)),
            "Access-Control-Max-Age": str(deps.settings.cors_max_age_seconds),
            "Vary": VARY,
        }
    )
    refused = refused_request_headers(requested)
    if asked not in methods or refused:
        # Still answered with what is allowed: the browser names what it lacks in its console.
        response.headers["X-DrGero-Cors-Refused"] = ", ".join(
            ([asked] if asked not in methods else []) + refused
        )
    return response


def decide(request: flask.Request, deps: Deps) -> CorsRequest | None:
    """The decision for a (non-preflight) request with an ``Origin``; None without one."""
    origin = request_origin(request.headers.get("Origin"))
    if origin is None:
        return None
    return origins.decide(deps, origin, request.path)


def decorate(response: flask.Response, decision: CorsRequest | None) -> None:
    """The CORS headers of an answer to a browser whose origin is allowed."""
    if decision is None:
        return
    response.vary.add("Origin")
    if not decision.allowed or decision.refused:
        return
    response.headers["Access-Control-Allow-Origin"] = decision.origin
    response.headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_RESPONSE_HEADERS)
