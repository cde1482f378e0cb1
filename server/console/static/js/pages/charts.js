// Two small SVG charts drawn by the page: horizontal bars (a rate per name) and lines (a
// rate per period, one line per name). Values are 0..1 rates; null means "none to count".
// Each chart has a text title; the numbers are in the table beside it.

import { t } from "../i18n.js";
import { pct } from "../dom.js";

const NS = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f5fa8", "#c2571a", "#2e8540", "#8e44ad", "#b00020", "#5d6d7e"];

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const pctText = (v) => (v === null ? "—" : pct(Math.round(v * 100) / 100));

/** rows: [{name, value}] → horizontal bars, longest label on the left. */
export function barChart({ id, title, rows }) {
  const bar = 22;
  const left = 170;
  const width = 560;
  const height = rows.length * (bar + 8) + 30;
  const x = (v) => left + (width - left - 50) * v;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => s("g", { class: "tick" },
    s("line", { x1: x(t), y1: 4, x2: x(t), y2: height - 22 }),
    s("text", { x: x(t), y: height - 6, "text-anchor": "middle" }, pctText(t))));
  const bars = rows.map((r, i) => {
    const y = 8 + i * (bar + 8);
    return s("g", { class: "bar", "data-name": r.name },
      s("title", {}, `${r.name}: ${pctText(r.value)}`),
      s("text", { x: left - 8, y: y + bar * 0.7, "text-anchor": "end" }, clip(r.name)),
      r.value === null ? null : s("rect", { x: left, y, height: bar,
        width: Math.max(1, x(r.value) - left) }),
      s("text", { x: (r.value === null ? left : x(r.value)) + 4, y: y + bar * 0.7,
        class: "value" }, r.value === null ? t("chart.none_surveyed") : pctText(r.value)));
  });
  return s("svg", { id, class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": title }, s("title", {}, title), ticks, bars);
}

/** periods: [label…]; series: [{name, values: [rate|null per period]}] → lines. */
export function lineChart({ id, title, periods, series }) {
  const width = 560;
  const height = 240;
  const pad = { l: 44, r: 12, t: 12, b: 40 };
  const x = (i) => pad.l + (width - pad.l - pad.r) * (periods.length > 1
    ? i / (periods.length - 1) : 0.5);
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v);
  const grid = [0, 0.5, 1].map((t) => s("g", { class: "tick" },
    s("line", { x1: pad.l, y1: y(t), x2: width - pad.r, y2: y(t) }),
    s("text", { x: pad.l - 6, y: y(t) + 4, "text-anchor": "end" }, pctText(t))));
  const labels = periods.map((p, i) => s("text", { x: x(i), y: height - pad.b + 16,
    "text-anchor": "middle", class: "period" }, p));
  const lines = series.map((sr, k) => {
    const colour = COLOURS[k % COLOURS.length];
    // A gap where a period has nothing to count: the line does not pretend.
    let d = "";
    sr.values.forEach((v, i) => {
      if (v === null) return;
      d += `${d && sr.values[i - 1] !== null ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    return s("g", { class: "series", "data-name": sr.name, stroke: colour, fill: colour },
      s("title", {}, `${sr.name}: ${sr.values.map(pctText).join(", ")}`),
      s("path", { d, fill: "none" }),
      sr.values.map((v, i) => (v === null ? null : s("circle", { cx: x(i), cy: y(v), r: 3.5 }))));
  });
  const legend = series.map((sr, k) => s("text", { x: pad.l + (k % 3) * 170,
    y: height - 6 + Math.floor(k / 3) * 14, fill: COLOURS[k % COLOURS.length], class: "legend" },
    `— ${clip(sr.name)}`));
  return s("svg", { id, class: "chart", viewBox: `0 0 ${width} ${height + 14 *
    Math.max(0, Math.ceil(series.length / 3) - 1)}`, role: "img", "aria-label": title },
    s("title", {}, title), grid, labels, lines, legend);
}

const clip = (name) => (name.length > 22 ? name.slice(0, 21) + "…" : name);
