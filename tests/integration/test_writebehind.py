"""The write-behind queue on the Firestore emulator: grouped, summed, exactly once, nothing lost."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.cloud import firestore

from shared.storage import writebehind
from shared.storage.writebehind import MARKERS, MAX_WRITES, WriteBehind


@pytest.fixture
def collection(deps) -> firestore.CollectionReference:
    return deps.db.collection("writebehind-test-" + uuid.uuid4().hex[:8])


@pytest.fixture
def commits(deps, monkeypatch) -> list[int]:
    """How many writes each commit carried (the marker included); tests clear it first."""
    sizes: list[int] = []
    real_batch = deps.db.batch

    def counting_batch() -> firestore.WriteBatch:
        batch = real_batch()
        real_commit = batch.commit

        def commit(*args, **kwargs):
            sizes.append(len(batch._write_pbs))
            return real_commit(*args, **kwargs)

        batch.commit = commit
        return batch

    monkeypatch.setattr(deps.db, "batch", counting_batch)
    return sizes


def test_many_calls_become_one_commit_with_their_increments_summed(deps, collection, commits):
    writes = WriteBehind(deps.db, interval=3600)  # only flush() commits here
    counter = collection.document("token")
    counter.set({"spend_usd": 1.0})
    with ThreadPoolExecutor(max_workers=8) as pool:
        for i in range(40):
            pool.submit(writes.set, collection.document(f"trace-{i}"), {"i": i})
            pool.submit(writes.increment, counter, "spend_usd", 0.25)
    commits.clear()
    writes.flush()
    assert commits == [1 + 40 + 1]  # the marker, 40 traces, one summed increment
    assert counter.get().get("spend_usd") == pytest.approx(11.0)
    assert sorted(d.get("i") for d in collection.stream() if d.id != "token") == list(range(40))


def test_a_retried_commit_counts_once(deps, collection):
    writes = WriteBehind(deps.db, interval=3600)
    counter = collection.document("token")
    counter.set({"spend_usd": 0.0})
    writes.increment(counter, "spend_usd", 2.5)
    batch = writes._take()
    assert batch is not None
    writes._commit(batch)
    writes._commit(batch)  # as after a commit whose answer was lost: the marker refuses it
    assert counter.get().get("spend_usd") == 2.5
    assert deps.db.collection(MARKERS).document(batch.id).get().exists


def test_more_than_one_commit_of_writes_is_split_and_all_written(deps, collection, commits):
    writes = WriteBehind(deps.db, interval=3600)
    total = MAX_WRITES + 60
    for i in range(total):
        writes.set(collection.document(f"d{i:04d}"), {"i": i})
    writes.flush()
    assert len(commits) == 2 and max(commits) <= MAX_WRITES + 1
    assert len(list(collection.stream())) == total


def test_large_documents_are_split_by_size(deps, collection, commits, monkeypatch):
    monkeypatch.setattr(writebehind, "MAX_BYTES", 50_000)
    writes = WriteBehind(deps.db, interval=3600)
    for i in range(10):
        writes.set(collection.document(f"big{i}"), {"text": "x" * 20_000})
    writes.flush()
    assert len(commits) >= 4
    assert len(list(collection.stream())) == 10


def test_an_increment_of_a_deleted_document_does_not_lose_the_others(deps, collection):
    writes = WriteBehind(deps.db, interval=3600)
    kept = collection.document("kept")
    kept.set({"spend_usd": 0.0})
    writes.increment(collection.document("deleted"), "spend_usd", 1.0)
    writes.increment(kept, "spend_usd", 3.0)
    writes.set(collection.document("trace"), {"ok": True})
    writes.flush()
    assert kept.get().get("spend_usd") == 3.0
    assert collection.document("trace").get().get("ok") is True
    assert not collection.document("deleted").get().exists


def test_the_background_thread_commits_without_a_flush(deps, collection):
    writes = WriteBehind(deps.db, interval=0.05)
    writes.set(collection.document("soon"), {"ok": True})
    document = collection.document("soon")
    for _ in range(100):
        snapshot = document.get()
        if snapshot.exists:
            break
        time.sleep(0.05)
    assert document.get().get("ok") is True
