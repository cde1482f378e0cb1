// SLA alerts (server/dispatch/escalation.py): a clock about to run out (for the
// provider's dispatchers; the technician's phone was poked) or run out (for the call
// center). Newest first; acknowledge to take one off the open list.

import { api } from "../api.js";
import { h, replace, table, field, select, submitting, flash, when, label } from "../dom.js";
import { go } from "../router.js";

export const page = {
  path: "/alerts",
  title: "SLA alerts",
  nav: "Alerts",
  roles: ["admin", "dispatcher", "provider_manager"],
  render,
};

const KINDS = {
  contact_due_soon: "contact due soon",
  onsite_due_soon: "on site due soon",
  contact_breached: "contact clock ran out",
  onsite_breached: "on-site clock ran out",
};
const SHOW = [["true", "open"], ["false", "all"]];
const AUDIENCES = [["", "everyone"], ["provider", "provider"], ["call_center", "call center"]];

async function render(main, { query, current }) {
  const open = query.open === "false" ? "false" : "true";
  const q = await api("/dispatch/alerts", { query: { open, audience: query.audience || null,
    limit: 200 } });
  if (!current()) return;

  const form = h("form", { class: "filters", id: "alert-filters", role: "search",
    "aria-label": "Filter the alerts" },
    field("Show", select("open", SHOW, open)),
    field("For", select("audience", AUDIENCES, query.audience || "")),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/alerts", Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== "")));
  });

  const columns = [
    { label: "Raised", cell: (a) => when(a.raised_at) },
    { label: "Job", cell: (a) => h("a", { href: `#/jobs/${a.job_id}` }, a.job_number) },
    { label: "Alert", cell: (a) => h("span", { class: a.kind.endsWith("breached") ? "late" : null },
      KINDS[a.kind] || label(a.kind)) },
    { label: "Due", cell: (a) => when(a.due_at) },
    { label: "For", cell: (a) => label(a.audience) },
    { label: "Message", cell: (a) => [a.message, a.data && a.data.redispatched_to
      ? h("small", { class: "block muted" }, "re-dispatched to another technician") : null] },
    { label: "", cell: (a) => ackCell(a, query) },
  ];
  replace(main,
    h("h1", { tabindex: "-1" }, "SLA alerts"),
    form,
    h("p", { class: "summary" }, `${q.total} ${open === "true" ? "open" : "in all"} · newest first · `,
      h("button", { type: "button", class: "link", onclick: () => go("/alerts", query) },
        "Refresh")),
    table({ id: "alerts", caption: "SLA alerts, newest first", columns, rows: q.items,
      empty: "No alerts." }));
}

function ackCell(a, query) {
  if (a.acknowledged_at) return h("small", { class: "muted" }, `seen ${when(a.acknowledged_at)}`);
  const form = h("form", { class: "inline" },
    h("button", { type: "submit", "aria-label": `Acknowledge ${a.job_number}` }, "Acknowledge"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      await api(`/dispatch/alerts/${a.id}/acknowledge`, { method: "POST" });
      flash(`Alert on ${a.job_number} acknowledged.`);
      go("/alerts", query);
    });
  });
  return form;
}
