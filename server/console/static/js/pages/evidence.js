// The evidence behind a claim, section by section (GET /callbacks/{id}/evidence): the
// plot, the phone's timeline with device time beside server time, check-ins, calls,
// photos with their EXIF (fetched with the token, shown from blob: URLs), the sign-off and
// each rule's verdict.

import { fetchAuthed } from "../api.js";
import { h, table, when, label, duration } from "../dom.js";
import { t } from "../i18n.js";
import { locationPlot } from "./plot.js";

const section = (id, title, ...body) => h("section", { id: `ev-${id}`, "aria-labelledby": `${id}-h`,
  class: "evidence" }, h("h2", { id: `${id}-h` }, title), body);

const dist = (m) => (m === null || m === undefined ? "—" : m >= 1000
  ? t("unit.km", { n: (m / 1000).toFixed(2) }) : t("unit.m", { n: Math.round(m) }));

function skew(ms) {
  if (ms === null || ms === undefined) return "—";
  const big = Math.abs(ms) >= 5 * 60000;
  return h("span", { class: big ? "late" : null }, `${ms < 0 ? "−" : "+"}${
    Math.abs(ms) < 60000 ? t("unit.s", { n: Math.round(Math.abs(ms) / 1000) }) : duration(ms)}`);
}

export function plotSection(ev) {
  const points = [
    ...ev.checkins.map((c) => ({ ...c, kind: "checkin", fail: c.geofence === "fail",
      label: `${label(c.kind, "checkin_kind")} ${when(c.fix_time || c.received_at)}` })),
    ...ev.photos.map((p) => ({ ...p, kind: "photo", label: t("evidence.photo_of",
      { kind: label(p.kind, "photo_kind") }) })),
  ];
  return section("plot", t("evidence.where"), h("p", {}, ev.customer_address),
    locationPlot(ev.customer_location, points, ev.trace || null),
    ev.trace ? h("p", { class: "muted", id: "trace-summary" }, t("evidence.trace", {
      points: ev.trace.points,
      stops: ev.trace.stops.length ? ev.trace.stops.map((st) => t("evidence.trace_stop",
        { minutes: st.minutes, distance: dist(st.distance_m) })).join("; ")
        : t("evidence.trace_no_stop") }) +
      (ev.trace.mock_points ? t("evidence.trace_mock", { n: ev.trace.mock_points }) : ""))
      : null);
}

export function timelineSection(ev) {
  return section("timeline", t("evidence.timeline"),
    table({ id: "ledger", caption: t("evidence.ledger_caption"),
      columns: [
        { label: "#", num: true, cell: (l) => l.seq },
        { label: t("evidence.action"), cell: (l) => label((l.mutation || "").replace(/^job\./, ""),
          "mutation") },
        { label: t("evidence.phone_time"), cell: (l) => when(l.device_time) },
        { label: t("evidence.server_time"), cell: (l) => when(l.received_at) },
        { label: t("evidence.clock_skew"), num: true, cell: (l) => skew(l.clock_skew_ms) },
        { label: t("evidence.result"), cell: (l) => [label(l.outcome, "ledger_outcome"), l.code ? ` (${l.code})`
          : ""] },
      ], rows: ev.ledger, empty: t("evidence.ledger_empty") }));
}

export function checkinsSection(ev) {
  return section("checkins", t("evidence.checkins_calls"),
    table({ id: "checkins", caption: t("evidence.checkins_caption"), columns: [
      { label: "#", num: true, cell: (c) => ev.checkins.indexOf(c) + 1 },
      { label: t("col.what"), cell: (c) => label(c.kind, "checkin_kind") },
      { label: t("evidence.gps_fix"), cell: (c) => when(c.fix_time) },
      { label: t("evidence.distance"), num: true, cell: (c) => dist(c.distance_m) },
      { label: t("evidence.geofence"), cell: (c) => h("span", { class: c.geofence === "fail"
        ? "late" : null }, label(c.geofence, "geofence")) },
      { label: t("evidence.flags"), cell: (c) => [c.mock_location ? h("span",
        { class: "badge urgent" }, t("evidence.mock_location")) : null,
      ...c.flags.map((f) => h("span", { class: "badge" }, label(f, "fact_flag"))),
      c.accuracy_m !== null ? h("small", { class: "muted" }, ` ±${t("unit.m",
        { n: Math.round(c.accuracy_m) })}`) : null] },
    ], rows: ev.checkins, empty: t("evidence.no_checkin") }),
    table({ id: "calls", caption: t("evidence.calls_caption"), columns: [
      { label: t("evidence.started"), cell: (c) => when(c.started_at) },
      { label: t("evidence.how"), cell: (c) => label(c.channel, "call_channel") },
      { label: t("evidence.result"), cell: (c) => label(c.outcome, "call_outcome") },
      { label: t("evidence.length"), num: true, cell: (c) => t("unit.s", { n: c.duration_s }) },
      { label: t("evidence.flags"), cell: (c) => c.flags.map((f) => h("span", { class: "badge" },
        label(f, "fact_flag"))) },
    ], rows: ev.calls, empty: t("evidence.no_call") }),
    table({ id: "carrier-calls", caption: t("evidence.carrier_caption"), columns: [
      { label: t("evidence.started"), cell: (c) => when(c.started_at) },
      { label: t("evidence.masked_number"), cell: (c) => c.masked_number },
      { label: t("evidence.to"), cell: (c) => c.callee },
      { label: t("evidence.answered"), cell: (c) => (c.answered ? t("common.yes")
        : t("common.no")) },
      { label: t("evidence.length"), num: true, cell: (c) => h("span", {
        class: !c.answered && c.duration_s < 10 ? "late" : null }, t("unit.s",
        { n: c.duration_s })) },
    ], rows: ev.carrier_calls || [], empty: t("evidence.no_carrier") }),
    ev.customer_phones.length ? h("p", {}, t("evidence.customer_phones"), " ",
      ev.customer_phones.map((p, i) => [i ? ", " : "", h("a", { href: `tel:${p}` }, p)])) : null);
}

export function photosSection(ev) {
  const figures = ev.photos.map((p) => {
    const img = h("img", { alt: t("evidence.photo_of", { kind: label(p.kind, "photo_kind") }),
      width: 160, height: 120 });
    if (p.blob_received) {
      fetchAuthed(p.thumbnail_url).then(async (res) => {
        img.src = URL.createObjectURL(await res.blob());
        img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
      }, () => img.replaceWith(h("span", { class: "muted" }, t("evidence.image_unavailable"))));
    }
    const exif = Object.entries(p.exif || {}).filter(([, v]) => v !== null && v !== "");
    return h("figure", { class: "photo card" },
      p.blob_received ? img : h("span", { class: "muted" }, t("evidence.not_uploaded")),
      h("figcaption", {}, h("strong", {}, label(p.kind, "photo_kind")),
        h("dl", { class: "facts small" },
          dd(t("evidence.taken"), when(p.taken_at)), dd(t("evidence.distance"),
            dist(p.distance_m)),
          dd(t("evidence.camera"), p.camera || "—"),
          p.reused_from.length ? dd(t("evidence.reused_from"), h("span", { class: "late" },
            p.reused_from.join(", "))) : null,
          exif.map(([k, v]) => dd(label(k), typeof v === "object" ? JSON.stringify(v) : v)))));
  });
  return section("photos", t("evidence.photos"),
    figures.length ? h("div", { class: "photos" }, figures) : h("p", { class: "muted" },
      t("evidence.no_photo")));
}

export function reportSection(ev, jobId) {
  const r = ev.service_report;
  const sign = r.sign_off;
  return section("verdicts", t("evidence.verdicts"),
    h("p", {}, h("a", { href: `#/jobs/${jobId}/report`, id: "report-link" },
      t("evidence.full_report")), " · ",
    sign ? (sign.signed ? t(sign.stale ? "evidence.signed_stale" : "evidence.signed",
      { name: sign.signer_name, time: when(sign.signed_at) }) : t("evidence.not_signed"))
      : t("evidence.no_sign_off")),
    r.verdicts.length ? r.verdicts.map((v) => h("div", { class: "card verdict" },
      h("h3", {}, `${label(v.claim_type, "claim_type")}: `, h("span",
        { class: v.passed ? "ok" : "late" },
        v.passed ? t("evidence.rules_passed") : t("evidence.rules_failed"))),
      h("ul", { class: "rules" }, v.verdicts.map((x) => h("li", { class: x.passed ? "ok" : "late" },
        x.passed ? "✓ " : "✗ ", label(x.code, "rule"),
        Object.keys(x.detail || {}).length ? h("small", { class: "muted" },
          ` (${Object.entries(x.detail).map(([k, d]) => `${label(k)} ${
            typeof d === "object" ? JSON.stringify(d) : d}`).join(" · ")})`) : null))),
      h("small", { class: "muted" }, t("evidence.rules_version", { version: v.rules_version,
        time: when(v.computed_at) }))))
      : h("p", { class: "muted" }, t("evidence.no_verdict")));
}

export function historySection(ev) {
  return section("job-history", t("evidence.job_history"),
    table({ id: "ev-history", caption: t("job.history_caption"), columns: [
      { label: t("evidence.server_time"), cell: (e) => when(e.at) },
      { label: t("evidence.phone_time"), cell: (e) => when(e.device_time) },
      { label: t("col.what"), cell: (e) => label(e.kind, "job_event") },
      { label: t("col.who"), cell: (e) => `${e.actor_role ? label(e.actor_role, "role")
        : t("common.system")} · ${e.source}` },
    ], rows: ev.history }));
}

function dd(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}
