// Customer lookup by name, phone or address, each match with its whole history
// (appliances, visits, callbacks) from one GET /customers/lookup.

import { api } from "../api.js";
import { h, replace, table, field, select, when, day, date, windowText, label,
  zoneOf } from "../dom.js";
import { t, k } from "../i18n.js";
import { go } from "../router.js";
import { CONSOLE_ROLES } from "../roles.js";
import { statusBadge } from "./jobrows.js";

export const page = {
  path: "/customers",
  title: k("customers.title"),
  nav: k("nav.customers"),
  roles: CONSOLE_ROLES,
  render,
};

const KEYS = ["name", "phone", "address"];

async function render(main, { query, current }) {
  const by = KEYS.find((x) => query[x]) || query.by || "name";
  const value = query[by] || "";
  const byName = { name: t("customers.by_name"), phone: t("customers.by_phone"),
    address: t("customers.by_address") };
  const key = select("by", KEYS.map((x) => [x, byName[x]]), by);
  key.id = "lookup-by";
  const q = h("input", { name: "q", id: "lookup-q", type: "search", value, required: true,
    autocomplete: "off", maxlength: 200 });
  const form = h("form", { class: "filters", id: "lookup-form", role: "search",
    "aria-label": t("customers.find_label") },
    field(t("customers.find_by"), key), field(t("customers.search"), q, t("customers.search_hint")),
    h("button", { type: "submit", class: "primary" }, t("customers.find")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (q.value.trim()) go("/customers", { [key.value]: q.value.trim() });
  });
  const results = h("div", { id: "lookup-results" });
  replace(main, h("h1", { tabindex: "-1" }, t("customers.title")), form, results);
  if (!value) {
    q.focus();
    return;
  }
  const found = await api("/customers/lookup", { query: { [by]: value, limit: 20 } });
  if (!current()) return;
  const n = `${found.items.length}${found.has_more ? "+" : ""}`;
  replace(results,
    h("p", { class: "summary", role: "status" }, found.items.length
      ? t("customers.matches", { n, by: byName[by], value })
      : t("customers.no_match", { by: byName[by], value })),
    found.has_more ? h("p", { class: "muted" }, t("customers.more")) : null,
    found.items.map(customerCard));
}

function customerCard(hist, i) {
  const c = hist.customer;
  const tz = zoneOf(c.city?.id);
  const appliances = Object.fromEntries(hist.appliances.map((a) => [a.id,
    `${label(a.category, "appliance_category")} ${a.brand} ${a.model}`.trim()]));
  const hid = `cust-${i}`;
  return h("section", { class: "card customer", "aria-labelledby": hid },
    h("h2", { id: hid }, c.name),
    h("dl", { class: "facts" },
      h("dt", {}, t("customers.address")), h("dd", {}, `${c.address} (${c.city.name})`),
      h("dt", {}, t("customers.phones")), h("dd", {}, c.phones.map((p) => `${p.number} (${p.label})`)
        .join(", ")),
      c.notes ? [h("dt", {}, t("customers.notes")), h("dd", {}, c.notes)] : null),
    table({ caption: t("customers.appliances_of", { name: c.name }), columns: [
      { label: t("customers.appliance"), cell: (a) => appliances[a.id] },
      { label: t("customers.serial"), cell: (a) => a.serial || "—" },
      { label: t("customers.installed"), cell: (a) => date(a.install_date) },
      { label: t("customers.warranty"), cell: (a) => (a.warranty_end
        ? t(a.in_warranty ? "customers.warranty_until" : "customers.warranty_ended",
          { date: date(a.warranty_end) }) : t("common.none")) },
    ], rows: hist.appliances, empty: t("customers.no_appliances") }),
    table({ caption: t("customers.visits_of", { name: c.name }), columns: [
      { label: t("col.job"), cell: (v) => h("a", { href: `#/jobs/${v.id}` }, v.number) },
      { label: t("col.appointment"), cell: (v) => windowText(v.window_start, v.window_end, tz) },
      { label: t("col.kind"), cell: (v) => [label(v.kind, "job_kind"), v.appliance_repair_count > 1
        ? h("span", { class: "badge urgent" }, t("customers.repair_n",
          { n: v.appliance_repair_count })) : null] },
      { label: t("customers.appliance"), cell: (v) => appliances[v.appliance_id] || "—" },
      { label: t("col.status"), cell: (v) => [statusBadge(v.status), v.unable_reason
        ? h("small", { class: "block muted" }, label(v.unable_reason, "unable_reason")) : null] },
      { label: t("col.provider"), cell: (v) => v.provider?.name || t("common.unassigned") },
      { label: t("col.technician"), cell: (v) => v.technician?.name || "—" },
      { label: t("customers.created"), cell: (v) => day(v.created_at, tz) },
      { label: t("col.report"), cell: (v) => h("a", { href: `#/jobs/${v.id}/report`,
        "aria-label": t("common.report_of", { number: v.number }) }, t("col.report")) },
    ], rows: hist.jobs, empty: t("customers.no_visits") }),
    hist.callbacks.length ? table({ caption: t("customers.callbacks_of", { name: c.name }),
      columns: [
        { label: t("col.when"), cell: (cb) => when(cb.created_at || cb.at, tz) },
        { label: t("customers.callback"), cell: (cb) => (cb.kind ? label(cb.kind, "callback_kind")
          : label(cb.status || "", "callback_state")) },
        { label: t("col.outcome"), cell: (cb) => label(cb.outcome || "", "outcome") },
      ], rows: hist.callbacks }) : h("p", { class: "muted" }, t("customers.no_callbacks")));
}
