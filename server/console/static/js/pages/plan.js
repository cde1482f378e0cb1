// The day's plan: the solver proposes who does which pending job of a city's day and in
// which order (POST /dispatch/plans); the dispatcher accepts it (assignments, bookings,
// customers told) or discards it.

import { api } from "../api.js";
import { h, replace, field, select, table, flash, submitting, dateInput, windowText, time, num,
  errorText, zoneOf } from "../dom.js";
import { go } from "../router.js";
import { t, k } from "../i18n.js";

export const page = {
  path: "/plan",
  title: k("plan.title"),
  nav: k("nav.plan"),
  roles: ["admin", "dispatcher", "provider_manager"],
  render,
};

const km = (m) => t("unit.km", { n: num(Math.round(m / 100) / 10) });
const STATES = { proposed: "plan.state_proposed", accepted: "plan.state_accepted",
  discarded: "plan.state_discarded" };
// The solver's reasons (server/dispatch/plans.py) in the page's language.
const REASONS = {
  "no eligible technician works that day": "plan.reason_nobody_works",
  "no eligible technician can reach it in its window": "plan.reason_nobody_reaches",
};
const reasonText = (r) => (REASONS[r] ? t(REASONS[r]) : r);

async function render(main, { query, current }) {
  const cities = await api("/cities");
  if (!current()) return;
  const tomorrow = new Date();
  tomorrow.setDate(tomorrow.getDate() + 1);
  const city = query.city || cities[0]?.id || "";
  const day = query.day || dateInput(tomorrow, zoneOf(city));
  const citySel = select("city", cities.map((c) => [c.id, c.name]), city);
  citySel.id = "plan-city";
  const dayIn = h("input", { type: "date", name: "day", id: "plan-day", value: day });
  const form = h("form", { class: "filters", id: "plan-form", "aria-label": t("plan.form_label") },
    field(t("intake.city"), citySel), field(t("intake.day"), dayIn),
    h("button", { type: "submit", class: "primary", id: "plan-propose" }, t("plan.propose")));
  const out = h("div", { id: "plan-result" });
  replace(main, h("h1", { tabindex: "-1" }, t("plan.title")), form, out);
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
  const tz = zoneOf(plan.city_id);
  const visits = plan.routes.reduce((n, r) => n + r.stops.length, 0);
  const accept = h("button", { type: "button", class: "primary", id: "plan-accept",
    disabled: plan.state !== "proposed" }, t("plan.accept"));
  accept.addEventListener("click", async () => {
    accept.disabled = true;
    try {
      const done = await api(`/dispatch/plans/${plan.id}/accept`, { method: "POST" });
      flash(t("plan.accepted", { applied: done.outcome.applied.length,
        skipped: done.outcome.skipped.length }));
      go("/plan", { ...query, plan: plan.id });
    } catch (err) {
      flash(errorText(err), "error");
      accept.disabled = false;
    }
  });
  replace(out,
    h("p", { class: "summary", id: "plan-summary" },
      t("plan.summary", { state: STATES[plan.state] ? t(STATES[plan.state]) : plan.state,
        visits, unassigned: plan.unassigned.length }), " ",
      h("strong", {}, km(plan.travel_m)), " ",
      t("plan.baseline", { travel: km(plan.baseline_travel_m), visits: plan.baseline_served,
        seconds: num(Math.round(plan.solve_s * 10) / 10) }), " ", accept),
    plan.routes.map((r, i) => table({ id: `plan-route-${i}`,
      caption: t("plan.route_caption", { name: r.technician_name, visits: r.stops.length,
        travel: km(r.travel_m) }),
      columns: [
        { label: t("plan.arrive"), cell: (s) => time(s.arrive, tz) },
        { label: t("col.job"), cell: (s) => h("a", { href: `#/jobs/${s.job_id}` }, s.job_number) },
        { label: t("plan.window"), cell: (s) => [windowText(s.window_start, s.window_end, tz),
          s.pending ? h("small", { class: "block muted" }, t("plan.offered")) : null] },
        { label: t("plan.travel"), cell: (s) => km(s.travel_m), num: true },
      ], rows: r.stops })),
    plan.unassigned.length ? table({ id: "plan-unassigned", caption: t("plan.not_planned"),
      columns: [{ label: t("col.job"), cell: (u) => h("a", { href: `#/jobs/${u.job_id}` },
        u.job_number) }, { label: t("col.why"), cell: (u) => reasonText(u.reason) }],
      rows: plan.unassigned }) : null);
}
