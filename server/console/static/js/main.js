// The console's entry point. Pages are modules under pages/; each exports `page`
// ({path, title, nav?, roles, render(main, {params, query, user})}), title and nav as
// catalog keys (k("board.title")). To add a page, write its module, list it in PAGES and
// add its keys to both catalogs (i18n/zh-CN.json, i18n/en.json): the router, the
// navigation, the sign-in check, the role check and the language switch come with it.

import { api, onSignedOut, session, logout, updateUser } from "./api.js";
import { h, replace, flash, setZones, errorText } from "./dom.js";
import { t, setLocale, preferred, locale } from "./i18n.js";
import { register, parse, match, go, navRoutes } from "./router.js";
import { CONSOLE_ROLES, roleName, homeOf } from "./roles.js";
import * as loginPage from "./pages/login.js";
import * as boardPage from "./pages/board.js";
import * as jobPage from "./pages/job.js";
import * as customersPage from "./pages/customers.js";
import * as reportPage from "./pages/report.js";
import * as callbacksPage from "./pages/callbacks.js";
import * as callbackPage from "./pages/callback.js";
import * as scorecardsPage from "./pages/scorecards.js";
import * as deadLettersPage from "./pages/deadletters.js";
import * as alertsPage from "./pages/alerts.js";
import * as intakePage from "./pages/intake.js";
import * as calendarPage from "./pages/calendar.js";
import * as planPage from "./pages/plan.js";
import * as maintenancePage from "./pages/maintenance.js";
import * as trailPage from "./pages/trail.js";

const PAGES = [loginPage, boardPage, jobPage, customersPage, reportPage, callbacksPage,
  callbackPage, scorecardsPage, deadLettersPage, alertsPage, intakePage, calendarPage,
  planPage, maintenancePage, trailPage];
PAGES.forEach((m) => register(m.page));

const main = document.getElementById("main");
const langSwitch = document.getElementById("lang-switch");
let renderSeq = 0;
let lastPath = null;
let zonesOf = null; // the user whose cities' zones are loaded

function renderChrome(user) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  const { path } = parse();
  replace(nav, user ? navRoutes().filter((r) => r.roles.includes(user.role)
    && !(r.brandOnly && user.provider_id)).map((r) =>
    h("a", { href: "#" + r.path, "aria-current": path.startsWith(r.path) ? "page" : null },
      t(r.nav))) : []);
  replace(who, user ? [
    h("span", {}, `${user.full_name} · ${roleName(user.role)}`),
    h("button", { type: "button", class: "link", id: "logout", onclick: async () => {
      await logout();
      go("/login");
    } }, t("app.sign_out")),
  ] : []);
  langSwitch.value = locale();
}

/** After sign-in (and on reload): the user's language, and their cities' time zones. */
async function settle(user) {
  const want = preferred(user);
  if (want !== locale()) await setLocale(want);
  if (user && zonesOf !== user.id) {
    zonesOf = user.id;
    setZones(await api("/cities").catch(() => []));
  }
}

async function route() {
  const seq = ++renderSeq;
  const { path, query } = parse();
  const user = session()?.user || null;
  await settle(user);
  if (seq !== renderSeq) return;
  const found = match(path);
  if (!found) {
    go(user ? homeOf(user) : "/login");
    return;
  }
  const { route: r, params } = found;
  if (!r.public && !user) {
    go("/login", { next: location.hash.slice(1) });
    return;
  }
  if (!r.public && !CONSOLE_ROLES.includes(user.role)) {
    await logout();
    go("/login");
    return;
  }
  const title = t(r.title);
  if (!r.public && (!r.roles.includes(user.role) || (r.brandOnly && user.provider_id))) {
    renderChrome(user);
    replace(main, h("h1", { tabindex: "-1" }, t("app.not_for_role")),
      h("p", {}, t("app.no_page_for_role", { role: roleName(user.role), page: title })));
    return;
  }
  document.title = `${title} · Doorstep`;
  renderChrome(user);
  if (path !== lastPath) flash(""); // a message outlives the re-render that follows it
  lastPath = path;
  main.setAttribute("aria-busy", "true");
  try {
    await r.render(main, { params, query, user, current: () => seq === renderSeq });
  } catch (err) {
    if (seq !== renderSeq) return;
    replace(main, h("h1", { tabindex: "-1" }, title),
      h("p", { class: "error", role: "alert" }, errorText(err)));
  } finally {
    main.removeAttribute("aria-busy");
  }
  if (seq === renderSeq && !main.contains(document.activeElement)) {
    // Move focus to the new page's heading, so keyboards and screen readers start there.
    main.querySelector("h1")?.focus({ preventScroll: true });
  }
}

langSwitch.addEventListener("change", async () => {
  const chosen = await setLocale(langSwitch.value);
  const user = session()?.user;
  if (user) {
    try {
      updateUser(await api("/auth/me/locale", { method: "PUT", body: { locale: chosen } }));
    } catch (err) {
      flash(errorText(err), "error");
    }
  }
  route();
});

onSignedOut.addEventListener("signedout", () => {
  flash(t("app.session_ended"), "error");
  go("/login", { next: location.hash.slice(1) });
});
window.addEventListener("hashchange", route);
setLocale(preferred(session()?.user), { remember: false }).catch(() => {}).then(route);
