"""The private functions (worker, jobs) accept only Google-signed ID tokens of their invokers.

The functions run as production configures them, in their own process (the real dispatcher,
one functions-framework app per function, on the session's emulators but a project of their
own, so that their jobs touch nobody's data): base URL with ``{function}``, no local token
stand-in, invokers and certs URL set. The certs endpoint is the test's own; every token here is
signed by the test's keys (or by none) and sent over HTTP to the function's real path.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.inprocess import InProcessStack
from devstack.ports import free_port, wait_until
from devstack.processes import ManagedProcess
from tests.oidc_support import CertsServer, SigningKey, claims, unsigned

BASE = "https://drgero-{function}-123456789.europe-west1.run.app"
WORKER_URL = BASE.format(function="worker")
JOBS_URL = BASE.format(function="jobs")
TASKS = "drgero-tasks@drgero-test.iam.gserviceaccount.com"
SCHEDULER = "drgero-scheduler@drgero-test.iam.gserviceaccount.com"
REFETCH_SECONDS = 2.0
CONSOLIDATE = "/internal/tasks/consolidate"
WATCHDOG = "/internal/jobs/runs-watchdog"


@dataclass
class PrivateFunctions:
    base_url: str  # where the process listens (the tokens name the run.app URLs)
    certs: CertsServer
    key: SigningKey

    def post(self, path: str, token: str | None, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        body = {"leaderboard_id": "lb-" + uuid.uuid4().hex}  # none exists: nothing is done
        return httpx.post(self.base_url + path, json=body, headers=headers, timeout=30, **kw)

    def worker_token(self, **changes: object) -> str:
        return self.key.token(claims(audience=WORKER_URL, email=TASKS) | changes)


@pytest.fixture(scope="module")
def private(
    stack: InProcessStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateFunctions]:
    key = SigningKey()
    certs = CertsServer(key, max_age=3600)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRGERO_")}
    env |= {k: v for k, v in stack.env.items() if not k.startswith("DRGERO_")}
    env |= {
        "DRGERO_PROJECT_ID": "drgero-oidc-" + uuid.uuid4().hex[:8],
        "DRGERO_INTERNAL_BASE_URL": BASE,
        "DRGERO_INTERNAL_INVOKERS": f"{TASKS},{SCHEDULER}",
        "DRGERO_OIDC_CERTS_URL": certs.url,
        "DRGERO_OIDC_CERTS_MIN_REFETCH_SECONDS": str(REFETCH_SECONDS),
        "DRGERO_EGRESS_ALLOW_CIDRS": stack.env["DRGERO_EGRESS_ALLOW_CIDRS"],
    }
    program = (
        "import sys\n"
        "from devstack.dispatcher import build_app, serve\n"
        "server, thread = serve(build_app(), port=int(sys.argv[1]))\n"
        "thread.join()\n"
    )
    process = ManagedProcess(
        name="private functions",
        argv=[sys.executable, "-c", program, str(port)],
        log_path=Path(tmp_path_factory.mktemp("private")) / "functions.log",
        env=env,
    )
    process.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until(lambda: _healthy(base_url), timeout=60):
            raise RuntimeError(f"the private functions did not start:\n{process.log_tail()}")
        yield PrivateFunctions(base_url=base_url, certs=certs, key=key)
    finally:
        process.stop()
        certs.stop()


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(base_url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def refusal(response: httpx.Response, status: int = 401) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == ("invalid_internal_token" if status == 401 else error["code"])
    return str(error["message"])


def test_a_token_of_an_invoker_for_this_function_is_accepted(private):
    answer = private.post(CONSOLIDATE, private.worker_token())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "dropped", "reason": "leaderboard_not_found"}
    scheduled = private.post(
        WATCHDOG, private.key.token(claims(audience=JOBS_URL, email=SCHEDULER))
    )
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["failed"] == []


def test_the_issuer_without_scheme_is_accepted_too(private):
    token = private.worker_token(iss="accounts.google.com")
    assert private.post(CONSOLIDATE, token).status_code == 200


def test_no_token_is_refused(private):
    for path in (CONSOLIDATE, WATCHDOG, "/internal/tasks/prepare-run"):
        assert "Authorization: Bearer" in refusal(private.post(path, None))
    basic = httpx.post(
        private.base_url + CONSOLIDATE, headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert "Authorization: Bearer" in refusal(basic)


def test_a_token_for_another_audience_is_refused(private):
    # A token Cloud Scheduler minted for the jobs function does not open the worker, nor does
    # one minted for the load balancer's URL.
    for audience in (JOBS_URL, "https://api.drgero.example", WORKER_URL + "/"):
        token = private.key.token(claims(audience=audience, email=TASKS))
        message = refusal(private.post(CONSOLIDATE, token))
        assert message == f"the token's audience is not this function's URL ({WORKER_URL})"


def test_a_token_of_another_account_is_refused(private):
    token = private.worker_token(email="intruder@evil.iam.gserviceaccount.com")
    message = refusal(private.post(CONSOLIDATE, token))
    assert "'intruder@evil.iam.gserviceaccount.com' is not an invoker" in message
    assert "DRGERO_INTERNAL_INVOKERS" in message
    no_email = private.key.token({k: v for k, v in claims(audience=WORKER_URL, email=TASKS).items()
                                  if k != "email"})  # fmt: skip
    assert "(none) is not an invoker" in refusal(private.post(CONSOLIDATE, no_email))


def test_an_unverified_email_is_refused(private):
    for value in (False, "true", None):
        message = refusal(private.post(CONSOLIDATE, private.worker_token(email_verified=value)))
        assert message == "the token's email is not verified (email_verified is not true)"


def test_an_expired_token_is_refused(private):
    now = int(time.time())
    token = private.worker_token(iat=now - 7200, exp=now - 3600)
    assert refusal(private.post(CONSOLIDATE, token)) == "the token has expired"


def test_a_token_from_the_future_is_refused(private):
    now = int(time.time())
    token = private.worker_token(iat=now + 600, exp=now + 4200)
    assert refusal(private.post(CONSOLIDATE, token)) == "the token is issued in the future (iat)"


def test_a_token_of_another_issuer_is_refused(private):
    message = refusal(private.post(CONSOLIDATE, private.worker_token(iss="https://evil.example")))
    assert (
        message == "the token's issuer 'https://evil.example' is not accepted (DRGERO_OIDC_ISSUERS)"
    )


def test_an_unsigned_token_is_refused(private):
    payload = claims(audience=WORKER_URL, email=TASKS)
    message = refusal(private.post(CONSOLIDATE, unsigned(payload, key_id=private.key.key_id)))
    assert message == "the token's algorithm 'none' is not RS256 (unsigned tokens are refused)"
    # A valid token with its signature cut off.
    head, body, _ = private.worker_token().split(".")
    stripped = refusal(private.post(CONSOLIDATE, f"{head}.{body}."))
    assert stripped == "the token's signature does not verify"


def test_a_token_signed_by_another_key_is_refused(private):
    forger = SigningKey()
    # It claims the published key's id, so the published certificate is checked.
    forged = forger.token(claims(audience=WORKER_URL, email=TASKS), key_id=private.key.key_id)
    assert refusal(private.post(CONSOLIDATE, forged)) == "the token's signature does not verify"
    # Under its own id it names a key Google does not publish.
    own = forger.token(claims(audience=WORKER_URL, email=TASKS))
    assert "a key Google does not publish" in refusal(private.post(CONSOLIDATE, own))


def test_a_tampered_token_is_refused(private):
    head, _, signature = private.worker_token().split(".")
    other = private.worker_token(email=SCHEDULER).split(".")[1]
    assert refusal(private.post(CONSOLIDATE, f"{head}.{other}.{signature}")) == (
        "the token's signature does not verify"
    )


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "....", "e30.e30.e30"])
def test_garbage_is_refused_without_being_echoed(private, garbage):
    message = refusal(private.post(CONSOLIDATE, garbage))
    assert garbage not in message


def test_refusals_never_echo_the_token(private):
    for token in (
        private.worker_token(email="x@evil.example"),
        private.worker_token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
        private.key.token(claims(audience=JOBS_URL, email=TASKS)),
    ):
        response = private.post(CONSOLIDATE, token)
        assert response.status_code == 401
        assert token not in response.text
        assert token.split(".")[1] not in response.text


def test_rotated_keys_are_fetched_and_unknown_ones_do_not_flood_google(private):
    strangers = [SigningKey() for _ in range(5)]  # made first: a key takes a while to make
    tokens = [key.token(claims(audience=WORKER_URL, email=TASKS)) for key in strangers]
    rotated = SigningKey()
    time.sleep(REFETCH_SECONDS)  # whatever earlier tests fetched is older than the interval
    before = private.certs.hits
    for token in tokens:
        assert "a key Google does not publish" in refusal(private.post(CONSOLIDATE, token))
    assert private.certs.hits == before + 1  # one refetch for five unknown key ids
    private.certs.serve(private.key, rotated)
    time.sleep(REFETCH_SECONDS)
    token = rotated.token(claims(audience=WORKER_URL, email=TASKS))
    assert private.post(CONSOLIDATE, token).status_code == 200
    assert private.certs.hits == before + 2
    assert private.post(CONSOLIDATE, private.worker_token()).status_code == 200  # still valid
