// The auditor's workbench: the callback queue, riskiest first, each with the reasons for
// its score, its deadline and who holds it. Auditors take a task from here; the call
// center's dispatchers look (to know a claim is being checked).

import { api } from "../api.js";
import { h, replace, table, field, select, submitting, flash, when, label } from "../dom.js";
import { go } from "../router.js";
import { can } from "../roles.js";
import { KINDS, factorList, riskBadge, dueText } from "./audit.js";
import { csvButton } from "./download.js";

export const page = {
  path: "/callbacks",
  title: "Callback queue",
  nav: "Callbacks",
  roles: ["admin", "auditor", "dispatcher"],
  render,
};

const STATES = [["open", "callable now"], ["waiting", "waiting to call again"],
  ["done", "done"], ["all", "all"]];

async function render(main, { query, user, current }) {
  const state = query.state || "open";
  const q = await api("/callbacks", { query: { state, kind: query.kind,
    mine: query.mine ? "true" : null, limit: 100 } });
  if (!current()) return;
  const work = can(user, "audit");

  const form = h("form", { class: "filters", id: "queue-filters", role: "search",
    "aria-label": "Filter the queue" },
    field("State", select("state", STATES, state)),
    field("Kind", select("kind", [["", "every kind"], ...Object.entries(KINDS)], query.kind)),
    work ? field("Held", select("mine", [["", "anyone"], ["1", "only mine"]], query.mine)) : null,
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/callbacks", Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== "")));
  });

  const columns = [
    { label: "Risk", num: true, cell: (t) => riskBadge(t.risk_score) },
    { label: "Job", cell: (t) => [h("a", { href: `#/callbacks/${t.id}`, class: "task-link" },
      t.job_number), h("small", { class: "block muted" }, KINDS[t.kind] || label(t.kind))] },
    { label: "Why", cell: (t) => factorList(t.risk_factors, { brief: true }) },
    { label: "Customer", cell: (t) => t.customer_name },
    { label: "Technician", cell: (t) => [t.technician_name || "—",
      h("small", { class: "block muted" }, t.provider_name || "")] },
    { label: "Due", cell: (t) => h("span", { class: t.overdue && t.state === "open" ? "late" : null },
      dueText(t), h("small", { class: "block muted" }, when(t.due_at))) },
    { label: "Held by", cell: (t) => holderCell(t, user, work) },
    { label: "Report", cell: (t) => h("a", { href: `#/jobs/${t.job_id}/report`,
      "aria-label": `Service report ${t.job_number}` }, "Report") },
  ];
  const rows = q.items.map((t) => ({ ...t, __data: { task: t.id } }));
  replace(main,
    h("h1", { tabindex: "-1" }, "Callback queue"),
    form,
    h("p", { class: "summary" }, `${q.total} ${label(state)} · riskiest first, then the ` +
      "earliest deadline · ",
    h("button", { type: "button", class: "link", onclick: () => go("/callbacks", query) },
      "Refresh"), " · ",
    csvButton("/callbacks/export.csv", { state, kind: query.kind,
      mine: query.mine ? "true" : null }, "callbacks.csv", "callbacks-csv")),
    table({ id: "queue", caption: "Callback tasks by risk, with the reasons for each score",
      columns, rows, empty: "Nothing to call." }),
    q.total > q.items.length ? h("p", { class: "muted" },
      `Showing ${q.items.length} of ${q.total}.`) : null);
}

function holderCell(t, user, work) {
  if (t.holder_id) {
    const me = t.holder_id === user.id;
    return h("span", { class: me ? "held mine" : "held" }, me ? "you" : t.holder_name,
      h("small", { class: "block muted" }, `until ${when(t.held_until)}`));
  }
  if (!work || t.state !== "open") return h("span", { class: "muted" }, "—");
  const form = h("form", { class: "inline" },
    h("button", { type: "submit", "aria-label": `Take ${t.job_number}` }, "Take"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      await api(`/callbacks/${t.id}/take`, { method: "POST" });
      flash(`You hold ${t.job_number}.`);
      go(`/callbacks/${t.id}`);
    });
  });
  return form;
}
