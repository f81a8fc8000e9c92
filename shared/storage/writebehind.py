"""Writes nobody waits for, grouped into few Firestore commits.

Inference answers first and records afterwards: each call's trace and, for a token without a
budget, its cost. One commit per write would cost the instance more CPU than the call itself
(a gRPC round trip each, two per call); instead one background thread commits whatever has
queued every ``interval`` seconds, as one atomic batch:

- documents (traces) are ``set``, which a retry may repeat harmlessly;
- increments of the same field of the same document are summed first (a busy token's spend is
  one write per batch, not one per call: this also keeps a hot document under Firestore's
  sustained write rate);
- a marker document ``_writebehind/{batch id}`` is created in the same batch. A commit whose
  outcome is unknown (a timeout after Firestore applied it) is retried as it was; if the first
  attempt went through, the retry fails with AlreadyExists and nothing is counted twice.
  Markers carry ``expires_at`` (a day later) for the TTL policy in ``infra/``.

A batch is retried with backoff for about a minute, then logged (with how many documents and
increments it held) and dropped: the answers were sent long before. At process exit the queue
is flushed (Cloud Run gives an instance 10 s after SIGTERM).
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.clock import utcnow

log = logging.getLogger(__name__)

MARKERS = "_writebehind"
MAX_WRITES = 450  # Firestore allows 500 per commit; one is the marker
MAX_BYTES = 4 * 1024 * 1024  # well under a commit's 10 MiB
RETRY_DELAYS = (0.2, 0.5, 1, 2, 4, 8, 15, 30)


@dataclass
class _Batch:
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    documents: dict[str, tuple[Any, dict[str, Any]]] = field(default_factory=dict)
    increments: dict[str, tuple[Any, dict[str, float]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.documents) + len(self.increments)


class WriteBehind:
    def __init__(self, db: firestore.Client, *, interval: float = 0.1) -> None:
        self._db = db
        self._interval = interval
        self._pending = _Batch()
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._flushing = threading.Lock()  # one commit at a time: flush() and the thread
        atexit.register(self.flush)

    def set(self, ref: Any, data: dict[str, Any]) -> None:
        """Write the whole document ``data`` at ``ref`` soon."""
        with self._lock:
            self._pending.documents[ref.path] = (ref, data)
            self._wake()

    def increment(self, ref: Any, field_name: str, amount: float) -> None:
        """Add ``amount`` to ``field_name`` of the existing document at ``ref`` soon."""
        with self._lock:
            _, fields = self._pending.increments.setdefault(ref.path, (ref, {}))
            fields[field_name] = fields.get(field_name, 0) + amount
            self._wake()

    def flush(self) -> None:
        """Commit everything queued now, in the caller's thread."""
        with self._flushing:
            pending = self._take()
            if pending is not None:
                for batch in _commits(pending):
                    self._commit(batch)

    def _wake(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="write-behind", daemon=True)
            self._thread.start()
        if len(self._pending) >= MAX_WRITES:
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait(timeout=self._interval)
            try:
                self.flush()
            except Exception:  # never let the thread die: the next round tries again
                log.exception("write-behind round failed")

    def _take(self) -> _Batch | None:
        """Everything queued, leaving the queue empty (the callers' threads never wait long)."""
        with self._lock:
            pending, self._pending = self._pending, _Batch()
        return pending if pending else None

    def _commit(self, batch: _Batch) -> None:
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            time.sleep(delay)
            writes = self._db.batch()
            marker = self._db.collection(MARKERS).document(batch.id)
            expires_at = utcnow() + timedelta(days=1)
            writes.create(marker, {"writes": len(batch), "expires_at": expires_at})
            for ref, data in batch.documents.values():
                writes.set(ref, data)
            for ref, fields in batch.increments.values():
                writes.update(ref, {name: firestore.Increment(v) for name, v in fields.items()})
            try:
                writes.commit()
                return
            except gexc.AlreadyExists:
                return  # an earlier attempt of this very batch was applied
            except gexc.NotFound:
                # An increment's document is gone (a deleted workspace): keep the rest.
                batch.increments = {
                    path: item for path, item in batch.increments.items() if item[0].get().exists
                }
            except Exception as exc:
                log.warning("write-behind commit %s failed (try %d): %s", batch.id, attempt, exc)
        log.error(
            "write-behind batch %s dropped after %d attempts: %d documents, %d increments",
            batch.id,
            len(RETRY_DELAYS) + 1,
            len(batch.documents),
            len(batch.increments),
        )


def _commits(pending: _Batch) -> list[_Batch]:
    """``pending`` cut into batches of at most MAX_WRITES writes and about MAX_BYTES each.

    Sizes are measured here, in the flushing thread, not where a call queues its trace.
    """
    batches, size = [_Batch()], 0
    for path, (ref, data) in pending.documents.items():
        document_size = len(json.dumps(data, default=str))
        if batches[-1] and (len(batches[-1]) >= MAX_WRITES or size + document_size > MAX_BYTES):
            batches.append(_Batch())
            size = 0
        batches[-1].documents[path] = (ref, data)
        size += document_size
    for path, item in pending.increments.items():
        if len(batches[-1]) >= MAX_WRITES:
            batches.append(_Batch())
        batches[-1].increments[path] = item
    return batches
