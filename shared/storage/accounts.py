"""Firestore repositories for workspaces and tokens.

Tokens live in ``tokens/{sha256(token)}`` so that authenticating is one document read by key.
The public token id is a separate field used to list and revoke.
"""

from __future__ import annotations

from google.cloud import firestore

from shared.clock import utcnow
from shared.storage.ids import is_storable_id
from shared.storage.pagination import Page, fetch_page
from shared.storage.records import TokenRecord, WorkspaceRecord

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
