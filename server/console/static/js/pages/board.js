// The dispatcher board: SLA clocks (overdue first), today, upcoming and pending jobs.
// One GET /board for the jobs and their names, GET /providers for the filter, in parallel.

import { api } from "../api.js";
import { h, replace, table, field, select, when, day, label, localMidnight } from "../dom.js";
import { go } from "../router.js";
import { CONSOLE_ROLES } from "../roles.js";
import { STATUSES, jobColumns, fillClock } from "./jobrows.js";
import { csvButton } from "./download.js";

export const page = {
  path: "/board",
  title: "Dispatcher board",
  nav: "Board",
  roles: CONSOLE_ROLES,
  render,
};

const GROUPS = [["", "no grouping"], ["status", "status"], ["provider", "provider"],
  ["technician", "technician"]];
let knownTechnicians = new Map(); // kept while a technician filter narrows the board

let ticker = null;

async function render(main, { query, current }) {
  const days = Number(query.days) || 7;
  const [board, providers] = await Promise.all([
    api("/board", { query: {
      day_start: localMidnight().toISOString(), days, provider_id: query.provider,
      technician_id: query.technician, status: query.status, limit: 200,
    } }),
    api("/providers"),
  ]);
  if (!current()) return;
  const names = { ...board.names };
  providers.forEach((p) => (names[p.id] = p.name));
  for (const section of [board.clocks, board.today, board.upcoming, board.pending]) {
    for (const j of section.items) {
      if (j.technician_id) knownTechnicians.set(j.technician_id, names[j.technician_id]);
    }
  }

  const form = h("form", { class: "filters", id: "board-filters", role: "search",
    "aria-label": "Filter the board" },
    field("Provider", select("provider", [["", "all providers"],
      ...providers.map((p) => [p.id, p.name])], query.provider)),
    field("Technician", select("technician", [["", "all technicians"],
      ...[...knownTechnicians].sort((a, b) => String(a[1]).localeCompare(b[1]))],
      query.technician)),
    field("Status", select("status", [["", "any status"], ...STATUSES.map((s) => [s, label(s)])],
      query.status)),
    field("Days", select("days", [[1, "today"], [3, "3 days"], [7, "7 days"], [14, "14 days"]],
      days)),
    field("Group by", select("group", GROUPS, query.group)),
    h("button", { type: "submit" }, "Apply"),
    h("button", { type: "button", class: "link", onclick: () => go("/board", {}) }, "Clear"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    go("/board", Object.fromEntries([...f].filter(([, v]) => v !== "")));
  });

  const group = query.group;
  const grouped = (items) => {
    if (!group) return null;
    const key = (j) => group === "status" ? label(j.status)
      : group === "provider" ? (j.provider_id ? names[j.provider_id] : "unassigned")
      : (j.technician_id ? names[j.technician_id] : "no technician");
    const map = new Map();
    for (const j of items) {
      const k = key(j) || "—";
      if (!map.has(k)) map.set(k, []);
      map.get(k).push(j);
    }
    return [...map].sort((a, b) => a[0].localeCompare(b[0])).map(([l, rows]) => ({
      label: l, rows }));
  };
  const more = (s) => (s.total > s.items.length
    ? h("p", { class: "muted" }, `Showing ${s.items.length} of ${s.total}: narrow the filter.`)
    : null);
  const section = (id, title, s, opts = {}) => h("section", { "aria-labelledby": `${id}-h` },
    h("h2", { id: `${id}-h` }, title, h("span", { class: "count" }, ` ${s.total}`)),
    table({ id, caption: opts.caption || title, columns: jobColumns(names, board.addresses, opts),
      rows: s.items, groups: opts.noGroup ? null : grouped(s.items),
      empty: opts.empty }),
    more(s));

  const late = board.clocks.items.filter((j) => j.overdue.length).length;
  replace(main,
    h("h1", { tabindex: "-1" }, "Dispatcher board"),
    form,
    h("p", { class: "summary" },
      h("strong", { class: late ? "late" : null }, `${late} overdue`), " · ",
      `${board.pending.total} waiting for an appointment · ${board.today.total} today · `,
      `updated ${when(board.now)} `,
      h("button", { type: "button", class: "link", onclick: () => go("/board", query) },
        "Refresh"), " · ",
      // every job of these filters, whatever its day (GET /jobs/export.csv)
      csvButton("/jobs/export.csv", { provider_id: query.provider,
        technician_id: query.technician, status: query.status }, "jobs.csv", "jobs-csv",
      "Export jobs (CSV)")),
    section("clocks", "SLA clocks", board.clocks, { clocks: true, noGroup: true,
      caption: "Urgent and overdue jobs, overdue first", empty: "No urgent or overdue jobs." }),
    section("today", `Today, ${day(board.day_start)}`, board.today,
      { empty: "No appointments today." }),
    section("upcoming", `Upcoming, to ${day(new Date(new Date(board.horizon_end) - 1))}`,
      board.upcoming, { empty: "No upcoming appointments." }),
    section("pending", "Waiting for an appointment", board.pending,
      { caption: "Open jobs without an appointment, oldest first",
        empty: "Every open job has an appointment." }),
  );

  // The clocks tick in the page; the data is as fresh as the last load.
  clearInterval(ticker);
  const byId = new Map(board.clocks.items.map((j) => [j.id, j]));
  ticker = setInterval(() => {
    const cells = document.querySelectorAll("#clocks .clock");
    if (!cells.length) return clearInterval(ticker);
    cells.forEach((c) => byId.has(c.dataset.job) && fillClock(c, byId.get(c.dataset.job)));
  }, 15000);
}
