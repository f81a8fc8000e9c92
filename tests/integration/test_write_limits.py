"""Firestore's production limits held by our own writes: review items and their commits."""

from __future__ import annotations

import uuid

from shared.storage.limits import document_size


def test_a_large_review_queue_is_committed_in_batches_under_the_commit_limit(deps):
    """400 items of 30 kB (12 MB) passed the 10 MiB commit limit (and the emulator's 4 MiB
    message limit) in one batch; an item with a 1.5 MB output passed the document limit."""
    lb, run_id = "lb-" + uuid.uuid4().hex[:8], "run-" + uuid.uuid4().hex[:8]
    items = [
        {"id": f"m-{i:04d}", "model_id": "m", "row_id": f"r{i}", "input": "q" * 15_000,
         "output": "a" * 15_000, "status": "pending"}
        for i in range(400)
    ]  # fmt: skip
    items.append({"id": "m-huge", "model_id": "m", "row_id": "huge", "input": "short",
                  "output": "é" * 750_000, "status": "pending"})  # fmt: skip
    deps.runs.add_review_items(lb, run_id, items)
    stored = {snap.id: snap for snap in deps.runs.reviews(lb, run_id).stream()}
    assert len(stored) == 401
    assert stored["m-0399"].get("output") == "a" * 15_000
    huge = stored["m-huge"].to_dict() or {}
    assert huge["input"] == "short" and huge["status"] == "pending"
    assert huge["output"]["truncated"] is True
    assert huge["output"]["original_bytes"] == 1_500_000
    assert document_size(stored["m-huge"].reference.path, huge) <= (
        deps.settings.firestore_max_document_bytes
    )
