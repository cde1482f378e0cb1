// One callback task: why it is risky, the customer to call, what the auditor does (take,
// release, record the outcome and satisfaction, correct an entry), the entries so far,
// SMS replies and violations, then the evidence. Task and evidence load in parallel.

import { api } from "../api.js";
import { h, replace, table, field, select, submitting, flash, when, label, money } from "../dom.js";
import { t, k } from "../i18n.js";
import { go } from "../router.js";
import { can } from "../roles.js";
import { kindLabel, OUTCOMES, outcomeHint, SATISFACTION, factorList, riskBadge,
  dueText } from "./audit.js";
import { plotSection, timelineSection, checkinsSection, photosSection, reportSection,
  historySection } from "./evidence.js";

export const page = {
  path: "/callbacks/:id",
  title: k("callback.title"),
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
    dt(t("callback.claim"), `${kindLabel(task.kind)}${task.unable_reason
      ? ` (${label(task.unable_reason, "unable_reason")})` : ""} · ${when(task.claimed_at)}`),
    dt(t("col.appointment"), task.window_start
      ? `${when(task.window_start)} – ${when(task.window_end)}` : t("common.none")),
    dt(t("col.technician"), `${task.technician_name || "—"} · ${task.provider_name || "—"}`),
    dt(t("col.customer"), task.customer_name),
    dt(t("callbacks.state"), [label(task.state, "callback_state"), task.result
      ? ` · ${label(task.result, "outcome")}` : "",
      ` · ${t("callback.attempt", { n: task.attempts, max: task.max_attempts })}`]),
    dt(t("col.due"), h("span", { class: task.overdue && task.state === "open" ? "late" : null },
      `${dueText(task)} (${when(task.due_at)})`)),
    task.next_attempt_at ? dt(t("callback.call_again"), t("callback.from",
      { time: when(task.next_attempt_at) })) : null,
    dt(t("col.held_by"), task.holder_id ? t("callback.held_until", {
      who: mine ? t("common.you") : task.holder_name, time: when(task.held_until) })
      : t("common.nobody")),
    task.customer_reply ? dt(t("callback.customer_sms"), label(task.customer_reply,
      "customer_reply")) : null,
    task.customer_satisfaction ? dt(t("callback.customer_satisfaction"),
      h("span", { id: "customer-satisfaction" }, label(task.customer_satisfaction,
        "satisfaction"))) : null,
  );

  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/callbacks" }, t("nav.callbacks")), " › ",
      task.job_number),
    h("h1", { tabindex: "-1" }, t("callback.heading", { number: task.job_number }), " ",
      riskBadge(task.risk_score)),
    h("p", {}, h("a", { href: `#/jobs/${task.job_id}` }, t("job.heading",
      { number: task.job_number })), " · ",
      h("a", { href: `#/jobs/${task.job_id}/report` }, t("report.title"))),
    h("div", { class: "cols" },
      h("section", { "aria-labelledby": "why-h" },
        h("h2", { id: "why-h" },
          t("callback.why", { score: task.risk_score, model: task.risk_model || "–" })),
        h("div", { id: "risk-factors" }, factorList(task.risk_factors)),
        h("h2", {}, t("callback.the_claim")), facts),
      work ? h("section", { "aria-labelledby": "act-h", class: "actions" },
        h("h2", { id: "act-h" }, t("callback.your_call")), actions(task, mine)) : null),
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
    return h("p", { class: "muted" }, t("callback.closed", { result: task.result
      ? label(task.result, "outcome") : label(task.state, "callback_state") }));
  }
  if (!mine) {
    const form = h("form", { id: "take-form", class: "card" },
      h("p", {}, task.holder_id ? t("callback.held_by_other", { name: task.holder_name })
        : t("callback.take_hint")),
      h("button", { type: "submit", class: "primary" }, t("callbacks.take")));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submitting(form, post(task, "take", undefined, () => t("callbacks.you_hold",
        { number: task.job_number })));
    });
    return form;
  }
  const release = h("form", { id: "release-form" },
    h("button", { type: "submit" }, t("callback.release")));
  release.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(release, post(task, "release", undefined, () => t("callback.released",
      { number: task.job_number })));
  });
  return [outcomeForm(task), release];
}

/** The outcome form; with `corrects`, it replaces that entry (entries are never edited). */
function outcomeForm(task, corrects = null) {
  const id = corrects ? "correct-form" : "outcome-form";
  const radios = OUTCOMES.map((value) => h("label", { class: "choice" },
    h("input", { type: "radio", name: "outcome", value, required: true, id: `${id}-${value}` }),
    ` ${label(value, "outcome")} `,
    h("small", { class: "muted" }, outcomeHint(value))));
  const satisfaction = select("satisfaction", [["", t("callback.not_asked")],
    ...SATISFACTION.map((x) => [x, label(x, "satisfaction")])]);
  satisfaction.id = `${id}-satisfaction`;
  const comment = h("textarea", { name: "comment", id: `${id}-comment`, maxlength: 2000,
    rows: 3 });
  const form = h("form", { id, class: "card" },
    h("h3", {}, corrects ? t("callback.correct_entry") : t("callback.record_outcome")),
    h("fieldset", {}, h("legend", {}, t("callback.customer_said")), radios),
    field(t("col.satisfaction"), satisfaction, task.kind === "completion"
      ? t("callback.satisfaction_required") : t("callback.satisfaction_only")),
    field(t("col.comment"), comment),
    h("button", { type: "submit", class: "primary" }, corrects ? t("callback.record_correction")
      : t("callback.record")),
    corrects ? h("button", { type: "button", class: "link", onclick: () => form.remove() },
      t("common.cancel")) : null);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const outcome = form.querySelector("input[name=outcome]:checked")?.value;
    if (!outcome) {
      flash(t("callback.choose_outcome"), "error");
      form.querySelector("input[name=outcome]").focus();
      return;
    }
    const body = { outcome, comment: comment.value };
    if (satisfaction.value) body.satisfaction = satisfaction.value;
    if (corrects) body.corrects = corrects;
    submitting(form, post(task, "outcomes", body,
      (out) => t(out.violations.some((v) => !v.voided_at) ? "callback.recorded_violation"
        : "callback.recorded", { number: task.job_number, outcome: label(outcome, "outcome") })));
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
    h("h2", { id: "entries-h" }, t("callback.entries")),
    table({ id: "outcomes", caption: t("callback.outcomes_caption"), columns: [
      { label: t("col.recorded"), cell: (o) => [when(o.recorded_at), h("small",
        { class: "block muted" }, o.recorded_by_name || "")] },
      { label: t("col.outcome"), cell: (o) => h("span", { class: o.corrected_by ? "struck" : null },
        label(o.outcome, "outcome")) },
      { label: t("col.satisfaction"), cell: (o) => label(o.satisfaction, "satisfaction") },
      { label: t("col.comment"), cell: (o) => o.comment || "—" },
      { label: t("col.status"), cell: (o) => [o.corrects ? t("callback.corrects_earlier") : "",
        o.corrected_by ? t("callback.replaced") : t("callback.current"),
        work && !o.corrected_by ? [" ", h("button", { type: "button", class: "link correct",
          onclick: correct(o) }, t("callback.correct_entry"))] : null] },
    ], rows: task.outcomes, empty: t("callback.no_outcome") }),
    slot,
    table({ id: "replies", caption: t("callback.replies_caption"), columns: [
      { label: t("callback.received"), cell: (r) => when(r.received_at) },
      { label: t("callback.meaning"), cell: (r) => label(r.meaning, "customer_reply") },
      { label: t("callback.text"), cell: (r) => r.body },
    ], rows: task.replies, empty: t("callback.no_reply") }),
    table({ id: "violations", caption: t("callback.violations_caption"), columns: [
      { label: t("col.recorded"), cell: (v) => when(v.recorded_at) },
      { label: t("col.kind"), cell: (v) => label(v.kind, "violation_kind") },
      { label: t("col.technician"), cell: (v) => `${v.technician_name || "—"} · ${
        v.provider_name || "—"}` },
      { label: t("col.fine"), num: true, cell: (v) => money(v.fine_amount, v.currency) },
      { label: t("col.status"), cell: (v) => (v.voided_at ? t("callback.voided",
        { time: when(v.voided_at) }) : t("callback.counts")) },
    ], rows: task.violations, empty: t("callback.no_violation") }));
}
