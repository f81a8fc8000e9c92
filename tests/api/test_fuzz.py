"""Fuzzing: schemathesis sends generated requests, valid and invalid, to every public operation.

The operations come from the stack's OpenAPI document (``docs/openapi.yaml``, the document
``GET /v1/openapi.json`` serves: ``test_openapi.py`` asserts the two are equal). Every check
schemathesis has is on (``not_a_server_error``, status code, content type, response schema and
headers conformance, ``negative_data_rejection``, ``positive_data_acceptance``, ignored auth,
missing required header, unsupported method, ``Allow`` header), positive and negative data.
Generation is derandomized under a fixed seed with a bounded number of examples, so every run
sends the same requests and the whole fuzz stays well under two minutes.

The fuzzer works in a workspace of its own with an admin token. It revokes tokens it finds: when
it revoked the one it authenticates with, the test mints a new one before the next request.

One rule is looser than ``positive_data_acceptance``: a request that fits the document may still
name something that does not exist (a cursor this API never returned, a dataset file missing on
the Hub, a credential the provider refuses). Those refusals are answers about the world, not
about the request's shape, and are accepted only under their own error codes
(``STATE_DEPENDENT_REFUSALS``); any other refusal of schema-valid data fails. Where the document was
looser than the validators, it was tightened instead (``oneOf``, ``dependentRequired``, patterns).

A failure names the operation (``test_fuzz[POST /v1/tokens]``), the check, the answer and the
request as a curl line (credentials shown as ``[Filtered]``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from devstack.inprocess import InProcessStack
from shared import bootstrap
from shared.clock import utcnow
from shared.domain import tokens as token_domain
from shared.domain.tokens import Scope
from shared.services import accounts
from shared.storage.records import TokenRecord

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"

# Bounds: the same requests on every run, and few enough that the fuzz of all public operations
# takes well under two minutes on a loaded 2-core machine.
SEED = 20261201
MAX_EXAMPLES = 10

# Refusals of schema-valid requests that depend on the state of the world or on rules JSON
# Schema cannot state, as (error code, field, words of the message): None matches anything. For
# ``validation_failed`` every error it lists must match one.
STATE_DEPENDENT_REFUSALS = frozenset(
    {
        ("invalid_cursor", None, None),  # opaque: only the cursors this API returned
        ("invalid_after", None, None),  # the same for /v1/models: an id this list answered
        ("endpoint_not_allowed", None, None),  # the egress policy: where the host resolves
        ("endpoint_credentials_in_url", None, None),  # query names that look like a key
        ("dataset_not_found", None, None),  # the dataset URL fits the pattern but names no Hub file
        ("integration_invalid", None, None),  # the provider refused the credential it was given
        ("invalid_expiry", None, None),  # a date-time that fits the format but is already past
        ("invalid_dataset_config", "dataset.end_date", None),  # the same for a dataset's end date
        ("validation_failed", "schedule.cron", None),  # a cron that can fire (not ``0 0 31 2 *``)
        ("validation_failed", "schedule.timezone", None),  # an IANA zone name that exists
        ("validation_failed", "dataset", "is below daily_limit"),  # monthly >= daily
        ("too_many_origins", None, None),  # origins in all lists together (and those stored)
    }
)

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            # The fuzzer authenticates with its own token, not with generated credentials.
            "with-security-parameters": False,
        },
        "operations": [
            {
                # The coverage phase enumerates every alias of every push body shape (over a
                # thousand requests, half the fuzz's time); the fuzzing phase still sends it
                # generated valid and invalid bodies.
                "include-name": "POST /v1/leaderboard/{leaderboard_id}/dataset/push",
                "phases": {"coverage": {"enabled": False}},
            }
        ],
    }
)
SCHEMA = schemathesis.openapi.from_path(DOC_PATH, config=CONFIG).exclude(path_regex="^/internal/")


@dataclass
class FuzzAdmin:
    """The fuzzer's workspace and the admin token it authenticates with."""

    deps: bootstrap.Deps
    base_url: str
    workspace_id: str
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def renew_if_revoked(self) -> None:
        """Mint a new admin token in the fuzz workspace if the fuzzer revoked its own."""
        answer = httpx.get(self.base_url + "/v1/workspace", headers=self.headers, timeout=30)
        if answer.status_code != 401:
            return
        self.token, self.token_id = mint_admin_token(self.deps, self.workspace_id)


def mint_admin_token(deps: bootstrap.Deps, workspace_id: str) -> tuple[str, str]:
    secret = token_domain.generate(token_domain.API_TOKEN_PREFIX)
    record = TokenRecord(
        id="tok_" + uuid.uuid4().hex[:20],
        prefix=token_domain.API_TOKEN_PREFIX,
        last4=secret[-4:],
        created_at=utcnow(),
        kind="api",
        workspace_id=workspace_id,
        name="fuzz admin",
        scopes=[Scope.WORKSPACE_ADMIN.value],
    )
    deps.tokens.create(record, token_hash=token_domain.digest(secret))
    return secret, record.id


@pytest.fixture(scope="module")
def fuzz_admin(stack: InProcessStack, deps: bootstrap.Deps) -> FuzzAdmin:
    made = accounts.bootstrap_workspace(deps, name="fuzz-" + uuid.uuid4().hex[:8], plan="pro")
    return FuzzAdmin(
        deps=deps,
        base_url=stack.base_url,
        workspace_id=made["workspace_id"],
        token=made["token"],
        token_id=made["token_id"],
    )


@pytest.fixture(scope="module", autouse=True)
def quiet_access_log() -> Iterator[None]:
    """One INFO line per request would bury a failure's report; warnings and errors stay."""
    logger = logging.getLogger("drgero.http")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def accepts_schema_valid_data(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, except for ``STATE_DEPENDENT_REFUSALS``."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:
        if is_state_dependent(error_of(response)):
            return None
        raise


def error_of(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def is_state_dependent(error: dict[str, Any]) -> bool:
    code = error.get("code")
    if code == "validation_failed":
        causes = [e for e in error.get("errors") or [] if isinstance(e, dict)]
    else:
        causes = [error]
    return bool(causes) and all(
        any(matches(refusal, code, cause) for refusal in STATE_DEPENDENT_REFUSALS)
        for cause in causes
    )


def matches(refusal: tuple[str, str | None, str | None], code: Any, cause: dict) -> bool:
    want_code, want_field, words = refusal
    return (
        code == want_code
        and want_field in (None, cause.get("field"))
        and (words is None or words in str(cause.get("message", "")))
    )


def test_the_fuzzer_recovers_from_revoking_its_own_token(fuzz_admin: FuzzAdmin) -> None:
    revoked = fuzz_admin.token
    answer = httpx.delete(
        f"{fuzz_admin.base_url}/v1/tokens/{fuzz_admin.token_id}",
        headers=fuzz_admin.headers,
        timeout=30,
    )
    # 204, or 409 once the workspace's last admin token cannot be revoked: either way the
    # fuzzer still holds a working admin token afterwards.
    assert answer.status_code in (204, 409), answer.text
    fuzz_admin.renew_if_revoked()
    assert (fuzz_admin.token != revoked) == (answer.status_code == 204)
    me = httpx.get(f"{fuzz_admin.base_url}/v1/workspace", headers=fuzz_admin.headers, timeout=30)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == fuzz_admin.workspace_id


@SCHEMA.parametrize()
def test_fuzz(case: schemathesis.Case, fuzz_admin: FuzzAdmin) -> None:
    try:
        case.call_and_validate(
            base_url=fuzz_admin.base_url,
            headers=fuzz_admin.headers,
            excluded_checks=[positive_data_acceptance],
            additional_checks=[accepts_schema_valid_data],
        )
    finally:
        if case.method.upper() == "DELETE" and case.path == "/v1/tokens/{token_id}":
            fuzz_admin.renew_if_revoked()
