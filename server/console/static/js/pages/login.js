// Sign in with the API's accounts. Desk roles get the console; a technician is told to
// use the phone app and their new login is ended at once. The page is in the language
// chosen in this browser (zh-CN at first); once signed in, in the user's own.

import { login, logout, session } from "../api.js";
import { h, replace, field, errorText } from "../dom.js";
import { t, k, setLocale, preferred, locale } from "../i18n.js";
import { go } from "../router.js";
import { CONSOLE_ROLES, roleName, homeOf } from "../roles.js";

export const page = {
  path: "/login",
  title: k("login.title"),
  public: true,
  roles: [],
  render,
};

async function render(main, { query }) {
  const user = session()?.user;
  if (user && CONSOLE_ROLES.includes(user.role)) {
    go(query.next || homeOf(user));
    return;
  }
  const username = h("input", { name: "username", autocomplete: "username", required: true,
    autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { name: "password", type: "password", required: true,
    autocomplete: "current-password" });
  const message = h("p", { class: "error", role: "alert", id: "login-error" });
  const form = h("form", { class: "card narrow", id: "login-form", novalidate: true },
    field(t("login.username"), username), field(t("login.password"), password), message,
    h("button", { type: "submit", class: "primary" }, t("login.submit")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    message.textContent = "";
    if (!username.value || !password.value) {
      message.textContent = t("login.missing");
      (username.value ? password : username).focus();
      return;
    }
    form.setAttribute("aria-busy", "true");
    try {
      const who = await login(username.value.trim(), password.value);
      if (preferred(who) !== locale()) await setLocale(preferred(who));
      if (!CONSOLE_ROLES.includes(who.role)) {
        await logout();
        message.textContent = t("login.no_console", { role: roleName(who.role) });
        password.value = "";
        username.focus();
        return;
      }
      const next = query.next && !query.next.startsWith("/login") ? query.next : homeOf(who);
      location.hash = "#" + next;
    } catch (err) {
      message.textContent = errorText(err);
      password.select();
      password.focus();
    } finally {
      form.removeAttribute("aria-busy");
    }
  });
  replace(main, h("h1", { tabindex: "-1" }, t("login.heading")), form);
  username.focus();
}
