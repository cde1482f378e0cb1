// The audit trail of desk actions: who created, changed or deleted which customer, job,
// policy, rule, checklist, user or device, when, from where, and each field before and
// after (secrets read "[redacted]"). Admins and auditors see everything; a provider's
// manager what their own people did (the API scopes it). Newest first, paged by cursor;
// the CSV export takes the same filters.

import { api } from "../api.js";
import { h, replace, table, field, select, when, label, dateInput } from "../dom.js";
import { go } from "../router.js";
import { csvButton } from "./download.js";

export const page = {
  path: "/audit-trail",
  title: "Audit trail",
  nav: "Audit trail",
  roles: ["admin", "auditor", "provider_manager"],
  render,
};

const ENTITIES = ["customer", "customer_phone", "appliance", "job", "fee_policy",
  "evidence_rules", "checklist", "kb_article", "user", "device", "city", "provider"];
const ACTIONS = [["", "every action"], ["create", "created"], ["update", "changed"],
  ["delete", "deleted"]];
const DONE = { create: "created", update: "changed", delete: "deleted" };
const PAGE = 50;

/** The day's start in the browser's zone, as an instant the API reads. */
const instant = (day) => (day ? new Date(`${day}T00:00`).toISOString() : null);
const nextDay = (day) => {
  const d = new Date(`${day}T00:00`);
  d.setDate(d.getDate() + 1);
  return dateInput(d);
};

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
    "aria-label": "Filter the audit trail" },
    field("Object kind", select("entity", [["", "every kind"],
      ...ENTITIES.map((e) => [e, label(e)])], query.entity)),
    field("Object id", text("entity_id", query.entity_id)),
    field("Action", select("action", ACTIONS, query.action)),
    field("Actor (user id)", text("actor_id", query.actor_id)),
    field("From", h("input", { type: "date", name: "from", value: query.from || "" })),
    field("To", h("input", { type: "date", name: "to", value: query.to || "" })),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/audit-trail", Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== "")));
  });

  const columns = [
    { label: "When", cell: (e) => h("time", { datetime: e.at }, when(e.at)) },
    { label: "Who", cell: (e) => [e.actor_name || e.actor_id || "—",
      h("small", { class: "block muted" }, label(e.actor_role))] },
    { label: "What", cell: (e) => [`${label(e.entity)} ${DONE[e.action] || e.action}`,
      h("small", { class: "block muted" }, h("code", {}, e.entity_id))] },
    { label: "Changes", cell: (e) => changes(e) },
    { label: "From", cell: (e) => [e.remote_addr || "—",
      h("small", { class: "block muted" }, `${e.method} ${e.path}`),
      e.user_agent ? h("small", { class: "block muted" }, e.user_agent) : null] },
  ];
  const older = q.next_cursor ? h("button", { type: "button", class: "link", id: "older",
    onclick: () => go("/audit-trail", { ...query, cursor: q.next_cursor }) }, "Older") : null;
  const newest = query.cursor ? h("button", { type: "button", class: "link", id: "newest",
    onclick: () => go("/audit-trail", { ...query, cursor: null }) }, "Newest") : null;
  replace(main,
    h("h1", { tabindex: "-1" }, "Audit trail"),
    form,
    h("p", { class: "summary" }, "Desk actions, newest first. ",
      csvButton("/audit/events/export.csv", filters, "audit-events.csv")),
    table({ id: "trail", caption: "Who changed what, when and from where", columns,
      rows: q.items.map((e) => ({ ...e, __data: { event: e.id } })),
      empty: "No desk actions match." }),
    h("p", { class: "pager" }, newest, newest && older ? " · " : null, older));
}

const shown = (v) => (v === null || v === undefined ? "—" : v === "" ? "(empty)"
  : typeof v === "object" ? JSON.stringify(v) : String(v));

function changes(e) {
  const before = e.before || {};
  const after = e.after || {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  if (!keys.length) return h("span", { class: "muted" }, "—");
  return h("dl", { class: "changes" }, keys.flatMap((k) => [
    h("dt", {}, label(k)),
    h("dd", {}, e.action === "update" ? `${shown(before[k])} → ${shown(after[k])}`
      : shown(e.action === "create" ? after[k] : before[k])),
  ]));
}
