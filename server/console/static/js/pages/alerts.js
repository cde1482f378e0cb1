// SLA alerts (server/dispatch/escalation.py): a clock about to run out (for the
// provider's dispatchers; the technician's phone was poked) or run out (for the call
// center). Newest first; acknowledge to take one off the open list.

import { api } from "../api.js";
import { h, replace, table, field, select, submitting, flash, when, label } from "../dom.js";
import { go } from "../router.js";
import { t, k } from "../i18n.js";

export const page = {
  path: "/alerts",
  title: k("alerts.title"),
  nav: k("nav.alerts"),
  roles: ["admin", "dispatcher", "provider_manager"],
  render,
};

const KINDS = {
  contact_due_soon: "alerts.kind_contact_due_soon",
  onsite_due_soon: "alerts.kind_onsite_due_soon",
  contact_breached: "alerts.kind_contact_breached",
  onsite_breached: "alerts.kind_onsite_breached",
};
const AUDIENCE = { provider: "alerts.for_provider", call_center: "alerts.for_call_center" };
const SHOW = () => [["true", t("alerts.show_open")], ["false", t("alerts.show_all")]];
const AUDIENCES = () => [["", t("alerts.for_everyone")], ["provider", t("alerts.for_provider")],
  ["call_center", t("alerts.for_call_center")]];

async function render(main, { query, current }) {
  const open = query.open === "false" ? "false" : "true";
  const q = await api("/dispatch/alerts", { query: { open, audience: query.audience || null,
    limit: 200 } });
  if (!current()) return;

  const form = h("form", { class: "filters", id: "alert-filters", role: "search",
    "aria-label": t("alerts.filter_label") },
    field(t("alerts.show"), select("open", SHOW(), open)),
    field(t("alerts.for"), select("audience", AUDIENCES(), query.audience || "")),
    h("button", { type: "submit" }, t("filter.apply")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/alerts", Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== "")));
  });

  const columns = [
    { label: t("alerts.raised"), cell: (a) => when(a.raised_at) },
    { label: t("col.job"), cell: (a) => h("a", { href: `#/jobs/${a.job_id}` }, a.job_number) },
    { label: t("alerts.alert"), cell: (a) => h("span", { class: a.kind.endsWith("breached") ? "late" : null },
      KINDS[a.kind] ? t(KINDS[a.kind]) : label(a.kind)) },
    { label: t("col.due"), cell: (a) => when(a.due_at) },
    { label: t("alerts.for"), cell: (a) => (AUDIENCE[a.audience] ? t(AUDIENCE[a.audience])
      : label(a.audience)) },
    { label: t("alerts.message"), cell: (a) => [a.message, a.data && a.data.redispatched_to
      ? h("small", { class: "block muted" }, t("alerts.redispatched")) : null] },
    { label: "", cell: (a) => ackCell(a, query) },
  ];
  replace(main,
    h("h1", { tabindex: "-1" }, t("alerts.title")),
    form,
    h("p", { class: "summary" }, t(open === "true" ? "alerts.summary_open" : "alerts.summary_all",
      { n: q.total }), " · ",
      h("button", { type: "button", class: "link", onclick: () => go("/alerts", query) },
        t("common.refresh"))),
    table({ id: "alerts", caption: t("alerts.caption"), columns, rows: q.items,
      empty: t("alerts.empty") }));
}

function ackCell(a, query) {
  if (a.acknowledged_at) return h("small", { class: "muted" }, t("alerts.seen", { time: when(a.acknowledged_at) }));
  const form = h("form", { class: "inline" },
    h("button", { type: "submit", "aria-label": t("alerts.ack_label",
      { number: a.job_number }) }, t("alerts.ack")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      await api(`/dispatch/alerts/${a.id}/acknowledge`, { method: "POST" });
      flash(t("alerts.acked", { number: a.job_number }));
      go("/alerts", query);
    });
  });
  return form;
}
