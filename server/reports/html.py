"""The service report as one printable page, in the reader's language and the city's
time zone. The desk page, the customer's link and the PDF are all this HTML."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape

from server.i18n import format_date, format_datetime, format_money, label, t, window
from server.reports.service_report import PhotoRef, ServiceReport

__all__ = ["CSS", "e", "render_html", "staff_photo_url"]

CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",
system-ui,-apple-system,"Segoe UI",sans-serif;color:#111;margin:2em auto;
max-width:52em;padding:0 1em;line-height:1.5}
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
h2{break-after:avoid}table,figure{break-inside:avoid}a{color:inherit;text-decoration:none}
.noprint{display:none}}
"""


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def staff_photo_url(sha: str) -> str:
    return f"/sync/v1/blobs/{sha}/thumbnail"


class _Page:
    """The locale and zone every value of one page is written in."""

    def __init__(self, locale: str, tz: str) -> None:
        self.locale, self.tz = locale, tz

    def __call__(self, key: str, **params: object) -> str:
        return e(t(self.locale, "report", key, None, **params))  # type: ignore[arg-type]

    def label(self, context: str, code: str | None) -> str:
        return e(label(self.locale, context, code))

    def when(self, value: datetime | None) -> str:
        return e(format_datetime(value, self.tz, self.locale))

    def money(self, amount: int, currency: str) -> str:
        return e(format_money(amount, currency, self.locale))

    def duration(self, seconds: int | None) -> str:
        if seconds is None:
            return "—"
        minutes = abs(seconds) // 60
        text = t(
            self.locale, "report", "duration", hours=minutes // 60, minutes=f"{minutes % 60:02d}"
        )
        return e(("-" if seconds < 0 else "") + text)


def _dl(rows: list[tuple[str, str]]) -> str:
    """Rows whose labels and values are already escaped."""
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _banner(p: _Page, report: ServiceReport) -> str:
    s = report.sign_off
    if s is not None and s.signed:
        text = p("signed_by", name=s.signer_name, when=format_datetime(s.signed_at, p.tz, p.locale))
        return f'<div class="banner signed">{text}</div>'
    if s is not None and s.stale:
        text = p("stale", name=s.signer_name, when=format_datetime(s.signed_at, p.tz, p.locale))
        return f'<div class="banner unsigned">{text}</div>'
    return f'<div class="banner unsigned">{p("unsigned")}</div>'


def _photos(p: _Page, photos: dict[str, list[PhotoRef]], photo_url: Callable[[str], str]) -> str:
    if not photos:
        return f'<p class="muted">{p("no_photos")}</p>'
    out = []
    for kind, refs in photos.items():
        name = label(p.locale, "photo_kind", kind)
        figures = "".join(
            f'<figure><img src="{e(photo_url(ref.sha256))}" '
            f'alt="{p("photo_alt", kind=name)}" loading="lazy">'
            f"<figcaption>{p.when(ref.taken_at)}</figcaption></figure>"
            for ref in refs
        )
        out.append(f"<h3>{e(name)}</h3>")
        out.append(f'<div class="photos">{figures}</div>')
    return "".join(out)


def _appliance(p: _Page, report: ServiceReport) -> str:
    a = report.appliance
    if a is None:
        return f'<p class="muted">{p("no_appliance")}</p>'
    if a.warranty_end is not None:
        warranty = p("warranty_until", date=format_date(a.warranty_end, p.locale))
        warranty += f" ({p('in_warranty') if a.in_warranty else p('expired')})"
    else:
        warranty = p("no_warranty")
    return _dl(
        [
            (p("category"), p.label("appliance_category", a.category)),
            (p("brand_model"), e(" ".join(x for x in (a.brand, a.model) if x))),
            (p("serial"), e(a.serial or "—")),
            (p("warranty"), warranty),
        ]
    )


def _work(p: _Page, report: ServiceReport, for_customer: bool) -> list[str]:
    r, cur = report.report, report.currency
    if r is None:
        return [f'<p class="muted">{p("no_report")}</p>']
    out = [f'<p style="white-space:pre-wrap">{e(r.work_done)}</p>', f"<h2>{p('parts')}</h2>"]
    if r.parts:
        rows = "".join(
            f"<tr><td>{e(x.name)}</td><td>{e(x.code)}</td>"
            f'<td class="num">{e(x.quantity)}</td>'
            f'<td class="num">{p.money(x.unit_price, cur)}</td>'
            f'<td class="num">{p.money(x.total, cur)}</td></tr>'
            for x in r.parts
        )
        out.append(
            f"<table><tr><th>{p('part')}</th><th>{p('code')}</th><th class=num>{p('qty')}</th>"
            f"<th class=num>{p('unit_price')}</th><th class=num>{p('total')}</th></tr>"
            f'{rows}<tr><th colspan="4">{p("parts_total")}</th>'
            f'<th class="num">{p.money(r.parts_total, cur)}</th></tr></table>'
        )
    else:
        out.append(f'<p class="muted">{p("no_parts")}</p>')
    out.append(f"<h2>{p('charges')}</h2>")
    rows = "".join(
        f'<tr><td>{e(c.label or c.code)}</td><td class="num">{p.money(c.amount, cur)}</td></tr>'
        for c in r.charges
    )
    out.append(
        f"<table><tr><th>{p('charge')}</th><th class=num>{p('amount')}</th></tr>"
        f'{rows}<tr><th>{p("total_charged")}</th><th class="num">'
        f"{p.money(r.charges_total, cur)}</th></tr></table>"
    )
    if r.checklist:
        items = "".join(
            f"<li>{'✔' if done else '✘'} {e(code.replace('_', ' '))}</li>"
            for code, done in r.checklist.items()
        )
        out.append(f"<h2>{p('checklist')}</h2><ul>{items}</ul>")
    if not for_customer:
        out.append(f"<h2>{p('findings')}</h2>")
        out.append(
            "<ul>"
            + "".join(
                f"<li><b>{e(f.get('code'))}</b>: {e(f.get('detail'))}</li>" for f in r.findings
            )
            + "</ul>"
            if r.findings
            else f'<p class="muted">{p("no_findings")}</p>'
        )
    return out


def _sign_off(p: _Page, report: ServiceReport) -> list[str]:
    out = [f"<h2>{p('sign_off')}</h2>"]
    s = report.sign_off
    if s is None:
        out.append(f'<p class="muted">{p("not_signed")}</p>')
    else:
        out.append(
            _dl(
                [
                    (p("name"), e(s.signer_name)),
                    (p("signed_at"), p.when(s.signed_at)),
                    (p("fingerprint"), f'<span class="mono">{e(s.report_sha256)}</span>'),
                ]
            )
        )
    if report.report is not None:
        out.append(
            f'<p class="muted">{p("current_fingerprint")} '
            f'<span class="mono">{e(report.report.sha256)}</span></p>'
        )
    return out


def _verdicts(p: _Page, report: ServiceReport) -> list[str]:
    out = [f"<h2>{p('verdicts')}</h2>"]
    if not report.verdicts:
        return [*out, f'<p class="muted">{p("no_verdicts")}</p>']
    rows = "".join(
        f"<tr><td>{p.label('claim_type', v.claim_type)}</td>"
        f"<td>{p('passed') if v.passed else p('failed')}</td>"
        f"<td>{p.when(v.computed_at)}</td><td>"
        + "; ".join(
            f"{p.label('rule', str(x.get('code')))}: "
            f"{p('ok') if x.get('passed') else p('rule_failed')}"
            for x in v.verdicts
        )
        + "</td></tr>"
        for v in report.verdicts
    )
    out.append(
        f"<table><tr><th>{p('claim')}</th><th>{p('result')}</th><th>{p('computed')}</th>"
        f"<th>{p('rules')}</th></tr>{rows}</table>"
    )
    return out


def render_html(
    report: ServiceReport,
    *,
    for_customer: bool,
    locale: str,
    photo_url: Callable[[str], str] = staff_photo_url,
    signature_url: str | None = None,
    pdf_url: str | None = None,
) -> str:
    """One self-contained page (inline CSS, no scripts, no external assets) that prints
    cleanly. Every value from the database is escaped: work notes are typed on a phone.
    ``for_customer`` leaves out what only auditors should read (findings, verdicts)."""
    p = _Page(locale, report.timezone)
    tm = report.times
    appointment = e(window(tm.window_start, tm.window_end, p.tz, p.locale) or "—")
    parts: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{e(locale)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="robots" content="noindex">',
        f"<title>{p('title', number=report.number)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{p('title', number=report.number)}</h1>",
        f'<p class="muted">{p.label("job_kind", report.kind)} · '
        f"{p.label('job_status', report.status)}</p>",
        (f'<p class="noprint"><a href="{e(pdf_url)}">{p("pdf")}</a></p>' if pdf_url else ""),
        _banner(p, report),
        (
            f'<p><img class="signature" src="{e(signature_url)}" alt="{p("signature_alt")}" '
            'style="max-width:100%;height:auto;border-bottom:1px solid #999"></p>'
            if signature_url and report.sign_off is not None
            else ""
        ),
        f"<h2>{p('customer')}</h2>",
        _dl([(p("name"), e(report.customer_name)), (p("address"), e(report.customer_address))]),
        f"<h2>{p('appliance')}</h2>",
        _appliance(p, report),
        f"<h2>{p('visit')}</h2>",
        _dl(
            [
                (p("technician"), e(report.technician_name or "—")),
                (p("provider"), e(report.provider_name or "—")),
                (p("appointment"), appointment),
                (p("arrived"), p.when(tm.arrived_at)),
                (p("checked_out"), p.when(tm.checked_out_at)),
                (p("time_on_site"), p.duration(tm.time_on_site_s)),
                (p("completed"), p.when(tm.completed_at)),
            ]
        ),
        f"<h2>{p('work_done')}</h2>",
        *_work(p, report, for_customer),
        f"<h2>{p('photos')}</h2>",
        _photos(p, report.photos, photo_url),
        *_sign_off(p, report),
        *([] if for_customer else _verdicts(p, report)),
        "</body></html>",
    ]
    return "\n".join(parts)
