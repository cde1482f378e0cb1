// Small helpers every page uses: build DOM safely (text is never parsed as HTML),
// accessible tables, forms, messages and time formats.

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
  if (err && err.code) return `${err.message} (${err.code})`;
  return String(err?.message || err);
}

/**
 * An accessible table: a caption, column headers with scope, the first cell of each row
 * a row header. columns: [{label, cell: row => node|string, num?: bool}]
 * groups (optional): [{label, rows}] shown as labelled row groups.
 */
export function table({ caption, columns, rows, groups, empty = "Nothing here.", id }) {
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
      h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty)))));
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

// --- time ------------------------------------------------------------------------------

const dtf = new Intl.DateTimeFormat(undefined, {
  weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const tf = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const df = new Intl.DateTimeFormat(undefined, { weekday: "short", month: "short", day: "numeric" });

export const when = (iso) => (iso ? dtf.format(new Date(iso)) : "—");
export const day = (iso) => (iso ? df.format(new Date(iso)) : "—");

export function windowText(start, end) {
  if (!start) return "no appointment";
  const s = new Date(start);
  const e = new Date(end);
  const sameDay = s.toDateString() === e.toDateString();
  return sameDay ? `${dtf.format(s)}–${tf.format(e)}` : `${dtf.format(s)} – ${dtf.format(e)}`;
}

/** "1 h 05 min" */
export function duration(ms) {
  const m = Math.round(Math.abs(ms) / 60000);
  if (m < 60) return `${m} min`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ${String(m % 60).padStart(2, "0")} min`;
  return `${Math.floor(hrs / 24)} d ${hrs % 24} h`;
}

export function localMidnight(d = new Date()) {
  const m = new Date(d);
  m.setHours(0, 0, 0, 0);
  return m;
}

/** yyyy-mm-dd and hh:mm in the browser's zone, for date and time inputs. */
export function dateInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
export function timeInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}`;
}

export const label = (code) => (code ? String(code).replaceAll("_", " ") : "—");
