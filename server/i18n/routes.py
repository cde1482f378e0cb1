"""``GET /i18n/labels``: the labels of every code (job kinds, statuses, outcomes, risk
factors, rules…) from the server's ``.po`` catalogs, so the console shows the same words
as the service report and the messages: one source of truth, edited by translators in
one place."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.params import Parameter

from server.i18n.catalog import LOCALES, catalog
from server.i18n.choice import choose

__all__ = ["LabelsController", "LabelsOut", "code_labels"]

NOT_LABELS = frozenset({"", "error", "report", "sms", "customer"})
"""Contexts of sentences (errors, the report's text, message templates, the customer
page), not of codes."""


class LabelsOut(msgspec.Struct):
    locale: str
    """``zh-CN`` or ``en``: the locale these labels are in."""
    locales: list[str]
    """Every locale the server speaks, the brand's default first."""
    labels: dict[str, dict[str, str]]
    """By context (``job_kind``, ``job_status``, ``outcome``, ``risk_factor``, ``rule``…),
    each code's label. A code missing here reads as itself."""


def code_labels(locale: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    english = catalog("en")
    own = catalog(locale)
    for (context, code), text in english.items():
        if context in NOT_LABELS:
            continue
        out.setdefault(context, {})[code] = own.get((context, code), text)
    return out


class LabelsController(Controller):
    path = "/i18n"
    tags = ["i18n"]

    @get("/labels", opt={"public": True}, security=[], sync_to_thread=False)
    def labels(
        self,
        request: Request[Any, Any, Any],
        lang: Annotated[
            str | None,
            Parameter(description="``zh-CN`` or ``en``; else ``Accept-Language``, else zh-CN"),
        ] = None,
    ) -> Response[LabelsOut]:
        """The label of every code in one locale. Public: labels are no secret, and the
        sign-in page needs them before anyone has signed in."""
        locale = choose(lang, None, request.headers.get("accept-language"))
        return Response(
            LabelsOut(locale=locale, locales=list(LOCALES), labels=code_labels(locale)),
            headers={
                "Vary": "Accept-Language",
                "Content-Language": locale,
                "Cache-Control": CacheControlHeader(max_age=300, public=True).to_header(),
            },
        )
