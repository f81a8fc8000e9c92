"""Firestore's size arithmetic and the cutting of documents and commits (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.storage.limits import cut_by_size, document_size, fit_document, value_size


def test_sizes_are_counted_as_firestore_counts_them():
    # Firestore's own example: a task document of 147 bytes.
    path = "users/jeff/tasks/my_task_id"
    task = {"type": "Personal", "done": False, "priority": 1,
            "description": "Learn Cloud Firestore"}  # fmt: skip
    assert document_size(path, task) == 147
    assert value_size("é") == 3 and value_size(None) == 1 and value_size(datetime.now(UTC)) == 8
    assert value_size({"a": [1, "x"]}) == 2 + 8 + 2


def test_a_document_over_the_limit_loses_its_largest_fields_first():
    data = {"id": "t1", "input": "a" * 5000, "output": "b" * 3000, "n": 1}
    fitted = fit_document("c/d", data, 5000)
    assert fitted["input"] == {"truncated": True, "original_bytes": 5000, "head": "a" * 1000}
    assert fitted["output"] == "b" * 3000 and fitted["id"] == "t1"
    assert document_size("c/d", fitted) <= 5000
    assert data["input"] == "a" * 5000  # a copy was cut, not the caller's document
    assert fit_document("c/d", {"x": 1}, 4000) == {"x": 1}


def test_commits_are_cut_by_count_and_by_bytes():
    groups = list(cut_by_size([5, 5, 5, 20, 1, 1, 1], lambda n: n, max_count=2, max_bytes=12))
    assert groups == [[5, 5], [5], [20], [1, 1], [1]]
