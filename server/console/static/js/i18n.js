// The console's languages: zh-CN (the brand's default) and en.
//
// Sentences of the console live in JSON catalogs a translator edits
// (console/static/i18n/<locale>.json, flat "page.key": "text" with {name} placeholders).
// Labels of codes (job kinds, statuses, outcomes, risk factors, rules…) come from the
// server's .po catalogs through GET /i18n/labels, so the console, the service report and
// the messages use the same words.
//
// In JS: t("board.title"), t("board.showing", {shown: 3, total: 9}); code("job_status", s).
// In HTML: <span data-i18n="app.loading"></span>, data-i18n-aria-label="nav.label".
// A key written k("…") is translated later (page titles, built before the catalog loads).
// tests/test_console.py fails on a key used here but missing from a catalog.

export const LOCALES = ["zh-CN", "en"];
export const DEFAULT_LOCALE = "zh-CN";
const PREF = "doorstep.locale";

let current = DEFAULT_LOCALE;
let strings = {};
let labels = {};
const loaded = new Map(); // locale -> {strings, labels}

/** The locale of the page. */
export const locale = () => current;

/** Marks a key to translate later, where it is shown. */
export const k = (key) => key;

function fill(text, params) {
  if (!params) return text;
  return text.replace(/\{([a-z_]+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** The sentence `key` in the page's locale, placeholders filled. */
export function t(key, params) {
  const text = strings[key];
  return fill(text === undefined ? key : text, params);
}

/** A code as people read it ("repair" → "维修"); an unknown code reads as itself. */
export function code(context, value) {
  if (value === undefined || value === null || value === "") return "—";
  const found = context ? labels[context]?.[value] : undefined;
  return found === undefined ? String(value).replaceAll("_", " ") : found;
}

/** The locale a tag means ("zh", "zh_TW", "en-GB"), or null. */
export function match(tag) {
  const s = String(tag || "").toLowerCase().replace("_", "-");
  if (s.startsWith("zh")) return "zh-CN";
  if (s === "en" || s.startsWith("en-")) return "en";
  return null;
}

/** What a page shows before and after sign-in: the user's saved choice, else the choice
 * made in this browser, else the brand's default. Never the browser's language: desks
 * of this brand read Chinese unless someone chooses otherwise. */
export function preferred(user) {
  let stored = null;
  try {
    stored = localStorage.getItem(PREF);
  } catch {
    /* storage blocked */
  }
  return match(user?.locale) || match(stored) || DEFAULT_LOCALE;
}

async function fetchJson(url) {
  const res = await fetch(url, { headers: { Accept: "application/json" }, credentials: "omit" });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

async function load(loc) {
  if (!loaded.has(loc)) {
    const [s, l] = await Promise.all([
      fetchJson(new URL(`../i18n/${loc}.json`, import.meta.url)),
      fetchJson(`/i18n/labels?lang=${encodeURIComponent(loc)}`).then((x) => x.labels,
        () => ({})), // without labels, codes read as themselves
    ]);
    loaded.set(loc, { strings: s, labels: l });
  }
  return loaded.get(loc);
}

/** Switch the page to `loc`: catalogs, <html lang>, the static text. */
export async function setLocale(loc, { remember = true } = {}) {
  const next = match(loc) || DEFAULT_LOCALE;
  const c = await load(next);
  current = next;
  strings = c.strings;
  labels = c.labels;
  document.documentElement.lang = next;
  if (remember) {
    try {
      localStorage.setItem(PREF, next);
    } catch {
      /* storage blocked */
    }
  }
  translate(document);
  return next;
}

/** Fill every element marked data-i18n (text) or data-i18n-<attribute>. */
export function translate(root) {
  root.querySelectorAll("[data-i18n]").forEach((el) => (el.textContent = t(el.dataset.i18n)));
  for (const attr of ["aria-label", "title", "placeholder"]) {
    const name = `data-i18n-${attr}`;
    root.querySelectorAll(`[${name}]`).forEach((el) => el.setAttribute(attr, t(el.getAttribute(name))));
  }
}
