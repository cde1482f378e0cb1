"""``/jobs/{id}/service-report`` (JSON and printable page for desks), a signed customer
link to the same page, and ``/service-reports/{token}`` (public) behind it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar

import anyio
import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import STAFF, allow
from server.auth.scope import ensure_job_visible
from server.context import RequestContext
from server.db.base import utcnow
from server.db.models import Job, Photo, SignOff
from server.errors import DoorstepError, NotFound
from server.i18n.http import request_locale
from server.reports.html import render_html, staff_photo_url
from server.reports.pdf import data_uri, html_to_pdf
from server.reports.placeholder import placeholder_jpeg
from server.reports.service_report import ServiceReport, build
from server.sync_api.blob_routes import blob_store
from sync.blobs import check_sha
from sync.photos import foreign_blob
from sync.signatures import render_strokes

__all__ = [
    "LINK_TTL",
    "PublicServiceReportController",
    "ReportLinkInvalid",
    "ServiceReportController",
    "make_link_token",
    "read_link_token",
    "render_html",
]

LINK_TTL = timedelta(days=30)
"""How long a customer's link works by default: long enough to settle a dispute."""

_PURPOSE = b"doorstep.service-report.v1"
"""Mixed into the MAC so a token made for anything else can never open a report."""


class ReportLinkInvalid(DoorstepError):
    """A link that was tampered with, expired, or names a job that is gone. One code for
    all three, so a guesser learns nothing about which."""

    status: ClassVar[int] = 404

    def __init__(self) -> None:
        super().__init__(
            "report_link_invalid", "This service report link is not valid or has expired."
        )


# --- the customer's link ----------------------------------------------------------------


def _mac(key: str, payload: str) -> str:
    digest = hmac.new(key.encode(), _PURPOSE + b"." + payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_link_token(key: str, job_id: uuid.UUID, expires_at: datetime) -> str:
    """``<job hex>.<expiry unix seconds>.<HMAC-SHA256>``: stateless, so nothing to store
    or clean up; rotating the signing key revokes every link at once."""
    payload = f"{job_id.hex}.{int(expires_at.timestamp())}"
    return f"{payload}.{_mac(key, payload)}"


def read_link_token(key: str, token: str, now: datetime) -> uuid.UUID:
    """The job a token opens, or ``ReportLinkInvalid``."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ReportLinkInvalid()
    job_hex, expiry, mac = parts
    if not hmac.compare_digest(_mac(key, f"{job_hex}.{expiry}"), mac):
        raise ReportLinkInvalid()
    try:
        job_id = uuid.UUID(hex=job_hex)
        expires = int(expiry)
    except ValueError as exc:
        raise ReportLinkInvalid() from exc
    if now.timestamp() >= expires:
        raise ReportLinkInvalid()
    return job_id


class LinkIn(msgspec.Struct, forbid_unknown_fields=True):
    days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30


class LinkOut(msgspec.Struct):
    url: str
    """Relative to this server: ``/service-reports/{token}``."""
    expires_at: datetime


# --- routes -----------------------------------------------------------------------------


async def _visible_report(
    db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID
) -> ServiceReport:
    ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
    return await build(db, job_id)


async def _signature_image(
    request: Request[Any, Any, Any], db: AsyncSession, job_id: uuid.UUID
) -> tuple[bytes, str] | None:
    """The customer's latest signature: pen strokes rendered to PNG, or the signature
    photo's display copy."""
    signed = await db.scalar(
        select(SignOff)
        .where(SignOff.job_id == job_id)
        .order_by(SignOff.received_at.desc())
        .limit(1)
    )
    if signed is not None and signed.strokes:
        strokes: list[Any] = list(signed.strokes)
        return await anyio.to_thread.run_sync(render_strokes, strokes), "image/png"
    if signed is not None and signed.signature_sha256:
        stream = await blob_store(request).open_derived(signed.signature_sha256, "display")
        if stream is not None:
            return b"".join([chunk async for chunk in stream]), "image/jpeg"
    return None


async def _signature_response(
    request: Request[Any, Any, Any], db: AsyncSession, job_id: uuid.UUID
) -> Response[bytes]:
    found = await _signature_image(request, db, job_id)
    if found is None:
        raise NotFound("signature", job_id)
    return Response(
        found[0], media_type=found[1], headers={"Cache-Control": "private, max-age=300"}
    )


async def report_pdf(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    report: ServiceReport,
    *,
    for_customer: bool,
    locale: str,
) -> Response[bytes]:
    """The report's own HTML laid out as a PDF, photos and signature inlined."""
    images: dict[str, str] = {}
    job = await db.get(Job, report.job_id)
    for refs in report.photos.values():
        for ref in refs:
            photo = await db.get(Photo, ref.photo_id)
            if (
                for_customer
                and photo is not None
                and job is not None
                and await foreign_blob(db, ref.sha256, photo.technician_id, job)
            ):
                # As on the customer's page: another job's picture is never inlined.
                images[ref.sha256] = data_uri(placeholder_jpeg(), "image/jpeg")
                continue
            stream = await blob_store(request).open_derived(ref.sha256, "thumb")
            if stream is not None:
                images[ref.sha256] = data_uri(
                    b"".join([chunk async for chunk in stream]), "image/jpeg"
                )
    signature = await _signature_image(request, db, report.job_id)
    html = render_html(
        report,
        for_customer=for_customer,
        locale=locale,
        photo_url=lambda sha: images.get(sha, ""),
        signature_url=data_uri(*signature) if signature is not None else None,
    )
    pdf = await html_to_pdf(html)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="service-report-{report.number}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


class ServiceReportController(Controller):
    path = "/jobs"
    tags = ["reports"]

    @get("/{job_id:uuid}/service-report", guards=[allow(*STAFF)])
    async def service_report(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID
    ) -> ServiceReport:
        """Everything about one visit in one document: times, work, parts, charges,
        photos, the customer's sign-off (``stale`` when the report changed after it) and,
        for auditors, findings and the latest verdicts. No customer phone numbers.
        Times are UTC on the wire; ``timezone`` is the city's, for showing them."""
        return await _visible_report(db, ctx, job_id)

    @get("/{job_id:uuid}/service-report.html", guards=[allow(*STAFF)], media_type=MediaType.HTML)
    async def service_report_html(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
        lang: str | None = None,
    ) -> str:
        """The same report as a printable page, findings and verdicts included, in
        ``lang`` (``zh-CN`` or ``en``), else the user's language, else the browser's;
        times in the city's zone."""
        report = await _visible_report(db, ctx, job_id)
        return render_html(
            report,
            for_customer=False,
            locale=await request_locale(request, db, ctx.principal.user_id),
            photo_url=staff_photo_url,
            signature_url=f"/jobs/{job_id}/signature",
        )

    @get("/{job_id:uuid}/service-report.pdf", guards=[allow(*STAFF)], media_type="application/pdf")
    async def service_report_pdf(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
        lang: str | None = None,
    ) -> Response[bytes]:
        """The printable page as a PDF (same HTML, same language choice). 503
        ``pdf_unavailable`` on a server without WeasyPrint's system libraries."""
        report = await _visible_report(db, ctx, job_id)
        locale = await request_locale(request, db, ctx.principal.user_id)
        return await report_pdf(request, db, report, for_customer=False, locale=locale)

    @get("/{job_id:uuid}/signature", guards=[allow(*STAFF)], media_type="image/png")
    async def signature(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
    ) -> Response[bytes]:
        """The customer's latest signature as an image (pen strokes rendered to PNG, or
        the signature photo's display copy)."""
        ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
        return await _signature_response(request, db, job_id)

    @post("/{job_id:uuid}/service-report/link", guards=[allow(*STAFF)], status_code=HTTP_200_OK)
    async def service_report_link(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
        data: LinkIn | None = None,
    ) -> LinkOut:
        """A link the customer can open without an account (30 days unless ``days``
        says otherwise). It shows the report without findings or verdicts."""
        ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
        expires_at = (ctx.now + timedelta(days=(data or LinkIn()).days)).replace(microsecond=0)
        token = make_link_token(request.app.state.settings.signing_key(), job_id, expires_at)
        return LinkOut(url=f"/service-reports/{token}", expires_at=expires_at)


class PublicServiceReportController(Controller):
    path = "/service-reports"
    tags = ["reports"]

    @get(
        "/{token:str}",
        opt={"public": True},
        security=[],
        media_type=MediaType.HTML,
    )
    async def customer_report(
        self, request: Request[Any, Any, Any], db: AsyncSession, token: str, lang: str | None = None
    ) -> str:
        """The customer's copy, opened from a signed link: times, work, parts, charges,
        photos and signature, in the browser's language (``lang`` overrides; zh-CN by
        default). A tampered, expired or unknown link is ``404 report_link_invalid``."""
        job_id = read_link_token(request.app.state.settings.signing_key(), token, utcnow())
        if await db.get(Job, job_id) is None:
            raise ReportLinkInvalid()
        return render_html(
            await build(db, job_id),
            for_customer=True,
            locale=await request_locale(request),
            photo_url=lambda sha: f"/service-reports/{token}/photos/{sha}",
            signature_url=f"/service-reports/{token}/signature",
            pdf_url=f"/service-reports/{token}/report.pdf",
        )

    @get(
        "/{token:str}/report.pdf",
        opt={"public": True},
        security=[],
        media_type="application/pdf",
    )
    async def customer_report_pdf(
        self, request: Request[Any, Any, Any], db: AsyncSession, token: str, lang: str | None = None
    ) -> Response[bytes]:
        """The customer's copy as a PDF."""
        job_id = read_link_token(request.app.state.settings.signing_key(), token, utcnow())
        if await db.get(Job, job_id) is None:
            raise ReportLinkInvalid()
        return await report_pdf(
            request,
            db,
            await build(db, job_id),
            for_customer=True,
            locale=await request_locale(request),
        )

    @get("/{token:str}/signature", opt={"public": True}, security=[], media_type="image/png")
    async def customer_signature(
        self, request: Request[Any, Any, Any], db: AsyncSession, token: str
    ) -> Response[bytes]:
        """The customer's own signature on the report they were sent."""
        job_id = read_link_token(request.app.state.settings.signing_key(), token, utcnow())
        return await _signature_response(request, db, job_id)

    @get("/{token:str}/photos/{sha256:str}", opt={"public": True}, security=[])
    async def customer_photo(
        self, request: Request[Any, Any, Any], db: AsyncSession, token: str, sha256: str
    ) -> Stream | Response[bytes]:
        """A photo of the visit, as a small copy without location metadata, for the
        customer's link: only photos of that job. A photo whose bytes were uploaded for
        another provider's job shows a placeholder saying so (never those bytes)."""
        job_id = read_link_token(request.app.state.settings.signing_key(), token, utcnow())
        sha = check_sha(sha256)
        photo = await db.scalar(
            select(Photo).where(Photo.job_id == job_id, Photo.sha256 == sha).limit(1)
        )
        job = await db.get(Job, job_id) if photo is not None else None
        if (
            photo is not None
            and job is not None
            and await foreign_blob(db, sha, photo.technician_id, job)
        ):
            return Response(
                placeholder_jpeg(),
                media_type="image/jpeg",
                headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
            )
        stream = await blob_store(request).open_derived(sha, "thumb") if photo else None
        if stream is None:
            raise NotFound("photo", sha)
        return Stream(
            stream,
            media_type="image/jpeg",
            headers={
                "Cache-Control": "private, max-age=86400",
                "X-Content-Type-Options": "nosniff",
            },
        )
