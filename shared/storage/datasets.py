"""Dataset versions as JSONL objects in Cloud Storage.

Each consolidation writes a new object ``datasets/{leaderboard}/v{version:06d}-{nonce}.jsonl``;
objects are never overwritten (``if_generation_match=0``), so a reader holding a version pointer
always reads what the pointer promised. The nonce keeps a crashed consolidation's orphan from
colliding with its rerun. Rows are written newest first, one canonical JSON object per line.
Orphans, superseded versions and runs' leftover rows are deleted by the storage cleanup job
(``shared.services.storage_cleanup``), which pages through the bucket with :meth:`list_page`.
Writes spool through a temporary file, so memory stays bounded whatever the dataset size.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from google.api_core.exceptions import NotFound
from google.cloud import storage

from shared.clock import utcnow
from shared.domain.cleanup import StoredObject
from shared.domain.jsonl import dumps_line, iter_lines

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/jsonl"
_SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class WrittenObject:
    object_name: str
    generation: int
    rows: int
    bytes: int
    sha256: str


class DatasetStore:
    def __init__(self, client: storage.Client, bucket: str) -> None:
        self._client = client
        self._bucket = client.bucket(bucket)

    @property
    def bucket_name(self) -> str:
        return str(self._bucket.name)

    def uri(self, object_name: str) -> str:
        return f"gs://{self.bucket_name}/{object_name}"

    def write_version(
        self, leaderboard_id: str, version: int, rows: Iterable[dict[str, object]]
    ) -> WrittenObject:
        object_name = f"datasets/{leaderboard_id}/v{version:06d}-{secrets.token_hex(4)}.jsonl"
        return self.write_jsonl(object_name, rows)

    def write_jsonl(self, object_name: str, rows: Iterable[dict[str, object]]) -> WrittenObject:
        """Create ``object_name`` from ``rows``; PreconditionFailed if it already exists."""
        digest = hashlib.sha256()
        count = size = 0
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            for row in rows:
                line = dumps_line(row)
                spool.write(line)
                digest.update(line)
                count += 1
                size += len(line)
            spool.seek(0)
            blob = self._bucket.blob(object_name)
            blob.upload_from_file(
                spool, size=size, content_type=CONTENT_TYPE, if_generation_match=0
            )
        return WrittenObject(
            object_name=object_name,
            generation=int(blob.generation or 0),
            rows=count,
            bytes=size,
            sha256=digest.hexdigest(),
        )

    def read_jsonl(self, object_name: str) -> list[dict[str, Any]]:
        """A small object's rows (shards and results), in memory."""
        data = self._bucket.blob(object_name).download_as_bytes()
        return list(iter_lines(data.splitlines()))

    def exists(self, object_name: str) -> bool:
        return bool(self._bucket.blob(object_name).exists())

    def names(self, prefix: str) -> list[str]:
        return sorted(blob.name for blob in self._client.list_blobs(self._bucket, prefix=prefix))

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        for blob in self._client.list_blobs(self._bucket, prefix=prefix):
            blob.delete()
            deleted += 1
        return deleted

    def list_page(self, prefix: str, *, after: str | None, limit: int) -> list[StoredObject]:
        """At most ``limit`` objects under ``prefix`` whose names sort after ``after``, in name
        order (the storage cleanup walks the bucket a page per call)."""
        listed = self._client.list_blobs(
            self._bucket, prefix=prefix, start_offset=after or None, max_results=limit + 1
        )
        page = [
            StoredObject(
                name=blob.name,
                generation=int(blob.generation or 0),
                created=blob.time_created or utcnow(),  # none shown: as young as can be
                size=int(blob.size or 0),
            )
            for blob in listed
            if blob.name != after
        ]
        return page[:limit]

    def delete_object(self, item: StoredObject) -> bool:
        """Delete this generation of the object; False if it was gone already."""
        try:
            self._bucket.blob(item.name, generation=item.generation).delete()
        except NotFound:
            return False
        return True

    def read_rows(self, object_name: str, generation: int) -> Iterator[dict[str, object]]:
        """Stream a version's rows without loading the object into memory."""
        blob = self._bucket.blob(object_name, generation=generation)
        with blob.open("rb") as handle:
            yield from iter_lines(handle)

    def read_bytes(
        self, object_name: str, generation: int, *, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        blob = self._bucket.blob(object_name, generation=generation)
        with blob.open("rb", chunk_size=chunk_size) as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def signed_url(self, object_name: str, generation: int, *, ttl_seconds: int) -> str | None:
        """A time-limited download URL, or None when these credentials cannot sign.

        A service-account key signs locally. The metadata-server credentials of Cloud
        Functions hold no key: they sign through IAM ``signBlob`` with their access token
        (the service account needs ``iam.serviceAccounts.signBlob`` on itself). The local
        emulator's anonymous credentials cannot sign at all; the API's authenticated download
        endpoint serves the same bytes everywhere.
        """
        blob = self._bucket.blob(object_name, generation=generation)
        options: dict[str, object] = {
            "version": "v4",
            "expiration": timedelta(seconds=ttl_seconds),
            "method": "GET",
        }
        try:
            return str(blob.generate_signed_url(**options))
        except (AttributeError, TypeError, ValueError, NotImplementedError):
            pass
        credentials: Any = getattr(self._client, "_credentials", None)
        if credentials is None or not hasattr(credentials, "service_account_email"):
            return None  # anonymous (emulator) or user credentials: nothing to sign with
        try:
            from google.auth.transport.requests import Request

            credentials.refresh(Request())  # also resolves the "default" account's email
            email = credentials.service_account_email
            return str(
                blob.generate_signed_url(
                    **options, service_account_email=email, access_token=credentials.token
                )
            )
        except Exception:  # signing is a convenience: the download endpoint always works
            log.warning("could not sign a download URL for %s", object_name, exc_info=True)
            return None
