"""``/c/{token}``: the customer's page (public, behind a signed link), and the desk's
``/jobs/{id}/customer-links`` (make, list, revoke links; the customer's answers)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_303_SEE_OTHER
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import STAFF, allow
from server.auth.scope import ensure_job_visible
from server.context import RequestContext
from server.customer_page import links, service
from server.customer_page.html import render_error, render_page
from server.db.base import utcnow
from server.db.models import CustomerAnswer, CustomerLink, Job
from server.db.models.user import Role
from server.errors import DoorstepError, Forbidden, NotFound
from server.i18n.http import request_locale
from server.limits import Limiter
from server.reports.routes import make_link_token

__all__ = ["CustomerLinkController", "CustomerPageController"]

DISPATCH = allow(Role.ADMIN, Role.DISPATCHER, Role.PROVIDER_MANAGER)
PAGE_HEADERS = {
    # No script at all; forms post only here; the token in the URL never leaves in a
    # Referer; not cached, not framed.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
Note = Annotated[str, msgspec.Meta(max_length=500)]


class RescheduleForm(msgspec.Struct, forbid_unknown_fields=True):
    csrf: str
    lang: str = ""
    note: Note = ""


class NotHomeForm(msgspec.Struct, forbid_unknown_fields=True):
    csrf: str
    answer: service.NotHomeAnswer
    lang: str = ""


class SatisfactionForm(msgspec.Struct, forbid_unknown_fields=True):
    csrf: str
    answer: service.Satisfaction
    lang: str = ""
    note: Note = ""


class LinkIn(msgspec.Struct, forbid_unknown_fields=True):
    days: Annotated[int, msgspec.Meta(ge=1, le=365)] | None = None
    """How long the link works (default ``DOORSTEP_CUSTOMER_LINK_DAYS``, 30)."""


class CustomerLinkOut(msgspec.Struct):
    id: uuid.UUID
    job_id: uuid.UUID
    reason: str
    """``booking`` (sent in the booking message) or ``desk``."""
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    url: str | None = None
    """Only in the answer that made the link: ``<public_url>/c/<token>``."""


class CustomerAnswerOut(msgspec.Struct):
    id: uuid.UUID
    job_id: uuid.UUID
    link_id: uuid.UUID | None
    kind: str
    """``reschedule``, ``not_home`` or ``satisfaction``."""
    value: str
    note: str
    at: datetime


def link_out(link: CustomerLink, url: str | None = None) -> CustomerLinkOut:
    return CustomerLinkOut(
        id=link.id,
        job_id=link.job_id,
        reason=link.reason,
        created_at=link.created_at,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        url=url,
    )


def answer_out(a: CustomerAnswer) -> CustomerAnswerOut:
    return CustomerAnswerOut(
        id=a.id,
        job_id=a.job_id,
        link_id=a.link_id,
        kind=a.kind,
        value=a.value,
        note=a.note,
        at=a.at,
    )


# --- the customer's page ------------------------------------------------------------------


def _key(request: Request[Any, Any, Any]) -> str:
    key: str = request.app.state.settings.signing_key()
    return key


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def _limit(request: Request[Any, Any, Any], token: str) -> None:
    """Per link (its id, else the token's first part) and, four times wider, per address."""
    limiter: Limiter | None = request.app.state.get("limiter")
    if limiter is None:
        return
    await limiter.check("customer_page", "l:" + token.split(".", 1)[0][:64])
    if request.client is not None:
        await limiter.check("customer_page", "a:" + request.client.host, scale=4)


async def _open(
    request: Request[Any, Any, Any], db: AsyncSession, token: str
) -> tuple[CustomerLink, Job]:
    await _limit(request, token)
    return await links.open_link(db, _key(request), token, utcnow())


def _html_error(exc: DoorstepError, locale: str) -> Response[str]:
    return Response(
        render_error(locale, exc.code),
        status_code=exc.status,
        media_type=MediaType.HTML,
        headers={**PAGE_HEADERS, "X-Error-Code": exc.code},
    )


async def _form(request: Request[Any, Any, Any], kind: type[Any]) -> Any:
    form = await request.form()
    fields = {k: form.get(k) for k in form.keys()}  # noqa: SIM118 (a multidict)
    try:
        return msgspec.convert(fields, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise DoorstepError("invalid_form", f"The form is not valid: {exc}.") from exc


def _check_csrf(request: Request[Any, Any, Any], link: CustomerLink, value: str) -> None:
    if not links.verify_csrf(_key(request), link.id, value):
        raise Forbidden(
            "form_expired", "This form did not come from your page; open the link again."
        )


class CustomerPageController(Controller):
    path = "/c"
    tags = ["customer page"]

    @get("/{token:str}", opt={"public": True}, security=[], media_type=MediaType.HTML)
    async def page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        token: str,
        lang: str | None = None,
        done: str | None = None,
    ) -> Response[str]:
        """The customer's page, opened from the link in the booking message (no
        account): the appointment and its window in the city's time, the technician's
        first name and skill level, a reschedule request; after a "nobody was home"
        report the customer's answer; after a completion the service report and a
        satisfaction question. In the browser's language (zh-CN by default; ``lang``
        overrides). Rate-limited per link and address. A tampered or unknown link is
        ``404 customer_link_invalid``; an expired one ``410 customer_link_expired``; a
        withdrawn one ``410 customer_link_revoked`` (an HTML page to a browser, else
        the usual JSON error)."""
        locale = await request_locale(request)
        try:
            link, job = await _open(request, db, token)
        except links.LinkError as exc:
            if _wants_html(request):
                return _html_error(exc, locale)
            raise
        view = await service.view(db, link, job)
        report_url = None
        if view.done:
            report_token = make_link_token(_key(request), job.id, link.expires_at)
            report_url = f"/service-reports/{report_token}?lang={locale}"
        html = render_page(
            view,
            token=token,
            csrf=links.csrf_token(_key(request), link.id),
            locale=locale,
            report_url=report_url,
            done=done,
        )
        return Response(html, media_type=MediaType.HTML, headers=PAGE_HEADERS)

    async def _after(
        self, request: Request[Any, Any, Any], token: str, lang: str, what: str
    ) -> Redirect:
        # Post/redirect/get: a reload does not post again.
        query = f"?done={what}" + (f"&lang={lang}" if lang in ("zh-CN", "en") else "")
        return Redirect(f"/c/{token}{query}", status_code=HTTP_303_SEE_OTHER)

    @post("/{token:str}/reschedule", opt={"public": True}, security=[])
    async def reschedule(
        self, request: Request[Any, Any, Any], db: AsyncSession, token: str
    ) -> Redirect:
        """The page's reschedule form (``csrf``, optional ``note`` ≤ 500): the job gets
        ``reschedule_requested_at`` and a ``reschedule_requested`` history entry by the
        customer, on the dispatchers' lists. 409 ``reschedule_not_possible`` on a
        completed, closed or cancelled job; 403 ``form_expired`` without the page's
        form token."""
        link, job = await _open(request, db, token)
        form: RescheduleForm = await _form(request, RescheduleForm)
        _check_csrf(request, link, form.csrf)
        remote = request.client.host if request.client else None
        await service.request_reschedule(db, link, job, form.note.strip(), utcnow(), remote)
        return await self._after(request, token, form.lang, "reschedule")

    @post("/{token:str}/not-home", opt={"public": True}, security=[])
    async def not_home(
        self, request: Request[Any, Any, Any], db: AsyncSession, token: str
    ) -> Redirect:
        """ "I was home / nobody came" (``answer=was_home``) or "I was out"
        (``was_away``) after a "nobody was home" report: recorded on the callback exactly
        as an SMS reply is, and it moves the callback's risk. 409 ``no_not_home_claim``
        when the job does not stand on such a report."""
        link, job = await _open(request, db, token)
        form: NotHomeForm = await _form(request, NotHomeForm)
        _check_csrf(request, link, form.csrf)
        remote = request.client.host if request.client else None
        await service.answer_not_home(db, link, job, form.answer, utcnow(), remote)
        return await self._after(request, token, form.lang, "not_home")

    @post("/{token:str}/satisfaction", opt={"public": True}, security=[])
    async def satisfaction(
        self, request: Request[Any, Any, Any], db: AsyncSession, token: str
    ) -> Redirect:
        """The customer's own satisfaction answer after a completion (``answer``:
        ``very_satisfied``, ``satisfied``, ``dissatisfied``), kept apart from the
        auditor's callback outcome and shown beside it (``GET /jobs/{id}/loop``, the
        callback). 409 ``visit_not_completed`` before the completion."""
        link, job = await _open(request, db, token)
        form: SatisfactionForm = await _form(request, SatisfactionForm)
        _check_csrf(request, link, form.csrf)
        remote = request.client.host if request.client else None
        await service.answer_satisfaction(
            db, link, job, form.answer, form.note.strip(), utcnow(), remote
        )
        return await self._after(request, token, form.lang, "satisfaction")


# --- the desk's side ------------------------------------------------------------------------


class CustomerLinkController(Controller):
    path = "/jobs"
    tags = ["customer page"]

    @post("/{job_id:uuid}/customer-links", guards=[DISPATCH], status_code=HTTP_201_CREATED)
    async def make_link(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, data: LinkIn | None = None
    ) -> CustomerLinkOut:
        """A new link to the job's customer page (to read out or send again); the URL is
        in this answer only. Booking an appointment makes one by itself and puts it in
        the booking message."""
        job = ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
        days = (data.days if data is not None else None) or ctx.settings.customer_link_days
        link, token = await links.issue(
            db,
            job,
            key=ctx.settings.signing_key(),
            now=ctx.now,
            days=days,
            reason="desk",
            created_by=ctx.principal.user_id,
        )
        return link_out(link, links.page_url(ctx.settings.public_url, token))

    @get("/{job_id:uuid}/customer-links", guards=[allow(*STAFF)])
    async def list_links(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID
    ) -> list[CustomerLinkOut]:
        """The job's customer page links (without their URLs), newest first."""
        ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
        rows = await db.scalars(
            select(CustomerLink)
            .where(CustomerLink.job_id == job_id)
            .order_by(CustomerLink.created_at.desc(), CustomerLink.id)
        )
        return [link_out(r) for r in rows]

    @post(
        "/{job_id:uuid}/customer-links/{link_id:uuid}/revoke",
        guards=[DISPATCH],
        status_code=HTTP_200_OK,
    )
    async def revoke_link(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, link_id: uuid.UUID
    ) -> CustomerLinkOut:
        """Withdraw a link: it answers ``410 customer_link_revoked`` from now on.
        Revoking twice keeps the first time."""
        ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
        link = await db.get(CustomerLink, link_id)
        if link is None or link.job_id != job_id:
            raise NotFound("customer_link", link_id)
        if link.revoked_at is None:
            link.revoked_at, link.revoked_by = ctx.now, ctx.principal.user_id
            await db.flush()
        return link_out(link)

    @get("/{job_id:uuid}/customer-answers", guards=[allow(*STAFF)])
    async def answers(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
        kind: Literal["reschedule", "not_home", "satisfaction"] | None = None,
    ) -> list[CustomerAnswerOut]:
        """What the customer said on their page, oldest first."""
        ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
        where = [CustomerAnswer.job_id == job_id]
        if kind is not None:
            where.append(CustomerAnswer.kind == kind)
        rows = await db.scalars(
            select(CustomerAnswer).where(*where).order_by(CustomerAnswer.at, CustomerAnswer.id)
        )
        return [answer_out(a) for a in rows]
