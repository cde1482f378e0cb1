// One callback task: why it is risky, the customer to call, what the auditor does (take,
// release, record the outcome and satisfaction, correct an entry), the entries so far,
// SMS replies and violations, then the evidence. Task and evidence load in parallel.

import { api } from "../api.js";
import { h, replace, table, field, select, submitting, flash, when, label } from "../dom.js";
import { go } from "../router.js";
import { can } from "../roles.js";
import { KINDS, OUTCOMES, SATISFACTION, factorList, riskBadge, dueText, money } from "./audit.js";
import { plotSection, timelineSection, checkinsSection, photosSection, reportSection,
  historySection } from "./evidence.js";

export const page = {
  path: "/callbacks/:id",
  title: "Callback",
  roles: ["admin", "auditor", "dispatcher"],
  render,
};

async function render(main, { params, user, current }) {
  const [task, ev] = await Promise.all([
    api(`/callbacks/${params.id}`),
    api(`/callbacks/${params.id}/evidence`),
  ]);
  if (!current()) return;
  const work = can(user, "audit");
  const mine = task.holder_id === user.id;

  const facts = h("dl", { class: "facts" },
    dt("Claim", `${KINDS[task.kind] || label(task.kind)}${task.unable_reason
      ? ` (${label(task.unable_reason)})` : ""} · ${when(task.claimed_at)}`),
    dt("Appointment", task.window_start ? `${when(task.window_start)} – ${when(task.window_end)}`
      : "none"),
    dt("Technician", `${task.technician_name || "—"} · ${task.provider_name || "—"}`),
    dt("Customer", task.customer_name),
    dt("State", [label(task.state), task.result ? ` · ${label(task.result)}` : "",
      ` · attempt ${task.attempts} of ${task.max_attempts}`]),
    dt("Due", h("span", { class: task.overdue && task.state === "open" ? "late" : null },
      `${dueText(task)} (${when(task.due_at)})`)),
    task.next_attempt_at ? dt("Call again", `from ${when(task.next_attempt_at)}`) : null,
    dt("Held by", task.holder_id ? `${mine ? "you" : task.holder_name} until ${
      when(task.held_until)}` : "nobody"),
    task.customer_reply ? dt("Customer's answer (SMS or page)", label(task.customer_reply))
      : null,
    task.customer_satisfaction ? dt("Satisfaction on the customer's page",
      h("span", { id: "customer-satisfaction" }, label(task.customer_satisfaction))) : null,
  );

  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/callbacks" }, "Callbacks"), " › ",
      task.job_number),
    h("h1", { tabindex: "-1" }, `Callback ${task.job_number} `, riskBadge(task.risk_score)),
    h("p", {}, h("a", { href: `#/jobs/${task.job_id}` }, `Job ${task.job_number}`), " · ",
      h("a", { href: `#/jobs/${task.job_id}/report` }, "Service report")),
    h("div", { class: "cols" },
      h("section", { "aria-labelledby": "why-h" },
        h("h2", { id: "why-h" },
          `${task.risk_score} % likely false (model ${task.risk_model || "–"}): why`),
        h("div", { id: "risk-factors" }, factorList(task.risk_factors)),
        h("h2", {}, "The claim"), facts),
      work ? h("section", { "aria-labelledby": "act-h", class: "actions" },
        h("h2", { id: "act-h" }, "Your call"), actions(task, mine)) : null),
    entriesSection(task, work),
    plotSection(ev), timelineSection(ev), checkinsSection(ev), photosSection(ev),
    reportSection(ev, task.job_id), historySection(ev));
}

function dt(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

function post(task, path, body, text) {
  return async () => {
    const out = await api(`/callbacks/${task.id}/${path}`, { method: "POST", body });
    flash(text(out));
    go(`/callbacks/${task.id}`);
  };
}

function actions(task, mine) {
  if (task.state !== "open") {
    return h("p", { class: "muted" }, `Closed: ${label(task.result || task.state)}. ` +
      "Correct an entry below if it was wrong.");
  }
  if (!mine) {
    const form = h("form", { id: "take-form", class: "card" },
      h("p", {}, task.holder_id ? `${task.holder_name} holds this task now.`
        : "Take the task to call the customer: nobody else can work it while you hold it."),
      h("button", { type: "submit", class: "primary" }, "Take"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submitting(form, post(task, "take", undefined, () => `You hold ${task.job_number}.`));
    });
    return form;
  }
  const release = h("form", { id: "release-form" },
    h("button", { type: "submit" }, "Release without an outcome"));
  release.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(release, post(task, "release", undefined, () => `${task.job_number} released.`));
  });
  return [outcomeForm(task), release];
}

/** The outcome form; with `corrects`, it replaces that entry (entries are never edited). */
function outcomeForm(task, corrects = null) {
  const id = corrects ? "correct-form" : "outcome-form";
  const radios = OUTCOMES.map(([value, name, hint]) => h("label", { class: "choice" },
    h("input", { type: "radio", name: "outcome", value, required: true, id: `${id}-${value}` }),
    ` ${name} `,
    h("small", { class: "muted" }, hint)));
  const satisfaction = select("satisfaction", [["", "— not asked —"], ...SATISFACTION]);
  satisfaction.id = `${id}-satisfaction`;
  const comment = h("textarea", { name: "comment", id: `${id}-comment`, maxlength: 2000,
    rows: 3 });
  const form = h("form", { id, class: "card" },
    h("h3", {}, corrects ? "Correct this entry" : "Record the outcome"),
    h("fieldset", {}, h("legend", {}, "What the customer said"), radios),
    field("Satisfaction", satisfaction, task.kind === "completion"
      ? "Required when a completion is confirmed." : "Only for confirmed completions."),
    field("Comment", comment),
    h("button", { type: "submit", class: "primary" }, corrects ? "Record the correction"
      : "Record"),
    corrects ? h("button", { type: "button", class: "link", onclick: () => form.remove() },
      "Cancel") : null);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const outcome = form.querySelector("input[name=outcome]:checked")?.value;
    if (!outcome) {
      flash("Choose what the customer said.", "error");
      form.querySelector("input[name=outcome]").focus();
      return;
    }
    const body = { outcome, comment: comment.value };
    if (satisfaction.value) body.satisfaction = satisfaction.value;
    if (corrects) body.corrects = corrects;
    submitting(form, post(task, "outcomes", body,
      (out) => `${task.job_number}: ${label(outcome)} recorded${out.violations.some(
        (v) => !v.voided_at) ? " — a violation was recorded and the job reopened" : ""}.`));
  });
  return form;
}

function entriesSection(task, work) {
  const slot = h("div", { id: "correction-slot" });
  const correct = (o) => () => {
    replace(slot, outcomeForm(task, o.id));
    slot.querySelector("input")?.focus();
  };
  return h("section", { "aria-labelledby": "entries-h" },
    h("h2", { id: "entries-h" }, "Outcomes, replies, violations"),
    table({ id: "outcomes", caption: "Outcomes, oldest first: entries are never edited, a " +
      "correction replaces one", columns: [
      { label: "Recorded", cell: (o) => [when(o.recorded_at), h("small", { class: "block muted" },
        o.recorded_by_name || "")] },
      { label: "Outcome", cell: (o) => h("span", { class: o.corrected_by ? "struck" : null },
        label(o.outcome)) },
      { label: "Satisfaction", cell: (o) => label(o.satisfaction) },
      { label: "Comment", cell: (o) => o.comment || "—" },
      { label: "Status", cell: (o) => [o.corrects ? "corrects an earlier entry. " : "",
        o.corrected_by ? "replaced by a correction" : "current",
        work && !o.corrected_by ? [" ", h("button", { type: "button", class: "link correct",
          onclick: correct(o) }, "Correct this entry")] : null] },
    ], rows: task.outcomes, empty: "No outcome yet." }),
    slot,
    table({ id: "replies", caption: "The customer's SMS replies", columns: [
      { label: "Received", cell: (r) => when(r.received_at) },
      { label: "Meaning", cell: (r) => label(r.meaning) },
      { label: "Text", cell: (r) => r.body },
    ], rows: task.replies, empty: "No SMS reply." }),
    table({ id: "violations", caption: "Violations this task caused", columns: [
      { label: "Recorded", cell: (v) => when(v.recorded_at) },
      { label: "Kind", cell: (v) => label(v.kind) },
      { label: "Technician", cell: (v) => `${v.technician_name || "—"} · ${v.provider_name || "—"}` },
      { label: "Fine", num: true, cell: (v) => money(v.fine_amount, v.currency) },
      { label: "Status", cell: (v) => (v.voided_at ? `voided ${when(v.voided_at)}` : "counts") },
    ], rows: task.violations, empty: "No violation." }));
}
