// The JSON API with the signed-in user's tokens. Tokens live in sessionStorage (this tab
// only, gone when it closes); no cookies, so no cross-site request can act for the user.
// Every request says the page's language, so the API's messages come in it.

import { locale } from "./i18n.js";

const KEY = "doorstep.session";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || "http_" + status;
    this.details = body?.details || {};
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

function save(pair) {
  sessionStorage.setItem(
    KEY,
    JSON.stringify({
      access: pair.access_token,
      refresh: pair.refresh_token,
      user: pair.user,
    }),
  );
}

/** The signed-in user as the API last described them (e.g. a new locale). */
export function updateUser(user) {
  const s = session();
  if (!s) return;
  sessionStorage.setItem(KEY, JSON.stringify({ ...s, user }));
}

export function forget() {
  sessionStorage.removeItem(KEY);
}

async function send(method, path, body, token) {
  const headers = { Accept: "application/json", "Accept-Language": locale() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, body);
}

export async function login(username, password) {
  const res = await send("POST", "/auth/login", { username, password });
  if (!res.ok) throw await errorOf(res);
  const pair = await res.json();
  save(pair);
  return pair.user;
}

export async function logout() {
  const s = session();
  forget();
  if (s?.refresh) {
    try {
      await send("POST", "/auth/logout", { refresh_token: s.refresh });
    } catch {
      /* offline: the refresh token expires on its own */
    }
  }
}

let refreshing = null;

async function refresh() {
  // One refresh at a time: refresh tokens are single use.
  if (!refreshing) {
    refreshing = (async () => {
      const s = session();
      if (!s?.refresh) return false;
      const res = await send("POST", "/auth/refresh", { refresh_token: s.refresh });
      if (!res.ok) {
        forget();
        return false;
      }
      save(await res.json());
      return true;
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

export const onSignedOut = new EventTarget();

async function authed(method, path, body) {
  let res = await send(method, path, body, session()?.access);
  if (res.status === 401 && (await refresh())) {
    res = await send(method, path, body, session()?.access);
  }
  if (res.status === 401) {
    forget();
    onSignedOut.dispatchEvent(new Event("signedout"));
  }
  return res;
}

export function withQuery(path, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === "") continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, one);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** JSON from the API; throws ApiError with the API's code and message. */
export async function api(path, { method = "GET", body, query } = {}) {
  const res = await authed(method, withQuery(path, query), body);
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return null;
  return res.json();
}

/** A non-JSON resource (a report page, an image) fetched with the bearer token. */
export async function fetchAuthed(path) {
  const res = await authed("GET", path);
  if (!res.ok) throw await errorOf(res);
  return res;
}
