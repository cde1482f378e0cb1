// Maintenance: what is due, overdue and done under the maintenance plans.

import { api } from "../api.js";
import { h, replace, field, select, table, label } from "../dom.js";
import { go } from "../router.js";
import { CONSOLE_ROLES } from "../roles.js";

export const page = {
  path: "/maintenance",
  title: "Maintenance",
  roles: CONSOLE_ROLES,
  render,
};

const STATES = [["", "all"], ["overdue", "overdue"], ["due", "due"], ["done", "done"],
  ["upcoming", "upcoming"]];

async function render(main, { query, current }) {
  const rows = await api("/maintenance/schedule", { query: { state: query.state,
    limit: 200 } });
  if (!current()) return;
  const form = h("form", { class: "filters", id: "maintenance-form", role: "search",
    "aria-label": "Filter maintenance" }, field("State", select("state", STATES, query.state)),
  h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/maintenance", Object.fromEntries([...new FormData(form)].filter(([, v]) => v)));
  });
  const groups = ["overdue", "due", "done", "upcoming"].map((s) => ({ label: label(s),
    rows: rows.items.filter((r) => r.state === s) })).filter((g) => g.rows.length);
  replace(main, h("h1", { tabindex: "-1" }, "Maintenance"), form,
    table({ id: "maintenance", caption: `Maintenance services (${rows.total})`, columns: [
      { label: "Due", cell: (r) => r.due_on },
      { label: "Service", cell: (r) => r.task },
      { label: "Customer", cell: (r) => r.customer_name },
      { label: "Appliance", cell: (r) => r.appliance },
      { label: "Parts", cell: (r) => r.parts.map((p) => `${p.quantity}× ${p.name || p.code}`)
        .join(", ") },
      { label: "Job", cell: (r) => r.job_id ? h("a", { href: `#/jobs/${r.job_id}` },
        `${r.job_number} (${label(r.job_status)})`) : "—" },
      { label: "Last done", cell: (r) => r.last_done_on || "—" },
    ], groups, empty: "Nothing under a maintenance plan." }));
}
