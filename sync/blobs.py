"""Content-addressed blobs (photos, signatures) and their resumable uploads.

Why apart from sync: a photo is megabytes on a weak mobile link, so it travels in
chunks that survive a dropped connection, and is addressed by its SHA-256 so a phone
never sends the same bytes twice. The ``blob_uploads`` row is the truth about how far
an upload got; the store only holds bytes. A ``blobs`` row exists only once the whole
file matched its hash, so no half blob is ever visible.

No web framework here: ``server/sync_api/blob_routes.py`` adapts this to HTTP.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Protocol

import anyio.to_thread
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.engine import Database
from server.db.models.evidence import Blob, BlobUpload
from server.errors import Conflict, DoorstepError, Invalid

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "DEFAULT_MAX_BYTES",
    "DERIVED_NAMES",
    "BlobLimits",
    "BlobStore",
    "BlobTooLarge",
    "FilesystemBlobStore",
    "UnsupportedType",
    "UploadResult",
    "append_chunk",
    "blob_key",
    "check_name",
    "check_sha",
    "derived_key",
    "expire_uploads",
    "upload_status",
]

log = logging.getLogger("doorstep.blobs")

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
READ_CHUNK = 64 * 1024
_SHA = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}(/[a-z0-9][a-z0-9._-]{0,127}){0,3}")
NAMED_ROOT = "named"
"""The folder (or key prefix) of named objects, beside the blobs."""


class BlobTooLarge(DoorstepError):
    status: ClassVar[int] = 413


class UnsupportedType(DoorstepError):
    status: ClassVar[int] = 415


@dataclass(frozen=True, slots=True)
class BlobLimits:
    """Per-blob limits, from the settings (``DOORSTEP_BLOB_*``)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    content_types: frozenset[str] = DEFAULT_CONTENT_TYPES

    @classmethod
    def from_settings(cls, max_bytes: int, content_types: str) -> BlobLimits:
        types = frozenset(t.strip().lower() for t in content_types.split(",") if t.strip())
        return cls(max_bytes=max_bytes, content_types=types or DEFAULT_CONTENT_TYPES)


@dataclass(frozen=True, slots=True)
class UploadResult:
    """Where an upload stands after a chunk: ``complete`` once the blob exists."""

    sha256: str
    offset: int
    length: int
    content_type: str
    complete: bool


# --- storage -------------------------------------------------------------------------


class BlobStore(Protocol):
    """Where blob bytes live. The DB rows decide what is visible; a store only keeps
    bytes, so a filesystem on one machine (``FilesystemBlobStore``) and an
    S3-compatible bucket shared by several machines (``sync.blob_s3.S3BlobStore``) are
    interchangeable. Nothing outside a store sees a local path: the bytes come and go
    through these methods, and any node may serve any call, because how far an upload
    got lives in the ``blob_uploads`` row, not in the store.

    Each blob may have derivatives (``DERIVED_NAMES``: metadata-free JPEG copies) kept
    beside it by the same store."""

    async def put_part(self, sha: str, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset`` of the partial upload (anything beyond
        ``offset`` is dropped first); return the partial's new size. ``Conflict``
        ``offset_mismatch`` with ``details["offset"]`` when the store holds fewer than
        ``offset`` bytes (some were lost): the upload resumes from there."""
        ...

    async def finalize(self, sha: str) -> bool:
        """Verify the partial against ``sha`` and make it the blob; False (and the
        partial discarded) when the bytes do not match or there are none."""
        ...

    def open(self, sha: str) -> AsyncIterator[bytes]:
        """Stream a complete blob's bytes."""
        ...

    async def read(self, sha: str) -> bytes:
        """A complete blob's bytes at once (blobs are small: ``blob_max_bytes``)."""
        ...

    async def exists(self, sha: str) -> bool: ...

    async def discard(self, sha: str) -> None:
        """Drop a partial upload (no error when there is none)."""
        ...

    async def put_derived(self, sha: str, name: str, data: bytes) -> None:
        """Keep one derivative of blob ``sha``, replacing any before it whole."""
        ...

    async def open_derived(self, sha: str, name: str) -> AsyncIterator[bytes] | None:
        """A stream of one derivative's bytes, or None when there is none."""
        ...

    async def put_named(self, name: str, data: bytes) -> None:
        """Keep a small named object (``check_name``: e.g. a ledger checkpoint,
        ``checkpoints/<time>.json``), replacing any before it whole. Named objects live
        apart from blobs (under ``named/``), so no name can reach a blob."""
        ...

    async def get_named(self, name: str) -> bytes | None:
        """A named object's bytes, or None when there is none."""
        ...

    async def list_named(self, prefix: str) -> list[str]:
        """The names that start with ``prefix`` (a folder such as ``checkpoints/``), in
        name order."""
        ...

    async def close(self) -> None:
        """Release connections (the store may still be used afterwards)."""
        ...


DERIVED_NAMES = ("thumb", "display")
"""The derivatives of an image blob: a thumbnail and a screen-sized copy."""


def blob_key(sha: str) -> str:
    """A blob's place relative to a store's root: ``<sha[:2]>/<sha>``."""
    sha = check_sha(sha)
    return f"{sha[:2]}/{sha}"


def derived_key(sha: str, name: str) -> str:
    """A derivative's place relative to a store's root."""
    if name not in DERIVED_NAMES:
        raise ValueError(f"unknown derivative {name!r}")
    sha = check_sha(sha)
    return f"derived/{sha[:2]}/{sha}.{name}.jpg"


class FilesystemBlobStore:
    """Blobs under ``root/<sha[:2]>/<sha>``, partial uploads under ``root/partial/<sha>``,
    derivatives under ``root/derived/<sha[:2]>/<sha>.<name>.jpg``, named objects under
    ``root/named/<name>``. A blob appears only
    by ``os.replace`` of a verified partial (atomic on POSIX), a derivative by rename of
    a complete temporary file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def partial_path(self, sha: str) -> Path:
        return self.root / "partial" / check_sha(sha)

    def path(self, sha: str) -> Path:
        return self.root / blob_key(sha)

    async def put_part(self, sha: str, offset: int, data: bytes) -> int:
        return await anyio.to_thread.run_sync(self._put_part, sha, offset, data)

    def _put_part(self, sha: str, offset: int, data: bytes) -> int:
        path = self.partial_path(sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size < offset:
                # The database says we hold more than the disk does: never leave a hole.
                raise Conflict(
                    "offset_mismatch", "Part of the upload was lost; resend.", {"offset": size}
                )
            # Bytes past the offset are from a chunk whose commit failed: drop them.
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            return offset + len(data)
        finally:
            os.close(fd)

    async def finalize(self, sha: str) -> bool:
        return await anyio.to_thread.run_sync(self._finalize, sha)

    def _finalize(self, sha: str) -> bool:
        partial, final = self.partial_path(sha), self.path(sha)
        digest = hashlib.sha256()
        try:
            with partial.open("rb") as fh:
                while block := fh.read(1024 * 1024):
                    digest.update(block)
        except FileNotFoundError:
            return False
        if digest.hexdigest() != sha:
            partial.unlink(missing_ok=True)
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, final)
        _fsync_dir(final.parent)
        return True

    async def open(self, sha: str) -> AsyncIterator[bytes]:
        fh = await anyio.to_thread.run_sync(self.path(sha).open, "rb")
        async for block in _stream_file(fh):
            yield block

    async def read(self, sha: str) -> bytes:
        return await anyio.to_thread.run_sync(self.path(sha).read_bytes)

    async def exists(self, sha: str) -> bool:
        return await anyio.to_thread.run_sync(self.path(sha).is_file)

    async def discard(self, sha: str) -> None:
        await anyio.to_thread.run_sync(lambda: self.partial_path(sha).unlink(missing_ok=True))

    async def put_derived(self, sha: str, name: str, data: bytes) -> None:
        await anyio.to_thread.run_sync(_write_atomic, self.root / derived_key(sha, name), data)

    async def open_derived(self, sha: str, name: str) -> AsyncIterator[bytes] | None:
        path = self.root / derived_key(sha, name)
        try:
            fh = await anyio.to_thread.run_sync(path.open, "rb")
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _stream_file(fh)

    async def put_named(self, name: str, data: bytes) -> None:
        path = self.root / NAMED_ROOT / check_name(name)
        await anyio.to_thread.run_sync(_write_atomic, path, data)

    async def get_named(self, name: str) -> bytes | None:
        path = self.root / NAMED_ROOT / check_name(name)
        try:
            return await anyio.to_thread.run_sync(path.read_bytes)
        except (FileNotFoundError, NotADirectoryError):
            return None

    async def list_named(self, prefix: str) -> list[str]:
        return await anyio.to_thread.run_sync(self._list_named, prefix)

    def _list_named(self, prefix: str) -> list[str]:
        base = self.root / NAMED_ROOT
        folder = base / prefix.rsplit("/", 1)[0] if "/" in prefix else base
        if not folder.is_dir():
            return []
        names = (p.relative_to(base).as_posix() for p in folder.rglob("*") if p.is_file())
        return sorted(n for n in names if n.startswith(prefix) and _NAME.fullmatch(n))

    async def close(self) -> None:
        return None


async def _stream_file(fh: BinaryIO) -> AsyncIterator[bytes]:
    """An open file's bytes in ``READ_CHUNK`` blocks, read in a thread; closes it."""
    try:
        while block := await anyio.to_thread.run_sync(fh.read, READ_CHUNK):
            yield block
    finally:
        await anyio.to_thread.run_sync(fh.close)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write then rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (a crash right after must not lose the blob)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- rules ---------------------------------------------------------------------------

_MAGIC: dict[str, tuple[tuple[int, bytes], ...]] = {
    "image/jpeg": ((0, b"\xff\xd8\xff"),),
    "image/png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "image/webp": ((0, b"RIFF"), (8, b"WEBP")),
}


def check_sha(sha: str) -> str:
    """A hash is 64 lowercase hex digits: anything else could escape the blob folder."""
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise DoorstepError("invalid_hash", "A blob is named by 64 lowercase hex digits.")
    return sha


def check_name(name: str) -> str:
    """A named object's name: up to four ``/``-separated parts of lowercase letters,
    digits, ``.``, ``_`` and ``-``, none starting with a dot (nothing can climb out of
    the named folder, and temporary files ``.tmp-*`` are never listed)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"not a valid object name: {name!r}")
    return name


def _magic_matches(content_type: str, head: bytes, whole: bool) -> bool:
    """Whether the first bytes fit the declared type. Types without a known signature
    pass; a first chunk shorter than the signature is checked as far as it goes, unless
    it is the whole blob."""
    for at, sig in _MAGIC.get(content_type, ()):
        part = head[at : at + len(sig)]
        if part != sig[: len(part)] or (whole and len(part) < len(sig)):
            return False
    return True


async def upload_status(session: AsyncSession, sha: str) -> tuple[bool, int | None]:
    """``(True, size)`` for a complete blob, ``(False, offset)`` while an upload is in
    progress, ``(False, None)`` when the server knows nothing of it."""
    check_sha(sha)
    size = await session.scalar(select(Blob.size).where(Blob.sha256 == sha))
    if size is not None:
        return True, size
    offset = await session.scalar(select(BlobUpload.offset).where(BlobUpload.sha256 == sha))
    return False, offset


def _check_announce(limits: BlobLimits, content_type: str, length: int) -> None:
    if content_type not in limits.content_types:
        raise UnsupportedType(
            "unsupported_type",
            f"Blobs of type {content_type or '(none)'} are not accepted.",
            {"allowed": sorted(limits.content_types)},
        )
    if length < 0:
        raise Invalid("invalid_length", "Upload-Length cannot be negative.")
    if length > limits.max_bytes:
        raise BlobTooLarge(
            "blob_too_large",
            "The blob is larger than the server accepts.",
            {"max_bytes": limits.max_bytes, "length": length},
        )


async def append_chunk(
    db: Database,
    store: BlobStore,
    *,
    sha: str,
    offset: int,
    data: bytes,
    length: int,
    content_type: str,
    user_id: Any,
    device_id: Any,
    now: datetime,
    limits: BlobLimits | None = None,
) -> UploadResult:
    """Append one chunk at ``offset`` and, on the last byte, verify and publish the blob.

    The upload row is locked (``FOR UPDATE`` on PostgreSQL; SQLite writers are already
    serialised by ``BEGIN IMMEDIATE``) and its offset moved by a guarded UPDATE, so two
    chunks at the same offset can never both be appended. The bytes are written while
    the lock is held, before the commit; if the commit fails the next chunk at the
    committed offset overwrites them."""
    check_sha(sha)
    limits = limits or BlobLimits()
    _check_announce(limits, content_type, length)

    async with db.writer() as session:
        blob = await session.get(Blob, sha)
        if blob is not None:
            # Already complete (a lost answer, or another phone): nothing to write.
            return UploadResult(sha, blob.size, blob.size, blob.content_type, True)
        row = await session.scalar(
            select(BlobUpload).where(BlobUpload.sha256 == sha).with_for_update()
        )
        current = row.offset if row is not None else 0
        if row is not None and (row.length != length or row.content_type != content_type):
            raise Conflict(
                "upload_mismatch",
                "An upload of this hash is in progress with another length or type.",
                {"length": row.length, "content_type": row.content_type, "offset": row.offset},
            )
        if offset != current:
            raise Conflict(
                "offset_mismatch",
                f"The server holds {current} bytes of this upload; continue from there.",
                {"offset": current},
            )
        end = offset + len(data)
        if end > length:
            raise Invalid(
                "length_exceeded",
                "This chunk goes past the announced Upload-Length.",
                {"offset": offset, "length": length, "chunk": len(data)},
            )
        if offset == 0 and not _magic_matches(content_type, data, end == length):
            raise Invalid(
                "type_mismatch",
                f"The bytes are not {content_type}.",
                {"content_type": content_type},
            )
        if row is None:
            session.add(
                BlobUpload(
                    sha256=sha,
                    length=length,
                    offset=0,
                    content_type=content_type,
                    user_id=user_id,
                    device_id=device_id,
                    started_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
        try:
            await store.put_part(sha, offset, data)
        except Conflict as exc:
            if "offset" not in exc.details:
                raise
            # The disk holds less than the row says (the partial file went with a
            # crash): the row follows the disk, so the phone resumes where bytes are.
            await session.execute(
                update(BlobUpload)
                .where(BlobUpload.sha256 == sha)
                .values(offset=exc.details["offset"], updated_at=now)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            raise
        moved = await session.execute(
            update(BlobUpload)
            .where(BlobUpload.sha256 == sha, BlobUpload.offset == offset)
            .values(offset=end, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("offset_mismatch", "Another chunk got there first.", {"offset": end})
        if end < length:
            await session.commit()
            return UploadResult(sha, end, length, content_type, False)

        # The last byte: the blob exists only if the bytes match the hash.
        await session.execute(delete(BlobUpload).where(BlobUpload.sha256 == sha))
        if not await store.finalize(sha):
            await session.commit()
            await store.discard(sha)
            raise Invalid(
                "hash_mismatch",
                "The uploaded bytes do not match the SHA-256 they were sent under; "
                "the upload was dropped.",
            )
        session.add(
            Blob(
                sha256=sha,
                size=length,
                content_type=content_type,
                created_at=now,
                user_id=user_id,
                device_id=device_id,
            )
        )
        # If this commit fails the file is an orphan the next upload overwrites with
        # the same bytes; no row ever points at a missing or wrong file.
        await session.commit()
        return UploadResult(sha, length, length, content_type, True)


async def expire_uploads(db: Database, store: BlobStore, older_than: datetime) -> int:
    """Drop uploads not touched since ``older_than`` and their partial files; returns
    how many. The DELETE's own condition decides, so a chunk landing meanwhile wins."""
    async with db.writer() as session:
        result = await session.execute(
            delete(BlobUpload)
            .where(BlobUpload.updated_at < older_than)
            .returning(BlobUpload.sha256)
        )
        gone = list(result.scalars())
        await session.commit()
    for sha in gone:
        try:
            await store.discard(sha)
        except (DoorstepError, OSError):
            # The rows are gone either way; one unreachable partial must not keep the
            # others (or the rest of the maintenance round) from being cleaned.
            log.warning("expired upload %s: its partial bytes were not deleted", sha)
    return len(gone)
