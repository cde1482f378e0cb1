// HTTP to /auth and /sync/v1 with fetch (docs/protocol.md §2). Types come from openapi.d.ts.

/** @typedef {import("./openapi").components["schemas"]} S */

/** An error answer `{code, message, details}` (docs/protocol.md §1). */
export class ServerError extends Error {
  /** @param {number} status @param {string} code @param {string} message @param {Record<string, any>} details @param {Headers} headers */
  constructor(status, code, message, details, headers) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

/** @param {Response} r */
export async function errorFrom(r) {
  let body = {};
  try {
    body = await r.json();
  } catch {
    /* not JSON */
  }
  return new ServerError(r.status, body.code ?? `http_${r.status}`, body.message ?? r.statusText, body.details ?? {}, r.headers);
}

export class Api {
  /** @param {string} baseUrl e.g. http://127.0.0.1:8000 @param {{load(): any, save(t: any): void}} tokenStore */
  constructor(baseUrl, tokenStore) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.tokens = tokenStore;
  }

  /** @returns {S["TokenPair"] | null} */
  get pair() {
    return this.tokens.load();
  }

  /** @param {string} path @param {RequestInit} init */
  raw(path, init = {}) {
    return fetch(this.baseUrl + path, init);
  }

  /**
   * An authorised request; on `401 token_expired` refreshes once and repeats it.
   * @param {string} method @param {string} path
   * @param {{json?: unknown, body?: Uint8Array, headers?: Record<string, string>}} [opts]
   * @returns {Promise<Response>} any status but 401 token_expired
   */
  async send(method, path, opts = {}) {
    for (let attempt = 0; ; attempt++) {
      const pair = this.pair;
      if (!pair) throw new ServerError(401, "not_logged_in", "Log in first.", {}, new Headers());
      const headers = { Accept: "application/json", Authorization: `Bearer ${pair.access_token}`, ...opts.headers };
      let body = opts.body;
      if (opts.json !== undefined) {
        headers["Content-Type"] = "application/json";
        body = Buffer.from(JSON.stringify(opts.json), "utf8");
      }
      const r = await this.raw(path, { method, headers, body });
      if (r.status === 401 && attempt === 0) {
        const err = await errorFrom(r.clone());
        if (err.code === "token_expired") {
          await this.refresh();
          continue;
        }
      }
      return r;
    }
  }

  /** JSON answer or ServerError. @param {string} method @param {string} path @param {unknown} [json] */
  async call(method, path, json) {
    const r = await this.send(method, path, json === undefined ? {} : { json });
    if (!r.ok) throw await errorFrom(r);
    return r.status === 204 ? null : r.json();
  }

  /** @param {string} username @param {string} password @param {string} [deviceId] @returns {Promise<S["TokenPair"]>} */
  async login(username, password, deviceId) {
    const body = { username, password, ...(deviceId ? { device_id: deviceId } : {}) };
    const r = await this.raw("/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw await errorFrom(r);
    const pair = await r.json();
    this.tokens.save(pair);
    return pair;
  }

  /** Rotates the pair (the old refresh token is spent). */
  async refresh() {
    const pair = this.pair;
    const r = await this.raw("/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ refresh_token: pair?.refresh_token }),
    });
    if (!r.ok) throw await errorFrom(r);
    const fresh = await r.json();
    this.tokens.save(fresh);
    return fresh;
  }

  /** @param {S["EnrollRequest"]} request @returns {Promise<S["EnrollResponse"]>} */
  enrol(request) {
    return this.call("POST", "/sync/v1/devices", request);
  }

  /** @param {string | null} cursor @param {number} limit @param {string} [deviceId] @returns {Promise<S["PullResponse"]>} */
  pull(cursor, limit, deviceId) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set("cursor", cursor);
    if (deviceId) q.set("device_id", deviceId);
    return this.call("GET", `/sync/v1/pull?${q}`);
  }

  /** @param {Record<string, unknown>} body @returns {Promise<S["PushResponse"]>} */
  push(body) {
    return this.call("POST", "/sync/v1/push", body);
  }
}
