"""Writes nobody waits for, grouped into few Firestore commits.

Inference answers first and records afterwards: each call's trace and, for a token without a
budget, its cost. One commit per write would cost the instance more CPU than the call itself
(a gRPC round trip each, two per call); instead one background thread commits whatever has
queued every ``interval`` seconds. The queue is shared by every workspace an instance serves,
so one tenant's write must never cost another's:

- **documents** (traces) are ``set``, which a retry may repeat harmlessly. Each is measured in
  the flushing thread and cut to ``max_document_bytes`` (``shared.storage.limits``: the largest
  fields become ``{"truncated": true, "original_bytes": N, "head": ...}``); commits are cut by
  count and bytes;
- **increments** are committed apart from documents: a refused trace cannot take spend with it.
  Increments of the same field of the same document are summed first (a busy token's spend is
  one write per batch: this also keeps a hot document under Firestore's sustained write rate).
  A marker document ``_writebehind/{batch id}`` is created in the same commit: a commit whose
  outcome is unknown (a timeout after Firestore applied it) is retried as it was, and if the
  first attempt went through the retry fails with AlreadyExists, so nothing is counted twice.
  Markers carry ``expires_at`` (a day later) for the TTL policy in ``infra/``;
- a commit Firestore **refuses** (400, or a message too large) is split in halves until the
  refused write is alone; its neighbours commit. A refused document is replaced by a stub of
  its small top-level fields and ``write_refused`` (the reason); if even that is refused it is
  dropped and counted;
- a commit that keeps **failing** (Firestore unavailable) is retried with backoff for about a
  minute. Documents are then dropped and counted; increments are held with their batch id
  (exactly once still) and tried again at every later round;
- the queue is **bounded**: past ``max_queued_documents`` a writer waits up to
  ``full_wait_seconds`` for the flusher, then its document is dropped, counted and logged.
  Increments are always accepted (summed per document, they do not grow with the calls).

``dropped`` counts every document lost; each loss is logged. At process exit the queue is
flushed (Cloud Run gives an instance 10 s after SIGTERM).
"""

from __future__ import annotations

import atexit
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
from shared.storage.limits import cut_by_size, document_size, fit_document, value_size

log = logging.getLogger(__name__)

MARKERS = "_writebehind"
MAX_WRITES = 450  # Firestore allows 500 per commit; one is the marker
RETRY_DELAYS = (0.2, 0.5, 1, 2, 4, 8, 15, 30)
COMMIT_TIMEOUT_SECONDS = 30.0
STUB_VALUE_BYTES = 1024  # top-level values up to this size are kept in a refused write's stub
# Refusals: the commit as it is will never be accepted, a smaller one may be.
REFUSED = (gexc.InvalidArgument, gexc.ResourceExhausted)

Document = tuple[Any, dict[str, Any]]
Increment = tuple[Any, dict[str, float]]


@dataclass
class _Batch:
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    documents: dict[str, Document] = field(default_factory=dict)
    increments: dict[str, Increment] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.documents) + len(self.increments)


class WriteBehind:
    MAX_DOCUMENT_BYTES = 1_000_000  # defaults: the Settings fields of the same names

    def __init__(
        self,
        db: firestore.Client,
        *,
        interval: float = 0.1,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
        max_commit_bytes: int = 3 * 1024 * 1024,
        max_commit_writes: int = MAX_WRITES,
        max_queued_documents: int = 5000,
        full_wait_seconds: float = 0.5,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self._db = db
        self._interval = interval
        self._max_document_bytes = max_document_bytes
        self._max_commit_bytes = max_commit_bytes
        self._max_writes = min(max_commit_writes, MAX_WRITES)
        self._max_queued = max_queued_documents
        self._full_wait = full_wait_seconds
        self._retry_delays = retry_delays
        self._pending = _Batch()
        self._held: list[_Batch] = []  # increment batches that failed every retry
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._flushing = threading.Lock()  # one commit at a time: flush() and the thread
        self.dropped = 0  # documents lost (queue full, or refused even as a stub)
        atexit.register(self.flush)

    def set(self, ref: Any, data: dict[str, Any]) -> None:
        """Write the whole document ``data`` at ``ref`` soon (cut to the document limit)."""
        with self._lock:
            if not self._room_for(ref.path):
                self.dropped += 1
                log.error(
                    "write-behind queue full (writebehind_max_queued_documents=%d, waited %g s):"
                    " document %s dropped, %d dropped so far",
                    self._max_queued,
                    self._full_wait,
                    ref.path,
                    self.dropped,
                )
                return
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
            self._retry_held()
            if pending is None:
                return
            increments = list(pending.increments.items())
            for start in range(0, len(increments), self._max_writes):
                group = increments[start : start + self._max_writes]
                self._commit_increments(_Batch(increments=dict(group)))
            documents = [
                (path, (ref, fit_document(path, data, self._max_document_bytes)))
                for path, (ref, data) in pending.documents.items()
            ]
            for group in cut_by_size(
                documents,
                lambda item: document_size(item[0], item[1][1]),
                max_count=self._max_writes,
                max_bytes=self._max_commit_bytes,
            ):
                self._commit_documents(dict(group))

    # -- the queue ------------------------------------------------------------------------------

    def _room_for(self, path: str) -> bool:
        """Whether a document may join the queue, waiting briefly for the flusher if full."""
        deadline = time.monotonic() + self._full_wait
        while path not in self._pending.documents and (
            len(self._pending.documents) >= self._max_queued
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._lock.notify_all()  # the flusher, if it is idle
            self._lock.wait(timeout=left)
        return True

    def _wake(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="write-behind", daemon=True)
            self._thread.start()
        if len(self._pending) >= self._max_writes:
            self._lock.notify_all()

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
            self._lock.notify_all()  # writers waiting for room
        return pending if pending else None

    # -- increments: exactly once, never dropped ------------------------------------------------

    def _commit_increments(self, batch: _Batch, *, retries: bool = True) -> bool:
        """Commit ``batch``'s increments with its marker; False (and held) if it failed."""
        delays = (0.0, *self._retry_delays) if retries else (0.0,)
        for attempt, delay in enumerate(delays):
            time.sleep(delay)
            writes = self._db.batch()
            writes.create(
                self._db.collection(MARKERS).document(batch.id),
                {"writes": len(batch), "expires_at": utcnow() + timedelta(days=1)},
            )
            for ref, fields in batch.increments.values():
                writes.update(ref, {name: firestore.Increment(v) for name, v in fields.items()})
            try:
                writes.commit(retry=None, timeout=COMMIT_TIMEOUT_SECONDS)
                return True
            except gexc.AlreadyExists:
                return True  # an earlier attempt of this very batch was applied
            except gexc.NotFound:
                # An increment's document is gone (a deleted workspace): keep the rest.
                batch.increments = {
                    path: item for path, item in batch.increments.items() if item[0].get().exists
                }
                if not batch.increments:
                    return True
            except REFUSED as exc:
                # Refused as a whole, so none of it was applied: halves get fresh markers.
                if len(batch.increments) > 1:
                    items = list(batch.increments.items())
                    halves = (items[: len(items) // 2], items[len(items) // 2 :])
                    results = [self._commit_increments(_Batch(increments=dict(h))) for h in halves]
                    return all(results)
                log.error("write-behind increment refused, not applied: %s (%s)", batch, exc)
                return True
            except Exception as exc:
                log.warning("write-behind commit %s failed (try %d): %s", batch.id, attempt, exc)
        self._held.append(batch)
        log.error(
            "write-behind increments %s held after %d attempts (%d documents), tried again"
            " every round",
            batch.id,
            len(delays),
            len(batch.increments),
        )
        return False

    def _retry_held(self) -> None:
        held, self._held = self._held, []
        for i, batch in enumerate(held):
            if not self._commit_increments(batch, retries=False):
                # still failing: keep the rest for the next round (this one is held again)
                self._held.extend(held[i + 1 :])
                return

    # -- documents: cut, split when refused -----------------------------------------------------

    def _commit_documents(self, documents: dict[str, Document]) -> None:
        for attempt, delay in enumerate((0.0, *self._retry_delays)):
            time.sleep(delay)
            writes = self._db.batch()
            for ref, data in documents.values():
                writes.set(ref, data)
            try:
                writes.commit(retry=None, timeout=COMMIT_TIMEOUT_SECONDS)
                return
            except REFUSED as exc:
                self._refused(documents, exc)
                return
            except Exception as exc:
                log.warning(
                    "write-behind commit of %d documents failed (try %d): %s",
                    len(documents),
                    attempt,
                    exc,
                )
        self.dropped += len(documents)
        log.error(
            "write-behind dropped %d documents after %d attempts (%d dropped so far)",
            len(documents),
            len(self._retry_delays) + 1,
            self.dropped,
        )

    def _refused(self, documents: dict[str, Document], exc: Exception) -> None:
        """Bisect a refused commit down to the refused document, which becomes a stub."""
        if len(documents) > 1:
            items = list(documents.items())
            self._commit_documents(dict(items[: len(items) // 2]))
            self._commit_documents(dict(items[len(items) // 2 :]))
            return
        [(path, (ref, data))] = documents.items()
        if "write_refused" not in data:
            log.error("write-behind document %s refused, stored as a stub: %s", path, exc)
            self._commit_documents({path: (ref, _stub(data, exc))})
            return
        self.dropped += 1
        log.error("write-behind document %s refused even as a stub, dropped: %s", path, exc)


def _stub(data: dict[str, Any], exc: Exception) -> dict[str, Any]:
    """What is left of a refused document: its small plain fields and the reason."""
    kept = {
        key: value
        for key, value in data.items()
        if not key.startswith("__")
        and not isinstance(value, dict | list)
        and value_size(value) <= STUB_VALUE_BYTES
    }
    return kept | {"write_refused": str(exc)[:500]}
