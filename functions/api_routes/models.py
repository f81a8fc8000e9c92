"""Candidate models, auto-select, the production-model selection, and Dr.Gero models."""

from __future__ import annotations

import flask
from pydantic import TypeAdapter

from functions.api_routes import authorize, paging, router
from shared.bootstrap import Deps
from shared.domain.candidates import AutoSelectIn, CandidateModelIn, WorkspaceModelCreate
from shared.domain.tokens import Scope
from shared.services import auto_select, candidates, drgero_models, selection
from shared.web.http import parse, read_json

_CANDIDATE = TypeAdapter(CandidateModelIn)


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/models")
def _add_model(request: flask.Request, deps: Deps, leaderboard_id: str) -> tuple[dict, int]:
    principal = authorize(request, deps, Scope.LEADERBOARDS_WRITE)
    body = _CANDIDATE.validate_python(read_json(request, integral_floats=True))
    return candidates.add_model(deps, principal, leaderboard_id, body), 201


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/models")
def _list_models(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    return candidates.list_models(deps, authorize(request, deps), leaderboard_id)


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/models/auto-select")
def _auto_select(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    principal = authorize(request, deps, Scope.LEADERBOARDS_WRITE)
    body = parse(AutoSelectIn, request)
    return auto_select.auto_select(deps, principal, leaderboard_id, body)


@router.route("DELETE", "/v1/leaderboard/{leaderboard_id}/models/{model_id}")
def _remove_model(
    request: flask.Request, deps: Deps, leaderboard_id: str, model_id: str
) -> tuple[None, int]:
    candidates.remove_model(deps, authorize(request, deps), leaderboard_id, model_id)
    return None, 204


@router.route("PUT", "/v1/leaderboard/{leaderboard_id}/selection")
def _select(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    principal = authorize(request, deps, Scope.LEADERBOARDS_WRITE)
    body = parse(selection.SelectionPut, request)
    return selection.put_selection(deps, principal, leaderboard_id, body)


@router.route("POST", "/v1/workspace/models")
def _create_workspace_model(request: flask.Request, deps: Deps) -> tuple[dict, int]:
    principal = authorize(request, deps, Scope.LEADERBOARDS_WRITE)
    body = parse(WorkspaceModelCreate, request)
    return drgero_models.create_drgero_model(deps, principal, body), 201


@router.route("GET", "/v1/workspace/models")
def _list_workspace_models(request: flask.Request, deps: Deps) -> dict:
    return drgero_models.list_drgero_models(deps, authorize(request, deps), **paging(request))


@router.route("GET", "/v1/workspace/model/{model_id}")
def _get_workspace_model(request: flask.Request, deps: Deps, model_id: str) -> dict:
    return drgero_models.get_drgero_model(deps, authorize(request, deps), model_id)


@router.route("PATCH", "/v1/workspace/model/{model_id}")
def _update_workspace_model(request: flask.Request, deps: Deps, model_id: str) -> dict:
    principal = authorize(request, deps, Scope.LEADERBOARDS_WRITE)
    body = parse(drgero_models.WorkspaceModelUpdate, request)
    return drgero_models.update_drgero_model(deps, principal, model_id, body)


@router.route("DELETE", "/v1/workspace/model/{model_id}")
def _delete_workspace_model(request: flask.Request, deps: Deps, model_id: str) -> tuple[None, int]:
    drgero_models.delete_drgero_model(deps, authorize(request, deps), model_id)
    return None, 204
