"""Firestore repositories for workspaces and tokens.

Tokens live in ``tokens/{sha256(token)}`` so that authenticating is one document read by key.
The public token id is a separate field used to list and revoke.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from google.cloud import firestore

from shared.clock import utcnow
from shared.storage.ids import is_storable_id
from shared.storage.pagination import Page, fetch_page
from shared.storage.records import TokenRecord, WorkspaceRecord
from shared.storage.unit_of_work import UnitOfWork
from shared.storage.writebehind import WriteBehind

WORKSPACES = "workspaces"
TOKENS = "tokens"


class WorkspaceRepo:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def create(self, record: WorkspaceRecord) -> None:
        self._db.collection(WORKSPACES).document(record.id).create(record.model_dump())

    def get(self, workspace_id: str) -> WorkspaceRecord | None:
        snap = self._db.collection(WORKSPACES).document(workspace_id).get()
        return WorkspaceRecord.model_validate(snap.to_dict()) if snap.exists else None

    def add_leaderboards(self, workspace_id: str, n: int) -> int:
        """Atomically add ``n`` (may be negative) to the leaderboard count; answer the new count.

        Creating reserves a slot first and gives it back when over the plan's maximum: the
        same lock-free reservation as the push quota (see ``shared.domain.quota``)."""
        ref = self._db.collection(WORKSPACES).document(workspace_id)
        result = ref.update({"leaderboard_count": firestore.Increment(n)})
        return int(result.transform_results[0].integer_value)


class TokenRepo:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def ref(self, token_hash: str) -> firestore.DocumentReference:
        return self._db.collection(TOKENS).document(token_hash)

    def create(self, record: TokenRecord, *, token_hash: str) -> None:
        self.ref(token_hash).create(record.model_dump())

    def charge(
        self, token_hash: str, cost_usd: float, *, via: UnitOfWork | WriteBehind | None = None
    ) -> None:
        """Add ``cost_usd`` to the token's spend: now, atomically, or staged ``via`` a unit of
        work (committed with it) or the write-behind queue (committed soon, batched)."""
        spent = {"spend_usd": firestore.Increment(cost_usd)}
        if via is None:
            self.ref(token_hash).update(spent)
        elif isinstance(via, UnitOfWork):
            via.update(self.ref(token_hash), spent)
        else:
            via.increment(self.ref(token_hash), "spend_usd", cost_usd)

    @staticmethod
    def from_snapshot(snap: firestore.DocumentSnapshot) -> TokenRecord | None:
        return TokenRecord.model_validate(snap.to_dict()) if snap.exists else None

    def get(self, token_hash: str) -> TokenRecord | None:
        return self.from_snapshot(self.ref(token_hash).get())

    def find(
        self, *, workspace_id: str, token_id: str
    ) -> tuple[firestore.DocumentReference, TokenRecord] | None:
        if not is_storable_id(token_id):
            return None
        query = (
            self._db.collection(TOKENS)
            .where(filter=firestore.FieldFilter("id", "==", token_id))
            .where(filter=firestore.FieldFilter("workspace_id", "==", workspace_id))
            .limit(1)
        )
        for snap in query.stream():
            return snap.reference, TokenRecord.model_validate(snap.to_dict())
        return None

    def revoke(self, ref: firestore.DocumentReference) -> None:
        ref.update({"revoked_at": utcnow()})

    def revoke_unless_last(
        self,
        ref: firestore.DocumentReference,
        *,
        workspace_id: str,
        counts: Callable[[TokenRecord, datetime], bool],
    ) -> bool:
        """Revoke ``ref`` only if another unrevoked API token of the workspace ``counts``
        (is an admin credential, at the time given); answer whether it was revoked.

        One transaction reads the workspace document and the workspace's unrevoked API
        tokens, and writes the revoke and the workspace document (``admin_revocations``).
        Two such revokes at once (the last two admins revoking each other) therefore
        conflict on the workspace document: one commits, the other is retried by the
        client library and then sees the first one's revoke. Only revokes go through this
        path; creating tokens never blocks on it. The workspace document is not hot
        (it changes when leaderboards are created or deleted), so the transaction is cheap.
        """
        workspace_ref = self._db.collection(WORKSPACES).document(workspace_id)
        query = (
            self._db.collection(TOKENS)
            .where(filter=firestore.FieldFilter("workspace_id", "==", workspace_id))
            .where(filter=firestore.FieldFilter("kind", "==", "api"))
            .where(filter=firestore.FieldFilter("revoked_at", "==", None))
        )

        @firestore.transactional
        def attempt(transaction: firestore.Transaction) -> bool:
            transaction.get(workspace_ref)
            now = utcnow()
            others = [
                TokenRecord.model_validate(snap.to_dict())
                for snap in transaction.get(query)
                if snap.reference.path != ref.path
            ]
            if not any(counts(record, now) for record in others):
                return False
            transaction.update(ref, {"revoked_at": now})
            transaction.set(
                workspace_ref, {"admin_revocations": firestore.Increment(1)}, merge=True
            )
            return True

        return bool(attempt(self._db.transaction()))

    def list_page(
        self,
        *,
        workspace_id: str,
        kind: str,
        leaderboard_id: str | None = None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[TokenRecord], str | None]:
        query = self._db.collection(TOKENS).where(
            filter=firestore.FieldFilter("workspace_id", "==", workspace_id)
        )
        query = query.where(filter=firestore.FieldFilter("kind", "==", kind))
        if leaderboard_id is not None:
            query = query.where(
                filter=firestore.FieldFilter("leaderboard_id", "==", leaderboard_id)
            )
        page: Page = fetch_page(query, limit=limit, cursor=cursor)
        return [TokenRecord.model_validate(item) for item in page.items], page.next_cursor
