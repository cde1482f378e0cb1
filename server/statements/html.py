"""The statement as a printable page, in the reader's language, money as ¥ (Babel)."""

from __future__ import annotations

from server.i18n import format_datetime, format_money, label, t
from server.reports.html import CSS, e
from server.statements.schemas import StatementOut

__all__ = ["render_statement"]


def render_statement(s: StatementOut, locale: str) -> str:
    def c(key: str, **params: object) -> str:
        return e(t(locale, "statement", key, None, **params))

    def money(amount: int | None) -> str:
        if amount is None:
            return "—"
        return e(format_money(amount, s.currency, locale))

    title = t(locale, "statement", "title", provider=s.provider_name, month=s.month)
    out = [
        f"<h1>{e(title)}</h1>",
        f'<p class="muted">{c("generated", when=format_datetime(s.generated_at, s.timezone, locale))}'
        f" · {e(s.timezone)}</p>",
        "<table><tr>"
        f"<th>{c('bonus')}</th><th>{c('fines')}</th><th>{c('net')}</th></tr>"
        f'<tr><td class="num">{money(s.bonus)}</td><td class="num">{money(s.fines)}</td>'
        f'<td class="num" data-net><b>{money(s.net)}</b></td></tr></table>',
    ]
    if not s.technicians:
        out.append(f'<p class="muted">{c("no_lines")}</p>')
    for tech in s.technicians:
        name = tech.technician_name or t(locale, "statement", "no_technician")
        out.append(
            f"<h2>{e(name)}</h2><p>{c('bonus')} {money(tech.bonus)} · {c('fines')} "
            f"{money(tech.fines)} · {c('net')} <b>{money(tech.net)}</b></p>"
        )
        rows = "".join(
            f"<tr><td>{e(format_datetime(x.claimed_at, s.timezone, locale))}</td>"
            f"<td>{e(x.job_number)}</td>"
            f"<td>{e(label(locale, 'statement_line', x.kind))}</td>"
            f"<td>{e(label(locale, 'statement_detail', x.detail))}</td>"
            f'<td class="num">{e(format_money(x.amount, x.currency, locale))}</td></tr>'
            for x in tech.lines
        )
        out.append(
            f"<table><tr><th>{c('claimed_at')}</th><th>{c('job')}</th><th>{c('kind')}</th>"
            f"<th>{c('detail')}</th><th class=num>{c('amount')}</th></tr>{rows}</table>"
        )
    lang = "zh-CN" if locale == "zh-CN" else "en"
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>{''.join(out)}</body></html>"
    )
