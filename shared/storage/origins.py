"""Firestore state of browser origins (CORS).

``workspaces/{id}``: ``allowed_origins`` and ``push_origins`` (per leaderboard), what the admin
set. ``origins/{sha256(origin)}``: the same grants indexed by origin, ``{"origin",
"workspaces": [ids], "leaderboards": [ids]}``, because a preflight carries no token: all it
has is the origin and the path, and this one read answers whether any workspace allows it.

Both are written in one transaction (:meth:`OriginRepo.replace`), so the index never grants
what the workspace's settings do not say.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.cloud import firestore

from shared.storage.records import WorkspaceRecord

ORIGINS = "origins"
WORKSPACES = "workspaces"


@dataclass(frozen=True)
class OriginGrant:
    """Who allows one origin: workspaces (every endpoint) and leaderboards (their push only)."""

    origin: str
    workspaces: frozenset[str]
    leaderboards: frozenset[str]


class OriginRepo:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _ref(self, origin: str) -> firestore.DocumentReference:
        return self._db.collection(ORIGINS).document(hashlib.sha256(origin.encode()).hexdigest())

    def get(self, origin: str) -> OriginGrant | None:
        snap = self._ref(origin).get()
        if not snap.exists:
            return None
        data = snap.to_dict() or {}
        grant = OriginGrant(
            origin=origin,
            workspaces=frozenset(data.get("workspaces") or ()),
            leaderboards=frozenset(data.get("leaderboards") or ()),
        )
        return grant if grant.workspaces or grant.leaderboards else None

    def replace(
        self,
        workspace_id: str,
        *,
        allowed: list[str] | None = None,
        push: dict[str, list[str]] | None = None,
        forget_leaderboard: str | None = None,
    ) -> WorkspaceRecord | None:
        """Set the workspace's origins (``None``: keep that list as it is) and re-index them;
        ``forget_leaderboard`` drops that leaderboard's ``push_origins`` (it is deleted).

        The previous grants are read in the same transaction, so two concurrent updates cannot
        leave an origin indexed that neither one's settings hold. Returns the updated
        workspace, or None when it does not exist.
        """
        ref = self._db.collection(WORKSPACES).document(workspace_id)

        @firestore.transactional
        def apply(transaction: firestore.Transaction) -> WorkspaceRecord | None:
            snap = ref.get(transaction=transaction)
            if not snap.exists:
                return None
            before = WorkspaceRecord.model_validate(snap.to_dict())
            after = before.model_copy(
                update={
                    "allowed_origins": before.allowed_origins if allowed is None else allowed,
                    "push_origins": {
                        leaderboard_id: origins
                        for leaderboard_id, origins in (
                            before.push_origins if push is None else push
                        ).items()
                        if leaderboard_id != forget_leaderboard
                    },
                }
            )
            old, new = _grants(workspace_id, before), _grants(workspace_id, after)
            touched = sorted({origin for origin, _, _ in old ^ new})
            refs = [self._ref(origin) for origin in touched]
            current = {  # (no read when nothing changes: a get of no documents is an error)
                snap.id: snap.to_dict() or {}
                for snap in (self._db.get_all(refs, transaction=transaction) if refs else ())
                if snap.exists
            }
            for origin, origin_ref in zip(touched, refs, strict=True):
                entry = current.get(origin_ref.id, {})
                fields: dict[str, object] = {"origin": origin}
                for field in ("workspaces", "leaderboards"):
                    ids = set(entry.get(field) or ())
                    ids -= {grantee for o, f, grantee in old - new if (o, f) == (origin, field)}
                    ids |= {grantee for o, f, grantee in new - old if (o, f) == (origin, field)}
                    fields[field] = sorted(ids)
                transaction.set(origin_ref, fields)
            transaction.update(
                ref,
                {"allowed_origins": after.allowed_origins, "push_origins": after.push_origins},
            )
            return after

        result: WorkspaceRecord | None = apply(self._db.transaction())
        return result


def _grants(workspace_id: str, record: WorkspaceRecord) -> set[tuple[str, str, str]]:
    """(origin, field, id) for every grant a workspace's settings make."""
    grants = {(origin, "workspaces", workspace_id) for origin in record.allowed_origins}
    for leaderboard_id, origins in record.push_origins.items():
        grants |= {(origin, "leaderboards", leaderboard_id) for origin in origins}
    return grants
