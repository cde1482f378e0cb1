// Job rows shared by the board and the customer history: the same columns everywhere.

import { h, label, windowText, duration } from "../dom.js";

export const STATUSES = ["new", "assigned", "acknowledged", "en_route", "on_site", "in_progress",
  "paused", "completed", "unable_to_complete", "cancelled", "closed"];

export function statusBadge(status) {
  return h("span", { class: `badge s-${status}` }, label(status));
}

export function jobLink(job) {
  return h("a", { href: `#/jobs/${job.id}`, class: "job-link" }, job.number);
}

/** The clocks still running on a job, e.g. "Contact overdue by 12 min". */
export function clockParts(job, now = Date.now()) {
  const parts = [];
  const add = (name, due) => {
    const ms = new Date(due).getTime() - now;
    parts.push({ late: ms < 0, text: ms < 0 ? `${name} overdue by ${duration(ms)}`
      : `${name} due in ${duration(ms)}` });
  };
  if (job.contact_due_at && !job.contacted_at) add("Contact", job.contact_due_at);
  if (job.onsite_due_at && !job.arrived_at) add("On site", job.onsite_due_at);
  if (job.overdue.includes("appointment_missed")) {
    parts.push({ late: true, text: `Appointment missed (ended ${duration(
      now - new Date(job.window_end).getTime())} ago)` });
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
    "no clock running")]));
}

/** Columns of a job table; names: id -> readable name (from GET /board). */
export function jobColumns(names, addresses, { clocks = false } = {}) {
  const cols = [
    { label: "Job", cell: (j) => [jobLink(j), j.priority === "urgent"
      ? h("span", { class: "badge urgent" }, "urgent") : null] },
    { label: "Customer", cell: (j) => [names[j.customer_id] || "—",
      addresses[j.customer_id] ? h("small", { class: "block muted" }, addresses[j.customer_id])
        : null] },
  ];
  if (clocks) cols.push({ label: "SLA clock", cell: clockCell });
  cols.push(
    { label: "Appointment", cell: (j) => windowText(j.window_start, j.window_end) },
    { label: "Status", cell: (j) => statusBadge(j.status) },
    { label: "Kind", cell: (j) => label(j.kind) },
    { label: "Provider", cell: (j) => (j.provider_id ? names[j.provider_id] || "—" : "unassigned") },
    { label: "Technician", cell: (j) => (j.technician_id ? names[j.technician_id] || "—" : "—") },
    { label: "Report", cell: (j) => h("a", { href: `#/jobs/${j.id}/report`,
      "aria-label": `Service report ${j.number}` }, "Report") },
  );
  return cols;
}
