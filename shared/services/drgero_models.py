"""Dr.Gero models: workspace model objects with a serving endpoint, assignable to leaderboards.

A leaderboard candidate of platform ``drgero`` refers to one of these by id; runs resolve it to
its endpoint when they start, and the run snapshot records what it resolved to. (Fine-tuning,
which the product also attaches to these objects, is not built yet.)
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.bootstrap import Deps
from shared.clock import iso, utcnow
from shared.domain.candidates import EndpointIn, OpenRouterModelIn, WorkspaceModelCreate
from shared.domain.tokens import Scope
from shared.errors import NotFound
from shared.services.auth import Principal
from shared.services.candidates import public_endpoint, store_endpoint_config


class WorkspaceModelUpdate(BaseModel):
    """A change of a Dr.Gero model (named as its schema in docs/openapi.yaml)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    endpoint: EndpointIn | None = None


def create_drgero_model(
    deps: Deps, principal: Principal, body: WorkspaceModelCreate
) -> dict[str, Any]:
    principal.require(Scope.LEADERBOARDS_WRITE)
    model_id = "dm_" + uuid.uuid4().hex[:16]
    now = utcnow()
    record = {
        "id": model_id,
        "name": body.name,
        "description": body.description,
        "endpoint": _stored_endpoint(deps, principal.workspace_id, body.endpoint, model_id),
        "created_at": now,
        "updated_at": now,
    }
    deps.drgero_models.create(principal.workspace_id, record)
    return public_drgero_model(record)


def get_drgero_model(deps: Deps, principal: Principal, model_id: str) -> dict[str, Any]:
    principal.require(Scope.LEADERBOARDS_READ)
    return public_drgero_model(_load(deps, principal, model_id))


def list_drgero_models(
    deps: Deps, principal: Principal, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    principal.require(Scope.LEADERBOARDS_READ)
    page = deps.drgero_models.list_page(principal.workspace_id, limit=limit, cursor=cursor)
    return {
        "items": [public_drgero_model(m) for m in page.items],
        "next_cursor": page.next_cursor,
    }


def update_drgero_model(
    deps: Deps, principal: Principal, model_id: str, body: WorkspaceModelUpdate
) -> dict[str, Any]:
    principal.require(Scope.LEADERBOARDS_WRITE)
    record = _load(deps, principal, model_id)
    fields: dict[str, Any] = {"updated_at": utcnow()}
    if body.name is not None:
        fields["name"] = body.name
    if body.description is not None:
        fields["description"] = body.description
    if body.endpoint is not None:
        fields["endpoint"] = _stored_endpoint(deps, principal.workspace_id, body.endpoint, model_id)
        old_secret = record["endpoint"].get("secret_ref")
        if old_secret and fields["endpoint"].get("secret_ref") != old_secret:
            deps.secrets.delete(principal.workspace_id, old_secret)
    deps.drgero_models.update(principal.workspace_id, model_id, fields)
    return public_drgero_model(record | fields)


def delete_drgero_model(deps: Deps, principal: Principal, model_id: str) -> None:
    principal.require(Scope.LEADERBOARDS_WRITE)
    record = _load(deps, principal, model_id)
    deps.drgero_models.delete(principal.workspace_id, model_id)
    if record["endpoint"].get("secret_ref"):
        deps.secrets.delete(principal.workspace_id, record["endpoint"]["secret_ref"])


def public_drgero_model(record: dict[str, Any]) -> dict[str, Any]:
    endpoint = public_endpoint(record["endpoint"])
    return {
        "id": record["id"],
        "name": record["name"],
        "description": record.get("description"),
        "endpoint": endpoint,
        "created_at": iso(record["created_at"]),
        "updated_at": iso(record["updated_at"]),
    }


def _stored_endpoint(deps: Deps, workspace_id: str, endpoint: Any, model_id: str) -> dict[str, Any]:
    if isinstance(endpoint, OpenRouterModelIn):
        return {"platform": "openrouter", "model_id": endpoint.model_id}
    return store_endpoint_config(deps, workspace_id, endpoint, f"workspace-model:{model_id}")


def _load(deps: Deps, principal: Principal, model_id: str) -> dict[str, Any]:
    record = deps.drgero_models.get(principal.workspace_id, model_id)
    if record is None:
        raise NotFound(f"Dr.Gero model {model_id} not found", code="workspace_model_not_found")
    return record
