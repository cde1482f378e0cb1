// The audit trail of desk actions: who created, changed or deleted which customer, job,
// policy, rule, checklist, user or device, when, from where, and each field before and
// after (secrets read "[redacted]"). Admins and auditors see everything; a provider's
// manager what their own people did (the API scopes it). Newest first, paged by cursor;
// the CSV export takes the same filters.

import { api } from "../api.js";
import { h, replace, table, field, select, when, label, fromInputs, addDays, zoneOf }
  from "../dom.js";
import { go } from "../router.js";
import { t, k } from "../i18n.js";
import { csvButton } from "./download.js";
import { fieldName, fieldValue } from "./fields.js";

export const page = {
  path: "/audit-trail",
  title: k("trail.title"),
  nav: k("nav.trail"),
  roles: ["admin", "auditor", "provider_manager"],
  render,
};

const ENTITIES = {
  customer: "trail.entity_customer", customer_phone: "trail.entity_customer_phone",
  appliance: "trail.entity_appliance", job: "trail.entity_job",
  fee_policy: "trail.entity_fee_policy", evidence_rules: "trail.entity_evidence_rules",
  checklist: "trail.entity_checklist", kb_article: "trail.entity_kb_article",
  user: "trail.entity_user", device: "trail.entity_device", city: "trail.entity_city",
  provider: "trail.entity_provider",
};
const DONE = { create: "trail.action_create", update: "trail.action_update",
  delete: "trail.action_delete" };
const entityName = (e) => (ENTITIES[e] ? t(ENTITIES[e]) : label(e));
const doneName = (a) => (DONE[a] ? t(DONE[a]) : a);
const PAGE = 50;

/** The day's start in the brand's zone, as an instant the API reads; invalid: none. */
function instant(day) {
  if (!day) return null;
  const at = fromInputs(day, "00:00", zoneOf(null));
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}
const nextDay = (day) => addDays(day, 1);

function filtersOf(query) {
  return {
    entity: query.entity, entity_id: query.entity_id, actor_id: query.actor_id,
    action: query.action, from: instant(query.from),
    to: query.to ? instant(nextDay(query.to)) : null,
  };
}

async function render(main, { query, current }) {
  const filters = filtersOf(query);
  const q = await api("/audit/events", { query: { ...filters, limit: PAGE,
    cursor: query.cursor } });
  if (!current()) return;

  const text = (name, value, hint) => h("input", { name, value: value || "", type: "text",
    spellcheck: "false", placeholder: hint });
  const form = h("form", { class: "filters", id: "trail-filters", role: "search",
    "aria-label": t("trail.filter_label") },
    field(t("trail.object_kind"), select("entity", [["", t("trail.every_kind")],
      ...Object.keys(ENTITIES).map((e) => [e, entityName(e)])], query.entity)),
    field(t("trail.object_id"), text("entity_id", query.entity_id)),
    field(t("trail.action"), select("action", [["", t("trail.every_action")],
      ...Object.keys(DONE).map((a) => [a, doneName(a)])], query.action)),
    field(t("trail.actor"), text("actor_id", query.actor_id)),
    field(t("job.from"), h("input", { type: "date", name: "from", value: query.from || "" })),
    field(t("job.to"), h("input", { type: "date", name: "to", value: query.to || "" })),
    h("button", { type: "submit" }, t("filter.apply")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/audit-trail", Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== "")));
  });

  const columns = [
    { label: t("col.when"), cell: (e) => h("time", { datetime: e.at }, when(e.at)) },
    { label: t("col.who"), cell: (e) => [e.actor_name || e.actor_id || "—",
      h("small", { class: "block muted" }, label(e.actor_role, "role"))] },
    { label: t("col.what"), cell: (e) => [t("trail.what", { entity: entityName(e.entity),
      action: doneName(e.action) }),
      h("small", { class: "block muted" }, h("code", {}, e.entity_id))] },
    { label: t("trail.changes"), cell: (e) => changes(e) },
    { label: t("trail.from"), cell: (e) => [e.remote_addr || "—",
      h("small", { class: "block muted" }, `${e.method} ${e.path}`),
      e.user_agent ? h("small", { class: "block muted" }, e.user_agent) : null] },
  ];
  const older = q.next_cursor ? h("button", { type: "button", class: "link", id: "older",
    onclick: () => go("/audit-trail", { ...query, cursor: q.next_cursor }) }, t("trail.older")) : null;
  const newest = query.cursor ? h("button", { type: "button", class: "link", id: "newest",
    onclick: () => go("/audit-trail", { ...query, cursor: null }) }, t("trail.newest")) : null;
  replace(main,
    h("h1", { tabindex: "-1" }, t("trail.title")),
    form,
    h("p", { class: "summary" }, t("trail.summary"), " ",
      csvButton("/audit/events/export.csv", filters, "audit-events.csv")),
    table({ id: "trail", caption: t("trail.caption"), columns,
      rows: q.items.map((e) => ({ ...e, __data: { event: e.id } })),
      empty: t("trail.empty") }),
    h("p", { class: "pager" }, newest, newest && older ? " · " : null, older));
}

const shown = (v) => (v === null || v === undefined ? "—" : v === "" ? t("trail.empty_value")
  : typeof v === "object" ? JSON.stringify(v) : String(v));

function changes(e) {
  const before = e.before || {};
  const after = e.after || {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  if (!keys.length) return h("span", { class: "muted" }, "—");
  return h("dl", { class: "changes" }, keys.flatMap((k) => [
    h("dt", {}, fieldName(k)),
    h("dd", {}, e.action === "update"
      ? `${shown(fieldValue(k, before[k]))} → ${shown(fieldValue(k, after[k]))}`
      : shown(fieldValue(k, e.action === "create" ? after[k] : before[k]))),
  ]));
}
