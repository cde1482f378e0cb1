// The dispatcher board: SLA clocks (overdue first), today, upcoming and pending jobs.
// One GET /board for the jobs and their names, GET /providers for the filter, in parallel.

import { api } from "../api.js";
import { h, replace, table, field, select, when, day, label, localMidnight } from "../dom.js";
import { t, k } from "../i18n.js";
import { go } from "../router.js";
import { CONSOLE_ROLES } from "../roles.js";
import { STATUSES, jobColumns, fillClock } from "./jobrows.js";
import { csvButton } from "./download.js";

export const page = {
  path: "/board",
  title: k("board.title"),
  nav: k("nav.board"),
  roles: CONSOLE_ROLES,
  render,
};

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

  const groups = [["", t("board.group_none")], ["status", t("board.group_status")],
    ["provider", t("board.group_provider")], ["technician", t("board.group_technician")]];
  const form = h("form", { class: "filters", id: "board-filters", role: "search",
    "aria-label": t("board.filter_label") },
    field(t("col.provider"), select("provider", [["", t("filter.all_providers")],
      ...providers.map((p) => [p.id, p.name])], query.provider)),
    field(t("col.technician"), select("technician", [["", t("filter.all_technicians")],
      ...[...knownTechnicians].sort((a, b) => String(a[1]).localeCompare(b[1]))],
      query.technician)),
    field(t("col.status"), select("status", [["", t("filter.any_status")],
      ...STATUSES.map((s) => [s, label(s, "job_status")])], query.status)),
    field(t("board.days"), select("days", [[1, t("board.days_today")],
      [3, t("board.days_n", { n: 3 })], [7, t("board.days_n", { n: 7 })],
      [14, t("board.days_n", { n: 14 })]], days)),
    field(t("board.group_by"), select("group", groups, query.group)),
    h("button", { type: "submit" }, t("filter.apply")),
    h("button", { type: "button", class: "link", onclick: () => go("/board", {}) },
      t("filter.clear")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    go("/board", Object.fromEntries([...f].filter(([, v]) => v !== "")));
  });

  const group = query.group;
  const grouped = (items) => {
    if (!group) return null;
    const key = (j) => group === "status" ? label(j.status, "job_status")
      : group === "provider" ? (j.provider_id ? names[j.provider_id] : t("common.unassigned"))
      : (j.technician_id ? names[j.technician_id] : t("board.no_technician"));
    const map = new Map();
    for (const j of items) {
      const g = key(j) || "—";
      if (!map.has(g)) map.set(g, []);
      map.get(g).push(j);
    }
    return [...map].sort((a, b) => a[0].localeCompare(b[0])).map(([l, rows]) => ({
      label: l, rows }));
  };
  const more = (s) => (s.total > s.items.length
    ? h("p", { class: "muted" }, t("board.showing", { shown: s.items.length, total: s.total }))
    : null);
  const section = (id, title, s, opts = {}) => h("section", { "aria-labelledby": `${id}-h` },
    h("h2", { id: `${id}-h` }, title, h("span", { class: "count" }, ` ${s.total}`)),
    table({ id, caption: opts.caption || title, columns: jobColumns(names, board.addresses, opts),
      rows: s.items, groups: opts.noGroup ? null : grouped(s.items),
      empty: opts.empty }),
    more(s));

  const late = board.clocks.items.filter((j) => j.overdue.length).length;
  replace(main,
    h("h1", { tabindex: "-1" }, t("board.title")),
    form,
    h("p", { class: "summary" },
      h("strong", { class: late ? "late" : null }, t("board.overdue", { n: late })), " · ",
      t("board.summary", { pending: board.pending.total, today: board.today.total,
        updated: when(board.now) }), " ",
      h("button", { type: "button", class: "link", onclick: () => go("/board", query) },
        t("common.refresh")), " · ", h("a", { href: "#/plan", id: "board-plan" }, t("board.plan_link")),
      " · ", h("a", { href: "#/calendar", id: "board-calendar" }, t("board.calendar_link")), " · ",
      h("a", { href: "#/maintenance", id: "board-maintenance" }, t("board.maintenance_link")),
      " · ",
      // every job of these filters, whatever its day (GET /jobs/export.csv)
      csvButton("/jobs/export.csv", { provider_id: query.provider,
        technician_id: query.technician, status: query.status }, "jobs.csv", "jobs-csv",
      t("board.export_jobs"))),
    section("clocks", t("board.clocks"), board.clocks, { clocks: true, noGroup: true,
      caption: t("board.clocks_caption"), empty: t("board.clocks_empty") }),
    section("today", t("board.today", { day: day(board.day_start) }), board.today,
      { empty: t("board.today_empty") }),
    section("upcoming", t("board.upcoming", { day: day(new Date(new Date(board.horizon_end) - 1)) }),
      board.upcoming, { empty: t("board.upcoming_empty") }),
    section("pending", t("board.pending"), board.pending,
      { caption: t("board.pending_caption"), empty: t("board.pending_empty") }),
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
