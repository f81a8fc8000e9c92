"""Dataset downloads: lists carry our download endpoint, never a signed URL; the endpoint signs
on demand, with a short lifetime (``download_url_ttl_seconds``)."""

from __future__ import annotations

import dataclasses
import hashlib
import urllib.parse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud import storage
from google.oauth2 import service_account

from shared.services import leaderboards
from shared.services.auth import authenticate
from shared.storage.datasets import DatasetStore
from tests.errors import assert_error


def _consolidated(api) -> str:
    lb = api.create_push_leaderboard()
    assert api.push(lb, [{"input": f"q{i}", "output": "a"} for i in range(4)]).status_code == 200
    assert api.post(f"/v1/leaderboard/{lb}/dataset/consolidate").status_code == 200
    return lb


def test_the_download_url_is_our_endpoint_and_dies_with_the_token(workspace, deps):
    api = workspace.api
    lb = _consolidated(api)
    reader = api.post("/v1/tokens", json={"name": "r", "scopes": ["leaderboards:read"]}).json()
    as_reader = api.as_token(reader["token"])
    base = deps.settings.public_base_url.rstrip("/")
    expected = f"{base}/v1/leaderboard/{lb}/dataset/download"
    for current in (
        as_reader.get(f"/v1/leaderboard/{lb}").json()["dataset"]["current"],
        next(i for i in as_reader.get("/v1/leaderboards").json()["items"] if i["id"] == lb)[
            "dataset"
        ]["current"],
        as_reader.get(f"/v1/leaderboard/{lb}/dataset/status").json()["dataset"],
    ):
        assert current["download_url"] == expected
        assert current["download_url_expires_at"] is None
        assert current["download_path"] == f"/v1/leaderboard/{lb}/dataset/download"
    data = as_reader.get(expected.removeprefix(base))
    assert data.status_code == 200
    assert hashlib.sha256(data.content).hexdigest() == current["sha256"]
    assert api.delete(f"/v1/tokens/{reader['id']}").status_code == 204
    assert_error(as_reader.get(expected.removeprefix(base)), 401, "token_revoked")


def test_without_signing_credentials_a_signed_redirect_serves_the_bytes(workspace):
    api = workspace.api
    lb = _consolidated(api)
    response = api.get(f"/v1/leaderboard/{lb}/dataset/download", params={"redirect": "signed"})
    assert response.status_code == 200  # the emulator's credentials cannot sign
    assert response.headers["X-DrGero-Dataset-Version"] == "1"
    bad = api.get(f"/v1/leaderboard/{lb}/dataset/download", params={"redirect": "yes"})
    assert_error(bad, 400, "invalid_parameter")


def _signing_store(bucket: str) -> DatasetStore:
    """The real storage client with a service-account key of its own: it signs locally."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    credentials = service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "client_email": "datasets@drgero-local.iam.gserviceaccount.com",
            "private_key": pem,
            "private_key_id": "k1",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )
    return DatasetStore(storage.Client(project="drgero-local", credentials=credentials), bucket)


def test_the_endpoint_signs_on_demand_for_a_short_time(workspace, deps):
    api = workspace.api
    lb = _consolidated(api)
    signing = dataclasses.replace(deps, datasets=_signing_store(deps.settings.bucket))
    principal = authenticate(deps, workspace.token)
    download = leaderboards.download_dataset(signing, principal, lb, signed=True)
    assert download.redirect is not None and download.chunks is None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(download.redirect).query)
    assert query["X-Goog-Expires"] == [str(deps.settings.download_url_ttl_seconds)] == ["300"]
    # Listing the leaderboard signs nothing, even with credentials that can.
    listed = leaderboards.list_leaderboards(signing, principal, limit=50, cursor=None)
    current = next(i for i in listed["items"] if i["id"] == lb)["dataset"]["current"]
    assert "X-Goog-Signature" not in str(current)
