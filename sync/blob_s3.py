"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, Cloudflare R2, ...), so several
app nodes share photos and signatures: any node may take the next chunk of an upload,
finish it, or serve the blob and its thumbnails.

Layout (``prefix`` lets several deployments share one bucket)::

    <prefix>partials/<sha>/<offset:012d>        one object per received chunk
    <prefix>blobs/<sha[:2]>/<sha>                 a complete, verified blob
    <prefix>derived/<sha[:2]>/<sha>.<name>.jpg    its thumbnail and display copies
    <prefix>named/<name>                          small named objects (ledger checkpoints)

Why one object per chunk rather than an S3 multipart upload: multipart parts must be at
least 5 MiB (all but the last), while phones send chunks of tens of KiB on a weak link,
so a multipart design needs a buffer that itself must live somewhere every node sees,
plus the parts' ETags kept on the side. Chunk objects need neither: the bucket listing
of ``partials/<sha>/`` *is* the partial upload. The chunks that chain from offset 0
(each starting where the one before ends) are the bytes held, exactly like the partial
file of ``FilesystemBlobStore``:

- ``put_part`` lists the chunks, refuses (``offset_mismatch`` with the held size) when
  fewer than ``offset`` bytes are held, deletes every chunk at or beyond ``offset`` (a
  chunk whose commit failed, or an earlier resend), trims a chunk straddling it, then
  writes the new chunk under its offset. The database row lock orders chunks of one
  upload, and S3 listings are strongly consistent, so this is race-free across nodes.
- ``finalize`` reads the chain in order into a spooled temporary file (memory up to 8
  MiB, then disk) while hashing; only if the SHA-256 matches is the blob written (one
  PUT, or a multipart upload past ``MULTIPART_THRESHOLD``, done by boto3) under its
  final key, so a wrong upload never becomes visible; the chunks are deleted either way.
  The bytes pass through the node once more than with a server-side compose, but they
  must be read for the hash anyway and blobs are small (``blob_max_bytes``).
- ``discard`` (hash mismatch, upload expiry) deletes the chunks; ``exists`` is a HEAD;
  ``open`` streams a GET. Chunks left behind by a delete that failed are only wasted
  space (no row points at them); a bucket lifecycle rule expiring ``partials/`` after a
  few days clears them.

Every boto3 call blocks, so each runs in a worker thread (``anyio.to_thread``), never on
the event loop. A store that cannot be reached answers ``503 retry_later``: the phone
keeps its bytes and tries again.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio.to_thread
import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from server.errors import Conflict, RetryLater
from sync.blobs import NAMED_ROOT, READ_CHUNK, blob_key, check_name, check_sha, derived_key

__all__ = ["MULTIPART_THRESHOLD", "S3BlobStore"]

log = logging.getLogger("doorstep.blobs")

MULTIPART_THRESHOLD = 16 * 1024 * 1024
"""A finished blob larger than this is written with a multipart upload."""
SPOOL_BYTES = 8 * 1024 * 1024
"""How much of a blob being finalized is held in memory before spilling to disk."""
_DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
_MISSING = {"404", "NoSuchKey", "NotFound"}
T = TypeVar("T")


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING


class S3BlobStore:
    """A ``BlobStore`` on one bucket (see the module doc). ``client`` is a boto3 S3
    client (thread-safe; ``connect`` builds one from settings)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        if not bucket:
            raise ValueError("an S3 blob store needs a bucket")
        self.client = client
        self.bucket = bucket
        self.multipart_threshold = MULTIPART_THRESHOLD
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""

    @classmethod
    def connect(
        cls,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> S3BlobStore:
        """A store with its own client. Without explicit keys, boto3's standard chain
        finds credentials (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
        ``AWS_PROFILE`` and ``~/.aws``, web identity, instance or task roles). A custom
        ``endpoint_url`` (MinIO, Ceph, R2, ...) is addressed path-style."""
        config = Config(
            retries={"mode": "standard", "max_attempts": 3},
            max_pool_connections=32,
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        session = boto3.session.Session(
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            region_name=region or None,
        )
        client = session.client("s3", endpoint_url=endpoint_url or None, config=config)
        return cls(client, bucket, prefix)

    # --- keys ------------------------------------------------------------------------

    def key(self, sha: str) -> str:
        return f"{self.prefix}blobs/{blob_key(sha)}"

    def partial_prefix(self, sha: str) -> str:
        return f"{self.prefix}partials/{check_sha(sha)}/"

    def part_key(self, sha: str, offset: int) -> str:
        return f"{self.partial_prefix(sha)}{offset:012d}"

    def derived_object_key(self, sha: str, name: str) -> str:
        return f"{self.prefix}{derived_key(sha, name)}"

    def named_key(self, name: str) -> str:
        return f"{self.prefix}{NAMED_ROOT}/{check_name(name)}"

    # --- the BlobStore protocol --------------------------------------------------------

    async def put_part(self, sha: str, offset: int, data: bytes) -> int:
        return await self._run(self._put_part, sha, offset, data)

    async def finalize(self, sha: str) -> bool:
        return await self._run(self._finalize, sha)

    async def open(self, sha: str) -> AsyncIterator[bytes]:
        body = await self._run(self._get, self.key(sha))
        if body is None:
            raise FileNotFoundError(self.key(sha))
        async for block in self._stream(body):
            yield block

    async def read(self, sha: str) -> bytes:
        def read() -> bytes:
            body = self._get(self.key(sha))
            if body is None:
                raise FileNotFoundError(self.key(sha))
            with body:
                data: bytes = body.read()
                return data

        return await self._run(read)

    async def exists(self, sha: str) -> bool:
        return await self._run(self._head, self.key(sha))

    async def discard(self, sha: str) -> None:
        await self._run(lambda: self._delete([k for _, _, k in self._parts(sha)]))

    async def put_derived(self, sha: str, name: str, data: bytes) -> None:
        key = self.derived_object_key(sha, name)
        await self._run(
            lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="image/jpeg"
            )
        )

    async def open_derived(self, sha: str, name: str) -> AsyncIterator[bytes] | None:
        body = await self._run(self._get, self.derived_object_key(sha, name))
        return None if body is None else self._stream(body)

    async def put_named(self, name: str, data: bytes) -> None:
        key = self.named_key(name)
        await self._run(lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=data))

    async def get_named(self, name: str) -> bytes | None:
        key = self.named_key(name)

        def read() -> bytes | None:
            body = self._get(key)
            if body is None:
                return None
            with body:
                data: bytes = body.read()
                return data

        return await self._run(read)

    async def list_named(self, prefix: str) -> list[str]:
        base = f"{self.prefix}{NAMED_ROOT}/"

        def listing() -> list[str]:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + prefix
            )
            return sorted(
                item["Key"][len(base) :] for page in pages for item in page.get("Contents", ())
            )

        return await self._run(listing)

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self.client.close)

    # --- in a worker thread ------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one blocking call in a thread; an unreachable or failing store becomes
        ``RetryLater`` (503), never a 500."""
        try:
            return await anyio.to_thread.run_sync(fn, *args)
        except (BotoCoreError, ClientError, Boto3Error) as exc:
            # Boto3Error: a managed transfer (the multipart upload of a blob) that failed
            log.warning("S3 blob store %s failed: %s", self.bucket, exc)
            raise RetryLater("The photo store is unavailable; try again shortly.") from exc

    def _parts(self, sha: str) -> list[tuple[int, int, str]]:
        """The chunk objects of a partial upload as ``(offset, size, key)``, by offset."""
        prefix = self.partial_prefix(sha)
        parts: list[tuple[int, int, str]] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            for item in page.get("Contents", ()):
                name = item["Key"][len(prefix) :]
                if name.isdigit():
                    parts.append((int(name), int(item["Size"]), item["Key"]))
        parts.sort()
        return parts

    @staticmethod
    def _chain(
        parts: list[tuple[int, int, str]], below: int | None = None
    ) -> tuple[list[tuple[int, int, str]], int]:
        """The chunks that hold bytes: those chaining from offset 0, each starting where
        the one before ends (only those starting below ``below``), and how many bytes
        they hold."""
        chain: list[tuple[int, int, str]] = []
        held = 0
        for part in parts:
            start, size, _ = part
            if (below is not None and start >= below) or start != held:
                break
            chain.append(part)
            held = start + size
        return chain, held

    def _put_part(self, sha: str, offset: int, data: bytes) -> int:
        parts = self._parts(sha)
        chain, held = self._chain(parts, below=offset)
        if held < offset:
            # The database says we hold more than the bucket does: never leave a hole.
            raise Conflict(
                "offset_mismatch", "Part of the upload was lost; resend.", {"offset": held}
            )
        # Chunks at or past the offset are from a chunk whose commit failed, or an
        # earlier send of this one: drop them, and trim one that runs past the offset.
        self._delete([key for start, _, key in parts if start >= offset])
        if held > offset:
            start, _, key = chain[-1]
            body = self._get(key)
            kept = body.read(offset - start) if body is not None else b""
            if body is not None:
                body.close()
            self.client.put_object(Bucket=self.bucket, Key=key, Body=kept)
        self.client.put_object(Bucket=self.bucket, Key=self.part_key(sha, offset), Body=data)
        return offset + len(data)

    def _finalize(self, sha: str) -> bool:
        parts = self._parts(sha)
        if not parts:
            return False
        chain, _ = self._chain(parts)
        digest = hashlib.sha256()
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            for _, _, key in chain:
                body = self._get(key)
                if body is None:  # gone meanwhile (expired): nothing to publish
                    self._delete([k for _, _, k in parts])
                    return False
                with body:
                    for block in body.iter_chunks(1024 * 1024):
                        digest.update(block)
                        spool.write(block)
            if digest.hexdigest() != sha:
                self._delete([k for _, _, k in parts])
                return False
            spool.seek(0)
            self.client.upload_fileobj(
                spool,
                self.bucket,
                self.key(sha),
                Config=TransferConfig(
                    multipart_threshold=self.multipart_threshold,
                    multipart_chunksize=self.multipart_threshold,
                    max_concurrency=4,
                ),
            )
        try:
            self._delete([k for _, _, k in parts])
        except (BotoCoreError, ClientError, RetryLater) as exc:
            # The blob is published; leftover chunks are only wasted space.
            log.warning("S3 blob store: chunks of %s not deleted: %s", sha, exc)
        return True

    def _get(self, key: str) -> Any:
        """The streaming body of an object, or None when there is none."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    def _head(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    def _delete(self, keys: list[str]) -> None:
        for at in range(0, len(keys), _DELETE_BATCH):
            batch = keys[at : at + _DELETE_BATCH]
            answer = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
            if answer.get("Errors"):
                raise RetryLater("The photo store did not delete an upload's chunks.")

    async def _stream(self, body: Any) -> AsyncIterator[bytes]:
        """A GET body's bytes in ``READ_CHUNK`` blocks, read in a thread; closes it."""
        try:
            while block := await self._run(body.read, READ_CHUNK):
                yield block
        finally:
            await anyio.to_thread.run_sync(body.close)
