"""Every request model takes JSON types as they are: no ``false`` or ``"5"`` for a number,
no ``1`` or ``"yes"`` for a boolean (see ``shared.domain.wire``)."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shared.domain import candidates, judge, leaderboards, schedule, scoring
from shared.services import accounts, drgero_models, integrations, reviews, runs, selection

MODULES = [
    candidates, judge, leaderboards, schedule, scoring,
    accounts, drgero_models, integrations, reviews, runs, selection,
    importlib.import_module("shared.services.leaderboards"),
    importlib.import_module("shared.services.origins"),
    importlib.import_module("shared.tasks.messages"),
    *(importlib.import_module(f"functions.{name}")
      for name in ("inference", "worker", "consolidation", "runs")),
]  # fmt: skip


def request_models() -> list[type[BaseModel]]:
    found = {
        value
        for module in MODULES
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
        and value.__module__ == module.__name__
    }  # fmt: skip
    return sorted(found, key=lambda m: f"{m.__module__}.{m.__qualname__}")


def typed_fields(model: type[BaseModel], *types: str) -> list[str]:
    """The wire names of ``model``'s fields whose JSON schema allows one of ``types``."""
    names = []
    for name, schema in model.model_json_schema()["properties"].items():
        options = schema.get("anyOf", [schema])
        if {option.get("type") for option in options} & set(types):
            names.append(name)
    return names


def refused(model: type[BaseModel], field: str, value: Any) -> bool:
    try:
        model.model_validate({field: value})
    except ValidationError as exc:
        return any(error["loc"][:1] == (field,) for error in exc.errors())
    return False


def test_the_models_are_found() -> None:
    names = {model.__name__ for model in request_models()}
    assert {"LeaderboardCreate", "ApiTokenCreate", "ReviewSubmit", "ChatIn"} <= names
    assert {"EvaluateShard", "PrepareRun", "Consolidate", "WorkspaceSettingsPut"} <= names


@pytest.mark.parametrize("model", request_models(), ids=lambda m: m.__name__)
def test_numbers_refuse_booleans_and_strings(model: type[BaseModel]) -> None:
    for field in typed_fields(model, "number", "integer"):
        for value in (False, True, "5", "0.5"):
            assert refused(model, field, value), f"{model.__name__}.{field} took {value!r}"


@pytest.mark.parametrize("model", request_models(), ids=lambda m: m.__name__)
def test_booleans_refuse_numbers_and_strings(model: type[BaseModel]) -> None:
    for field in typed_fields(model, "boolean"):
        for value in (0, 1, "true", "yes"):
            assert refused(model, field, value), f"{model.__name__}.{field} took {value!r}"


@pytest.mark.parametrize("model", request_models(), ids=lambda m: m.__name__)
def test_numbers_take_integers_where_fractions_are_allowed(model: type[BaseModel]) -> None:
    for field in typed_fields(model, "number"):
        if field in typed_fields(model, "integer"):
            continue
        assert not refused(model, field, 1), f"{model.__name__}.{field} refused 1"


def test_timestamps_are_iso_strings() -> None:
    later = datetime.now(UTC).replace(microsecond=0).year + 1
    body = accounts.ApiTokenCreate.model_validate(
        {"name": "t", "expires_at": f"{later}-01-01T00:00:00Z"}
    )
    assert body.expires_at == datetime(later, 1, 1, tzinfo=UTC)
    config = leaderboards.PushDatasetConfig.model_validate(
        {"mode": "push", "end_date": f"{later}-06-30T12:00:00+02:00"}
    )
    assert config.end_date == datetime(later, 6, 30, 10, tzinfo=UTC)
