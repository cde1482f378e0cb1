// Customer lookup by name, phone or address, each match with its whole history
// (appliances, visits, callbacks) from one GET /customers/lookup.

import { api } from "../api.js";
import { h, replace, table, field, select, when, day, windowText, label } from "../dom.js";
import { go } from "../router.js";
import { CONSOLE_ROLES } from "../roles.js";
import { statusBadge } from "./jobrows.js";

export const page = {
  path: "/customers",
  title: "Customers",
  nav: "Customers",
  roles: CONSOLE_ROLES,
  render,
};

const KEYS = [["name", "name"], ["phone", "phone"], ["address", "address"]];

async function render(main, { query, current }) {
  const by = KEYS.find(([k]) => query[k])?.[0] || query.by || "name";
  const value = query[by] || "";
  const key = select("by", KEYS, by);
  key.id = "lookup-by";
  const q = h("input", { name: "q", id: "lookup-q", type: "search", value, required: true,
    autocomplete: "off", maxlength: 200 });
  const form = h("form", { class: "filters", id: "lookup-form", role: "search",
    "aria-label": "Find a customer" },
    field("Find by", key), field("Search", q, "Part of a name or address; 4+ digits of a phone."),
    h("button", { type: "submit", class: "primary" }, "Find"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (q.value.trim()) go("/customers", { [key.value]: q.value.trim() });
  });
  const results = h("div", { id: "lookup-results" });
  replace(main, h("h1", { tabindex: "-1" }, "Customers"), form, results);
  if (!value) {
    q.focus();
    return;
  }
  const found = await api("/customers/lookup", { query: { [by]: value, limit: 20 } });
  if (!current()) return;
  replace(results,
    h("p", { class: "summary", role: "status" }, found.items.length
      ? `${found.items.length}${found.has_more ? "+" : ""} customer(s) match ${by} “${value}”.`
      : `No customer matches ${by} “${value}”.`),
    found.has_more ? h("p", { class: "muted" }, "More customers match: narrow the search.") : null,
    found.items.map(customerCard));
}

function customerCard(hist, i) {
  const c = hist.customer;
  const appliances = Object.fromEntries(hist.appliances.map((a) => [a.id,
    `${label(a.category)} ${a.brand} ${a.model}`.trim()]));
  const hid = `cust-${i}`;
  return h("section", { class: "card customer", "aria-labelledby": hid },
    h("h2", { id: hid }, c.name),
    h("dl", { class: "facts" },
      h("dt", {}, "Address"), h("dd", {}, `${c.address} (${c.city.name})`),
      h("dt", {}, "Phones"), h("dd", {}, c.phones.map((p) => `${p.number} (${p.label})`)
        .join(", ")),
      c.notes ? [h("dt", {}, "Notes"), h("dd", {}, c.notes)] : null),
    table({ caption: `${c.name}: appliances`, columns: [
      { label: "Appliance", cell: (a) => appliances[a.id] },
      { label: "Serial", cell: (a) => a.serial || "—" },
      { label: "Installed", cell: (a) => (a.install_date || "—") },
      { label: "Warranty", cell: (a) => (a.warranty_end
        ? `${a.in_warranty ? "until" : "ended"} ${a.warranty_end}` : "none") },
    ], rows: hist.appliances, empty: "No appliances recorded." }),
    table({ caption: `${c.name}: visits, newest first`, columns: [
      { label: "Job", cell: (v) => h("a", { href: `#/jobs/${v.id}` }, v.number) },
      { label: "Appointment", cell: (v) => windowText(v.window_start, v.window_end) },
      { label: "Kind", cell: (v) => [label(v.kind), v.appliance_repair_count > 1
        ? h("span", { class: "badge urgent" }, `repair #${v.appliance_repair_count}`) : null] },
      { label: "Appliance", cell: (v) => appliances[v.appliance_id] || "—" },
      { label: "Status", cell: (v) => [statusBadge(v.status), v.unable_reason
        ? h("small", { class: "block muted" }, label(v.unable_reason)) : null] },
      { label: "Provider", cell: (v) => v.provider?.name || "unassigned" },
      { label: "Technician", cell: (v) => v.technician?.name || "—" },
      { label: "Created", cell: (v) => day(v.created_at) },
      { label: "Report", cell: (v) => h("a", { href: `#/jobs/${v.id}/report`,
        "aria-label": `Service report ${v.number}` }, "Report") },
    ], rows: hist.jobs, empty: "No visits." }),
    hist.callbacks.length ? table({ caption: `${c.name}: callbacks`, columns: [
      { label: "When", cell: (cb) => when(cb.created_at || cb.at) },
      { label: "Callback", cell: (cb) => label(cb.kind || cb.status || "") },
      { label: "Outcome", cell: (cb) => label(cb.outcome || "") },
    ], rows: hist.callbacks }) : h("p", { class: "muted" }, "No callbacks yet."));
}
