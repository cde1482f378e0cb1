// The day's plan: the solver proposes who does which pending job of a city's day and in
// which order (POST /dispatch/plans); the dispatcher accepts it (assignments, bookings,
// customers told) or discards it.

import { api } from "../api.js";
import { h, replace, field, select, table, flash, submitting, dateInput, windowText }
  from "../dom.js";
import { go } from "../router.js";

export const page = {
  path: "/plan",
  title: "Day plan",
  nav: "Day plan",
  roles: ["admin", "dispatcher", "provider_manager"],
  render,
};

const tf = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const km = (m) => `${(m / 1000).toFixed(1)} km`;

async function render(main, { query, current }) {
  const cities = await api("/cities");
  if (!current()) return;
  const tomorrow = new Date();
  tomorrow.setDate(tomorrow.getDate() + 1);
  const city = query.city || cities[0]?.id || "";
  const day = query.day || dateInput(tomorrow);
  const citySel = select("city", cities.map((c) => [c.id, c.name]), city);
  citySel.id = "plan-city";
  const dayIn = h("input", { type: "date", name: "day", id: "plan-day", value: day });
  const form = h("form", { class: "filters", id: "plan-form", "aria-label": "Plan a day" },
    field("City", citySel), field("Day", dayIn),
    h("button", { type: "submit", class: "primary", id: "plan-propose" }, "Propose a plan"));
  const out = h("div", { id: "plan-result" });
  replace(main, h("h1", { tabindex: "-1" }, "Day plan"), form, out);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const plan = await api("/dispatch/plans", { method: "POST",
        body: { city_id: citySel.value, day: dayIn.value, time_limit_s: 5 } });
      go("/plan", { city: citySel.value, day: dayIn.value, plan: plan.id });
    });
  });
  let plan = null;
  if (query.plan) plan = await api(`/dispatch/plans/${query.plan}`);
  else if (city) {
    plan = (await api("/dispatch/plans", { query: { city_id: city, day } })).items[0] || null;
  }
  if (!current()) return;
  if (plan) show(out, plan, query);
}

function show(out, plan, query) {
  const visits = plan.routes.reduce((n, r) => n + r.stops.length, 0);
  const accept = h("button", { type: "button", class: "primary", id: "plan-accept",
    disabled: plan.state !== "proposed" }, "Accept the plan");
  accept.addEventListener("click", async () => {
    accept.disabled = true;
    try {
      const done = await api(`/dispatch/plans/${plan.id}/accept`, { method: "POST" });
      flash(`Plan accepted: ${done.outcome.applied.length} jobs assigned, `
        + `${done.outcome.skipped.length} skipped.`);
      go("/plan", { ...query, plan: plan.id });
    } catch (err) {
      flash(err.message, "error");
      accept.disabled = false;
    }
  });
  replace(out,
    h("p", { class: "summary", id: "plan-summary" },
      `${plan.state}: ${visits} visits, ${plan.unassigned.length} unassigned; travel `,
      h("strong", {}, km(plan.travel_m)),
      ` (nearest-free-technician rule: ${km(plan.baseline_travel_m)} for `,
      `${plan.baseline_served} visits); solved in ${plan.solve_s.toFixed(1)} s. `, accept),
    plan.routes.map((r, i) => table({ id: `plan-route-${i}`,
      caption: `${r.technician_name}: ${r.stops.length} visits, ${km(r.travel_m)}`,
      columns: [
        { label: "Arrive", cell: (s) => tf.format(new Date(s.arrive)) },
        { label: "Job", cell: (s) => h("a", { href: `#/jobs/${s.job_id}` }, s.job_number) },
        { label: "Window", cell: (s) => [windowText(s.window_start, s.window_end),
          s.pending ? h("small", { class: "block muted" }, "offered") : null] },
        { label: "Travel", cell: (s) => km(s.travel_m), num: true },
      ], rows: r.stops })),
    plan.unassigned.length ? table({ id: "plan-unassigned", caption: "Not planned",
      columns: [{ label: "Job", cell: (u) => h("a", { href: `#/jobs/${u.job_id}` },
        u.job_number) }, { label: "Why", cell: (u) => u.reason }],
      rows: plan.unassigned }) : null);
}
