// Job rows shared by the board and the customer history: the same columns everywhere.
// A job's times are in its city's zone.

import { h, label, windowText, duration, zoneOf } from "../dom.js";
import { t } from "../i18n.js";

export const STATUSES = ["new", "assigned", "acknowledged", "en_route", "on_site", "in_progress",
  "paused", "completed", "unable_to_complete", "cancelled", "closed"];

export function statusBadge(status) {
  return h("span", { class: `badge s-${status}` }, label(status, "job_status"));
}

export function jobLink(job) {
  return h("a", { href: `#/jobs/${job.id}`, class: "job-link" }, job.number);
}

/** The clocks still running on a job, e.g. "Contact overdue by 12 min". */
export function clockParts(job, now = Date.now()) {
  const parts = [];
  const add = (name, due) => {
    const ms = new Date(due).getTime() - now;
    parts.push({ late: ms < 0, text: ms < 0 ? t("clock.overdue_by", { name, time: duration(ms) })
      : t("clock.due_in", { name, time: duration(ms) }) });
  };
  if (job.contact_due_at && !job.contacted_at) add(t("clock.contact"), job.contact_due_at);
  if (job.onsite_due_at && !job.arrived_at) add(t("clock.on_site"), job.onsite_due_at);
  if (job.overdue.includes("appointment_missed")) {
    parts.push({ late: true, text: t("clock.appointment_missed", { time: duration(
      now - new Date(job.window_end).getTime()) }) });
  }
  return parts;
}

export function clockCell(job) {
  const cell = h("span", { class: "clock", dataset: { job: job.id } });
  fillClock(cell, job);
  return cell;
}

export function fillClock(cell, job) {
  const parts = clockParts(job);
  cell.replaceChildren(...(parts.length ? parts.map((p) =>
    h("span", { class: p.late ? "late" : "due" }, p.text)) : [h("span", { class: "muted" },
    t("clock.none"))]));
}

/** Columns of a job table; names: id -> readable name (from GET /board). */
export function jobColumns(names, addresses, { clocks = false } = {}) {
  const cols = [
    { label: t("col.job"), cell: (j) => [jobLink(j), j.priority === "urgent"
      ? h("span", { class: "badge urgent" }, label("urgent", "job_priority")) : null] },
    { label: t("col.customer"), cell: (j) => [names[j.customer_id] || "—",
      addresses[j.customer_id] ? h("small", { class: "block muted" }, addresses[j.customer_id])
        : null] },
  ];
  if (clocks) cols.push({ label: t("col.sla_clock"), cell: clockCell });
  cols.push(
    { label: t("col.appointment"), cell: (j) => windowText(j.window_start, j.window_end,
      zoneOf(j.city_id)) },
    { label: t("col.status"), cell: (j) => statusBadge(j.status) },
    { label: t("col.kind"), cell: (j) => label(j.kind, "job_kind") },
    { label: t("col.provider"), cell: (j) => (j.provider_id ? names[j.provider_id] || "—"
      : t("common.unassigned")) },
    { label: t("col.technician"), cell: (j) => (j.technician_id ? names[j.technician_id] || "—"
      : "—") },
    { label: t("col.report"), cell: (j) => h("a", { href: `#/jobs/${j.id}/report`,
      "aria-label": t("common.report_of", { number: j.number }) }, t("col.report")) },
  );
  return cols;
}
