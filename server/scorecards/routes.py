"""``/scorecards/technicians`` and ``/scorecards/providers``: ranked scorecards for a
period, as JSON or (``format=csv``) a spreadsheet download with the same columns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import STAFF, allow
from server.context import RequestContext
from server.scorecards.schemas import ProviderScorecards, TechnicianScorecards
from server.scorecards.service import (
    By,
    Period,
    csv_columns,
    parse_period,
    scorecards_csv,
    visible_scorecards,
)

__all__ = ["ScorecardController"]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
Format = Literal["json", "csv"]

_EXAMPLE_FIGURES = "12,10,0.8333,8,6,0.75,0.55,1,8,0.8,1,2,2,1.0,CNY,6000,200000,-194000"
_CSV_EXAMPLES: dict[By, str] = {
    "technician": (
        ",".join(csv_columns("technician"))
        + "\r\n1,0191a5a4-0000-7000-8000-000000000001,Wang Lei,"
        + "0191a5a4-0000-7000-8000-0000000000aa,Westlake Home Service,"
        + _EXAMPLE_FIGURES
        + "\r\n"
    ),
    "provider": (
        ",".join(csv_columns("provider"))
        + "\r\n1,0191a5a4-0000-7000-8000-0000000000aa,Westlake Home Service,"
        + _EXAMPLE_FIGURES
        + "\r\n"
    ),
}

_DESCRIPTION = (
    "The ranked scorecards. With `format=csv`: `text/csv; charset=utf-8`, downloaded as "
    "an attachment (`Content-Disposition: attachment; filename=...`), a header row and "
    "one line per item with the columns of the JSON `items` (who first), empty cells "
    "for nulls."
)


def _with_csv(by: By) -> type[Operation]:
    """The operation documents the CSV form next to the JSON one under 200."""

    @dataclass
    class CsvOperation(Operation):
        def __post_init__(self) -> None:
            ok = (self.responses or {}).get("200")
            if isinstance(ok, OpenAPIResponse):
                ok.content = dict(ok.content or {})
                ok.content[CSV_MEDIA_TYPE] = OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING), example=_CSV_EXAMPLES[by]
                )

    return CsvOperation


FromParam = Annotated[
    str | None,
    Parameter(
        query="from",
        description="Start (inclusive): a date (midnight UTC) or an ISO 8601 date and time "
        "(UTC when no offset). Default: 30 days before `to`.",
    ),
]
ToParam = Annotated[
    str | None,
    Parameter(
        query="to",
        description="End (exclusive), same forms as `from`. Default: now. At most 366 days "
        "after `from`.",
    ),
]
FormatParam = Annotated[Format, Parameter(query="format", description="`json` (default) or `csv`")]


def _answer(
    by: By, page: TechnicianScorecards | ProviderScorecards, fmt: Format, period: Period
) -> Response[Any]:
    if fmt == "json":
        return Response(content=page)
    name = f"scorecards-{by}s-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return Response(
        content=scorecards_csv(by, page.items).encode("utf-8"),
        media_type="text/csv",  # Litestar adds "; charset=utf-8" to text types
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class ScorecardController(Controller):
    path = "/scorecards"
    tags = ["scorecards"]

    @get(
        "/technicians",
        guards=[allow(*STAFF)],
        response_description=_DESCRIPTION,
        operation_class=_with_csv("technician"),
    )
    async def technicians(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        period_from: FromParam = None,
        period_to: ToParam = None,
        provider_id: uuid.UUID | None = None,
        city_id: uuid.UUID | None = None,
        fmt: FormatParam = "json",
    ) -> Response[TechnicianScorecards]:
        """Each technician with a claim (completion, unable, not home) in the period,
        ranked by ``score`` — the very-satisfied rate minus 0.2 per proven false report
        (a contradicted claim whose fine stands), shown beside the plain rate — then
        very-satisfied count, then fewest contradicted claims, then name. Amounts are integers in minor units of
        `currency`; a row spanning several currencies says `mixed` with null amounts
        (filter by `city_id` to split them).

        Provider staff see their own technicians only (another provider's id: 404);
        ranks are computed over everyone the filters select and never renumbered."""
        period = parse_period(period_from, period_to, ctx.now)
        page = await visible_scorecards(
            db,
            ctx.principal,
            "technician",
            period,
            ctx.now,
            provider_id=provider_id,
            city_id=city_id,
        )
        return _answer("technician", page, fmt, period)

    @get(
        "/providers",
        guards=[allow(*STAFF)],
        response_description=_DESCRIPTION,
        operation_class=_with_csv("provider"),
    )
    async def providers(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        period_from: FromParam = None,
        period_to: ToParam = None,
        city_id: uuid.UUID | None = None,
        fmt: FormatParam = "json",
    ) -> Response[ProviderScorecards]:
        """Each service company with a claim in the period, its technicians' figures
        taken together (a job two of its technicians worked counts once), ranked as the
        technicians are. Provider staff see their own row only, ranked among all."""
        period = parse_period(period_from, period_to, ctx.now)
        page = await visible_scorecards(
            db, ctx.principal, "provider", period, ctx.now, city_id=city_id
        )
        return _answer("provider", page, fmt, period)
