// Scorecards of technicians and providers for a period: the ranking, a bar chart of the
// very-satisfied rate, the rate week by week (one request per week, in parallel), the
// violations, and a CSV export fetched with the token. Provider staff see their own
// provider: the API scopes every call.

import { api, fetchAuthed } from "../api.js";
import { h, replace, table, field, select, submitting, flash, when, label, dateInput,
  localMidnight } from "../dom.js";
import { go } from "../router.js";
import { CONSOLE_ROLES } from "../roles.js";
import { money, pct } from "./audit.js";
import { barChart, lineChart } from "./charts.js";

export const page = {
  path: "/scorecards",
  title: "Scorecards",
  nav: "Scorecards",
  roles: CONSOLE_ROLES,
  render,
};

const WEEKS = 8;
const DAY = 86400e3;
const TOP = 5; // lines on the trend chart

const addDays = (d, n) => new Date(d.getTime() + n * DAY);

async function render(main, { query, current }) {
  const by = query.by === "providers" ? "providers" : "technicians";
  const today = localMidnight();
  const from = query.from || dateInput(addDays(today, -29));
  const to = query.to || dateInput(today);
  const toExclusive = dateInput(addDays(new Date(`${to}T00:00`), 1));
  const filters = { provider_id: by === "technicians" ? query.provider : null,
    city_id: query.city };
  const weeks = [...Array(WEEKS).keys()].reverse().map((k) => {
    const end = addDays(new Date(`${toExclusive}T00:00`), -7 * k);
    return { from: dateInput(addDays(end, -7)), to: dateInput(end) };
  });
  const [cards, trend, violations, providers, cities] = await Promise.all([
    api(`/scorecards/${by}`, { query: { from, to: toExclusive, ...filters } }),
    Promise.all(weeks.map((w) => api(`/scorecards/${by}`, { query: { ...w, ...filters } }))),
    api("/violations", { query: { since: `${from}T00:00:00Z`, until: `${toExclusive}T00:00:00Z`,
      provider_id: filters.provider_id, limit: 500 } }),
    api("/providers"),
    api("/cities").catch(() => []),
  ]);
  if (!current()) return;

  const who = (r) => (by === "technicians" ? r.technician_name : r.provider_name);
  const key = (r) => (by === "technicians" ? `${r.technician_id}/${r.provider_id}` : r.provider_id);
  const form = filterForm(by, from, to, query, providers, cities);
  const top = cards.items.slice(0, TOP);
  const series = top.map((r) => ({ name: who(r), values: trend.map((p) =>
    p.items.find((x) => key(x) === key(r))?.very_satisfied_rate ?? null) }));

  replace(main,
    h("h1", { tabindex: "-1" }, "Scorecards"),
    form,
    h("p", { class: "summary" }, `${label(by)} with claims from ${from} to ${to} · ` +
      `${cards.items.length} shown of ${cards.ranked} ranked · `, exportButton(by, from,
      toExclusive, filters)),
    table({ id: "scorecards", caption: "Ranked by score (very-satisfied rate minus 0.2 per " +
      "proven false report), then count, then fewest contradicted claims", columns: columns(by, who),
    rows: cards.items.map((r) => ({ ...r, __data: { row: key(r) } })),
    empty: "No claims in this period." }),
    h("div", { class: "charts" },
      h("figure", {}, h("figcaption", {}, "Very-satisfied rate in the period"),
        barChart({ id: "chart-rate", title: "Very-satisfied rate by " + label(by.slice(0, -1)),
          rows: cards.items.map((r) => ({ name: who(r), value: r.very_satisfied_rate })) })),
      h("figure", {}, h("figcaption", {}, `Very-satisfied rate week by week (top ${TOP})`),
        lineChart({ id: "chart-trend", title: `Very-satisfied rate per week, last ${WEEKS} weeks`,
          periods: weeks.map((w) => w.from.slice(5)), series }))),
    h("h2", {}, "Violations ", h("span", { class: "count" }, violations.length)),
    table({ id: "violation-list", caption: "Contradicted claims in the period (voided ones " +
      "left out)", columns: [
      { label: "Recorded", cell: (v) => when(v.recorded_at) },
      { label: "Job", cell: (v) => h("a", { href: `#/jobs/${v.job_id}/report`,
        "aria-label": `Service report ${v.job_number}` }, v.job_number) },
      { label: "Kind", cell: (v) => label(v.kind) },
      { label: "Technician", cell: (v) => v.technician_name || "—" },
      { label: "Provider", cell: (v) => v.provider_name || "—" },
      { label: "Fine", num: true, cell: (v) => money(v.fine_amount, v.currency) },
    ], rows: violations, empty: "No violation in this period." }));
}

function columns(by, who) {
  const cols = [
    { label: "Rank", num: true, cell: (r) => r.rank },
    { label: by === "technicians" ? "Technician" : "Provider", cell: (r) => [who(r),
      by === "technicians" ? h("small", { class: "block muted" }, r.provider_name || "") : null] },
    { label: "Jobs", num: true, cell: (r) => r.jobs },
    { label: "Completed", num: true, cell: (r) => `${r.completed} (${pct(r.completion_rate)})` },
    { label: "Very satisfied", num: true, cell: (r) =>
      `${r.very_satisfied}/${r.surveyed} (${pct(r.very_satisfied_rate)})` },
    { label: "Score", num: true, cell: (r) => h("span", { "data-field": "score",
      title: "Very-satisfied rate minus 0.2 per proven false report" },
      r.score === null || r.score === undefined ? "—" : r.score.toFixed(2)) },
    { label: "First-time fix", num: true, cell: (r) => pct(r.first_time_fix_rate) },
    { label: "Repeats", num: true, cell: (r) => r.repeat_repairs },
    { label: "Urgent SLA", num: true, cell: (r) =>
      `${r.urgent_sla_met}/${r.urgent_jobs} (${pct(r.urgent_sla_rate)})` },
    { label: "Contradicted", num: true, cell: (r) => h("span", { class: r.contradicted ? "late"
      : null, "data-field": "contradicted" }, r.contradicted) },
    { label: "Bonus", num: true, cell: (r) => money(r.bonus, r.currency) },
    { label: "Fines", num: true, cell: (r) => h("span", { "data-field": "fines" },
      money(r.fines, r.currency)) },
    { label: "Net", num: true, cell: (r) => money(r.net, r.currency) },
  ];
  return cols;
}

function filterForm(by, from, to, query, providers, cities) {
  const fromInput = h("input", { type: "date", name: "from", value: from, required: true });
  const toInput = h("input", { type: "date", name: "to", value: to, required: true });
  const form = h("form", { class: "filters", id: "scorecard-filters", role: "search",
    "aria-label": "Choose the period" },
    field("Scorecards of", select("by", [["technicians", "technicians"],
      ["providers", "providers"]], by)),
    field("From", fromInput), field("To (inclusive)", toInput),
    by === "technicians" && providers.length > 1 ? field("Provider", select("provider",
      [["", "all providers"], ...providers.map((p) => [p.id, p.name])], query.provider)) : null,
    cities.length > 1 ? field("City", select("city", [["", "all cities"],
      ...cities.map((c) => [c.id, c.name])], query.city)) : null,
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (toInput.value < fromInput.value) {
      flash("The period must end after it starts.", "error");
      toInput.focus();
      return;
    }
    go("/scorecards", Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== "")));
  });
  return form;
}

/** CSV with the user's token: fetched, then saved from a blob: link. */
function exportButton(by, from, to, filters) {
  const form = h("form", { class: "inline", id: "csv-form" },
    h("button", { type: "submit" }, "Export CSV"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const q = new URLSearchParams({ from, to, format: "csv" });
      for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
      const res = await fetchAuthed(`/scorecards/${by}?${q}`);
      const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "")?.[1]
        || `scorecards-${by}.csv`;
      const link = h("a", { href: URL.createObjectURL(await res.blob()), download: name,
        id: "csv-link" }, `Download ${name}`);
      document.getElementById("csv-link")?.remove();
      form.after(" ", link);
      link.click();
      flash(`${name} exported.`);
    });
  });
  return form;
}
