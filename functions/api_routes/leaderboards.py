"""Leaderboards, their dataset tokens, downloads and traces."""

from __future__ import annotations

import flask

from functions.api_routes import authorize, paging, router
from shared.bootstrap import Deps
from shared.clock import iso
from shared.domain.leaderboards import LeaderboardCreate, LeaderboardUpdate
from shared.domain.tokens import Scope
from shared.errors import BadRequest
from shared.services import accounts, leaderboards, traces
from shared.web.http import parse, stream_response


@router.route("POST", "/v1/leaderboards")
def _create_leaderboard(request: flask.Request, deps: Deps) -> tuple[dict, int]:
    principal = authorize(request, deps, Scope.LEADERBOARDS_WRITE)
    body = parse(LeaderboardCreate, request)
    return leaderboards.create_leaderboard(deps, principal, body), 201


@router.route("GET", "/v1/leaderboards")
def _list_leaderboards(request: flask.Request, deps: Deps) -> dict:
    return leaderboards.list_leaderboards(deps, authorize(request, deps), **paging(request))


@router.route("GET", "/v1/leaderboard/{leaderboard_id}")
def _get_leaderboard(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    return leaderboards.get_leaderboard(deps, authorize(request, deps), leaderboard_id)


@router.route("PATCH", "/v1/leaderboard/{leaderboard_id}")
def _update_leaderboard(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    principal = authorize(request, deps, Scope.LEADERBOARDS_WRITE)
    body = parse(LeaderboardUpdate, request)
    return leaderboards.update_leaderboard(deps, principal, leaderboard_id, body)


@router.route("DELETE", "/v1/leaderboard/{leaderboard_id}")
def _delete_leaderboard(
    request: flask.Request, deps: Deps, leaderboard_id: str
) -> tuple[None, int]:
    leaderboards.delete_leaderboard(deps, authorize(request, deps), leaderboard_id)
    return None, 204


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/dataset/tokens")
def _create_dataset_token(
    request: flask.Request, deps: Deps, leaderboard_id: str
) -> tuple[dict, int]:
    principal = authorize(request, deps)
    body = parse(accounts.DatasetTokenCreate, request)
    return accounts.create_dataset_token(deps, principal, leaderboard_id, body), 201


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/dataset/tokens")
def _list_dataset_tokens(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    return accounts.list_tokens(
        deps, authorize(request, deps), leaderboard_id=leaderboard_id, **paging(request)
    )


@router.route("DELETE", "/v1/leaderboard/{leaderboard_id}/dataset/tokens/{token_id}")
def _revoke_dataset_token(
    request: flask.Request, deps: Deps, leaderboard_id: str, token_id: str
) -> tuple[None, int]:
    accounts.revoke_token(deps, authorize(request, deps), token_id, leaderboard_id=leaderboard_id)
    return None, 204


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/dataset/download")
def _download(request: flask.Request, deps: Deps, leaderboard_id: str) -> flask.Response:
    principal = authorize(request, deps)  # who before what
    redirect = request.args.get("redirect")
    if redirect not in (None, "signed"):
        raise BadRequest(
            f"redirect may only be 'signed', not {redirect!r}",
            code="invalid_parameter",
            parameter="redirect",
        )
    download = leaderboards.download_dataset(
        deps, principal, leaderboard_id, signed=redirect == "signed"
    )
    version = download.version
    headers = {
        "X-DrGero-Dataset-Version": str(version.version),
        "X-DrGero-Dataset-Sha256": version.sha256,
    }
    if download.redirect is not None:
        expires = iso(download.expires_at)
        headers |= {"Cache-Control": "no-store", "X-DrGero-Url-Expires-At": str(expires)}
        return flask.Response(status=302, headers=headers | {"Location": download.redirect})
    assert download.chunks is not None
    return stream_response(
        download.chunks,
        headers
        | {
            "Content-Type": "application/jsonl",
            "Content-Length": str(version.bytes),
            "Content-Disposition": (
                f'attachment; filename="{download.leaderboard_id}-v{version.version}.jsonl"'
            ),
        },
    )


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/traces")
def _list_traces(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    return traces.list_traces(
        deps,
        authorize(request, deps),
        leaderboard_id,
        kind=request.args.get("kind") or None,
        **paging(request),
    )


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/traces")
def _record_manual_trace(
    request: flask.Request, deps: Deps, leaderboard_id: str
) -> tuple[dict, int, dict[str, str]]:
    principal = authorize(request, deps, Scope.LEADERBOARDS_WRITE)  # who before what
    body = parse(traces.ManualTraceCreate, request)
    trace, created = traces.record_manual_trace(deps, principal, leaderboard_id, body)
    if created:
        return trace, 201, {}
    return trace, 200, {"Idempotent-Replayed": "true"}


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/traces/{trace_id}")
def _get_trace(request: flask.Request, deps: Deps, leaderboard_id: str, trace_id: str) -> dict:
    return traces.get_trace(deps, authorize(request, deps), leaderboard_id, trace_id)
