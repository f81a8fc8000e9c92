"""The unit of work on the Firestore emulator: all of its writes land, or none (WriteConflict)."""

from __future__ import annotations

import uuid

import pytest

from shared.clock import utcnow
from shared.storage import idempotency
from shared.storage.records import TokenRecord
from shared.storage.unit_of_work import UnitOfWork, WriteConflict


@pytest.fixture
def collection(deps):
    return deps.db.collection("unit-of-work-test-" + uuid.uuid4().hex[:8])


def test_staged_writes_land_together_at_commit(deps, collection) -> None:
    existing, gone = collection.document("existing"), collection.document("gone")
    existing.set({"n": 1, "name": "a"})
    gone.set({"n": 0})
    work = UnitOfWork(deps.db)
    work.create(collection.document("new"), {"n": 5})
    work.set(collection.document("merged"), {"a": 1}, merge=True)
    work.update(existing, {"name": "b"})
    added = work.increment(existing, {"n": 2})
    work.delete(gone)
    assert collection.document("new").get().exists is False  # nothing before the commit
    committed = work.commit()
    assert committed.totals(added) == {"n": 3}  # the new value, as the commit answered it
    assert existing.get().to_dict() == {"n": 3, "name": "b"}
    assert collection.document("new").get().to_dict() == {"n": 5}
    assert collection.document("merged").get().to_dict() == {"a": 1}
    assert gone.get().exists is False


def test_a_stale_precondition_is_a_write_conflict_and_nothing_is_written(deps, collection) -> None:
    fenced = collection.document("fenced")
    first = fenced.set({"n": 1}).update_time
    fenced.update({"n": 2})  # another writer, after our read
    work = UnitOfWork(deps.db)
    work.create(collection.document("other"), {"n": 1})
    work.update(fenced, {"n": 10}, if_unchanged_since=first)
    with pytest.raises(WriteConflict):
        work.commit()
    assert fenced.get().to_dict() == {"n": 2}
    assert collection.document("other").get().exists is False


def test_an_answer_staged_after_its_claim_was_taken_over_conflicts(deps) -> None:
    leaderboard_id = "lb_uow_" + uuid.uuid4().hex[:8]
    ref = idempotency.token_record_ref(deps.db, leaderboard_id, token_hash="h", key="k")
    assert ref.path == idempotency.record_ref(deps.db, leaderboard_id, "h:k").path
    owned = idempotency.claim(ref, request_hash="r", lease_seconds=0, ttl_hours=1)
    assert isinstance(owned, idempotency.Owned)
    taken = idempotency.claim(ref, request_hash="r", lease_seconds=60, ttl_hours=1)
    assert isinstance(taken, idempotency.Owned)  # the lease expired: another request owns it
    work = UnitOfWork(deps.db)
    assert idempotency.stage_answer(work, owned, status=200, body={"body": {}, "headers": {}})
    with pytest.raises(WriteConflict):
        work.commit()
    assert idempotency.peek(ref) is not None
    assert idempotency.peek(ref).replay is None  # still the new owner's, in progress


def test_a_token_is_charged_now_or_with_its_unit_of_work(deps, workspace) -> None:
    token_hash = "uow-" + uuid.uuid4().hex
    deps.tokens.create(
        TokenRecord(
            id="tok_" + uuid.uuid4().hex[:12],
            workspace_id=workspace.id,
            kind="api",
            name="charged",
            scopes=["inference"],
            prefix="drgero_",
            last4="abcd",
            created_at=utcnow(),
        ),
        token_hash=token_hash,
    )
    try:
        deps.tokens.charge(token_hash, 0.25)
        work = UnitOfWork(deps.db)
        deps.tokens.charge(token_hash, 0.5, via=work)
        assert deps.tokens.get(token_hash).spend_usd == pytest.approx(0.25)
        work.commit()
        assert deps.tokens.get(token_hash).spend_usd == pytest.approx(0.75)
    finally:
        deps.tokens.ref(token_hash).delete()
