"""Workspace, API tokens and integrations."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import flask
import yaml

from functions.api_routes import authorize, paging, router
from shared.bootstrap import Deps
from shared.domain.tokens import Scope
from shared.services import accounts, integrations, origins
from shared.web.http import parse

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@cache
def openapi_json() -> bytes:
    """The OpenAPI document as JSON, parsed from its YAML once per instance (parsing costs
    about 0.4 s of CPU, and the endpoint needs no token)."""
    document = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


@router.route("GET", "/v1/openapi.json")
def _openapi(request: flask.Request, deps: Deps) -> flask.Response:
    return flask.Response(openapi_json(), mimetype="application/json")


@router.route("GET", "/v1/workspace")
def _workspace(request: flask.Request, deps: Deps) -> dict:
    return accounts.get_workspace(deps, authorize(request, deps))


@router.route("PUT", "/v1/workspace")
def _put_workspace(request: flask.Request, deps: Deps) -> dict:
    principal = authorize(request, deps, Scope.WORKSPACE_ADMIN)
    return origins.put_workspace(deps, principal, parse(origins.WorkspaceSettingsPut, request))


@router.route("POST", "/v1/tokens")
def _create_token(request: flask.Request, deps: Deps) -> tuple[dict, int]:
    principal = authorize(request, deps, Scope.WORKSPACE_ADMIN)
    body = parse(accounts.ApiTokenCreate, request)
    return accounts.create_api_token(deps, principal, body), 201


@router.route("GET", "/v1/tokens")
def _list_tokens(request: flask.Request, deps: Deps) -> dict:
    return accounts.list_tokens(deps, authorize(request, deps), **paging(request))


@router.route("DELETE", "/v1/tokens/{token_id}")
def _revoke_token(request: flask.Request, deps: Deps, token_id: str) -> tuple[None, int]:
    accounts.revoke_token(deps, authorize(request, deps), token_id)
    return None, 204


@router.route("GET", "/v1/integrations")
def _integrations(request: flask.Request, deps: Deps) -> dict:
    return integrations.list_integrations(deps, authorize(request, deps))


@router.route("PUT", "/v1/integrations/{provider}")
def _put_integration(request: flask.Request, deps: Deps, provider: str) -> dict:
    principal = authorize(request, deps, Scope.WORKSPACE_ADMIN)
    body = parse(integrations.IntegrationPut, request)
    return integrations.put_integration(deps, principal, provider, body)


@router.route("DELETE", "/v1/integrations/{provider}")
def _delete_integration(request: flask.Request, deps: Deps, provider: str) -> tuple[None, int]:
    integrations.delete_integration(deps, authorize(request, deps), provider)
    return None, 204


@router.route("POST", "/v1/integrations/validate")
def _validate_integrations(request: flask.Request, deps: Deps) -> dict:
    principal = authorize(request, deps, Scope.WORKSPACE_ADMIN)
    body = parse(integrations.ValidateRequest, request)
    return integrations.validate_integrations(deps, principal, body)
