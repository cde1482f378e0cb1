// Where the technician was, drawn by the page (there is no map service): the customer's
// address at the centre, each check-in and geotagged photo around it, and distance
// rings. A local equirectangular projection: metres east and north of the address,
// exact enough for a few kilometres.

import { h } from "../dom.js";
import { t } from "../i18n.js";

const NS = "http://www.w3.org/2000/svg";
const RINGS = [100, 500, 1000, 3000, 10000, 30000];
const SIZE = 440;
const R_EARTH = 6371008.8;

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

/** Metres east (x) and north (y) of the origin. */
export function project(origin, lat, lon) {
  const rad = Math.PI / 180;
  return {
    x: (lon - origin.longitude) * rad * R_EARTH * Math.cos(origin.latitude * rad),
    y: (lat - origin.latitude) * rad * R_EARTH,
  };
}

const distText = (m) => (m >= 1000 ? t("unit.km", { n: (m / 1000).toFixed(m >= 10000 ? 0 : 1) })
  : t("unit.m", { n: Math.round(m) }));

/**
 * points: [{latitude, longitude, kind: "checkin"|"photo", label, fail?}]
 * trace: the phone's location trace or null: {path: [[lat, lon, acc], ...], stops: [{latitude,
 * longitude, minutes, distance_m, start, end}]} — drawn as a line with its stops marked.
 * Returns an <figure> with the SVG and a caption, or a note when there is no address fix.
 */
export function locationPlot(customer, points, trace = null) {
  if (customer.latitude === null || customer.longitude === null) {
    return h("p", { class: "muted" }, t("plot.no_coordinates"));
  }
  const placed = points.filter((p) => p.latitude !== null && p.longitude !== null)
    .map((p) => ({ ...p, ...project(customer, p.latitude, p.longitude) }));
  const stops = (trace ? trace.stops : []).map((st) => ({ ...st,
    ...project(customer, st.latitude, st.longitude) }));
  // The scale follows the marks and the stops; a long drive in runs off the edge.
  const far = Math.max(0, ...placed.map((p) => Math.hypot(p.x, p.y)),
    ...stops.map((p) => Math.hypot(p.x, p.y)));
  const outer = RINGS.find((r) => r >= far) || far * 1.1;
  const extent = Math.max(outer, 1000) * 1.08; // metres from the centre to the edge
  const scale = SIZE / 2 / extent;
  const px = (p) => ({ cx: SIZE / 2 + p.x * scale, cy: SIZE / 2 - p.y * scale });
  const rings = RINGS.filter((r) => r <= extent).map((r) => s("g", { class: "ring",
    "data-radius": r },
    s("circle", { cx: SIZE / 2, cy: SIZE / 2, r: r * scale }),
    s("text", { x: SIZE / 2 + 3, y: SIZE / 2 - r * scale - 3 }, distText(r))));
  const marks = placed.map((p, i) => {
    const { cx, cy } = px(p);
    const title = s("title", {}, t("plot.mark_title", { label: p.label,
      distance: distText(Math.hypot(p.x, p.y)) }));
    const cls = `mark ${p.kind}${p.fail ? " fail" : ""}`;
    return p.kind === "photo"
      ? s("g", { class: cls, "data-kind": p.kind }, title,
          s("path", { d: `M${cx},${cy - 7} l7,12 h-14 z` }))
      : s("g", { class: cls, "data-kind": p.kind }, title, s("circle", { cx, cy, r: 7 }),
          s("text", { x: cx, y: cy + 4, "text-anchor": "middle" }, String(i + 1)));
  });
  const path = trace ? trace.path.map(([lat, lon]) => px(project(customer, lat, lon))) : [];
  const line = path.length ? s("g", { class: "trace", "data-kind": "trace" },
    s("title", {}, t("plot.trace_title", { points: trace.points, stops: trace.stops.length })),
    s("polyline", { points: path.map((p) => `${p.cx.toFixed(1)},${p.cy.toFixed(1)}`).join(" "),
      fill: "none" })) : null;
  const stopMarks = stops.map((st) => {
    const { cx, cy } = px(st);
    return s("g", { class: "mark stop", "data-kind": "stop", "data-minutes": st.minutes },
      s("title", {}, t("plot.stop_title", { minutes: st.minutes,
        distance: distText(st.distance_m) })),
      s("circle", { cx, cy, r: Math.min(14, 5 + Math.sqrt(st.minutes) * 2) }));
  });
  const c = SIZE / 2;
  const svg = s("svg", { viewBox: `0 0 ${SIZE} ${SIZE}`, class: "plot", id: "location-plot",
    role: "img", "aria-labelledby": "plot-title" },
    s("title", { id: "plot-title" }, t("plot.title", { n: placed.length,
      distance: distText(far) })),
    s("rect", { x: 0, y: 0, width: SIZE, height: SIZE, class: "bg" }),
    s("line", { x1: c, y1: 8, x2: c, y2: SIZE - 8, class: "axis" }),
    s("line", { x1: 8, y1: c, x2: SIZE - 8, y2: c, class: "axis" }),
    s("text", { x: c + 4, y: 18, class: "north" }, t("plot.north")),
    rings,
    line,
    stopMarks,
    s("g", { class: "mark home", "data-kind": "customer" }, s("title", {}, t("plot.address")),
      s("rect", { x: c - 6, y: c - 6, width: 12, height: 12 })),
    marks);
  return h("figure", { class: "plot-box" }, svg,
    h("figcaption", { class: "muted" }, t(trace ? "plot.legend_trace" : "plot.legend", { rings:
      RINGS.filter((r) => r <= extent).map(distText).join(", ") })));
}
