"""``/sync/v1/blobs/{sha256}``: resumable, content-addressed uploads of photos and
signatures (HEAD to learn the offset, PATCH chunks, GET the bytes).

The rules live in ``sync/blobs.py``; this module only adapts them to HTTP. The header
names follow the IETF resumable-uploads draft (``Upload-Offset``, ``Upload-Length``,
``Upload-Complete``) so off-the-shelf clients feel at home.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, Response, get, head, patch
from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import STAFF, allow
from server.auth.scope import blob_visible
from server.context import RequestContext
from server.db.models.evidence import Blob, BlobUpload
from server.db.models.user import Role, User
from server.errors import Conflict, DoorstepError, NotFound
from server.http_errors import ErrorBody
from server.limits import Limiter, device_key, rate_limit
from sync import photos
from sync.blobs import (
    BlobLimits,
    BlobStore,
    append_chunk,
    check_sha,
    upload_status,
)

__all__ = ["BlobController", "BlobOut", "blob_store"]

TECH = allow(Role.TECHNICIAN)
TECH_OR_STAFF = allow(Role.TECHNICIAN, *STAFF)

_OFFSET_HEADER = ResponseHeader(
    name="Upload-Offset",
    description="Bytes of the upload the server holds; send the next chunk from here.",
    documentation_only=True,
)
_COMPLETE_HEADER = ResponseHeader(
    name="Upload-Complete",
    description="``?1`` the blob exists, ``?0`` an upload is in progress.",
    documentation_only=True,
)


class BlobOut(msgspec.Struct):
    """A complete blob, as the chunk that completed it is answered."""

    sha256: str
    size: int
    content_type: str


def blob_store(request: Request[Any, Any, Any]) -> BlobStore:
    """The app's store (``server.app.make_blob_store``: a folder or an S3 bucket)."""
    store: BlobStore = request.app.state.blob_store
    return store


class ChunkTooLarge(DoorstepError):
    status = 413


class UploadTimeout(DoorstepError):
    status = 408


async def _read_chunk(request: Request[Any, Any, Any], max_bytes: int, seconds: float) -> bytes:
    """The chunk's bytes, read within ``seconds`` and at most ``max_bytes``: a
    phone trickling bytes (or an attacker holding connections open) is cut off and
    nothing of its chunk is kept."""
    parts: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(seconds):
            async for part in request.stream():
                size += len(part)
                if size > max_bytes:
                    raise ChunkTooLarge(
                        "chunk_too_large",
                        "One chunk may be at most this size.",
                        {"max_bytes": max_bytes},
                    )
                parts.append(part)
    except TimeoutError as exc:
        raise UploadTimeout(
            "upload_timeout",
            f"The chunk did not arrive within {seconds:g} seconds; send it again (smaller "
            "chunks on a slow link).",
            {"timeout": seconds, "offset_unchanged": True},
        ) from exc
    return b"".join(parts)


class BlobController(Controller):
    path = "/sync/v1/blobs"
    tags = ["sync"]

    @head(
        "/{sha256:str}",
        guards=[TECH_OR_STAFF],
        status_code=HTTP_200_OK,
        response_headers=[_OFFSET_HEADER, _COMPLETE_HEADER],
    )
    async def status(self, db: AsyncSession, ctx: RequestContext, sha256: str) -> Response[None]:
        """Where a blob stands, without a body. ``200`` with ``Upload-Complete: ?1`` and
        ``Content-Length`` (its size) when the blob exists: send nothing. ``200`` with
        ``Upload-Complete: ?0`` and ``Upload-Offset`` while an upload is in progress:
        resume from that offset. ``404`` when the server has none of it: start at 0.
        Visibility is exactly ``GET``'s: a blob (or an upload in progress) the caller
        may not read is ``404`` too — no existence oracle."""
        sha = check_sha(sha256)
        exists, offset = await upload_status(db, sha)
        if exists:
            await self._visible(db, ctx, sha)
            headers = {"Upload-Complete": "?1", "Upload-Offset": str(offset)}
            headers["Content-Length"] = str(offset)
            return Response(content=None, status_code=HTTP_200_OK, headers=headers)
        if offset is None:
            raise NotFound("blob", sha)
        uploader = (
            await db.execute(
                select(BlobUpload.user_id, User.provider_id)
                .outerjoin(User, User.id == BlobUpload.user_id)
                .where(BlobUpload.sha256 == sha)
            )
        ).one_or_none()
        if uploader is None or not blob_visible(ctx.principal, uploader[0], uploader[1]):
            raise NotFound("blob", sha)
        return Response(
            content=None,
            status_code=HTTP_200_OK,
            headers={"Upload-Complete": "?0", "Upload-Offset": str(offset)},
        )

    @patch(
        "/{sha256:str}",
        guards=[TECH, rate_limit("upload")],
        status_code=HTTP_201_CREATED,
        response_headers=[_OFFSET_HEADER],
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        ctx: RequestContext,
        sha256: str,
        upload_offset: Annotated[
            int, Parameter(header="Upload-Offset", ge=0, description="Where this chunk starts.")
        ],
        upload_length: Annotated[
            int, Parameter(header="Upload-Length", ge=0, description="The whole blob's size.")
        ],
        content_type: Annotated[
            str, Parameter(header="Content-Type", description="The blob's type, e.g. image/jpeg.")
        ],
    ) -> Response[Any]:
        """Send one chunk (the raw body, at most 8 MiB) of the blob named by its SHA-256.

        Headers: ``Upload-Offset`` (where the chunk starts: the server's offset),
        ``Upload-Length`` (the whole blob's size, the same on every chunk) and
        ``Content-Type`` (the blob's type: ``image/jpeg``, ``image/png``, ``image/webp``).
        Answers ``204`` with the new ``Upload-Offset`` while incomplete; ``201`` with
        ``{sha256, size, content_type}`` once the last byte arrived and the SHA-256
        matched (also when the blob already existed). ``409 offset_mismatch``: the
        server holds another offset (in ``details.offset`` and ``Upload-Offset``):
        continue from there. Refusals: ``400 invalid_hash``, ``413 blob_too_large`` /
        ``chunk_too_large``, ``415 unsupported_type``, ``422 type_mismatch`` (the first
        bytes are not of that type), ``length_exceeded``, ``hash_mismatch`` (the upload
        is dropped: start again). Limits: ``408 upload_timeout`` (the chunk took longer
        than ``upload_chunk_timeout`` to arrive: resend it, smaller), ``429
        rate_limited`` / ``too_many_uploads`` (too many chunks a minute, or at once,
        from this device: wait for Retry-After)."""
        sha = check_sha(sha256)
        settings = ctx.settings
        max_chunk = settings.blob_max_chunk_bytes
        announced = request.headers.get("content-length")
        if announced is not None and announced.isdigit() and int(announced) > max_chunk:
            raise ChunkTooLarge(
                "chunk_too_large", "One chunk may be at most this size.", {"max_bytes": max_chunk}
            )
        limiter: Limiter = request.app.state.limiter
        async with limiter.upload_slot(device_key(ctx.principal)):
            body = await _read_chunk(request, max_chunk, settings.upload_chunk_timeout)
            return await self._append(
                request, ctx, sha, body, upload_offset, upload_length, content_type
            )

    async def _append(
        self,
        request: Request[Any, Any, Any],
        ctx: RequestContext,
        sha: str,
        body: bytes,
        upload_offset: int,
        upload_length: int,
        content_type: str,
    ) -> Response[Any]:
        settings = ctx.settings
        try:
            result = await append_chunk(
                request.app.state.db,
                blob_store(request),
                sha=sha,
                offset=upload_offset,
                data=body,
                length=upload_length,
                content_type=content_type.split(";")[0].strip().lower(),
                user_id=ctx.principal.user_id,
                device_id=ctx.principal.device_id,
                now=ctx.now,
                limits=BlobLimits.from_settings(
                    settings.blob_max_bytes, settings.blob_content_types
                ),
            )
        except Conflict as exc:
            if "offset" not in exc.details:
                raise
            return Response(
                content=ErrorBody(code=exc.code, message=exc.message, details=exc.details),
                status_code=exc.status,
                headers={"Upload-Offset": str(exc.details["offset"])},
            )
        if result.complete:
            if result.content_type.startswith("image/"):
                # Inspection and derivatives run in a thread; the photos waiting for this
                # blob are filled before the phone hears that it is complete.
                await photos.process_blob(request.app.state.db, blob_store(request), sha)
            return Response(
                content=BlobOut(sha, result.length, result.content_type),
                status_code=HTTP_201_CREATED,
                headers={"Upload-Offset": str(result.offset)},
            )
        return Response(
            content=None,
            status_code=HTTP_204_NO_CONTENT,
            headers={"Upload-Offset": str(result.offset)},
        )

    async def _visible(self, db: AsyncSession, ctx: RequestContext, sha: str) -> Any:
        """The blob's row if the caller may read it (``blob_visible``); otherwise
        ``404 blob_not_found``."""
        row = (
            await db.execute(
                select(Blob.size, Blob.content_type, Blob.user_id, User.provider_id)
                .outerjoin(User, User.id == Blob.user_id)
                .where(Blob.sha256 == sha)
            )
        ).one_or_none()
        if row is None or not blob_visible(ctx.principal, row.user_id, row.provider_id):
            raise NotFound("blob", sha)
        return row

    async def _derived(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        sha256: str,
        name: str,
    ) -> Stream:
        sha = check_sha(sha256)
        await self._visible(db, ctx, sha)
        stream = await blob_store(request).open_derived(sha, name)
        if stream is None:
            raise NotFound("blob", sha)
        return Stream(
            stream,
            media_type="image/jpeg",
            headers={
                "Cache-Control": "private, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @get("/{sha256:str}/thumbnail", guards=[TECH_OR_STAFF], media_type="image/jpeg")
    async def thumbnail(
        self, request: Request[Any, Any, Any], db: AsyncSession, ctx: RequestContext, sha256: str
    ) -> Stream:
        """A small upright JPEG of an image blob (at most 320 px a side) carrying no
        metadata at all — never the original's EXIF GPS. Same visibility as the blob;
        ``404 blob_not_found`` also while none exists (not an image, not readable)."""
        return await self._derived(request, db, ctx, sha256, "thumb")

    @get("/{sha256:str}/display", guards=[TECH_OR_STAFF], media_type="image/jpeg")
    async def display(
        self, request: Request[Any, Any, Any], db: AsyncSession, ctx: RequestContext, sha256: str
    ) -> Stream:
        """A screen-sized upright JPEG (at most 1600 px a side) with no metadata; like
        ``thumbnail`` otherwise."""
        return await self._derived(request, db, ctx, sha256, "display")

    @get(
        "/{sha256:str}",
        guards=[TECH_OR_STAFF],
        responses={
            200: ResponseSpec(
                data_container=bytes,
                media_type="image/*",
                description="The blob's bytes, with its own Content-Type.",
                generate_examples=False,
            )
        },
    )
    async def download(
        self, request: Request[Any, Any, Any], db: AsyncSession, ctx: RequestContext, sha256: str
    ) -> Stream:
        """Stream a complete blob with its ``Content-Type``. Staff may read any blob;
        a technician only the blobs they uploaded (kept simple on purpose: a job's
        photos are read by staff, and a phone already holds its own). Anything else,
        and uploads still in progress, is ``404 blob_not_found``."""
        sha = check_sha(sha256)
        row = await self._visible(db, ctx, sha)
        return Stream(
            blob_store(request).open(sha),
            media_type=row.content_type,
            headers={
                "Content-Length": str(row.size),
                "Cache-Control": "private, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )
