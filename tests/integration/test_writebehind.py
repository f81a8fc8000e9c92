"""The write-behind queue on the Firestore emulator: grouped, summed, exactly once, nothing lost."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.cloud import firestore

from shared.storage.limits import document_size
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


def test_many_calls_become_few_commits_with_their_increments_summed(deps, collection, commits):
    writes = WriteBehind(deps.db, interval=3600)  # only flush() commits here
    counter = collection.document("token")
    counter.set({"spend_usd": 1.0})
    with ThreadPoolExecutor(max_workers=8) as pool:
        for i in range(40):
            pool.submit(writes.set, collection.document(f"trace-{i}"), {"i": i})
            pool.submit(writes.increment, counter, "spend_usd", 0.25)
    commits.clear()
    writes.flush()
    # Increments apart from documents: the marker and one summed increment, then 40 traces.
    assert commits == [1 + 1, 40]
    assert counter.get().get("spend_usd") == pytest.approx(11.0)
    assert sorted(d.get("i") for d in collection.stream() if d.id != "token") == list(range(40))


def test_a_retried_commit_counts_once(deps, collection):
    writes = WriteBehind(deps.db, interval=3600)
    counter = collection.document("token")
    counter.set({"spend_usd": 0.0})
    writes.increment(counter, "spend_usd", 2.5)
    batch = writes._take()
    assert batch is not None
    writes._commit_increments(batch)
    # As after a commit whose answer was lost: the marker refuses the second.
    writes._commit_increments(batch)
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


def test_large_documents_are_split_by_size(deps, collection, commits):
    writes = WriteBehind(deps.db, interval=3600, max_commit_bytes=50_000)
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


# -- other tenants' writes are never lost (issue 8, item 6) ------------------------------------


def test_an_oversized_trace_loses_no_other_workspace_write(deps, collection):
    """A 1.5 MB input (Firestore refuses a value over 1 MiB: the emulator does that much)
    queued beside other workspaces' traces and spend: every other write lands, the big
    trace lands cut to the document limit with a marker saying what was cut."""
    writes = WriteBehind(deps.db, interval=3600)
    tokens = [collection.document(f"token-{i}") for i in range(3)]
    for token in tokens:
        token.set({"spend_usd": 0.0})
    huge = "é" * 750_000  # 1.5 MB of UTF-8
    writes.set(collection.document("big"), {"kind": "inference", "input": huge, "output": "4"})
    for i in range(20):
        writes.set(collection.document(f"trace-{i}"), {"kind": "inference", "input": str(i)})
        writes.increment(tokens[i % 3], "spend_usd", 0.5)
    started = time.monotonic()
    writes.flush()
    assert time.monotonic() - started < 10  # not a minute of retries
    assert [t.get().get("spend_usd") for t in tokens] == [pytest.approx(3.5)] * 2 + [3.0]
    assert sorted(d.id for d in collection.stream()) == sorted(
        ["big", *(f"trace-{i}" for i in range(20)), *(t.id for t in tokens)]
    )
    big = collection.document("big").get().to_dict()
    assert big["output"] == "4" and big["kind"] == "inference"
    assert big["input"]["truncated"] is True
    assert big["input"]["original_bytes"] == len(huge.encode())
    assert huge.startswith(big["input"]["head"])
    assert document_size(collection.document("big").path, big) <= WriteBehind.MAX_DOCUMENT_BYTES
    assert writes.dropped == 0


def test_a_refused_write_is_isolated_and_its_neighbours_commit(deps, collection):
    """A write Firestore refuses for another reason than size (a reserved field name) is
    split off the batch by bisection; every other write of the batch commits."""
    writes = WriteBehind(deps.db, interval=3600)
    token = collection.document("token")
    token.set({"spend_usd": 0.0})
    writes.set(collection.document("refused"), {"__reserved__": 1, "kind": "inference"})
    for i in range(30):
        writes.set(collection.document(f"ok-{i}"), {"i": i})
        writes.increment(token, "spend_usd", 1.0)
    writes.flush()
    assert token.get().get("spend_usd") == 30.0
    stored = {d.id: d.to_dict() for d in collection.stream()}
    assert all(stored[f"ok-{i}"] == {"i": i} for i in range(30))
    # The refused document is kept as a stub that says why, rather than vanishing.
    assert stored["refused"]["kind"] == "inference"
    assert "reserved" in stored["refused"]["write_refused"]
    assert writes.dropped == 0


def test_a_full_queue_waits_briefly_then_drops_documents_but_never_spend(deps, collection):
    writes = WriteBehind(deps.db, interval=3600, max_queued_documents=5, full_wait_seconds=0.2)
    token = collection.document("token")
    token.set({"spend_usd": 0.0})
    with writes._flushing:  # as while the flusher retries a failing commit
        started = time.monotonic()
        for i in range(8):
            writes.set(collection.document(f"d{i}"), {"i": i})
            writes.increment(token, "spend_usd", 1.0)
        assert time.monotonic() - started >= 3 * 0.2  # each of the three extra waited
    assert writes.dropped == 3
    writes.flush()
    assert token.get().get("spend_usd") == 8.0  # increments are never dropped
    assert sorted(d.id for d in collection.stream()) == [*(f"d{i}" for i in range(5)), "token"]
