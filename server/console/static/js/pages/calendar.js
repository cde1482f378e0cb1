// A technician's calendar, day or week, from their appointments (GET /jobs).

import { api } from "../api.js";
import { h, replace, field, select, table, label, localMidnight, dateInput, windowText }
  from "../dom.js";
import { go } from "../router.js";
import { CONSOLE_ROLES } from "../roles.js";
import { statusBadge } from "./jobrows.js";

export const page = {
  path: "/calendar",
  title: "Technician calendar",
  roles: CONSOLE_ROLES,
  render,
};

const tf = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const df = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "short",
  day: "numeric" });

async function render(main, { query, current }) {
  const view = query.view === "week" ? "week" : "day";
  const first = query.date ? new Date(`${query.date}T00:00`) : localMidnight();
  const days = view === "week" ? 7 : 1;
  const end = new Date(first);
  end.setDate(end.getDate() + days);
  const board = await api("/board", { query: { day_start: first.toISOString(), days,
    limit: 200 } });
  if (!current()) return;
  const techs = new Map();
  for (const s of [board.today, board.upcoming, board.clocks]) {
    for (const j of s.items) {
      if (j.technician_id) techs.set(j.technician_id, board.names[j.technician_id] || "—");
    }
  }
  if (query.technician && !techs.has(query.technician)) {
    techs.set(query.technician, board.names[query.technician] || "technician");
  }
  const tech = query.technician || [...techs.keys()][0] || "";
  const form = h("form", { class: "filters", id: "calendar-form", role: "search",
    "aria-label": "Whose calendar" },
    field("Technician", select("technician", [...techs].map(([id, n]) => [id, n]), tech)),
    field("View", select("view", [["day", "day"], ["week", "week"]], view)),
    field("From", h("input", { type: "date", name: "date", value: dateInput(first) })),
    h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/calendar", Object.fromEntries(new FormData(form)));
  });
  const jobs = tech ? (await api("/jobs", { query: { technician_id: tech,
    window_from: first.toISOString(), window_to: end.toISOString(), limit: 200 } })).items : [];
  if (!current()) return;
  const groups = [];
  for (let i = 0; i < days; i++) {
    const d = new Date(first);
    d.setDate(d.getDate() + i);
    const next = new Date(d);
    next.setDate(next.getDate() + 1);
    groups.push({ label: df.format(d), rows: jobs.filter((j) =>
      new Date(j.window_start) < next && new Date(j.window_end) > d) });
  }
  replace(main, h("h1", { tabindex: "-1" }, "Technician calendar"), form,
    tech ? table({ id: "calendar", caption: `${techs.get(tech)}: ${view} from ${df.format(first)}`,
      columns: [
        { label: "Time", cell: (j) => `${tf.format(new Date(j.window_start))}–`
          + tf.format(new Date(j.window_end)) },
        { label: "Job", cell: (j) => h("a", { href: `#/jobs/${j.id}` }, j.number) },
        { label: "Kind", cell: (j) => label(j.kind) },
        { label: "Status", cell: (j) => statusBadge(j.status) },
        { label: "Appointment", cell: (j) => windowText(j.window_start, j.window_end) },
      ], groups, empty: "No appointments." })
      : h("p", { class: "muted" }, "No technician has appointments in this span."));
}
