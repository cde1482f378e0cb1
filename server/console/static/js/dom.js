// Small helpers every page uses: build DOM safely (text is never parsed as HTML),
// accessible tables, forms, messages, and dates, times, numbers and money in the page's
// locale (Intl) and the city's time zone.

import { t, locale, code } from "./i18n.js";

/** h("a", {href: "#/x", class: "btn"}, "text", child…) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let flashTimer = null;

/** A message in the live region (read out by screen readers). */
export function flash(text, kind = "ok") {
  const el = document.getElementById("flash");
  el.className = `flash ${kind}`;
  el.textContent = text;
  clearTimeout(flashTimer);
  if (kind === "ok") flashTimer = setTimeout(() => (el.textContent = ""), 8000);
}

export function errorText(err) {
  if (err && err.code) return t("common.error_with_code", { message: err.message, code: err.code });
  return String(err?.message || err);
}

/**
 * An accessible table: a caption, column headers with scope, the first cell of each row
 * a row header. columns: [{label, cell: row => node|string, num?: bool}]
 * groups (optional): [{label, rows}] shown as labelled row groups.
 */
export function table({ caption, columns, rows, groups, empty, id }) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) =>
    h("th", { scope: "col", class: c.num ? "num" : null }, c.label))));
  const body = (list) => list.map((r) => h("tr", { dataset: r.__data || {} }, columns.map((c, i) =>
    h(i === 0 ? "th" : "td", { scope: i === 0 ? "row" : null, class: c.num ? "num" : null },
      c.cell(r)))));
  const bodies = groups
    ? groups.map((g) => h("tbody", {},
        h("tr", { class: "group" }, h("th", { scope: "rowgroup", colspan: columns.length },
          `${g.label} (${g.rows.length})`)),
        body(g.rows)))
    : [h("tbody", {}, body(rows))];
  const count = groups ? groups.reduce((n, g) => n + g.rows.length, 0) : rows.length;
  return h("div", { class: "table-wrap" },
    h("table", { id }, h("caption", {}, caption), head, count ? bodies : h("tbody", {},
      h("tr", {}, h("td", { colspan: columns.length, class: "muted" },
        empty ?? t("common.nothing_here"))))));
}

/** A labelled form field; returns the wrapper. */
export function field(label, control, hint) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  const hintEl = hint ? h("span", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

export function select(name, options, value) {
  return h("select", { name }, options.map(([v, label]) =>
    h("option", { value: v, selected: String(v) === String(value ?? "") }, label)));
}

/** Disable a form while its request runs; show the API's message on failure. */
export async function submitting(form, work) {
  const controls = [...form.elements];
  controls.forEach((c) => (c.disabled = true));
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } catch (err) {
    flash(errorText(err), "error");
    return undefined;
  } finally {
    controls.forEach((c) => (c.disabled = false));
    form.removeAttribute("aria-busy");
  }
}

// --- time zones ------------------------------------------------------------------------
// A person reads a time in the city's zone: a job's times in its city's, the rest in the
// zone the brand's cities share (the browser's when they differ). GET /cities gives them.

const zones = new Map();
let homeZone;

/** Called with GET /cities once signed in. */
export function setZones(cities) {
  zones.clear();
  for (const c of cities || []) zones.set(c.id, c.timezone);
  const distinct = new Set(zones.values());
  homeZone = distinct.size === 1 ? [...distinct][0] : undefined;
}

/** The zone of a city (by id), else the brand's. */
export const zoneOf = (cityId) => zones.get(cityId) || homeZone;
export const homeZoneName = () => homeZone || Intl.DateTimeFormat().resolvedOptions().timeZone;

const formats = new Map();
function fmt(kind, tz) {
  const key = `${locale()}|${kind}|${tz || ""}`;
  if (!formats.has(key)) {
    const base = { timeZone: tz, hourCycle: "h23" };
    const opts = {
      when: { weekday: "short", month: "short", day: "numeric", hour: "2-digit",
        minute: "2-digit" },
      time: { hour: "2-digit", minute: "2-digit" },
      day: { weekday: "short", month: "short", day: "numeric" },
      ymd: { year: "numeric", month: "2-digit", day: "2-digit" },
    }[kind];
    try {
      formats.set(key, new Intl.DateTimeFormat(locale(), { ...base, ...opts }));
    } catch {
      formats.set(key, new Intl.DateTimeFormat(locale(), opts)); // an unknown zone name
    }
  }
  return formats.get(key);
}

const dash = () => "—";

/** "12月3日周四 14:05" / "Thu, Dec 3, 14:05", in `tz` (default: the brand's zone). */
export const when = (iso, tz = homeZone) => (iso ? fmt("when", tz).format(new Date(iso)) : dash());
export const day = (iso, tz = homeZone) => (iso ? fmt("day", tz).format(new Date(iso)) : dash());
/** "14:05", in `tz` (default: the brand's zone). */
export const time = (iso, tz = homeZone) => (iso ? fmt("time", tz).format(new Date(iso))
  : dash());
/** A calendar date ("2026-12-03" as the API writes it) in the page's locale. */
export function date(ymd) {
  if (!ymd) return dash();
  const d = new Date(`${String(ymd).slice(0, 10)}T12:00:00Z`);
  return Number.isNaN(d.getTime()) ? String(ymd) : fmt("ymd", "UTC").format(d);
}

/** The calendar date `n` days after `ymd` ("2026-12-03" + 1 → "2026-12-04"). */
export function addDays(ymd, n) {
  const d = new Date(`${String(ymd).slice(0, 10)}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function ymdIn(d, tz) {
  return fmt("ymd", tz).formatToParts(d).map((p) => p.value).join("");
}

export function windowText(start, end, tz = homeZone) {
  if (!start) return t("common.no_appointment");
  const s = new Date(start);
  const e = new Date(end);
  const sameDay = ymdIn(s, tz) === ymdIn(e, tz);
  return sameDay ? `${fmt("when", tz).format(s)}–${fmt("time", tz).format(e)}`
    : `${fmt("when", tz).format(s)} – ${fmt("when", tz).format(e)}`;
}

/** "1 h 05 min" / "1 小时 05 分钟" */
export function duration(ms) {
  const m = Math.round(Math.abs(ms) / 60000);
  if (m < 60) return t("time.minutes", { m });
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return t("time.hours_minutes", { h: hrs, m: String(m % 60).padStart(2, "0") });
  return t("time.days_hours", { d: Math.floor(hrs / 24), h: hrs % 24 });
}

export function localMidnight(d = new Date()) {
  const m = new Date(d);
  m.setHours(0, 0, 0, 0);
  return m;
}

/** The wall clock of `d` in `tz` (the browser's zone without one). */
function wall(d, tz) {
  if (!tz) {
    return { y: d.getFullYear(), mo: d.getMonth() + 1, d: d.getDate(), h: d.getHours(),
      mi: d.getMinutes() };
  }
  const parts = {};
  for (const p of new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23",
    year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" })
    .formatToParts(d)) parts[p.type] = Number(p.value);
  return { y: parts.year, mo: parts.month, d: parts.day, h: parts.hour % 24, mi: parts.minute };
}

/** yyyy-mm-dd and hh:mm for date and time inputs, in `tz` (a job's city) or the
 * browser's zone. */
export function dateInput(d, tz) {
  const p = (n) => String(n).padStart(2, "0");
  const w = wall(d, tz);
  return `${w.y}-${p(w.mo)}-${p(w.d)}`;
}
export function timeInput(d, tz) {
  const p = (n) => String(n).padStart(2, "0");
  const w = wall(d, tz);
  return `${p(w.h)}:${p(w.mi)}`;
}

/** The instant a date input and a time input mean in `tz` ("2026-12-03", "14:00",
 * "Asia/Shanghai" → 06:00 UTC); the browser's zone without one. Invalid: an invalid Date. */
export function fromInputs(ymd, hm, tz) {
  if (!tz) return new Date(`${ymd}T${hm}`);
  const [y, mo, d] = String(ymd).split("-").map(Number);
  const [h, mi] = String(hm).split(":").map(Number);
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  if (Number.isNaN(asUtc)) return new Date(NaN);
  // The zone's offset at that moment, found from its wall clock; twice, for DST edges.
  let at = asUtc;
  for (let i = 0; i < 2; i += 1) {
    const w = wall(new Date(at), tz);
    at -= Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi) - asUtc;
  }
  return new Date(at);
}

// --- numbers and money -------------------------------------------------------------------

export const num = (n) => (n === null || n === undefined ? dash()
  : new Intl.NumberFormat(locale()).format(n));

/** A rate 0..1 as a percentage with at most one decimal: "42.5%". */
export const pct = (rate) => (rate === null || rate === undefined ? dash()
  : new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 })
    .format(rate));

/** Money in minor units: 200000 CNY → "¥2,000.00" (the brand's desks read ¥, not CN¥). */
export function money(amount, currency) {
  if (amount === null || amount === undefined) return dash();
  if (!currency || currency === "mixed") {
    return t("common.money_mixed", { amount: num(amount / 100) });
  }
  const two = { minimumFractionDigits: 2, maximumFractionDigits: 2 };
  if (currency === "CNY") {
    const text = new Intl.NumberFormat(locale(), two).format(Math.abs(amount) / 100);
    return `${amount < 0 ? "-" : ""}¥${text}`;
  }
  try {
    return new Intl.NumberFormat(locale(), { style: "currency", currency }).format(amount / 100);
  } catch {
    return `${new Intl.NumberFormat(locale(), two).format(amount / 100)} ${currency}`;
  }
}

/** A code as people read it: with a context, the server's label ("job_status"). */
export const label = (value, context) => code(context, value);
