// Hash routes: "#/jobs/<id>?tab=x". Each page module registers {path, title, roles, render}.

const routes = [];

export function register(page) {
  const names = [];
  const re = new RegExp(
    "^" + page.path.replace(/:([a-z_]+)/g, (_, n) => (names.push(n), "([^/]+)")) + "$",
  );
  routes.push({ ...page, re, names });
}

export function parse(hash = location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const [path, qs] = raw.split("?");
  return { path, query: Object.fromEntries(new URLSearchParams(qs || "")) };
}

export function match(path) {
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) {
      const params = {};
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
      return { route: r, params };
    }
  }
  return null;
}

export function go(path, query) {
  const qs = new URLSearchParams(
    Object.entries(query || {}).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  ).toString();
  const hash = "#" + path + (qs ? "?" + qs : "");
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

export const navRoutes = () => routes.filter((r) => r.nav);
