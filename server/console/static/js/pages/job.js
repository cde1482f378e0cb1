// One job: its details and history, and the dispatcher's actions on it — assign or
// reassign (the candidates, installer first), book or move the appointment, record that
// the customer was reached, cancel.

import { api } from "../api.js";
import { h, replace, table, field, select, submitting, flash, when, windowText, label,
  dateInput, timeInput, fromInputs, zoneOf, num } from "../dom.js";
import { t, k } from "../i18n.js";
import { go } from "../router.js";
import { CONSOLE_ROLES, can } from "../roles.js";
import { statusBadge, clockCell } from "./jobrows.js";
import { fieldName, fieldValue } from "./fields.js";

export const page = {
  path: "/jobs/:id",
  title: k("job.title"),
  roles: CONSOLE_ROLES,
  render,
};

const CLOSED = ["completed", "cancelled", "closed"];
const STEPS = { order: "job.step_order", visit: "job.step_visit", callback: "job.step_callback",
  closed: "job.step_closed" };
const STEP_STATES = { done: "job.step_done", pending: "job.step_pending",
  failed: "job.step_failed", reopened: "job.step_reopened" };
const OUTCOMES = ["confirmed", "contradicted", "unreachable", "rescheduled", "superseded"];
const CLOSED_WHY = { callback_confirmed: "job.closed_confirmed",
  callback_unreachable: "job.closed_unreachable" };

/** A step's detail: an unable reason, a callback's state or result, why it closed. */
function stepDetail(step, detail) {
  if (step === "visit") return label(detail, "unable_reason");
  if (step === "callback") {
    if (OUTCOMES.includes(detail)) return label(detail, "outcome");
    return detail === "waiting" ? t("job.callback_waiting") : label(detail, "callback_state");
  }
  if (step === "closed" && CLOSED_WHY[detail]) return t(CLOSED_WHY[detail]);
  return label(detail);
}

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
  const tz = zoneOf(job.city_id);
  const names = Object.fromEntries(providers.map((p) => [p.id, p.name]));
  candidates.forEach((c) => (names[c.technician_id] = c.full_name));
  const customerBox = h("div", { id: "customer", "aria-live": "polite" },
    h("p", { class: "muted" }, t("job.loading_customer")));
  const open = !CLOSED.includes(job.status);

  const facts = h("dl", { class: "facts" },
    dt(t("col.status"), statusBadge(job.status)),
    dt(t("col.kind"), t("job.kind_line", { kind: label(job.kind, "job_kind"),
      priority: label(job.priority, "job_priority"), source: label(job.source, "job_source") })),
    dt(t("col.appointment"), windowText(job.window_start, job.window_end, tz)),
    dt(t("col.provider"), job.provider_id ? names[job.provider_id] || job.provider_id
      : t("common.unassigned")),
    dt(t("col.technician"), job.technician_id ? names[job.technician_id]
      || t("job.not_a_candidate") : "—"),
    job.priority === "urgent" || job.overdue.length ? dt(t("col.sla_clock"), clockCell(job))
      : null,
    dt(t("job.description"), job.description || "—"),
    job.unable_reason ? dt(t("job.could_not_complete"), label(job.unable_reason,
      "unable_reason")) : null,
    job.cancel_reason ? dt(t("job.cancelled"), job.cancel_reason) : null,
    dt(t("customers.created"), when(job.created_at, tz)),
  );

  const actions = [];
  if (dispatch && open) {
    actions.push(assignForm(job, candidates, providers, names));
    actions.push(appointmentForm(job, tz));
    if (job.priority === "urgent" && !job.contacted_at) actions.push(contactedForm(job));
  }
  if (can(user, "cancel") && open) actions.push(cancelForm(job));
  if (dispatch && job.status !== "cancelled") actions.push(customerLinkForm(job));

  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/board" }, t("nav.board")), " › ", job.number),
    h("h1", { tabindex: "-1" }, t("job.heading", { number: job.number })),
    h("p", {}, h("a", { href: `#/jobs/${id}/report`, id: "report-link" }, t("report.title"))),
    h("div", { class: "cols" },
      h("section", { "aria-labelledby": "facts-h" }, h("h2", { id: "facts-h" }, t("col.details")),
        facts, h("h2", {}, t("col.customer")), customerBox),
      actions.length ? h("section", { "aria-labelledby": "act-h", class: "actions" },
        h("h2", { id: "act-h" }, t("job.actions")), actions) : null),
    loop ? loopSection(loop, tz) : null,
    h("section", { "aria-labelledby": "hist-h" }, h("h2", { id: "hist-h" }, t("job.history")),
      table({ id: "history", caption: t("job.history_caption"), columns: [
        { label: t("col.when"), cell: (e) => when(e.at, tz) },
        { label: t("col.what"), cell: (e) => label(e.kind, "job_event") },
        { label: t("col.who"), cell: (e) => `${e.actor_role ? label(e.actor_role, "role")
          : t("common.system")} · ${e.source}` },
        { label: t("col.details"), cell: (e) => details(e.data, names, tz) },
      ], rows: history })),
  );

  // The customer is the one call that needs the job first; the page does not wait for it.
  api(`/customers/${job.customer_id}`).then((c) => {
    if (!current()) return;
    replace(customerBox, h("dl", { class: "facts" },
      dt(t("job.name"), h("a", { href: `#/customers?name=${encodeURIComponent(c.name)}` }, c.name)),
      dt(t("customers.address"), c.address),
      dt(t("customers.phones"), c.phones.map((p) => `${p.number} (${p.label})`).join(", ")),
      c.notes ? dt(t("customers.notes"), c.notes) : null));
  }, (err) => replace(customerBox, h("p", { class: "muted" }, err.message)));
}

/** The closed loop: order → visit → callback → closed, and the two satisfactions. */
function loopSection(loop, tz) {
  const steps = h("ol", { class: "loop", id: "loop" }, loop.steps.map((s) =>
    h("li", { class: s.state, "data-step": s.step, "data-state": s.state },
      h("b", {}, STEPS[s.step] ? t(STEPS[s.step]) : s.step), " ",
      STEP_STATES[s.state] ? t(STEP_STATES[s.state]) : label(s.state),
      s.detail ? ` · ${stepDetail(s.step, s.detail)}` : "",
      s.at ? h("small", { class: "block muted" }, when(s.at, tz)) : null)));
  return h("section", { "aria-labelledby": "loop-h" },
    h("h2", { id: "loop-h" }, t("job.loop")), steps,
    h("dl", { class: "facts" },
      dt(t("job.callback_result"), label(loop.callback_result, "outcome")),
      dt(t("job.satisfaction_auditor"), label(loop.callback_satisfaction, "satisfaction")),
      dt(t("job.satisfaction_customer"), h("span", { id: "customer-satisfaction" },
        label(loop.customer_satisfaction, "satisfaction"))),
      loop.reopened ? dt(t("job.reopened"), num(loop.reopened)) : null));
}

/** A new link to the customer's page, to read out or send again. */
function customerLinkForm(job) {
  const out = h("p", { id: "customer-link-out", "aria-live": "polite" });
  const form = h("form", { id: "customer-link-form" },
    h("h3", {}, t("job.customer_page")),
    h("button", { type: "submit" }, t("job.make_customer_link")), out);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const link = await api(`/jobs/${job.id}/customer-links`, { method: "POST", body: {} });
      replace(out, h("code", {}, link.url), " ",
        t("job.link_until", { time: when(link.expires_at, zoneOf(job.city_id)) }));
    });
  });
  return form;
}

function dt(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

/** An event's data, readable: windows as times, ids as names when the page knows them. */
function details(data, names, tz) {
  const show = (v, key) => {
    if (v && typeof v === "object" && "start" in v) return windowText(v.start, v.end, tz);
    if (v && typeof v === "object") {
      return Object.entries(v).map(([k, x]) => `${fieldName(k)} ${show(x, k)}`).join(", ");
    }
    return names[v] || (v === null ? "—" : String(fieldValue(key, v)));
  };
  const entries = Object.entries(data || {}).filter(([, v]) => v !== null && v !== "");
  return entries.length
    ? entries.map(([k, v]) => h("span", { class: "kv" }, `${fieldName(k)}: ${show(v, k)}`))
    : "—";
}

function done(job, text) {
  flash(text);
  go(`/jobs/${job.id}`);
}

function assignForm(job, candidates, providers, names) {
  const tech = select("technician_id", [["", t("job.provider_picks")],
    ...candidates.map((c) => [c.technician_id, `${c.is_installer ? t("job.installer") : ""}${
      c.full_name} · ${names[c.provider_id] || "?"} · ${label(c.skill_level, "skill_level")} · ${
      t("job.open_jobs", { n: c.open_jobs })}`])], job.technician_id);
  tech.id = "assign-technician";
  const prov = select("provider_id", [["", t("job.choose")], ...providers.filter((p) => p.active)
    .map((p) => [p.id, p.name])], job.provider_id);
  prov.id = "assign-provider";
  tech.addEventListener("change", () => {
    const c = candidates.find((x) => x.technician_id === tech.value);
    if (c) prov.value = c.provider_id;
  });
  const reason = h("input", { name: "reason", id: "assign-reason", maxlength: 500 });
  const form = h("form", { id: "assign-form", class: "card" },
    h("h3", {}, job.technician_id || job.provider_id ? t("job.reassign") : t("job.assign")),
    field(t("col.technician"), tech, t("job.candidates_hint")),
    field(t("col.provider"), prov), field(t("job.reason_optional"), reason),
    h("button", { type: "submit", class: "primary" }, t("job.assign")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const body = { provider_id: prov.value, reason: reason.value };
      if (tech.value) body.technician_id = tech.value;
      if (!body.provider_id) throw new Error(t("job.choose_provider"));
      const out = await api(`/jobs/${job.id}/assign`, { method: "POST", body });
      done(out, t("job.assigned", { number: out.number }));
    });
  });
  return form;
}

function appointmentForm(job, tz) {
  const start = job.window_start ? new Date(job.window_start) : nextHour();
  const end = job.window_end ? new Date(job.window_end) : new Date(start.getTime() + 2 * 3600e3);
  const date = h("input", { type: "date", name: "date", id: "appt-date", required: true,
    value: dateInput(start, tz) });
  const from = h("input", { type: "time", name: "from", id: "appt-from", required: true,
    value: timeInput(start, tz), step: 900 });
  const to = h("input", { type: "time", name: "to", id: "appt-to", required: true,
    value: timeInput(end, tz), step: 900 });
  const reason = h("input", { name: "reason", id: "appt-reason", maxlength: 500 });
  const booked = Boolean(job.window_start);
  const form = h("form", { id: "appointment-form", class: "card" },
    h("h3", {}, booked ? t("job.reschedule") : t("job.book_heading")),
    field(t("job.date"), date, tz ? t("job.zone_hint", { zone: tz }) : null), h("div", { class: "row" }, field(t("job.from"), from),
      field(t("job.to"), to)),
    field(t("job.reason_told"), reason),
    h("button", { type: "submit", class: "primary" }, booked ? t("job.reschedule")
      : t("job.book")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      // typed in the city's clock, whatever the browser's zone
      const s = fromInputs(date.value, from.value, tz);
      const e = fromInputs(date.value, to.value, tz);
      if (Number.isNaN(s.getTime()) || Number.isNaN(e.getTime())) {
        throw new Error(t("job.enter_times"));
      }
      const body = { window_start: s.toISOString(), window_end: e.toISOString(),
        reason: reason.value };
      const out = booked
        ? await api(`/jobs/${job.id}/reschedule`, { method: "POST", body })
        : await api(`/jobs/${job.id}/appointment`, { method: "PUT", body });
      done(out, t("job.appointment_set", { number: out.number,
        window: windowText(out.window_start, out.window_end, tz) }));
    });
  });
  return form;
}

function contactedForm(job) {
  const note = h("input", { name: "note", id: "contact-note", maxlength: 500 });
  const form = h("form", { id: "contacted-form", class: "card" },
    h("h3", {}, t("job.reached")), field(t("job.note_optional"), note),
    h("button", { type: "submit" }, t("job.record_contact")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const out = await api(`/jobs/${job.id}/contacted`, { method: "POST",
        body: { note: note.value } });
      done(out, t("job.contact_recorded", { number: out.number }));
    });
  });
  return form;
}

function cancelForm(job) {
  const reason = h("input", { name: "reason", id: "cancel-reason", required: true,
    maxlength: 500 });
  const form = h("form", { id: "cancel-form", class: "card danger" },
    h("h3", {}, t("job.cancel_heading")), field(t("job.reason_required"), reason,
      job.window_start ? t("job.customer_told") : null),
    h("button", { type: "submit", class: "danger" }, t("job.cancel")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!reason.value.trim()) {
      flash(t("job.give_reason"), "error");
      reason.focus();
      return;
    }
    submitting(form, async () => {
      const out = await api(`/jobs/${job.id}/cancel`, { method: "POST",
        body: { reason: reason.value.trim() } });
      done(out, t("job.cancelled_flash", { number: out.number }));
    });
  });
  return form;
}

function nextHour() {
  const d = new Date();
  d.setHours(d.getHours() + 1, 0, 0, 0);
  return d;
}
