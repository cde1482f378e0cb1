// A technician's calendar, day or week, from their appointments (GET /jobs). Days are
// the brand's (its cities' zone); a job's times are in its city's zone.

import { api } from "../api.js";
import { h, replace, field, select, table, label, dateInput, fromInputs, windowText, day,
  time, zoneOf, addDays } from "../dom.js";
import { go } from "../router.js";
import { CONSOLE_ROLES } from "../roles.js";
import { t, k } from "../i18n.js";
import { statusBadge } from "./jobrows.js";

export const page = {
  path: "/calendar",
  title: k("calendar.title"),
  roles: CONSOLE_ROLES,
  render,
};

async function render(main, { query, current }) {
  const view = query.view === "week" ? "week" : "day";
  const tz = zoneOf(null); // the brand's zone
  const valid = /^\d{4}-\d{2}-\d{2}$/.test(query.date || "")
    && !Number.isNaN(fromInputs(query.date, "00:00", tz).getTime());
  const ymd = valid ? query.date : dateInput(new Date(), tz);
  const days = view === "week" ? 7 : 1;
  const first = fromInputs(ymd, "00:00", tz);
  const end = fromInputs(addDays(ymd, days), "00:00", tz);
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
    techs.set(query.technician, board.names[query.technician] || t("calendar.a_technician"));
  }
  const tech = query.technician || [...techs.keys()][0] || "";
  const form = h("form", { class: "filters", id: "calendar-form", role: "search",
    "aria-label": t("calendar.form_label") },
    field(t("col.technician"), select("technician", [...techs].map(([id, n]) => [id, n]),
      tech)),
    field(t("calendar.view"), select("view", [["day", t("calendar.view_day")],
      ["week", t("calendar.view_week")]], view)),
    field(t("job.from"), h("input", { type: "date", name: "date", value: ymd })),
    h("button", { type: "submit" }, t("calendar.show")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/calendar", Object.fromEntries(new FormData(form)));
  });
  const jobs = tech ? (await api("/jobs", { query: { technician_id: tech,
    window_from: first.toISOString(), window_to: end.toISOString(), limit: 200 } })).items : [];
  if (!current()) return;
  const groups = [];
  for (let i = 0; i < days; i++) {
    const d = fromInputs(addDays(ymd, i), "00:00", tz);
    const next = fromInputs(addDays(ymd, i + 1), "00:00", tz);
    groups.push({ label: day(d.toISOString(), tz), rows: jobs.filter((j) =>
      new Date(j.window_start) < next && new Date(j.window_end) > d) });
  }
  const zone = (j) => zoneOf(j.city_id) || tz;
  replace(main, h("h1", { tabindex: "-1" }, t("calendar.title")), form,
    tech ? table({ id: "calendar", caption: t(view === "week" ? "calendar.caption_week"
      : "calendar.caption_day", { name: techs.get(tech), day: day(first.toISOString(), tz) }),
      columns: [
        { label: t("calendar.time"), cell: (j) => `${time(j.window_start, zone(j))}–${
          time(j.window_end, zone(j))}` },
        { label: t("col.job"), cell: (j) => h("a", { href: `#/jobs/${j.id}` }, j.number) },
        { label: t("col.kind"), cell: (j) => label(j.kind, "job_kind") },
        { label: t("col.status"), cell: (j) => statusBadge(j.status) },
        { label: t("col.appointment"), cell: (j) => windowText(j.window_start, j.window_end,
          zone(j)) },
      ], groups, empty: t("calendar.empty") })
      : h("p", { class: "muted" }, t("calendar.nobody")));
}
