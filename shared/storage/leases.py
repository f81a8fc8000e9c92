"""Leases: "only one of us does this at a time", without transactions.

A lease is a document created with ``create()`` (first writer wins). A crashed holder's lease
expires; the next caller takes it over with an update conditioned on the document's
``update_time``, so two takers cannot both win. The holder's ``update_time`` is also its fencing
token: the holder's final commit includes a write conditioned on it, so a holder whose lease
was taken over (it stalled past the expiry) cannot commit anything.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.clock import utcnow
from shared.storage.unit_of_work import UnitOfWork


@dataclass
class Lease:
    ref: firestore.DocumentReference
    holder: str
    update_time: datetime

    def fence(self, work: UnitOfWork, *, ttl_seconds: float) -> int:
        """Extend the lease inside ``work``; the whole commit fails if the lease was lost.

        Answers the write's index (its update time is the lease's next fencing token)."""
        return work.update(
            self.ref,
            {"lease_until": utcnow() + timedelta(seconds=ttl_seconds)},
            if_unchanged_since=self.update_time,
        )


def acquire(ref: firestore.DocumentReference, *, holder: str, ttl_seconds: float) -> Lease | None:
    """Take the lease at ``ref``, or answer None while someone else holds it."""
    body = {"holder": holder, "lease_until": utcnow() + timedelta(seconds=ttl_seconds)}
    try:
        return Lease(ref=ref, holder=holder, update_time=ref.create(body).update_time)
    except gexc.AlreadyExists:
        pass
    snap = ref.get()
    if not snap.exists:
        return acquire(ref, holder=holder, ttl_seconds=ttl_seconds)
    if snap.get("lease_until") > utcnow():
        return None
    try:
        result = ref.update(
            body, option=ref._client.write_option(last_update_time=snap.update_time)
        )
    except (gexc.FailedPrecondition, gexc.NotFound):
        return None
    return Lease(ref=ref, holder=holder, update_time=result.update_time)


def release(lease: Lease) -> None:
    """Give the lease up if it is still ours; a lost lease is left to its new holder."""
    with contextlib.suppress(gexc.FailedPrecondition, gexc.NotFound):
        lease.ref.delete(option=lease.ref._client.write_option(last_update_time=lease.update_time))
