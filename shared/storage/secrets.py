"""Provider credentials of a workspace, encrypted at rest.

``workspaces/{id}/secrets/{name}`` holds a Fernet token (AES-128-CBC + HMAC-SHA256) of the
secret and its last four characters for masked display. The keys come from the
``DRGERO_SECRETS_KEY`` setting (Secret Manager in production), never from Firestore, so a
database export alone reveals nothing. Plaintext leaves this module only to call a provider.

Rotation (``MultiFernet``): the setting is a comma-separated list; the first key encrypts,
every key decrypts. Put a new key first, deploy, run ``drgero secrets
re-encrypt`` (:meth:`SecretStore.reencrypt_page`, page by page, idempotent), then remove the
old key.

Names: ``integration:openrouter``, ``integration:huggingface``, ``model:{model_id}`` (the token
of a custom or Hugging Face endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from google.api_core import exceptions as gexc
from google.cloud import firestore
from pydantic import SecretStr

from shared.clock import utcnow
from shared.errors import Unavailable
from shared.settings import secrets_keys


@dataclass(frozen=True)
class StoredSecret:
    name: str
    last4: str
    updated_at: datetime
    validated_at: datetime | None = None
    valid: bool | None = None
    detail: str | None = None


@dataclass
class Reencrypted:
    """What one page of :meth:`SecretStore.reencrypt_page` did."""

    re_encrypted: int = 0
    current: int = 0  # already under the first key (or rewritten meanwhile by a put)
    unreadable: list[str] = field(default_factory=list)  # "workspace/name": no key reads it

    @property
    def seen(self) -> int:
        return self.re_encrypted + self.current + len(self.unreadable)


class SecretStore:
    def __init__(self, db: firestore.Client, key: str | None) -> None:
        """``key``: one Fernet key, or several comma-separated, the encrypting one first."""
        self._db = db
        keys = [Fernet(k.encode()) for k in secrets_keys(SecretStr(key))] if key else []
        self._primary = keys[0] if keys else None
        self._fernet = MultiFernet(keys) if keys else None

    def _ref(self, workspace_id: str, name: str) -> firestore.DocumentReference:
        return (
            self._db.collection("workspaces")
            .document(workspace_id)
            .collection("secrets")
            .document(name)
        )

    def _box(self) -> MultiFernet:
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

    def reencrypt_page(
        self, *, workspace_id: str | None, limit: int, after: Any = None
    ) -> tuple[Reencrypted, Any]:
        """Re-encrypt up to ``limit`` stored secrets with the first key; answers what it did
        and the cursor of the next page (None at the end).

        Every workspace's secrets (a collection-group query), or one workspace's. A secret the
        first key already reads is left as it is, so a rerun rewrites nothing. Each rewrite is
        conditioned on the document's ``update_time``: a secret saved meanwhile is not
        overwritten with the older plaintext."""
        box = self._box()
        assert self._primary is not None
        query: Any = (
            self._db.collection("workspaces").document(workspace_id).collection("secrets")
            if workspace_id is not None
            else self._db.collection_group("secrets")
        )
        query = query.order_by("__name__").limit(limit)
        if after is not None:
            query = query.start_after(after)
        done = Reencrypted()
        last = None
        for snap in query.stream():
            last = snap
            ciphertext = (snap.to_dict() or {}).get("ciphertext") or b""
            label = f"{snap.reference.parent.parent.id}/{snap.id}"
            try:
                self._primary.decrypt(ciphertext)
                done.current += 1
                continue
            except (InvalidToken, TypeError):
                pass
            try:
                rotated = box.rotate(ciphertext)
            except (InvalidToken, TypeError):
                done.unreadable.append(label)
                continue
            try:
                snap.reference.update(
                    {"ciphertext": rotated},
                    option=self._db.write_option(last_update_time=snap.update_time),
                )
                done.re_encrypted += 1
            except (gexc.FailedPrecondition, gexc.NotFound):
                done.current += 1  # rewritten (with the first key) or deleted meanwhile
        return done, (last if last is not None and done.seen == limit else None)
