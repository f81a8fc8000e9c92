"""The OpenAPI document (``docs/openapi.yaml``) stays true to the code.

- it is valid OpenAPI 3.1;
- its operations are exactly the routes the functions serve, and the URL map sends each of them
  to the function that serves it;
- the request models, enums and limits it describes match the code's;
- every error code the code base can raise is named in it;
- the running stack serves it at ``GET /v1/openapi.json``, and real answers match its schemas.
"""

from __future__ import annotations

import importlib
import json
import re
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import BaseModel
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from shared.domain import rows
from shared.domain.candidates import (
    AuthIn,
    AutoSelectIn,
    CustomModelIn,
    DrGeroModelIn,
    HuggingFaceModelIn,
    OpenRouterModelIn,
    Pricing,
    ResponseIn,
    WorkspaceModelCreate,
)
from shared.domain.leaderboards import (
    ExactEvaluation,
    GetDatasetConfig,
    HumanEvaluation,
    JudgeEvaluation,
    LeaderboardCreate,
    LeaderboardUpdate,
    PushDatasetConfig,
)
from shared.domain.schedule import ScheduleConfig
from shared.domain.tokens import API_SCOPES, Scope
from shared.services.accounts import ApiTokenCreate, DatasetTokenCreate
from shared.services.drgero_models import WorkspaceModelUpdate
from shared.services.integrations import IntegrationPut, ValidateRequest
from shared.services.reviews import ReviewSubmit
from shared.services.runs import RunCreate
from shared.services.selection import SelectionPut
from shared.settings import Settings
from shared.storage.push_store import TOTAL_FIELDS
from shared.storage.traces import TRACE_KINDS
from shared.web.health import HEALTH_PATHS
from shared.web.routes import function_for_path

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "docs" / "openapi.yaml"
FUNCTION_MODULES = ("api", "push", "status", "consolidation", "jobs", "runs", "worker", "inference")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOC_URI = "urn:drgero:openapi"


@cache
def load_doc() -> dict[str, Any]:
    return yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, item[method])
        for path, item in doc["paths"].items()
        for method in METHODS
        if method in item
    ]


def template_pattern(template: str) -> str:
    """A path template as the regex ``shared.web.router.Router.route`` compiles it to."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/"))
    return f"^{regex}/?$"


def served_routes() -> set[tuple[str, str, str]]:
    """(function, method, pattern) of every route the functions' routers serve: their own
    and the health routes every router serves.

    Reads ``Router._routes`` and ``Router._health``: the router has no public accessor for its
    routes yet.
    """
    served = set()
    for name in FUNCTION_MODULES:
        router = importlib.import_module(f"functions.{name}").router
        for route in [*router._health, *router._routes]:
            served.add((name, route.method, route.pattern.pattern))
    return served


def sample_path(template: str) -> str:
    return re.sub(r"\{\w+\}", lambda _: "x" + uuid.uuid4().hex[:8], template)


# -- the document itself ---------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    doc = load_doc()
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    # What GET /v1/openapi.json serves is this document through JSON: nothing may change on the
    # way (YAML dates, integer keys, ...).
    assert json.loads(json.dumps(doc)) == doc


def test_every_operation_is_described() -> None:
    doc = load_doc()
    schemes = doc["components"]["securitySchemes"]
    assert (schemes["bearerAuth"]["type"], schemes["bearerAuth"]["scheme"]) == ("http", "bearer")
    assert {(s.get("in"), s.get("name")) for s in schemes.values() if s["type"] == "apiKey"} == {
        ("header", "X-API-Key"),
        ("header", "X-Dr.Gero-API-Key"),
    }
    internal = schemes["internalIdToken"]
    assert (internal["type"], internal["scheme"], internal["bearerFormat"]) == (
        "http",
        "bearer",
        "JWT",
    )
    operation_ids = []
    for method, path, op in operations(doc):
        where = f"{method} {path}"
        operation_ids.append(op["operationId"])
        assert op.get("summary") and op.get("description"), where
        assert op.get("tags"), where
        assert op["responses"], where
        for status in op["responses"]:
            assert status == "default" or re.fullmatch(r"[1-5]\d\d", status), where
        security = op.get("security", doc["security"])
        used = {name for requirement in security for name in requirement}
        roles = {role for requirement in security for rs in requirement.values() for role in rs}
        if path.startswith("/internal/"):
            assert op["tags"] == ["internal"], where
            assert used == {"internalIdToken"}, where
            for status in ("401", "403", "503"):
                assert status in op["responses"], where
        elif path in ("/v1/openapi.json", *HEALTH_PATHS):
            assert op["security"] == [], where
        else:
            assert used == {"bearerAuth", "apiKeyHeader", "drGeroApiKeyHeader"}, where
            assert "401" in op["responses"], where
            # The scope the operation needs is in its security roles and in its description.
            assert roles <= {scope.value for scope in Scope}, where
            for role in roles:
                assert f"`{role}`" in op["description"], where
    assert len(operation_ids) == len(set(operation_ids))


def test_lists_are_paginated() -> None:
    for method, path, op in operations(load_doc()):
        schema_ref = op["responses"].get("200", {}).get("content", {})
        ref = schema_ref.get("application/json", {}).get("schema", {}).get("$ref", "")
        if not ref.endswith("Page"):
            continue
        names = {p.get("$ref", "").rsplit("/", 1)[-1] for p in op.get("parameters", [])}
        assert {"Limit", "Cursor"} <= names, f"{method} {path}"


# -- the routes --------------------------------------------------------------------------------


def test_documented_operations_are_exactly_the_served_routes() -> None:
    documented = {(method, template_pattern(path)) for method, path, _ in operations(load_doc())}
    served = {(method, pattern) for _, method, pattern in served_routes()}
    assert served, "no routes found on the functions' routers"
    assert documented - served == set(), "documented but not served"
    assert served - documented == set(), "served but not documented"


def test_url_map_sends_each_route_to_its_function() -> None:
    """Health paths, which every function serves, match no rule: they go to the default."""
    doc = load_doc()
    by_pattern = {template_pattern(path): path for path in doc["paths"]}
    for function, method, pattern in served_routes():
        path = sample_path(by_pattern[pattern])
        if path in HEALTH_PATHS:
            assert function_for_path(path) is None, path
            continue
        assert function_for_path(path) == function, f"{method} {path}"
    health = {
        (function, path)
        for function, _, pattern in served_routes()
        if (path := by_pattern[pattern]) in HEALTH_PATHS
    }
    assert health == {(function, path) for function in FUNCTION_MODULES for path in HEALTH_PATHS}


# -- the code's models, enums and limits -------------------------------------------------------


@pytest.mark.parametrize(
    ("schema_name", "model"),
    [
        ("LeaderboardCreate", LeaderboardCreate),
        ("LeaderboardUpdate", LeaderboardUpdate),
        ("PushDatasetConfig", PushDatasetConfig),
        ("GetDatasetConfig", GetDatasetConfig),
        ("ExactEvaluation", ExactEvaluation),
        ("JudgeEvaluation", JudgeEvaluation),
        ("HumanEvaluation", HumanEvaluation),
        ("ScheduleConfig", ScheduleConfig),
        ("ApiTokenCreate", ApiTokenCreate),
        ("DatasetTokenCreate", DatasetTokenCreate),
        ("IntegrationPut", IntegrationPut),
        ("ValidateIntegrations", ValidateRequest),
        ("OpenRouterCandidate", OpenRouterModelIn),
        ("CustomCandidate", CustomModelIn),
        ("HuggingFaceCandidate", HuggingFaceModelIn),
        ("DrGeroCandidate", DrGeroModelIn),
        ("EndpointAuth", AuthIn),
        ("ResponseFormat", ResponseIn),
        ("Pricing", Pricing),
        ("AutoSelect", AutoSelectIn),
        ("SelectionPut", SelectionPut),
        ("WorkspaceModelCreate", WorkspaceModelCreate),
        ("WorkspaceModelUpdate", WorkspaceModelUpdate),
        ("RunCreate", RunCreate),
        ("ReviewSubmit", ReviewSubmit),
        ("ConsolidateTask", importlib.import_module("shared.tasks.messages").Consolidate),
        ("PrepareRunTask", importlib.import_module("shared.tasks.messages").PrepareRun),
        ("EvaluateShardTask", importlib.import_module("shared.tasks.messages").EvaluateShard),
        ("StorageCleanupJob", importlib.import_module("functions.jobs").StorageCleanupJob),
        ("InferenceRequest", importlib.import_module("functions.inference").InferenceIn),
        ("ManualEvent", importlib.import_module("shared.services.traces").ManualTraceCreate),
        (
            "WorkspaceSettingsPut",
            importlib.import_module("shared.services.origins").WorkspaceSettingsPut,
        ),
    ],
)
def test_request_schemas_match_the_models(schema_name: str, model: Any) -> None:
    schema = load_doc()["components"]["schemas"][schema_name]
    generated = model.model_json_schema()
    assert set(schema["properties"]) == set(generated["properties"])
    assert set(schema.get("required", [])) == set(generated.get("required", []))
    forbids_extra = model.model_config.get("extra") == "forbid"
    assert (schema.get("additionalProperties", True) is False) == forbids_extra
    for name, field in model.model_fields.items():
        documented = schema["properties"][field.alias or name]  # the name on the wire
        if field.is_required():
            assert "default" not in documented, name
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            continue
        if "default" in documented or default is not None:
            assert documented.get("default") == json.loads(json.dumps(default)), name


def test_enums_and_limits_match_the_code() -> None:
    doc = load_doc()
    schemas = doc["components"]["schemas"]
    assert set(schemas["Scope"]["enum"]) == {scope.value for scope in API_SCOPES}
    traces = doc["paths"]["/v1/leaderboard/{leaderboard_id}/traces"]["get"]
    kind = next(p for p in traces["parameters"] if p.get("name") == "kind")
    assert kind["schema"]["enum"] == list(TRACE_KINDS)
    assert schemas["Trace"]["properties"]["kind"]["enum"] == list(TRACE_KINDS)
    assert set(schemas["DatasetStatus"]["properties"]["counts"]["required"]) == set(TOTAL_FIELDS)

    push = doc["paths"]["/v1/leaderboard/{leaderboard_id}/dataset/push"]["post"]
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert push["x-drgero-limits"] == {
        "max_body_bytes": defaults["push_max_body_bytes"],
        "max_rows": defaults["push_max_rows"],
        "max_row_bytes": defaults["push_max_row_bytes"],
        "max_id_length": rows.MAX_ID_LENGTH,
        "idempotency_ttl_hours": defaults["idempotency_ttl_hours"],
        "idempotency_wait_seconds": defaults["idempotency_wait_seconds"],
    }


def test_push_row_fields_match_the_row_rules() -> None:
    schemas = load_doc()["components"]["schemas"]
    fields = set(schemas["PushRow"]["properties"])
    known = (
        set(rows.INPUT_FIELDS)
        | set(rows.EXPECTED_FIELDS)
        | set(rows.ID_FIELDS)
        | set(rows._KNOWN_METADATA)
        | {"messages", "rubric", "metadata"}
    )
    assert fields == known
    wrappers = {
        name for shape in schemas["PushBody"]["anyOf"] for name in shape.get("required", [])
    }
    assert wrappers == set(rows.BODY_ARRAY_FIELDS)
    push = load_doc()["paths"]["/v1/leaderboard/{leaderboard_id}/dataset/push"]["post"]
    text = push["description"]
    for group in (rows.INPUT_FIELDS, rows.EXPECTED_FIELDS, rows.ID_FIELDS):
        assert ", ".join(f"`{name}`" for name in group) in text


# -- error codes -------------------------------------------------------------------------------

CODE_PATTERNS = (
    # code="x", default_code = "x", default_code: ClassVar[str] = "x"
    r'\w*code\s*(?::[^=\n]*)?=\s*"([a-z_]+)"',
    r'\bcode,[\w\s,]*=\s*"([a-z_]+)"',  # code, name, resets = "x", ...
    r'(?:Refusal|_Rejected)\(\s*"([a-z_]+)"',  # quota refusals and row rejections
    r'"code":\s*"([a-z_]+)"',  # literal error bodies
)


def raised_codes() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for source in sorted(ROOT.glob("shared/**/*.py")) + sorted(ROOT.glob("functions/*.py")):
        text = source.read_text(encoding="utf-8")
        for pattern in CODE_PATTERNS:
            for match in re.finditer(pattern, text):
                found.setdefault(match.group(1), set()).add(str(source.relative_to(ROOT)))
    return found


def test_every_error_code_is_documented() -> None:
    codes = raised_codes()
    assert len(codes) >= 40, f"the code patterns found too little: {sorted(codes)}"
    expected = {"internal", "daily_limit_reached", "missing_input", "idempotency_key_reused"}
    assert expected <= set(codes)
    text = DOC_PATH.read_text(encoding="utf-8")
    missing = {
        code: sorted(files)
        for code, files in codes.items()
        if not re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text)
    }
    assert missing == {}, "error codes raised in the code but not named in docs/openapi.yaml"


# -- the running stack -------------------------------------------------------------------------


def test_stack_serves_the_document(stack: Any) -> None:
    response = httpx.get(f"{stack.base_url}/v1/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == load_doc()


def test_every_protected_operation_answers_401_without_credentials(stack: Any) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        for method, path, op in operations(load_doc()):
            if "401" not in op["responses"]:
                continue
            kw: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            response = http.request(method, sample_path(path), **kw)
            assert response.status_code == 401, f"{method} {path}: {response.text}"
            check_response(method, path, response)


@cache
def registry() -> Registry:
    resource = Resource.from_contents(load_doc(), default_specification=DRAFT202012)
    return Registry().with_resource(DOC_URI, resource)


def pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def check_response(method: str, path: str, response: httpx.Response) -> Any:
    """Assert the answer's status is documented and its JSON body fits the documented schema."""
    doc = load_doc()
    responses = doc["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in responses or "default" in responses, f"{method} {path}: {status} undocumented"
    key = status if status in responses else "default"
    where = ("paths", path, method.lower(), "responses", key)
    documented = responses[key]
    if "$ref" in documented:
        where = tuple(documented["$ref"].removeprefix("#/").split("/"))
        documented = doc["components"]["responses"][where[-1]]
    content = documented.get("content", {})
    mimetype = response.headers.get("Content-Type", "").split(";")[0].strip()
    if not content:
        assert not response.content, f"{method} {path} {status}: undocumented body"
        return None
    assert mimetype in content, f"{method} {path} {status}: undocumented {mimetype}"
    if mimetype != "application/json":
        return None
    body = response.json()
    validator = schema_validator(*where, "content", "application/json", "schema")
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{method} {path} {status}: " + "; ".join(
        f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
    )
    return body


def schema_validator(*where: str) -> Draft202012Validator:
    """A validator for the schema at ``where`` (a path of keys) in the document."""
    return Draft202012Validator(
        {"$ref": DOC_URI + pointer(*where)},
        registry=registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def test_examples_fit_their_schemas() -> None:
    doc = load_doc()
    checked = 0
    for method, path, op in operations(doc):
        bodies = [(("requestBody",), op.get("requestBody", {}))]
        bodies += [(("responses", status), r) for status, r in op["responses"].items()]
        for where, holder in bodies:
            for media, content in holder.get("content", {}).items():
                at = ("paths", path, method.lower(), *where, "content", media)
                examples = [content["example"]] if "example" in content else []
                examples += [e["value"] for e in content.get("examples", {}).values()]
                for example in examples:
                    errors = list(schema_validator(*at, "schema").iter_errors(example))
                    assert not errors, f"{method} {path} {where}: {errors[0].message}"
                    checked += 1
    for name, schema in doc["components"]["schemas"].items():
        if "example" in schema:
            errors = list(
                schema_validator("components", "schemas", name).iter_errors(schema["example"])
            )
            assert not errors, f"{name}: {errors[0].message}"
            checked += 1
    assert checked >= 10


def test_real_answers_match_the_documented_schemas(workspace: Any) -> None:
    api = workspace.api
    lb_path = "/v1/leaderboard/{leaderboard_id}"

    def call(method: str, template: str, status: int, client: Any = None, **kw: Any) -> Any:
        path = template.format(leaderboard_id=lb, token_id=token_id, trace_id=trace_id)
        response = (client or api).http.request(method, path, **kw)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        check_response(method, template, response)
        return response

    lb = token_id = trace_id = ""
    call("GET", "/v1/workspace", 200)
    made = call("POST", "/v1/tokens", 201, json={"name": "reader", "expires_in_days": 1}).json()
    token_id = made["id"]
    call("GET", "/v1/tokens", 200, params={"limit": 1})
    call("GET", "/v1/tokens", 400, params={"limit": 0})
    reader = api.as_token(made["token"])
    call("DELETE", "/v1/tokens/{token_id}", 204)

    lb = api.create_push_leaderboard(daily_limit=3, monthly_limit=10)
    call("GET", "/v1/leaderboards", 200)
    call("GET", lb_path, 200)
    call("GET", lb_path, 401, client=reader)
    call("POST", "/v1/leaderboards", 422, json={"name": "x", "system_prompt": "y", "dataset": {}})
    made = call("POST", lb_path + "/dataset/tokens", 201, json={"name": "app"}).json()
    token_id = made["id"]
    pusher = api.as_token(made["token"])
    call("GET", lb_path + "/dataset/tokens", 200)
    call("GET", lb_path, 403, client=pusher)

    push = lb_path + "/dataset/push"
    body = {
        "rows": [
            {"prompt": "2 + 2?", "answer": 4, "example_id": 7, "tags": "math"},
            {"output": "no input"},
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
            {"input": "over the daily limit?"},
            {"question": "and this one?", "latency_ms": 12.5},
        ]
    }
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = call("POST", push, 200, client=pusher, json=body, headers=key).json()
    assert first["accepted"] == 3 and first["refused"]["indexes"] == [4]
    replay = call("POST", push, 200, client=pusher, json=body, headers=key)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == first
    call("POST", push, 422, client=pusher, json={"input": "other"}, headers=key)
    call("POST", push, 429, client=pusher, json={"input": "one more"})
    call("POST", push, 422, client=pusher, json=[{"nothing": 1}])
    call("POST", push, 400, client=pusher, json=42)
    call("POST", push, 415, client=pusher, content=b"input=x")

    call("GET", lb_path + "/dataset/download", 404)
    call("GET", lb_path + "/dataset/status", 200)
    call("POST", lb_path + "/dataset/consolidate", 200)
    call("GET", lb_path, 200)
    call("GET", lb_path + "/dataset/download", 200)
    traces = call("GET", lb_path + "/traces", 200).json()
    trace_id = traces["items"][0]["id"]
    call("GET", lb_path + "/traces/{trace_id}", 200)
    call("GET", lb_path + "/traces", 422, params={"kind": "nope"})
    call("DELETE", lb_path + "/dataset/tokens/{token_id}", 204)
    call("DELETE", lb_path + "/dataset/tokens/{token_id}", 204)
    lb = str(uuid.uuid4())
    call("GET", lb_path, 404)
