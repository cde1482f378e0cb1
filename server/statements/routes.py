"""``/providers/{id}/statements/{yyyy-mm}``: a provider's monthly statement."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import STAFF, allow
from server.context import RequestContext
from server.i18n.http import request_locale
from server.statements.html import render_statement
from server.statements.schemas import StatementOut
from server.statements.service import statement, statement_csv, visible_provider

__all__ = ["StatementController"]

Format = Literal["json", "csv", "html"]


class StatementController(Controller):
    path = "/providers"
    tags = ["statements"]

    @get("/{provider_id:uuid}/statements/{month:str}", guards=[allow(*STAFF)])
    async def provider_statement(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        provider_id: uuid.UUID,
        month: str,
        fmt: Annotated[
            Format,
            Parameter(
                query="format",
                description="`json` (default), `csv` (one row per line, an attachment) or "
                "`html` (a printable page in `lang`, else the user's language, else the "
                "browser's; money as ¥)",
            ),
        ] = "json",
        lang: str | None = None,
    ) -> Response[StatementOut]:
        """What a provider is paid on for one calendar month (``yyyy-mm``, in the
        provider's cities' time zone): very-satisfied bonuses and fines for proven false
        reports (voided ones left out), per technician, with the job behind every line,
        and the bonus, fines and net of each technician and of the provider. Lines are
        the claims made in the month, counted as scorecards count them. Amounts are
        minor units (fen). Provider staff read their own provider's statements only
        (another's: 404 ``provider_not_found``); 422 ``invalid_month``."""
        provider = await visible_provider(db, ctx.principal, provider_id)
        s = await statement(db, provider, month, ctx.now)
        if fmt == "csv":
            return Response(
                content=statement_csv(s).encode("utf-8"),  # type: ignore[arg-type]
                media_type="text/csv",
                headers={
                    "Content-Disposition": (
                        f'attachment; filename="statement-{provider.code}-{s.month}.csv"'
                    )
                },
            )
        if fmt == "html":
            locale = await request_locale(request, db, ctx.principal.user_id)
            return Response(
                content=render_statement(s, locale).encode("utf-8"),  # type: ignore[arg-type]
                media_type="text/html",
                headers={
                    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"
                },
            )
        return Response(content=s)
