// One job: its details and history, and the dispatcher's actions on it — assign or
// reassign (the candidates, installer first), book or move the appointment, record that
// the customer was reached, cancel.

import { api } from "../api.js";
import { h, replace, table, field, select, submitting, flash, when, windowText, label,
  dateInput, timeInput } from "../dom.js";
import { go } from "../router.js";
import { CONSOLE_ROLES, can } from "../roles.js";
import { statusBadge, clockCell } from "./jobrows.js";

export const page = {
  path: "/jobs/:id",
  title: "Job",
  roles: CONSOLE_ROLES,
  render,
};

const CLOSED = ["completed", "cancelled", "closed"];
const STEPS = { order: "Order", visit: "Visit", callback: "Callback", closed: "Closed" };

async function render(main, { params, user, current }) {
  const id = params.id;
  const dispatch = can(user, "dispatch");
  const [job, history, candidates, providers, loop] = await Promise.all([
    api(`/jobs/${id}`),
    api(`/jobs/${id}/history`),
    dispatch ? api(`/jobs/${id}/candidates`) : Promise.resolve([]),
    api("/providers"),
    api(`/jobs/${id}/loop`).catch(() => null),
  ]);
  if (!current()) return;
  const names = Object.fromEntries(providers.map((p) => [p.id, p.name]));
  candidates.forEach((c) => (names[c.technician_id] = c.full_name));
  const customerBox = h("div", { id: "customer", "aria-live": "polite" },
    h("p", { class: "muted" }, "Loading the customer…"));
  const open = !CLOSED.includes(job.status);

  const facts = h("dl", { class: "facts" },
    dt("Status", statusBadge(job.status)),
    dt("Kind", `${label(job.kind)} · ${label(job.priority)} · from ${label(job.source)}`),
    dt("Appointment", windowText(job.window_start, job.window_end)),
    dt("Provider", job.provider_id ? names[job.provider_id] || job.provider_id : "unassigned"),
    dt("Technician", job.technician_id ? names[job.technician_id] || "(not a candidate now)"
      : "—"),
    job.priority === "urgent" || job.overdue.length ? dt("SLA clock", clockCell(job)) : null,
    dt("Description", job.description || "—"),
    job.unable_reason ? dt("Could not complete", label(job.unable_reason)) : null,
    job.cancel_reason ? dt("Cancelled", job.cancel_reason) : null,
    dt("Created", when(job.created_at)),
  );

  const actions = [];
  if (dispatch && open) {
    actions.push(assignForm(job, candidates, providers, names));
    actions.push(appointmentForm(job));
    if (job.priority === "urgent" && !job.contacted_at) actions.push(contactedForm(job));
  }
  if (can(user, "cancel") && open) actions.push(cancelForm(job));
  if (dispatch && job.status !== "cancelled") actions.push(customerLinkForm(job));

  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/board" }, "Board"), " › ", job.number),
    h("h1", { tabindex: "-1" }, `Job ${job.number}`),
    h("p", {}, h("a", { href: `#/jobs/${id}/report`, id: "report-link" }, "Service report")),
    h("div", { class: "cols" },
      h("section", { "aria-labelledby": "facts-h" }, h("h2", { id: "facts-h" }, "Details"), facts,
        h("h2", {}, "Customer"), customerBox),
      actions.length ? h("section", { "aria-labelledby": "act-h", class: "actions" },
        h("h2", { id: "act-h" }, "Actions"), actions) : null),
    loop ? loopSection(loop) : null,
    h("section", { "aria-labelledby": "hist-h" }, h("h2", { id: "hist-h" }, "History"),
      table({ id: "history", caption: "Every change to the job, oldest first", columns: [
        { label: "When", cell: (e) => when(e.at) },
        { label: "What", cell: (e) => label(e.kind) },
        { label: "Who", cell: (e) => `${label(e.actor_role || "system")} · ${e.source}` },
        { label: "Details", cell: (e) => details(e.data, names) },
      ], rows: history })),
  );

  // The customer is the one call that needs the job first; the page does not wait for it.
  api(`/customers/${job.customer_id}`).then((c) => {
    if (!current()) return;
    replace(customerBox, h("dl", { class: "facts" },
      dt("Name", h("a", { href: `#/customers?name=${encodeURIComponent(c.name)}` }, c.name)),
      dt("Address", c.address),
      dt("Phones", c.phones.map((p) => `${p.number} (${p.label})`).join(", ")),
      c.notes ? dt("Notes", c.notes) : null));
  }, (err) => replace(customerBox, h("p", { class: "muted" }, err.message)));
}

/** The closed loop: order → visit → callback → closed, and the two satisfactions. */
function loopSection(loop) {
  const steps = h("ol", { class: "loop", id: "loop" }, loop.steps.map((s) =>
    h("li", { class: s.state, "data-step": s.step, "data-state": s.state },
      h("b", {}, STEPS[s.step] || s.step), " ", label(s.state),
      s.detail ? ` · ${label(s.detail)}` : "", s.at ? h("small", { class: "block muted" },
        when(s.at)) : null)));
  return h("section", { "aria-labelledby": "loop-h" }, h("h2", { id: "loop-h" }, "Closed loop"),
    steps,
    h("dl", { class: "facts" },
      dt("Callback result", loop.callback_result ? label(loop.callback_result) : "—"),
      dt("Satisfaction (auditor)", loop.callback_satisfaction
        ? label(loop.callback_satisfaction) : "—"),
      dt("Satisfaction (customer's page)", h("span", { id: "customer-satisfaction" },
        loop.customer_satisfaction ? label(loop.customer_satisfaction) : "—")),
      loop.reopened ? dt("Reopened", String(loop.reopened)) : null));
}

/** A new link to the customer's page, to read out or send again. */
function customerLinkForm(job) {
  const out = h("p", { id: "customer-link-out", "aria-live": "polite" });
  const form = h("form", { id: "customer-link-form" },
    h("h3", {}, "Customer page"),
    h("button", { type: "submit" }, "Make a customer page link"), out);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const link = await api(`/jobs/${job.id}/customer-links`, { method: "POST", body: {} });
      replace(out, h("code", {}, link.url), ` (until ${when(link.expires_at)})`);
    });
  });
  return form;
}

function dt(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

/** An event's data, readable: windows as times, ids as names when the page knows them. */
function details(data, names) {
  const show = (v) => {
    if (v && typeof v === "object" && "start" in v) return windowText(v.start, v.end);
    if (v && typeof v === "object") {
      return Object.entries(v).map(([k, x]) => `${label(k)} ${show(x)}`).join(", ");
    }
    return names[v] || (v === null ? "—" : String(v));
  };
  const entries = Object.entries(data || {}).filter(([, v]) => v !== null && v !== "");
  return entries.length
    ? entries.map(([k, v]) => h("span", { class: "kv" }, `${label(k)}: ${show(v)}`))
    : "—";
}

function done(job, text) {
  flash(text);
  go(`/jobs/${job.id}`);
}

function assignForm(job, candidates, providers, names) {
  const tech = select("technician_id", [["", "— the provider picks later —"],
    ...candidates.map((c) => [c.technician_id, `${c.is_installer ? "★ installer · " : ""}${
      c.full_name} · ${names[c.provider_id] || "?"} · ${c.skill_level || "—"} · ${
      c.open_jobs} open`])], job.technician_id);
  tech.id = "assign-technician";
  const prov = select("provider_id", [["", "— choose —"], ...providers.filter((p) => p.active)
    .map((p) => [p.id, p.name])], job.provider_id);
  prov.id = "assign-provider";
  tech.addEventListener("change", () => {
    const c = candidates.find((x) => x.technician_id === tech.value);
    if (c) prov.value = c.provider_id;
  });
  const reason = h("input", { name: "reason", id: "assign-reason", maxlength: 500 });
  const form = h("form", { id: "assign-form", class: "card" },
    h("h3", {}, job.technician_id || job.provider_id ? "Reassign" : "Assign"),
    field("Technician", tech, "Candidates: the appliance's installer first, then the least loaded."),
    field("Provider", prov), field("Reason (optional)", reason),
    h("button", { type: "submit", class: "primary" }, "Assign"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const body = { provider_id: prov.value, reason: reason.value };
      if (tech.value) body.technician_id = tech.value;
      if (!body.provider_id) throw new Error("Choose a provider or a technician.");
      const out = await api(`/jobs/${job.id}/assign`, { method: "POST", body });
      done(out, `Job ${out.number} assigned.`);
    });
  });
  return form;
}

function appointmentForm(job) {
  const start = job.window_start ? new Date(job.window_start) : nextHour();
  const end = job.window_end ? new Date(job.window_end) : new Date(start.getTime() + 2 * 3600e3);
  const date = h("input", { type: "date", name: "date", id: "appt-date", required: true,
    value: dateInput(start) });
  const from = h("input", { type: "time", name: "from", id: "appt-from", required: true,
    value: timeInput(start), step: 900 });
  const to = h("input", { type: "time", name: "to", id: "appt-to", required: true,
    value: timeInput(end), step: 900 });
  const reason = h("input", { name: "reason", id: "appt-reason", maxlength: 500 });
  const booked = Boolean(job.window_start);
  const form = h("form", { id: "appointment-form", class: "card" },
    h("h3", {}, booked ? "Reschedule" : "Book the appointment"),
    field("Date", date), h("div", { class: "row" }, field("From", from), field("To", to)),
    field("Reason (told to the customer)", reason),
    h("button", { type: "submit", class: "primary" }, booked ? "Reschedule" : "Book"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const s = new Date(`${date.value}T${from.value}`);
      const e = new Date(`${date.value}T${to.value}`);
      if (Number.isNaN(s.getTime()) || Number.isNaN(e.getTime())) {
        throw new Error("Enter a date and both times.");
      }
      const body = { window_start: s.toISOString(), window_end: e.toISOString(),
        reason: reason.value };
      const out = booked
        ? await api(`/jobs/${job.id}/reschedule`, { method: "POST", body })
        : await api(`/jobs/${job.id}/appointment`, { method: "PUT", body });
      done(out, `Job ${out.number}: appointment ${windowText(out.window_start, out.window_end)}.`);
    });
  });
  return form;
}

function contactedForm(job) {
  const note = h("input", { name: "note", id: "contact-note", maxlength: 500 });
  const form = h("form", { id: "contacted-form", class: "card" },
    h("h3", {}, "Customer reached"), field("Note (optional)", note),
    h("button", { type: "submit" }, "Record contact now"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const out = await api(`/jobs/${job.id}/contacted`, { method: "POST",
        body: { note: note.value } });
      done(out, `Job ${out.number}: contact recorded.`);
    });
  });
  return form;
}

function cancelForm(job) {
  const reason = h("input", { name: "reason", id: "cancel-reason", required: true,
    maxlength: 500 });
  const form = h("form", { id: "cancel-form", class: "card danger" },
    h("h3", {}, "Cancel the job"), field("Reason (required)", reason,
      job.window_start ? "The customer is told." : null),
    h("button", { type: "submit", class: "danger" }, "Cancel job"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!reason.value.trim()) {
      flash("Give a reason to cancel.", "error");
      reason.focus();
      return;
    }
    submitting(form, async () => {
      const out = await api(`/jobs/${job.id}/cancel`, { method: "POST",
        body: { reason: reason.value.trim() } });
      done(out, `Job ${out.number} cancelled.`);
    });
  });
  return form;
}

function nextHour() {
  const d = new Date();
  d.setHours(d.getHours() + 1, 0, 0, 0);
  return d;
}
