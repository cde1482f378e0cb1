// The evidence behind a claim, section by section (GET /callbacks/{id}/evidence): the
// plot, the phone's timeline with device time beside server time, check-ins, calls,
// photos with their EXIF (fetched with the token, shown from blob: URLs), the sign-off and
// each rule's verdict.

import { fetchAuthed } from "../api.js";
import { h, table, when, label, duration } from "../dom.js";
import { locationPlot } from "./plot.js";

const section = (id, title, ...body) => h("section", { id: `ev-${id}`, "aria-labelledby": `${id}-h`,
  class: "evidence" }, h("h2", { id: `${id}-h` }, title), body);

const dist = (m) => (m === null ? "—" : m >= 1000 ? `${(m / 1000).toFixed(2)} km`
  : `${Math.round(m)} m`);

function skew(ms) {
  if (ms === null || ms === undefined) return "—";
  const big = Math.abs(ms) >= 5 * 60000;
  return h("span", { class: big ? "late" : null }, `${ms < 0 ? "−" : "+"}${
    Math.abs(ms) < 60000 ? `${Math.round(Math.abs(ms) / 1000)} s` : duration(ms)}`);
}

export function plotSection(ev) {
  const points = [
    ...ev.checkins.map((c) => ({ ...c, kind: "checkin", fail: c.geofence === "fail",
      label: `${label(c.kind)} ${when(c.fix_time || c.received_at)}` })),
    ...ev.photos.map((p) => ({ ...p, kind: "photo", label: `${label(p.kind)} photo` })),
  ];
  return section("plot", "Where", h("p", {}, ev.customer_address),
    locationPlot(ev.customer_location, points, ev.trace || null),
    ev.trace ? h("p", { class: "muted", id: "trace-summary" }, `Location trace: ${ev.trace.points} ` +
      `points, ${ev.trace.stops.length ? ev.trace.stops.map((st) => `stopped ${st.minutes} min ` +
        `${dist(st.distance_m)} from the address`).join("; ") : "no stop"}` +
      (ev.trace.mock_points ? `; ${ev.trace.mock_points} mock points` : "")) : null);
}

export function timelineSection(ev) {
  return section("timeline", "Timeline from the phone",
    table({ id: "ledger", caption: "What the phone sent: its own clock beside the server's",
      columns: [
        { label: "#", num: true, cell: (l) => l.seq },
        { label: "Action", cell: (l) => label((l.mutation || "").replace(/^job\./, "")) },
        { label: "Phone time", cell: (l) => when(l.device_time) },
        { label: "Server time", cell: (l) => when(l.received_at) },
        { label: "Clock skew", num: true, cell: (l) => skew(l.clock_skew_ms) },
        { label: "Result", cell: (l) => [label(l.outcome), l.code ? ` (${l.code})` : ""] },
      ], rows: ev.ledger, empty: "The phone sent nothing about this job." }));
}

export function checkinsSection(ev) {
  return section("checkins", "Check-ins and calls",
    table({ id: "checkins", caption: "Check-ins, numbered as on the plot", columns: [
      { label: "#", num: true, cell: (c) => ev.checkins.indexOf(c) + 1 },
      { label: "What", cell: (c) => label(c.kind) },
      { label: "GPS fix", cell: (c) => when(c.fix_time) },
      { label: "Distance", num: true, cell: (c) => dist(c.distance_m) },
      { label: "Geofence", cell: (c) => h("span", { class: c.geofence === "fail" ? "late" : null },
        label(c.geofence)) },
      { label: "Flags", cell: (c) => [c.mock_location ? h("span", { class: "badge urgent" },
        "mock location") : null, ...c.flags.map((f) => h("span", { class: "badge" }, label(f))),
      c.accuracy_m !== null ? h("small", { class: "muted" }, ` ±${Math.round(c.accuracy_m)} m`)
        : null] },
    ], rows: ev.checkins, empty: "No check-in." }),
    table({ id: "calls", caption: "Calls to the customer", columns: [
      { label: "Started", cell: (c) => when(c.started_at) },
      { label: "How", cell: (c) => label(c.channel) },
      { label: "Result", cell: (c) => label(c.outcome) },
      { label: "Length", num: true, cell: (c) => `${c.duration_s} s` },
      { label: "Flags", cell: (c) => c.flags.map((f) => h("span", { class: "badge" }, label(f))) },
    ], rows: ev.calls, empty: "No call attempt." }),
    table({ id: "carrier-calls", caption: "Carrier's call records (masked number)", columns: [
      { label: "Started", cell: (c) => when(c.started_at) },
      { label: "Masked number", cell: (c) => c.masked_number },
      { label: "To", cell: (c) => c.callee },
      { label: "Answered", cell: (c) => (c.answered ? "yes" : "no") },
      { label: "Length", num: true, cell: (c) => h("span", {
        class: !c.answered && c.duration_s < 10 ? "late" : null }, `${c.duration_s} s`) },
    ], rows: ev.carrier_calls || [], empty: "No record from the carrier." }),
    ev.customer_phones.length ? h("p", {}, "Customer's phones: ",
      ev.customer_phones.map((p, i) => [i ? ", " : "", h("a", { href: `tel:${p}` }, p)])) : null);
}

export function photosSection(ev) {
  const figures = ev.photos.map((p) => {
    const img = h("img", { alt: `${label(p.kind)} photo`, width: 160, height: 120 });
    if (p.blob_received) {
      fetchAuthed(p.thumbnail_url).then(async (res) => {
        img.src = URL.createObjectURL(await res.blob());
        img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
      }, () => img.replaceWith(h("span", { class: "muted" }, "[image unavailable]")));
    }
    const exif = Object.entries(p.exif || {}).filter(([, v]) => v !== null && v !== "");
    return h("figure", { class: "photo card" },
      p.blob_received ? img : h("span", { class: "muted" }, "not uploaded yet"),
      h("figcaption", {}, h("strong", {}, label(p.kind)),
        h("dl", { class: "facts small" },
          dd("Taken", when(p.taken_at)), dd("Distance", dist(p.distance_m)),
          dd("Camera", p.camera || "—"),
          p.reused_from.length ? dd("Reused from", h("span", { class: "late" },
            p.reused_from.join(", "))) : null,
          exif.map(([k, v]) => dd(label(k), typeof v === "object" ? JSON.stringify(v) : v)))));
  });
  return section("photos", "Photos",
    figures.length ? h("div", { class: "photos" }, figures) : h("p", { class: "muted" },
      "No photo."));
}

export function reportSection(ev, jobId) {
  const r = ev.service_report;
  const sign = r.sign_off;
  return section("verdicts", "Report, signature and rules",
    h("p", {}, h("a", { href: `#/jobs/${jobId}/report`, id: "report-link" },
      "Full service report"), " · ",
    sign ? (sign.signed ? `signed by ${sign.signer_name} ${when(sign.signed_at)}${
      sign.stale ? " (stale: the report changed after signing)" : ""}` : "not signed")
      : "no sign-off"),
    r.verdicts.length ? r.verdicts.map((v) => h("div", { class: "card verdict" },
      h("h3", {}, `${label(v.claim_type)}: `, h("span", { class: v.passed ? "ok" : "late" },
        v.passed ? "every rule passed" : "rules failed")),
      h("ul", { class: "rules" }, v.verdicts.map((x) => h("li", { class: x.passed ? "ok" : "late" },
        x.passed ? "✓ " : "✗ ", label(x.code),
        Object.keys(x.detail || {}).length ? h("small", { class: "muted" },
          ` (${Object.entries(x.detail).map(([k, d]) => `${label(k)} ${
            typeof d === "object" ? JSON.stringify(d) : d}`).join(" · ")})`) : null))),
      h("small", { class: "muted" }, `rules v${v.rules_version}, judged ${when(v.computed_at)}`)))
      : h("p", { class: "muted" }, "No rule verdict for this job."));
}

export function historySection(ev) {
  return section("job-history", "Job history",
    table({ id: "ev-history", caption: "Every change to the job, oldest first", columns: [
      { label: "Server time", cell: (e) => when(e.at) },
      { label: "Phone time", cell: (e) => when(e.device_time) },
      { label: "What", cell: (e) => label(e.kind) },
      { label: "Who", cell: (e) => `${label(e.actor_role || "system")} · ${e.source}` },
    ], rows: ev.history }));
}

function dd(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}
