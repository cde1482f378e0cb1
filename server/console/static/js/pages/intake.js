// Intake at the desk: an agent taking a call finds the customer (name, phone or address),
// creates or corrects them and their appliance, creates the work order (kind, priority,
// a window or pending, the shop's or brand's order reference), then sees the dispatch
// choice when the API made one and confirms it or picks a candidate.

import { api } from "../api.js";
import { h, replace, field, select, flash, submitting, label, windowText } from "../dom.js";
import { go } from "../router.js";

export const page = {
  path: "/intake",
  title: "Take a call",
  nav: "Intake",
  roles: ["admin", "dispatcher"],
  render,
};

const KEYS = [["name", "name"], ["phone", "phone"], ["address", "address"]];
const CATEGORIES = ["water_heater", "wall_boiler", "water_purifier", "smart_lock",
  "solar_heater", "other"];
const KINDS = ["repair", "install", "maintenance", "delivery", "relocation"];

function input(name, attrs = {}) {
  return h("input", { name, id: `intake-${name}`, autocomplete: "off", ...attrs });
}

async function render(main, { query, current }) {
  const cities = await api("/cities");
  if (!current()) return;
  const state = { customer: null, appliances: [], appliance: null };

  const by = select("by", KEYS, query.by || "phone");
  by.id = "intake-by";
  const q = input("q", { type: "search", maxlength: 200, value: query.q || "" });
  const lookup = h("form", { class: "filters", id: "intake-lookup", role: "search",
    "aria-label": "Find the caller" }, field("Find by", by), field("Search", q),
    h("button", { type: "submit", class: "primary" }, "Find"),
    h("button", { type: "button", id: "intake-new", onclick: () => pick(null) },
      "New customer"));
  const matches = h("div", { id: "intake-matches" });
  const customerBox = h("section", { id: "intake-customer", "aria-labelledby": "ic-h" });
  const applianceBox = h("section", { id: "intake-appliance", "aria-labelledby": "ia-h" });
  const orderBox = h("section", { id: "intake-order", "aria-labelledby": "io-h" });
  const dispatchBox = h("section", { id: "intake-dispatch", "aria-live": "polite" });
  replace(main, h("h1", { tabindex: "-1" }, "Take a call"), lookup, matches, customerBox,
    applianceBox, orderBox, dispatchBox);

  lookup.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(lookup, async () => {
      const found = await api("/customers/lookup",
        { query: { [by.value]: q.value.trim(), limit: 10 } });
      replace(matches, found.items.length ? h("ul", { class: "plain" }, found.items.map((hist) =>
        h("li", {}, h("button", { type: "button", class: "link pick-customer",
          onclick: () => pick(hist) },
        `${hist.customer.name} · ${hist.customer.address}`))))
        : h("p", { class: "muted", role: "status" }, "No customer matches: create one."));
    });
  });

  function pick(hist) {
    state.customer = hist ? hist.customer : null;
    state.appliances = hist ? hist.appliances : [];
    state.appliance = null;
    replace(matches);
    renderCustomer();
    renderAppliance();
    replace(orderBox);
    replace(dispatchBox);
    if (state.customer) renderOrder();
  }

  function renderCustomer() {
    const c = state.customer || {};
    const name = input("name", { required: true, maxlength: 200, value: c.name || "" });
    const phone = input("phone", { required: true, maxlength: 32,
      value: c.phones?.[0]?.number || (by.value === "phone" ? q.value : "") });
    const address = input("address", { required: true, maxlength: 500, value: c.address || "" });
    const city = select("city_id", cities.map((x) => [x.id, x.name]), c.city?.id || c.city_id);
    city.id = "intake-city";
    const form = h("form", { id: "customer-form", class: "stack" },
      field("Name", name), field("Phone", phone), field("Address", address),
      field("City", city),
      h("button", { type: "submit", class: "primary" },
        state.customer ? "Save corrections" : "Create customer"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submitting(form, async () => {
        const body = { name: name.value.trim(), address: address.value.trim(),
          city_id: city.value };
        const phones = [{ number: phone.value.trim() }];
        const saved = state.customer
          ? await api(`/customers/${state.customer.id}`, { method: "PATCH",
            body: { ...body, ...(phone.value.trim() !== (c.phones?.[0]?.number || "")
              ? { phones } : {}) } })
          : await api("/customers", { method: "POST", body: { ...body, phones } });
        flash(state.customer ? "Customer corrected." : `Customer ${saved.name} created.`);
        state.customer = saved;
        renderCustomer();
        renderAppliance();
        renderOrder();
      });
    });
    replace(customerBox, h("h2", { id: "ic-h" }, state.customer ? "Customer" : "New customer"),
      form);
  }

  function renderAppliance() {
    if (!state.customer) return replace(applianceBox);
    const a = state.appliance || {};
    const which = select("appliance", [["", "a new appliance"],
      ...state.appliances.map((x) => [x.id, `${label(x.category)} ${x.brand} ${x.model}`])],
    a.id);
    which.id = "intake-which-appliance";
    which.addEventListener("change", () => {
      state.appliance = state.appliances.find((x) => x.id === which.value) || null;
      renderAppliance();
      renderOrder();
    });
    const category = select("category", CATEGORIES.map((x) => [x, label(x)]), a.category);
    category.id = "intake-category";
    const brand = input("brand", { maxlength: 64, value: a.brand || "" });
    const model = input("model", { maxlength: 120, value: a.model || "" });
    const serial = input("serial", { maxlength: 120, value: a.serial || "" });
    const form = h("form", { id: "appliance-form", class: "stack" }, field("Appliance", which),
      field("Category", category), field("Brand", brand), field("Model", model),
      field("Serial", serial),
      h("button", { type: "submit" }, state.appliance ? "Save appliance" : "Add appliance"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submitting(form, async () => {
        const body = { category: category.value, brand: brand.value.trim(),
          model: model.value.trim(), serial: serial.value.trim() || null };
        const saved = state.appliance
          ? await api(`/appliances/${state.appliance.id}`, { method: "PATCH", body })
          : await api(`/customers/${state.customer.id}/appliances`, { method: "POST", body });
        state.appliances = [...state.appliances.filter((x) => x.id !== saved.id), saved];
        state.appliance = saved;
        flash("Appliance saved.");
        renderAppliance();
        renderOrder();
      });
    });
    replace(applianceBox, h("h2", { id: "ia-h" }, "Appliance"), form);
  }

  function renderOrder() {
    if (!state.customer) return replace(orderBox);
    const kind = select("kind", KINDS.map((k) => [k, label(k)]), state.appliance ? "repair"
      : "install");
    kind.id = "intake-kind";
    const priority = select("priority", [["normal", "normal"], ["urgent", "urgent"]]);
    priority.id = "intake-priority";
    const source = select("source", [["call", "call"], ["sale", "sale"]]);
    source.id = "intake-source";
    const ref = input("external_ref", { maxlength: 64 });
    const date = input("date", { type: "date" });
    const from = input("from", { type: "time" });
    const to = input("to", { type: "time" });
    const desc = h("textarea", { name: "description", id: "intake-description",
      maxlength: 4000, rows: 2 });
    const form = h("form", { id: "order-form", class: "stack" },
      h("p", { class: "muted" }, state.appliance
        ? `For ${label(state.appliance.category)} ${state.appliance.model}`
        : "No appliance chosen (an install or a delivery)."),
      field("Kind", kind), field("Priority", priority), field("Source", source),
      field("Order reference", ref, "The shop's sale or the brand's order number."),
      field("Day", date, "Leave the day empty for a pending appointment."),
      field("From", from), field("To", to), field("What is wrong", desc),
      h("button", { type: "submit", class: "primary" }, "Create work order"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submitting(form, async () => {
        const body = { customer_id: state.customer.id, kind: kind.value,
          priority: priority.value, source: source.value, description: desc.value };
        if (state.appliance) body.appliance_id = state.appliance.id;
        if (ref.value.trim()) body.external_ref = ref.value.trim();
        if (date.value) {
          body.window_start = new Date(`${date.value}T${from.value || "09:00"}`).toISOString();
          body.window_end = new Date(`${date.value}T${to.value || "11:00"}`).toISOString();
        }
        const job = await api("/jobs", { method: "POST", body });
        flash(`Work order ${job.number} created.`);
        await renderDispatch(job);
      });
    });
    replace(orderBox, h("h2", { id: "io-h" }, "Work order"), form);
  }

  async function renderDispatch(job) {
    const cands = await api(`/jobs/${job.id}/candidates`);
    const choice = job.dispatch || job.dispatch_choice || null;
    const assign = (c) => api(`/jobs/${job.id}/assign`, { method: "POST",
      body: { provider_id: c.provider_id, technician_id: c.technician_id,
        reason: "chosen at intake" } })
      .then((done) => {
        flash(`${done.number} assigned to ${c.full_name}.`);
        replace(dispatchBox, h("h2", {}, "Dispatch"),
          h("p", { id: "intake-assigned" }, `${done.number} assigned to ${c.full_name}, `,
            windowText(done.window_start, done.window_end), ". ",
            h("a", { href: `#/jobs/${done.id}` }, "Open the job")));
      }).catch((err) => flash(err.message, "error"));
    replace(dispatchBox, h("h2", {}, `Dispatch ${job.number}`),
      choice ? h("p", { id: "intake-choice" }, "Automatic choice: ",
        choice.summary || (choice.reasons || []).join("; ")) : null,
      cands.length ? h("ol", { id: "intake-candidates" }, cands.map((c) => h("li", {},
        `${c.full_name} (${label(c.skill_level) || "—"}${c.is_installer ? ", the installer" : ""}`
          + `, ${c.open_jobs} open jobs) `,
        h("button", { type: "button", class: "assign-candidate",
          dataset: { technician: c.technician_id }, onclick: () => assign(c) }, "Assign"))))
        : h("p", { class: "muted" }, "No candidate technician: assign it from the job page."),
      h("p", {}, h("a", { href: `#/jobs/${job.id}` }, "Open the job"), " · ",
        h("button", { type: "button", class: "link", onclick: () => go("/intake", {}) },
          "Next call")));
  }
}
