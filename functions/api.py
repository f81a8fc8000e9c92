"""Entry point ``api``: the admin API (workspace, tokens, leaderboards, traces, downloads).

Each handler authenticates, validates its body into a pydantic model, calls one service and
returns its answer; the router maps errors. ``GET /v1/openapi.json`` serves the API document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask
import functions_framework
import yaml

from shared import wiring
from shared.domain.leaderboards import LeaderboardCreate
from shared.domain.tokens import Scope
from shared.services import accounts, leaderboards
from shared.services.auth import Principal, authenticate
from shared.storage.pagination import page_size
from shared.web.http import Router, bearer_token, parse, stream_response

router = Router("api")
OPENAPI_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


def _caller(request: flask.Request, scope: Scope | None = None) -> Principal:
    """The authenticated caller; with ``scope``, refused (403) before its body is even read."""
    principal = authenticate(wiring.deps(), bearer_token(request))
    if scope is not None:
        principal.require(scope)
    return principal


def _paging(request: flask.Request) -> dict[str, Any]:
    return {
        "limit": page_size(request.args.get("limit")),
        "cursor": request.args.get("cursor") or None,
    }


@router.route("GET", "/v1/openapi.json")
def _openapi(request: flask.Request) -> dict:
    return yaml.safe_load(OPENAPI_PATH.read_text())


@router.route("GET", "/v1/workspace")
def _workspace(request: flask.Request) -> dict:
    return accounts.get_workspace(wiring.deps(), _caller(request))


# -- API tokens ----------------------------------------------------------------------------


@router.route("POST", "/v1/tokens")
def _create_token(request: flask.Request) -> tuple[dict, int]:
    principal = _caller(request, Scope.WORKSPACE_ADMIN)
    body = parse(accounts.ApiTokenCreate, request)
    return accounts.create_api_token(wiring.deps(), principal, body), 201


@router.route("GET", "/v1/tokens")
def _list_tokens(request: flask.Request) -> dict:
    return accounts.list_tokens(wiring.deps(), _caller(request), **_paging(request))


@router.route("DELETE", "/v1/tokens/{token_id}")
def _revoke_token(request: flask.Request, token_id: str) -> tuple[None, int]:
    accounts.revoke_token(wiring.deps(), _caller(request), token_id)
    return None, 204


# -- leaderboards --------------------------------------------------------------------------


@router.route("POST", "/v1/leaderboards")
def _create_leaderboard(request: flask.Request) -> tuple[dict, int]:
    principal = _caller(request, Scope.LEADERBOARDS_WRITE)
    body = parse(LeaderboardCreate, request)
    return leaderboards.create_leaderboard(wiring.deps(), principal, body), 201


@router.route("GET", "/v1/leaderboards")
def _list_leaderboards(request: flask.Request) -> dict:
    return leaderboards.list_leaderboards(wiring.deps(), _caller(request), **_paging(request))


@router.route("GET", "/v1/leaderboard/{leaderboard_id}")
def _get_leaderboard(request: flask.Request, leaderboard_id: str) -> dict:
    return leaderboards.get_leaderboard(wiring.deps(), _caller(request), leaderboard_id)


# -- dataset tokens and downloads ----------------------------------------------------------


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/dataset/tokens")
def _create_dataset_token(request: flask.Request, leaderboard_id: str) -> tuple[dict, int]:
    principal = _caller(request)
    body = parse(accounts.DatasetTokenCreate, request)
    return accounts.create_dataset_token(wiring.deps(), principal, leaderboard_id, body), 201


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/dataset/tokens")
def _list_dataset_tokens(request: flask.Request, leaderboard_id: str) -> dict:
    return accounts.list_tokens(
        wiring.deps(), _caller(request), leaderboard_id=leaderboard_id, **_paging(request)
    )


@router.route("DELETE", "/v1/leaderboard/{leaderboard_id}/dataset/tokens/{token_id}")
def _revoke_dataset_token(
    request: flask.Request, leaderboard_id: str, token_id: str
) -> tuple[None, int]:
    accounts.revoke_token(wiring.deps(), _caller(request), token_id, leaderboard_id=leaderboard_id)
    return None, 204


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/dataset/download")
def _download(request: flask.Request, leaderboard_id: str) -> flask.Response:
    chunks, headers = leaderboards.download_dataset(wiring.deps(), _caller(request), leaderboard_id)
    return stream_response(chunks, headers)


# -- traces --------------------------------------------------------------------------------


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/traces")
def _list_traces(request: flask.Request, leaderboard_id: str) -> dict:
    return leaderboards.list_traces(
        wiring.deps(),
        _caller(request),
        leaderboard_id,
        kind=request.args.get("kind") or None,
        **_paging(request),
    )


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/traces/{trace_id}")
def _get_trace(request: flask.Request, leaderboard_id: str, trace_id: str) -> dict:
    return leaderboards.get_trace(wiring.deps(), _caller(request), leaderboard_id, trace_id)


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    return router(request)
