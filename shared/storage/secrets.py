"""Provider credentials of a workspace, encrypted at rest.

``workspaces/{id}/secrets/{name}`` holds a Fernet token (AES-128-CBC + HMAC-SHA256) of the
secret and its last four characters for masked display. The key comes from the
``DRGERO_SECRETS_KEY`` setting (Secret Manager in production), never from Firestore, so a
database export alone reveals nothing. Plaintext leaves this module only to call a provider.

Names: ``integration:openrouter``, ``integration:huggingface``, ``model:{model_id}`` (the token
of a custom or Hugging Face endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from google.cloud import firestore

from shared.clock import utcnow
from shared.errors import Unavailable


@dataclass(frozen=True)
class StoredSecret:
    name: str
    last4: str
    updated_at: datetime
    validated_at: datetime | None = None
    valid: bool | None = None
    detail: str | None = None


class SecretStore:
    def __init__(self, db: firestore.Client, key: str | None) -> None:
        self._db = db
        self._fernet = Fernet(key.encode()) if key else None

    def _ref(self, workspace_id: str, name: str) -> firestore.DocumentReference:
        return (
            self._db.collection("workspaces")
            .document(workspace_id)
            .collection("secrets")
            .document(name)
        )

    def _box(self) -> Fernet:
        if self._fernet is None:
            raise Unavailable(
                "secret storage is not configured: set DRGERO_SECRETS_KEY",
                code="secrets_unconfigured",
            )
        return self._fernet

    def put(self, workspace_id: str, name: str, plaintext: str) -> StoredSecret:
        now = utcnow()
        body = {
            "ciphertext": self._box().encrypt(plaintext.encode()),
            "last4": plaintext[-4:],
            "updated_at": now,
            "validated_at": None,
            "valid": None,
            "detail": None,
        }
        self._ref(workspace_id, name).set(body)
        return StoredSecret(name=name, last4=body["last4"], updated_at=now)  # type: ignore[arg-type]

    def reveal(self, workspace_id: str, name: str) -> str | None:
        snap = self._ref(workspace_id, name).get()
        if not snap.exists:
            return None
        try:
            return self._box().decrypt(snap.get("ciphertext")).decode()
        except InvalidToken as exc:
            raise Unavailable(
                f"the stored secret {name!r} cannot be decrypted with the current key",
                code="secret_unreadable",
            ) from exc

    def describe(self, workspace_id: str, names: list[str]) -> dict[str, StoredSecret | None]:
        refs = [self._ref(workspace_id, name) for name in names]
        found = {snap.id: snap for snap in self._db.get_all(refs) if snap.exists}
        out: dict[str, StoredSecret | None] = {}
        for name in names:
            snap = found.get(name)
            out[name] = (
                StoredSecret(
                    name=name,
                    last4=snap.get("last4"),
                    updated_at=snap.get("updated_at"),
                    validated_at=snap.get("validated_at"),
                    valid=snap.get("valid"),
                    detail=snap.get("detail"),
                )
                if snap is not None
                else None
            )
        return out

    def record_validation(self, workspace_id: str, name: str, *, valid: bool, detail: str) -> None:
        self._ref(workspace_id, name).update(
            {"validated_at": utcnow(), "valid": valid, "detail": detail}
        )

    def delete(self, workspace_id: str, name: str) -> None:
        self._ref(workspace_id, name).delete()
