// Maintenance: what is due, overdue and done under the maintenance plans.

import { api } from "../api.js";
import { h, replace, field, select, table, label, date } from "../dom.js";
import { go } from "../router.js";
import { CONSOLE_ROLES } from "../roles.js";
import { t, k } from "../i18n.js";

export const page = {
  path: "/maintenance",
  title: k("maintenance.title"),
  roles: CONSOLE_ROLES,
  render,
};

const NAMES = { overdue: "maintenance.state_overdue", due: "maintenance.state_due",
  done: "maintenance.state_done", upcoming: "maintenance.state_upcoming" };
const ORDER = ["overdue", "due", "done", "upcoming"];
const stateName = (s) => (NAMES[s] ? t(NAMES[s]) : label(s));

async function render(main, { query, current }) {
  const rows = await api("/maintenance/schedule", { query: { state: query.state,
    limit: 200 } });
  if (!current()) return;
  const states = [["", t("maintenance.state_all")], ...ORDER.map((s) => [s, stateName(s)])];
  const form = h("form", { class: "filters", id: "maintenance-form", role: "search",
    "aria-label": t("maintenance.filter_label") },
  field(t("col.status"), select("state", states, query.state)),
  h("button", { type: "submit" }, t("calendar.show")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/maintenance", Object.fromEntries([...new FormData(form)].filter(([, v]) => v)));
  });
  const groups = ORDER.map((s) => ({ label: stateName(s),
    rows: rows.items.filter((r) => r.state === s) })).filter((g) => g.rows.length);
  replace(main, h("h1", { tabindex: "-1" }, t("maintenance.title")), form,
    table({ id: "maintenance", caption: t("maintenance.caption", { n: rows.total }), columns: [
      { label: t("col.due"), cell: (r) => date(r.due_on) },
      { label: t("maintenance.service"), cell: (r) => r.task },
      { label: t("col.customer"), cell: (r) => r.customer_name },
      { label: t("customers.appliance"), cell: (r) => r.appliance },
      { label: t("maintenance.parts"), cell: (r) => r.parts.map((p) =>
        t("maintenance.part", { n: p.quantity, name: p.name || p.code })).join(t("maintenance.sep")) },
      { label: t("col.job"), cell: (r) => r.job_id ? h("a", { href: `#/jobs/${r.job_id}` },
        t("maintenance.job", { number: r.job_number, status: label(r.job_status, "job_status") }))
        : "—" },
      { label: t("maintenance.last_done"), cell: (r) => date(r.last_done_on) },
    ], groups, empty: t("maintenance.empty") }));
}
