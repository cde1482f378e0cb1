// The console's entry point. Pages are modules under pages/; each exports `page`
// ({path, title, nav?, roles, render(main, {params, query, user})}). To add a page (the
// auditor's callback queue, evidence view, scorecards), write its module and list it in
// PAGES: the router, the navigation, the sign-in check and the role check come with it.

import { onSignedOut, session, logout } from "./api.js";
import { h, replace, flash } from "./dom.js";
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
import * as trailPage from "./pages/trail.js";

const PAGES = [loginPage, boardPage, jobPage, customersPage, reportPage, callbacksPage,
  callbackPage, scorecardsPage, trailPage];
PAGES.forEach((m) => register(m.page));

const main = document.getElementById("main");
let renderSeq = 0;
let lastPath = null;

function renderChrome(user) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  const { path } = parse();
  replace(nav, user ? navRoutes().filter((r) => r.roles.includes(user.role)).map((r) =>
    h("a", { href: "#" + r.path, "aria-current": path.startsWith(r.path) ? "page" : null },
      r.nav)) : []);
  replace(who, user ? [
    h("span", {}, `${user.full_name} · ${roleName(user.role)}`),
    h("button", { type: "button", class: "link", id: "logout", onclick: async () => {
      await logout();
      go("/login");
    } }, "Sign out"),
  ] : []);
}

async function route() {
  const seq = ++renderSeq;
  const { path, query } = parse();
  const user = session()?.user || null;
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
  if (!r.public && !r.roles.includes(user.role)) {
    renderChrome(user);
    replace(main, h("h1", { tabindex: "-1" }, "Not for your role"),
      h("p", {}, `A ${roleName(user.role)} has no ${r.title} page.`));
    return;
  }
  document.title = `${r.title} · Doorstep`;
  renderChrome(user);
  if (path !== lastPath) flash(""); // a message outlives the re-render that follows it
  lastPath = path;
  main.setAttribute("aria-busy", "true");
  try {
    await r.render(main, { params, query, user, current: () => seq === renderSeq });
  } catch (err) {
    if (seq !== renderSeq) return;
    replace(main, h("h1", { tabindex: "-1" }, r.title),
      h("p", { class: "error", role: "alert" }, err.message || String(err),
        err.code ? ` (${err.code})` : ""));
  } finally {
    main.removeAttribute("aria-busy");
  }
  if (seq === renderSeq && !main.contains(document.activeElement)) {
    // Move focus to the new page's heading, so keyboards and screen readers start there.
    main.querySelector("h1")?.focus({ preventScroll: true });
  }
}

onSignedOut.addEventListener("signedout", () => {
  flash("Your session ended; sign in again.", "error");
  go("/login", { next: location.hash.slice(1) });
});
window.addEventListener("hashchange", route);
route();
