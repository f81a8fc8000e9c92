"""Rotating DRGERO_SECRETS_KEY: the new key first, old keys still read, one re-encrypt step."""

from __future__ import annotations

import dataclasses
import uuid

from cryptography.fernet import Fernet

from cli import main as cli
from shared.services.integrations import reencrypt_secrets
from shared.storage.secrets import SecretStore


def _ciphertext(deps, workspace_id: str, name: str) -> bytes:
    ref = deps.db.collection("workspaces").document(workspace_id).collection("secrets")
    return ref.document(name).get().get("ciphertext")


def test_a_rotated_key_reads_old_secrets_and_re_encrypt_moves_them_to_the_new_key(deps):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    workspace = "ws_rot_" + uuid.uuid4().hex
    before = SecretStore(deps.db, old)
    names = [f"integration:{i}" for i in range(5)]
    for i, name in enumerate(names):
        before.put(workspace, name, f"sk-secret-{i}-abcd")

    rotated = SecretStore(deps.db, f"{new},{old}")
    assert [rotated.reveal(workspace, name) for name in names] == [
        f"sk-secret-{i}-abcd" for i in range(5)
    ]
    rotated.put(workspace, "integration:fresh", "sk-fresh-wxyz")  # the first key encrypts
    assert SecretStore(deps.db, new).reveal(workspace, "integration:fresh") == "sk-fresh-wxyz"

    ops = dataclasses.replace(deps, secrets=rotated)
    first = reencrypt_secrets(ops, page_size=2, workspace_id=workspace)
    assert first == {"re_encrypted": 5, "current": 1, "unreadable": 0, "unreadable_names": []}
    only_new = SecretStore(deps.db, new)  # the old key can now be dropped
    assert [only_new.reveal(workspace, name) for name in names] == [
        f"sk-secret-{i}-abcd" for i in range(5)
    ]
    stored = {name: _ciphertext(deps, workspace, name) for name in names}
    again = reencrypt_secrets(ops, page_size=2, workspace_id=workspace)  # idempotent
    assert again == {"re_encrypted": 0, "current": 6, "unreadable": 0, "unreadable_names": []}
    assert {name: _ciphertext(deps, workspace, name) for name in names} == stored


def test_a_secret_no_configured_key_reads_is_reported_and_left_alone(deps):
    workspace = "ws_rot_" + uuid.uuid4().hex
    SecretStore(deps.db, Fernet.generate_key().decode()).put(workspace, "model:m1", "tok-1234")
    untouched = _ciphertext(deps, workspace, "model:m1")
    ops = dataclasses.replace(deps, secrets=SecretStore(deps.db, Fernet.generate_key().decode()))
    result = reencrypt_secrets(ops, page_size=10, workspace_id=workspace)
    assert result["unreadable"] == 1
    assert result["unreadable_names"] == [f"{workspace}/model:m1"]
    assert _ciphertext(deps, workspace, "model:m1") == untouched


def test_the_cli_re_encrypts_with_the_configured_keys(deps, capsys):
    """``drgero secrets re-encrypt`` runs the same step with the deployment's
    keys; here they are the stack's own key, so a secret it wrote is already current."""
    workspace = "ws_rot_" + uuid.uuid4().hex
    deps.secrets.put(workspace, "integration:openrouter", "sk-or-cli-0000")
    status = cli.main(["secrets", "re-encrypt", "--workspace", workspace, "--page-size", "50"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert '"current": 1' in out and '"re_encrypted": 0' in out
