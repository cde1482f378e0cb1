// The auditor's workbench: the callback queue, riskiest first, each with the reasons for
// its score, its deadline and who holds it. Auditors take a task from here; the call
// center's dispatchers look (to know a claim is being checked).

import { api } from "../api.js";
import { h, replace, table, field, select, submitting, flash, when, label } from "../dom.js";
import { go } from "../router.js";
import { can } from "../roles.js";
import { t, k } from "../i18n.js";
import { KINDS, kindLabel, factorList, riskBadge, dueText } from "./audit.js";
import { csvButton } from "./download.js";

export const page = {
  path: "/callbacks",
  title: k("callbacks.title"),
  nav: k("nav.callbacks"),
  roles: ["admin", "auditor", "dispatcher"],
  render,
};

const STATES = () => [["open", t("callbacks.state_open")], ["waiting", t("callbacks.state_waiting")],
  ["done", t("callbacks.state_done")], ["all", t("callbacks.state_all")]];

async function render(main, { query, user, current }) {
  const state = query.state || "open";
  const q = await api("/callbacks", { query: { state, kind: query.kind,
    mine: query.mine ? "true" : null, limit: 100 } });
  if (!current()) return;
  const work = can(user, "audit");

  const form = h("form", { class: "filters", id: "queue-filters", role: "search",
    "aria-label": t("callbacks.filter_label") },
    field(t("callbacks.state"), select("state", STATES(), state)),
    field(t("col.kind"), select("kind", [["", t("callbacks.every_kind")],
      ...KINDS.map((x) => [x, kindLabel(x)])], query.kind)),
    work ? field(t("callbacks.held"), select("mine", [["", t("callbacks.anyone")],
      ["1", t("callbacks.only_mine")]], query.mine)) : null,
    h("button", { type: "submit" }, t("filter.apply")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/callbacks", Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== "")));
  });

  const columns = [
    { label: t("col.risk"), num: true, cell: (x) => riskBadge(x.risk_score) },
    { label: t("col.job"), cell: (x) => [h("a", { href: `#/callbacks/${x.id}`, class: "task-link" },
      x.job_number), h("small", { class: "block muted" }, kindLabel(x.kind))] },
    { label: t("col.why"), cell: (x) => factorList(x.risk_factors, { brief: true }) },
    { label: t("col.customer"), cell: (x) => x.customer_name },
    { label: t("col.technician"), cell: (x) => [x.technician_name || "—",
      h("small", { class: "block muted" }, x.provider_name || "")] },
    { label: t("col.due"), cell: (x) => h("span", { class: x.overdue && x.state === "open"
      ? "late" : null }, dueText(x), h("small", { class: "block muted" }, when(x.due_at))) },
    { label: t("col.held_by"), cell: (x) => holderCell(x, user, work) },
    { label: t("col.report"), cell: (x) => h("a", { href: `#/jobs/${x.job_id}/report`,
      "aria-label": t("common.report_of", { number: x.job_number }) }, t("col.report")) },
  ];
  const rows = q.items.map((x) => ({ ...x, __data: { task: x.id } }));
  const stateName = Object.fromEntries(STATES())[state] || label(state);
  replace(main,
    h("h1", { tabindex: "-1" }, t("callbacks.title")),
    form,
    h("p", { class: "summary" }, t("callbacks.summary", { n: q.total, state: stateName }), " · ",
    h("button", { type: "button", class: "link", onclick: () => go("/callbacks", query) },
      t("common.refresh")), " · ",
    csvButton("/callbacks/export.csv", { state, kind: query.kind,
      mine: query.mine ? "true" : null }, "callback-tasks.csv", "callbacks-csv",
      t("common.export_csv"))),
    table({ id: "queue", caption: t("callbacks.caption"), columns, rows,
      empty: t("callbacks.empty") }),
    q.total > q.items.length ? h("p", { class: "muted" },
      t("callbacks.showing", { shown: q.items.length, total: q.total })) : null);
}

function holderCell(x, user, work) {
  if (x.holder_id) {
    const me = x.holder_id === user.id;
    return h("span", { class: me ? "held mine" : "held" }, me ? t("common.you") : x.holder_name,
      h("small", { class: "block muted" }, t("callbacks.until", { time: when(x.held_until) })));
  }
  if (!work || x.state !== "open") return h("span", { class: "muted" }, "—");
  const form = h("form", { class: "inline" },
    h("button", { type: "submit", "aria-label": t("callbacks.take_label",
      { number: x.job_number }) }, t("callbacks.take")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      await api(`/callbacks/${x.id}/take`, { method: "POST" });
      flash(t("callbacks.you_hold", { number: x.job_number }));
      go(`/callbacks/${x.id}`);
    });
  });
  return form;
}
