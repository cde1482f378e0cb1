"""The customer's page as one small, mobile-first HTML document (no script), written
the way the service report is (``server.reports.html``): every value escaped, every
string from the catalog (``msgctxt "customer"``), times in the city's zone."""

from __future__ import annotations

from server.customer_page.service import PageView
from server.i18n import format_datetime, label, t, window
from server.reports.html import e

__all__ = ["CSS", "render_error", "render_page"]

CSS = """
*{box-sizing:border-box}
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,-apple-system,
"Segoe UI",sans-serif;color:#111;margin:0;padding:1em;max-width:36em;margin:0 auto;
line-height:1.5;font-size:17px}
h1{font-size:1.3em;margin:.2em 0 .6em}h2{font-size:1.05em;margin:1.2em 0 .4em}
section{border:1px solid #ddd;border-radius:8px;padding:.8em 1em;margin:.8em 0}
.big{font-size:1.2em;font-weight:bold}.muted{color:#555;font-size:.9em}
.ok{background:#e6f4ea;border:1px solid #1e7e34;border-radius:6px;padding:.6em .8em}
button{display:block;width:100%;padding:.8em;margin:.4em 0;font-size:1em;border-radius:6px;
border:1px solid #0b57d0;background:#0b57d0;color:#fff}
button.alt{background:#fff;color:#0b57d0}
textarea{width:100%;font-size:1em;padding:.5em;border:1px solid #aaa;border-radius:6px}
a.button{display:block;text-align:center;padding:.8em;border:1px solid #0b57d0;
border-radius:6px;text-decoration:none;color:#0b57d0}
nav{text-align:right;font-size:.9em}nav a{margin-left:.8em}
"""

THANKS = {
    "reschedule": "reschedule_sent",
    "not_home": "answer_thanks",
    "satisfaction": "satisfaction_thanks",
}
SATISFACTION = ("very_satisfied", "satisfied", "dissatisfied")


def _doc(locale: str, title: str, body: str) -> str:
    lang = "zh-CN" if locale == "zh-CN" else "en"
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>{body}</body></html>"
    )


def _form(action: str, csrf: str, locale: str, inner: str) -> str:
    return (
        f'<form method="post" action="{e(action)}">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<input type="hidden" name="lang" value="{e(locale)}">{inner}</form>'
    )


def render_page(
    v: PageView,
    *,
    token: str,
    csrf: str,
    locale: str,
    report_url: str | None,
    done: str | None = None,
) -> str:
    def c(key: str, **params: object) -> str:
        return e(t(locale, "customer", key, None, **params))

    job, base = v.job, f"/c/{token}"
    title = t(locale, "customer", "title", number=job.number)
    parts = [
        f'<nav><a href="{e(base)}?lang=zh-CN" hreflang="zh-CN">中文</a>'
        f'<a href="{e(base)}?lang=en" hreflang="en">English</a></nav>',
        f"<h1>{e(title)}</h1>",
    ]
    if done in THANKS:
        parts.append(f'<p class="ok" role="status">{c(THANKS[done])}</p>')
    kind = label(locale, "job_kind", job.kind)
    what = (
        kind
        if v.category is None
        else f"{label(locale, 'appliance_category', v.category)} · {kind}"
    )
    status = e(label(locale, "job_status", job.status))
    parts.append(
        f"<section><div>{e(what)}</div>"
        f'<div class="muted">{c("status")}: <span data-status="{e(job.status)}">{status}</span>'
        "</div></section>"
    )
    when = window(job.window_start, job.window_end, v.tz, locale)
    parts.append(
        f"<section><h2>{c('appointment')}</h2>"
        + (f'<p class="big" data-window>{e(when)}</p>' if when else f"<p>{c('no_appointment')}</p>")
        + "</section>"
    )
    if v.technician_first_name:
        level = label(locale, "skill_level", v.technician_level) if v.technician_level else ""
        name = (
            t(locale, "customer", "technician_title", surname=v.technician_first_name)
            if v.technician_title
            else v.technician_first_name
        )
        line = t(locale, "customer", "technician_line", name=name, level=level)
        tech = f"<p data-technician>{e(line if level else name)}</p>"
    else:
        tech = f"<p>{c('no_technician')}</p>"
    parts.append(f"<section><h2>{c('technician')}</h2>{tech}</section>")

    if v.not_home is not None:
        at = v.not_home.claimed_device_time or v.not_home.claimed_at
        q = c("not_home_q", time=format_datetime(at, v.tz, locale))
        if v.not_home_answer is not None:
            answered = t(locale, "customer", v.not_home_answer)
            inner = f"<p>{c('your_answer', answer=answered)}</p>"
        else:
            inner = _form(
                f"{base}/not-home",
                csrf,
                locale,
                f'<button name="answer" value="was_home">{c("was_home")}</button>'
                f'<button class="alt" name="answer" value="was_away">{c("was_away")}</button>',
            )
        parts.append(f'<section id="not-home"><p>{q}</p>{inner}</section>')

    if v.done:
        report = (
            f'<a class="button" href="{e(report_url)}">{c("open_report")}</a>' if report_url else ""
        )
        if v.satisfaction is not None:
            answered = label(locale, "satisfaction", v.satisfaction)
            mine = f"<p>{c('your_answer', answer=answered)}</p>"
        else:
            buttons = "".join(
                f'<button{" class=alt" if i else ""} name="answer" value="{s}">'
                f"{e(label(locale, 'satisfaction', s))}</button>"
                for i, s in enumerate(SATISFACTION)
            )
            mine = _form(
                f"{base}/satisfaction",
                csrf,
                locale,
                f"<p>{c('satisfaction_q')}</p>{buttons}",
            )
        parts.append(
            f'<section id="report"><h2>{c("report")}</h2>{report}</section>'
            f'<section id="satisfaction">{mine}</section>'
        )
    elif v.can_reschedule:
        if v.reschedule_requested_at is not None and done != "reschedule":
            parts.append(f'<p class="ok">{c("reschedule_sent")}</p>')
        parts.append(
            '<section id="reschedule">'
            + f"<h2>{c('reschedule')}</h2>"
            + _form(
                f"{base}/reschedule",
                csrf,
                locale,
                f'<label for="note">{c("reschedule_note")}</label>'
                '<textarea id="note" name="note" rows="2" maxlength="500"></textarea>'
                f"<button>{c('reschedule_send')}</button>",
            )
            + "</section>"
        )
    parts.append(f'<p class="muted">{c("footer")}</p>')
    return _doc(locale, title, "".join(parts))


def render_error(locale: str, code: str) -> str:
    """What a customer sees for a link that is not valid, expired or withdrawn: one
    sentence (the code is in the page and the ``X-Error-Code`` header for support)."""
    text = t(locale, "customer", "link_invalid")
    return _doc(
        locale,
        text,
        f'<section data-code="{e(code)}"><p class="big">{e(text)}</p></section>',
    )
