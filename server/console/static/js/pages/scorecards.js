// Scorecards of technicians and providers for a period: the ranking, a bar chart of the
// very-satisfied rate, the rate week by week (one request per week, in parallel), the
// violations, and a CSV export fetched with the token. Provider staff see their own
// provider: the API scopes every call.

import { api, fetchAuthed } from "../api.js";
import { h, replace, table, field, select, submitting, flash, when, date, label, dateInput,
  localMidnight, money, pct } from "../dom.js";
import { t, k } from "../i18n.js";
import { go } from "../router.js";
import { CONSOLE_ROLES } from "../roles.js";
import { barChart, lineChart } from "./charts.js";
import { csvButton } from "./download.js";

export const page = {
  path: "/scorecards",
  title: k("scorecards.title"),
  nav: k("nav.scorecards"),
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
    h("h1", { tabindex: "-1" }, t("scorecards.title")),
    form,
    h("p", { class: "summary" }, t(by === "technicians" ? "scorecards.summary_technicians"
      : "scorecards.summary_providers", { from: date(from), to: date(to),
      shown: cards.items.length, ranked: cards.ranked }), " · ", exportButton(by, from,
      toExclusive, filters)),
    table({ id: "scorecards", caption: t("scorecards.caption"), columns: columns(by, who),
      rows: cards.items.map((r) => ({ ...r, __data: { row: key(r) } })),
      empty: t("scorecards.empty") }),
    h("div", { class: "charts" },
      h("figure", {}, h("figcaption", {}, t("scorecards.rate_period")),
        barChart({ id: "chart-rate", title: t(by === "technicians"
          ? "scorecards.rate_by_technician" : "scorecards.rate_by_provider"),
          rows: cards.items.map((r) => ({ name: who(r), value: r.very_satisfied_rate })) })),
      h("figure", {}, h("figcaption", {}, t("scorecards.rate_weekly", { n: TOP })),
        lineChart({ id: "chart-trend", title: t("scorecards.rate_weekly_title", { n: WEEKS }),
          periods: weeks.map((w) => w.from.slice(5)), series }))),
    h("h2", {}, t("scorecards.violations"), " ", h("span", { class: "count" },
      violations.length)),
    h("p", {}, csvButton("/violations/export.csv", { since: `${from}T00:00:00Z`,
      until: `${toExclusive}T00:00:00Z`, provider_id: filters.provider_id }, "violations.csv",
    "violations-csv", t("scorecards.export_violations"))),
    table({ id: "violation-list", caption: t("scorecards.violations_caption"), columns: [
      { label: t("col.recorded"), cell: (v) => when(v.recorded_at) },
      { label: t("col.job"), cell: (v) => h("a", { href: `#/jobs/${v.job_id}/report`,
        "aria-label": t("common.report_of", { number: v.job_number }) }, v.job_number) },
      { label: t("col.kind"), cell: (v) => label(v.kind, "violation_kind") },
      { label: t("col.technician"), cell: (v) => v.technician_name || "—" },
      { label: t("col.provider"), cell: (v) => v.provider_name || "—" },
      { label: t("col.fine"), num: true, cell: (v) => money(v.fine_amount, v.currency) },
    ], rows: violations, empty: t("scorecards.no_violation") }));
}

function columns(by, who) {
  const cols = [
    { label: t("scorecards.rank"), num: true, cell: (r) => r.rank },
    { label: by === "technicians" ? t("col.technician") : t("col.provider"), cell: (r) => [who(r),
      by === "technicians" ? h("small", { class: "block muted" }, r.provider_name || "") : null] },
    { label: t("scorecards.jobs"), num: true, cell: (r) => r.jobs },
    { label: t("scorecards.completed"), num: true, cell: (r) =>
      `${r.completed} (${pct(r.completion_rate)})` },
    { label: t("scorecards.very_satisfied"), num: true, cell: (r) =>
      `${r.very_satisfied}/${r.surveyed} (${pct(r.very_satisfied_rate)})` },
    { label: t("scorecards.score"), num: true, cell: (r) => h("span", { "data-field": "score",
      title: t("scorecards.score_title") },
      r.score === null || r.score === undefined ? "—" : r.score.toFixed(2)) },
    { label: t("scorecards.first_time_fix"), num: true, cell: (r) => pct(r.first_time_fix_rate) },
    { label: t("scorecards.repeats"), num: true, cell: (r) => r.repeat_repairs },
    { label: t("scorecards.urgent_sla"), num: true, cell: (r) =>
      `${r.urgent_sla_met}/${r.urgent_jobs} (${pct(r.urgent_sla_rate)})` },
    { label: t("scorecards.contradicted"), num: true, cell: (r) => h("span", { class: r.contradicted
      ? "late" : null, "data-field": "contradicted" }, r.contradicted) },
    { label: t("scorecards.bonus"), num: true, cell: (r) => money(r.bonus, r.currency) },
    { label: t("scorecards.fines"), num: true, cell: (r) => h("span", { "data-field": "fines" },
      money(r.fines, r.currency)) },
    { label: t("scorecards.net"), num: true, cell: (r) => money(r.net, r.currency) },
  ];
  return cols;
}

function filterForm(by, from, to, query, providers, cities) {
  const fromInput = h("input", { type: "date", name: "from", value: from, required: true });
  const toInput = h("input", { type: "date", name: "to", value: to, required: true });
  const form = h("form", { class: "filters", id: "scorecard-filters", role: "search",
    "aria-label": t("scorecards.choose_period") },
    field(t("scorecards.of"), select("by", [["technicians", t("scorecards.technicians")],
      ["providers", t("scorecards.providers")]], by)),
    field(t("job.from"), fromInput), field(t("scorecards.to_inclusive"), toInput),
    by === "technicians" && providers.length > 1 ? field(t("col.provider"), select("provider",
      [["", t("filter.all_providers")], ...providers.map((p) => [p.id, p.name])], query.provider))
      : null,
    cities.length > 1 ? field(t("scorecards.city"), select("city", [["", t("filter.all_cities")],
      ...cities.map((c) => [c.id, c.name])], query.city)) : null,
    h("button", { type: "submit" }, t("filter.apply")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (toInput.value < fromInput.value) {
      flash(t("scorecards.bad_period"), "error");
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
    h("button", { type: "submit" }, t("scorecards.export")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const q = new URLSearchParams({ from, to, format: "csv" });
      for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
      const res = await fetchAuthed(`/scorecards/${by}?${q}`);
      const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "")?.[1]
        || `scorecards-${by}.csv`;
      const link = h("a", { href: URL.createObjectURL(await res.blob()), download: name,
        id: "csv-link" }, t("scorecards.download", { name }));
      document.getElementById("csv-link")?.remove();
      form.after(" ", link);
      link.click();
      flash(t("scorecards.exported", { name }));
    });
  });
  return form;
}
