"""``/jobs/{id}/service-report`` (JSON and printable page for desks), a signed customer
link to the same page, and ``/service-reports/{token}`` (public) behind it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from html import escape
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
from server.reports.placeholder import placeholder_jpeg
from server.reports.service_report import PhotoRef, ServiceReport, build
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


# --- the printable page -----------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#111;margin:2em auto;
max-width:52em;padding:0 1em;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.1em;border-bottom:1px solid #ccc;
padding-bottom:.2em;margin-top:1.5em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.3em .5em;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.num,th.num{text-align:right}
.banner{padding:.7em 1em;border-radius:4px;font-weight:bold;margin:1em 0}
.signed{background:#e6f4ea;border:2px solid #1e7e34}
.unsigned{background:#fdecea;border:2px solid #b00020;color:#b00020}
.photos{display:flex;flex-wrap:wrap;gap:.5em}.photos figure{margin:0}
.photos img{max-width:160px;max-height:160px;border:1px solid #ccc}
.photos figcaption{font-size:.8em;color:#555}.muted{color:#666}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dt{font-weight:bold}
dd{margin:0}.mono{font-family:ui-monospace,monospace;font-size:.85em;word-break:break-all}
@media print{body{margin:0;max-width:none;font-size:11pt}
.banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}
h2{break-after:avoid}table,figure{break-inside:avoid}a{color:inherit;text-decoration:none}}
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _when(value: datetime | None) -> str:
    return _e(value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "—")


def _money(amount: int, currency: str) -> str:
    return _e(f"{amount / 100:,.2f} {currency}")


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    minutes = abs(seconds) // 60
    return _e(f"{sign}{minutes // 60} h {minutes % 60:02d} min")


def _dl(rows: list[tuple[str, str]]) -> str:
    """Rows whose values are already escaped."""
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _banner(report: ServiceReport) -> str:
    s = report.sign_off
    if s is not None and s.signed:
        return (
            '<div class="banner signed">Signed by '
            f"{_e(s.signer_name)} on {_when(s.signed_at)}</div>"
        )
    if s is not None and s.stale:
        return (
            '<div class="banner unsigned">NOT SIGNED — the report changed after signing '
            f"({_e(s.signer_name)} signed an earlier version on {_when(s.signed_at)})</div>"
        )
    return '<div class="banner unsigned">NOT SIGNED — the customer has not signed</div>'


def _photos(photos: dict[str, list[PhotoRef]], photo_url: Callable[[str], str]) -> str:
    if not photos:
        return '<p class="muted">No photos.</p>'
    out = []
    for kind, refs in photos.items():
        figures = "".join(
            f'<figure><img src="{_e(photo_url(p.sha256))}" '
            f'alt="{_e(kind)} photo" loading="lazy">'
            f"<figcaption>{_when(p.taken_at)}</figcaption></figure>"
            for p in refs
        )
        out.append(f"<h3>{_e(kind.replace('_', ' ').capitalize())}</h3>")
        out.append(f'<div class="photos">{figures}</div>')
    return "".join(out)


def staff_photo_url(sha: str) -> str:
    return f"/sync/v1/blobs/{sha}/thumbnail"


def render_html(
    report: ServiceReport,
    *,
    for_customer: bool,
    photo_url: Callable[[str], str] = staff_photo_url,
    signature_url: str | None = None,
) -> str:
    """One self-contained page (inline CSS, no scripts, no external assets) that prints
    cleanly. Every value from the database is escaped: work notes are typed on a phone.
    ``for_customer`` leaves out what only auditors should read (findings, verdicts)."""
    cur = report.currency
    t = report.times
    a = report.appliance
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="robots" content="noindex">',
        f"<title>Service report {_e(report.number)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Service report {_e(report.number)}</h1>",
        f'<p class="muted">{_e(report.kind)} · {_e(report.status)}</p>',
        _banner(report),
        (
            f'<p><img class="signature" src="{_e(signature_url)}" alt="customer signature" '
            'style="max-width:100%;height:auto;border-bottom:1px solid #999"></p>'
            if signature_url and report.sign_off is not None
            else ""
        ),
        "<h2>Customer</h2>",
        _dl([("Name", _e(report.customer_name)), ("Address", _e(report.customer_address))]),
        "<h2>Appliance</h2>",
        _dl(
            [
                ("Category", _e(a.category)),
                ("Brand / model", _e(" ".join(x for x in (a.brand, a.model) if x))),
                ("Serial", _e(a.serial or "—")),
                (
                    "Warranty",
                    _e(
                        f"until {a.warranty_end.isoformat()}"
                        + (" (in warranty)" if a.in_warranty else " (expired)")
                        if a.warranty_end is not None
                        else "none recorded"
                    ),
                ),
            ]
        )
        if a is not None
        else '<p class="muted">No appliance recorded.</p>',
        "<h2>Visit</h2>",
        _dl(
            [
                ("Technician", _e(report.technician_name or "—")),
                ("Provider", _e(report.provider_name or "—")),
                ("Appointment", f"{_when(t.window_start)} to {_when(t.window_end)}"),
                ("Arrived", _when(t.arrived_at)),
                ("Checked out", _when(t.checked_out_at)),
                ("Time on site", _duration(t.time_on_site_s)),
                ("Completed", _when(t.completed_at)),
            ]
        ),
        "<h2>Work done</h2>",
    ]
    r = report.report
    if r is None:
        parts.append('<p class="muted">No completion report yet.</p>')
    else:
        parts.append(f'<p style="white-space:pre-wrap">{_e(r.work_done)}</p>')
        parts.append("<h2>Parts</h2>")
        if r.parts:
            rows = "".join(
                f"<tr><td>{_e(p.name)}</td><td>{_e(p.code)}</td>"
                f'<td class="num">{_e(p.quantity)}</td>'
                f'<td class="num">{_money(p.unit_price, cur)}</td>'
                f'<td class="num">{_money(p.total, cur)}</td></tr>'
                for p in r.parts
            )
            parts.append(
                "<table><tr><th>Part</th><th>Code</th><th class=num>Qty</th>"
                "<th class=num>Unit price</th><th class=num>Total</th></tr>"
                f'{rows}<tr><th colspan="4">Parts total</th>'
                f'<th class="num">{_money(r.parts_total, cur)}</th></tr></table>'
            )
        else:
            parts.append('<p class="muted">No parts.</p>')
        parts.append("<h2>Charges</h2>")
        rows = "".join(
            f'<tr><td>{_e(c.label or c.code)}</td><td class="num">{_money(c.amount, cur)}</td></tr>'
            for c in r.charges
        )
        parts.append(
            "<table><tr><th>Charge</th><th class=num>Amount</th></tr>"
            f'{rows}<tr><th>Total charged</th><th class="num">'
            f"{_money(r.charges_total, cur)}</th></tr></table>"
        )
        if r.checklist:
            items = "".join(
                f"<li>{'✔' if done else '✘'} {_e(code.replace('_', ' '))}</li>"
                for code, done in r.checklist.items()
            )
            parts.append(f"<h2>Checklist</h2><ul>{items}</ul>")
        if not for_customer:
            parts.append("<h2>Findings</h2>")
            parts.append(
                "<ul>"
                + "".join(
                    f"<li><b>{_e(f.get('code'))}</b>: {_e(f.get('detail'))}</li>"
                    for f in r.findings
                )
                + "</ul>"
                if r.findings
                else '<p class="muted">No findings.</p>'
            )
    parts.append("<h2>Photos</h2>")
    parts.append(_photos(report.photos, photo_url))
    parts.append("<h2>Customer sign-off</h2>")
    s = report.sign_off
    if s is None:
        parts.append('<p class="muted">Not signed.</p>')
    else:
        parts.append(
            _dl(
                [
                    ("Signed by", _e(s.signer_name)),
                    ("Signed at", _when(s.signed_at)),
                    ("Report fingerprint", f'<span class="mono">{_e(s.report_sha256)}</span>'),
                ]
            )
        )
    if r is not None:
        parts.append(
            f'<p class="muted">Current report fingerprint (SHA-256): '
            f'<span class="mono">{_e(r.sha256)}</span></p>'
        )
    if not for_customer:
        parts.append("<h2>Verdicts</h2>")
        if report.verdicts:
            rows = "".join(
                f"<tr><td>{_e(v.claim_type)}</td><td>{'passed' if v.passed else 'FAILED'}</td>"
                f"<td>{_when(v.computed_at)}</td><td>"
                + "; ".join(
                    f"{_e(x.get('code'))}: {'ok' if x.get('passed') else 'failed'}"
                    for x in v.verdicts
                )
                + "</td></tr>"
                for v in report.verdicts
            )
            parts.append(
                "<table><tr><th>Claim</th><th>Result</th><th>Computed</th><th>Rules</th></tr>"
                f"{rows}</table>"
            )
        else:
            parts.append('<p class="muted">No verdicts.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


# --- routes -----------------------------------------------------------------------------


async def _visible_report(
    db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID
) -> ServiceReport:
    ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
    return await build(db, job_id)


async def _signature_response(
    request: Request[Any, Any, Any], db: AsyncSession, job_id: uuid.UUID
) -> Response[bytes]:
    signed = await db.scalar(
        select(SignOff)
        .where(SignOff.job_id == job_id)
        .order_by(SignOff.received_at.desc())
        .limit(1)
    )
    if signed is not None and signed.strokes:
        strokes: list[Any] = list(signed.strokes)
        png = await anyio.to_thread.run_sync(render_strokes, strokes)
        return Response(
            png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"}
        )
    if signed is not None and signed.signature_sha256:
        stream = await blob_store(request).open_derived(signed.signature_sha256, "display")
        if stream is not None:
            data = b"".join([chunk async for chunk in stream])
            return Response(
                data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"}
            )
    raise NotFound("signature", job_id)


class ServiceReportController(Controller):
    path = "/jobs"
    tags = ["reports"]

    @get("/{job_id:uuid}/service-report", guards=[allow(*STAFF)])
    async def service_report(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID
    ) -> ServiceReport:
        """Everything about one visit in one document: times, work, parts, charges,
        photos, the customer's sign-off (``stale`` when the report changed after it) and,
        for auditors, findings and the latest verdicts. No customer phone numbers."""
        return await _visible_report(db, ctx, job_id)

    @get("/{job_id:uuid}/service-report.html", guards=[allow(*STAFF)], media_type=MediaType.HTML)
    async def service_report_html(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID
    ) -> str:
        """The same report as a printable page, findings and verdicts included."""
        return render_html(
            await _visible_report(db, ctx, job_id),
            for_customer=False,
            signature_url=f"/jobs/{job_id}/signature",
        )

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
        self, request: Request[Any, Any, Any], db: AsyncSession, token: str
    ) -> str:
        """The customer's copy, opened from a signed link: times, work, parts, charges,
        photos and signature. A tampered, expired or unknown link is
        ``404 report_link_invalid``."""
        job_id = read_link_token(request.app.state.settings.signing_key(), token, utcnow())
        if await db.get(Job, job_id) is None:
            raise ReportLinkInvalid()
        return render_html(
            await build(db, job_id),
            for_customer=True,
            photo_url=lambda sha: f"/service-reports/{token}/photos/{sha}",
            signature_url=f"/service-reports/{token}/signature",
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
