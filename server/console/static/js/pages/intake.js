// Intake at the desk: an agent taking a call finds the customer (name, phone or address),
// creates or corrects them and their appliance, creates the work order (kind, priority,
// a window or pending, the shop's or brand's order reference), then sees the dispatch
// choice when the API made one and confirms it or picks a candidate.

import { api } from "../api.js";
import { h, replace, field, select, flash, submitting, label, windowText, errorText, fromInputs,
  zoneOf } from "../dom.js";
import { go } from "../router.js";
import { t, k } from "../i18n.js";

export const page = {
  path: "/intake",
  title: k("intake.title"),
  nav: k("nav.intake"),
  roles: ["admin", "dispatcher"],
  render,
};

const KEYS = () => [["name", t("customers.by_name")], ["phone", t("customers.by_phone")],
  ["address", t("customers.by_address")]];
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

  const by = select("by", KEYS(), query.by || "phone");
  by.id = "intake-by";
  const q = input("q", { type: "search", maxlength: 200, value: query.q || "" });
  const lookup = h("form", { class: "filters", id: "intake-lookup", role: "search",
    "aria-label": t("intake.find_label") }, field(t("customers.find_by"), by),
    field(t("customers.search"), q),
    h("button", { type: "submit", class: "primary" }, t("customers.find")),
    h("button", { type: "button", id: "intake-new", onclick: () => pick(null) },
      t("intake.new_customer")));
  const matches = h("div", { id: "intake-matches" });
  const customerBox = h("section", { id: "intake-customer", "aria-labelledby": "ic-h" });
  const applianceBox = h("section", { id: "intake-appliance", "aria-labelledby": "ia-h" });
  const orderBox = h("section", { id: "intake-order", "aria-labelledby": "io-h" });
  const dispatchBox = h("section", { id: "intake-dispatch", "aria-live": "polite" });
  replace(main, h("h1", { tabindex: "-1" }, t("intake.title")), lookup, matches, customerBox,
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
        : h("p", { class: "muted", role: "status" }, t("intake.no_match")));
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
      field(t("job.name"), name), field(t("intake.phone"), phone),
      field(t("customers.address"), address), field(t("intake.city"), city),
      h("button", { type: "submit", class: "primary" },
        state.customer ? t("intake.save_corrections") : t("intake.create_customer")));
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
        flash(state.customer ? t("intake.customer_corrected")
          : t("intake.customer_created", { name: saved.name }));
        state.customer = saved;
        renderCustomer();
        renderAppliance();
        renderOrder();
      });
    });
    replace(customerBox, h("h2", { id: "ic-h" }, state.customer ? t("col.customer")
      : t("intake.new_customer")),
      form);
  }

  function renderAppliance() {
    if (!state.customer) return replace(applianceBox);
    const a = state.appliance || {};
    const which = select("appliance", [["", t("intake.new_appliance")],
      ...state.appliances.map((x) => [x.id,
        `${label(x.category, "appliance_category")} ${x.brand} ${x.model}`])],
    a.id);
    which.id = "intake-which-appliance";
    which.addEventListener("change", () => {
      state.appliance = state.appliances.find((x) => x.id === which.value) || null;
      renderAppliance();
      renderOrder();
    });
    const category = select("category", CATEGORIES.map((x) => [x, label(x, "appliance_category")]), a.category);
    category.id = "intake-category";
    const brand = input("brand", { maxlength: 64, value: a.brand || "" });
    const model = input("model", { maxlength: 120, value: a.model || "" });
    const serial = input("serial", { maxlength: 120, value: a.serial || "" });
    const form = h("form", { id: "appliance-form", class: "stack" },
      field(t("customers.appliance"), which), field(t("intake.category"), category),
      field(t("intake.brand"), brand), field(t("intake.model"), model),
      field(t("customers.serial"), serial),
      h("button", { type: "submit" }, state.appliance ? t("intake.save_appliance")
        : t("intake.add_appliance")));
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
        flash(t("intake.appliance_saved"));
        renderAppliance();
        renderOrder();
      });
    });
    replace(applianceBox, h("h2", { id: "ia-h" }, t("customers.appliance")), form);
  }

  function renderOrder() {
    if (!state.customer) return replace(orderBox);
    const tz = zoneOf(state.customer.city?.id || state.customer.city_id);
    const kind = select("kind", KINDS.map((x) => [x, label(x, "job_kind")]), state.appliance ? "repair"
      : "install");
    kind.id = "intake-kind";
    const priority = select("priority", ["normal", "urgent"].map((x) => [x, label(x, "job_priority")]));
    priority.id = "intake-priority";
    const source = select("source", ["call", "sale"].map((x) => [x, label(x, "job_source")]));
    source.id = "intake-source";
    const ref = input("external_ref", { maxlength: 64 });
    const date = input("date", { type: "date" });
    const from = input("from", { type: "time" });
    const to = input("to", { type: "time" });
    const desc = h("textarea", { name: "description", id: "intake-description",
      maxlength: 4000, rows: 2 });
    const form = h("form", { id: "order-form", class: "stack" },
      h("p", { class: "muted" }, state.appliance
        ? t("intake.for_appliance", { appliance: `${label(state.appliance.category,
          "appliance_category")} ${state.appliance.model}` })
        : t("intake.no_appliance")),
      field(t("col.kind"), kind), field(t("intake.priority"), priority),
      field(t("intake.source"), source),
      field(t("intake.order_ref"), ref, t("intake.order_ref_hint")),
      field(t("intake.day"), date, tz ? `${t("intake.day_hint")} ${t("job.zone_hint",
        { zone: tz })}` : t("intake.day_hint")),
      field(t("job.from"), from), field(t("job.to"), to), field(t("intake.what_is_wrong"), desc),
      h("button", { type: "submit", class: "primary" }, t("intake.create_order")));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submitting(form, async () => {
        const body = { customer_id: state.customer.id, kind: kind.value,
          priority: priority.value, source: source.value, description: desc.value };
        if (state.appliance) body.appliance_id = state.appliance.id;
        if (ref.value.trim()) body.external_ref = ref.value.trim();
        if (date.value) {
          // typed in the city's clock, whatever the browser's zone
          const s = fromInputs(date.value, from.value || "09:00", tz);
          const e = fromInputs(date.value, to.value || "11:00", tz);
          if (Number.isNaN(s.getTime()) || Number.isNaN(e.getTime())) {
            throw new Error(t("job.enter_times"));
          }
          body.window_start = s.toISOString();
          body.window_end = e.toISOString();
        }
        const job = await api("/jobs", { method: "POST", body });
        flash(t("intake.order_created", { number: job.number }));
        await renderDispatch(job, tz);
      });
    });
    replace(orderBox, h("h2", { id: "io-h" }, t("intake.work_order")), form);
  }

  async function renderDispatch(job, tz) {
    const cands = await api(`/jobs/${job.id}/candidates`);
    const choice = job.dispatch || job.dispatch_choice || null;
    const assign = (c) => api(`/jobs/${job.id}/assign`, { method: "POST",
      body: { provider_id: c.provider_id, technician_id: c.technician_id,
        reason: t("intake.assign_reason") } })
      .then((done) => {
        flash(t("intake.assigned_flash", { number: done.number, name: c.full_name }));
        replace(dispatchBox, h("h2", {}, t("intake.dispatch")),
          h("p", { id: "intake-assigned" }, t("intake.assigned", { number: done.number,
            name: c.full_name, window: windowText(done.window_start, done.window_end, tz) }),
          " ", h("a", { href: `#/jobs/${done.id}` }, t("intake.open_job"))));
      }).catch((err) => flash(errorText(err), "error"));
    replace(dispatchBox, h("h2", {}, t("intake.dispatch_number", { number: job.number })),
      choice ? h("p", { id: "intake-choice" }, t("intake.auto_choice", {
        summary: choice.summary || (choice.reasons || []).join("; ") })) : null,
      cands.length ? h("ol", { id: "intake-candidates" }, cands.map((c) => h("li", {},
        t(c.is_installer ? "intake.candidate_installer" : "intake.candidate", {
          name: c.full_name, skill: label(c.skill_level, "skill_level"), n: c.open_jobs }), " ",
        h("button", { type: "button", class: "assign-candidate",
          dataset: { technician: c.technician_id }, onclick: () => assign(c) }, t("job.assign")))))
        : h("p", { class: "muted" }, t("intake.no_candidate")),
      h("p", {}, h("a", { href: `#/jobs/${job.id}` }, t("intake.open_job")), " · ",
        h("button", { type: "button", class: "link", onclick: () => go("/intake", {}) },
          t("intake.next_call"))));
  }
}
