// A technician's phone: enrol, login, signed outbox, push then pull (docs/protocol.md).
import { randomUUID } from "node:crypto";
import { Api, ServerError } from "./api.js";
import { uploadBlob } from "./blobs.js";
import { listen } from "./events.js";
import { generateKey, SIGNATURE_ALG, signMutation } from "./signing.js";
import { FileStore } from "./store.js";

/** Raised on `bad_signature`: the app's signing is broken; stop pushing and report. */
export class SignatureRejected extends Error {}

const PUSH_MAX = 200;
const key = (/** @type {string} */ type, /** @type {string} */ id) => `${type}/${id}`;

export class Phone {
  /** @param {string} baseUrl @param {string} statePath the JSON file holding the phone's state */
  constructor(baseUrl, statePath) {
    this.store = new FileStore(statePath);
    this.api = new Api(baseUrl, this.store.tokenStore());
    /** @type {(body: Record<string, unknown>) => Promise<any>} replaceable in tests (a lost answer) */
    this.sendPush = (body) => this.api.push(body);
  }

  get deviceId() {
    return this.store.state.device_id;
  }

  /** Logs in (device-bound once enrolled). @param {string} username @param {string} password */
  async login(username, password) {
    this.credentials = { username, password };
    return this.api.login(username, password, this.deviceId ?? undefined);
  }

  /** Once per installation: a new Ed25519 key, enrolled; then a device-bound login. */
  async enrol(label = "TypeScript phone", platform = "android", appVersion = "0.1.0") {
    const k = generateKey();
    const answer = await this.api.enrol({
      label, platform, app_version: appVersion, public_key: k.publicKey, signature_alg: SIGNATURE_ALG,
    });
    this.store.update((s) => {
      s.device_id = answer.device_id;
      s.seed_hex = k.seed.toString("hex");
      s.next_mid = answer.last_applied_mid + 1;
    });
    if (this.credentials) await this.login(this.credentials.username, this.credentials.password);
    return answer;
  }

  /** The documents held, by type. @param {string} type */
  documents(type) {
    return Object.values(this.store.state.documents).filter((d) => d.type === type).map((d) => d.doc);
  }

  get outbox() {
    return this.store.state.outbox;
  }

  /**
   * Writes a mutation to the outbox: numbered (next mid), timestamped and signed now,
   * so a resend is byte-for-byte the same mutation. Returns it.
   * @param {string} name @param {string} jobId @param {Record<string, unknown>} args
   * @param {{baseVersion?: number, deviceTime?: string}} [opts]
   */
  record(name, jobId, args, opts = {}) {
    const seed = this.store.state.seed_hex;
    if (!seed || !this.deviceId) throw new Error("enrol first");
    const job = this.documents("job_packet").find((p) => p.job.id === jobId);
    /** @type {Record<string, unknown>} */
    let m = {};
    this.store.update((s) => {
      m = {
        mid: s.next_mid,
        id: randomUUID(),
        name,
        job_id: jobId,
        args,
        device_time: opts.deviceTime ?? new Date().toISOString(),
        base_version: opts.baseVersion ?? job?.job.version ?? 0,
      };
      m = signMutation(m, Buffer.from(seed, "hex"));
      s.next_mid += 1;
      s.outbox.push(m);
    });
    return m;
  }

  /**
   * Sends the outbox (in batches of 200) until it is empty. Returns every outcome.
   * `mid_gap` resends from the server's `expected_mid`; `retry_after` stops early.
   */
  async push() {
    /** @type {any[]} */
    const outcomes = [];
    for (let rounds = 0; this.outbox.length && rounds < 1000; rounds++) {
      const batch = this.outbox.slice(0, PUSH_MAX);
      let answer;
      try {
        answer = await this.sendPush({
          device_id: this.deviceId, schema_version: 1, device_time: new Date().toISOString(), mutations: batch,
        });
      } catch (e) {
        if (e instanceof ServerError && e.code === "mid_gap") {
          const expected = Number(e.details.expected_mid);
          const have = this.outbox[0]?.mid;
          if (have === undefined || have > expected) {
            throw new Error(`mid_gap: the server expects mid ${expected}, this outbox starts at ${have}: re-enrol`);
          }
          this.store.update((s) => { s.outbox = s.outbox.filter((x) => x.mid >= expected); });
          continue;
        }
        throw e;
      }
      outcomes.push(...answer.outcomes);
      const bad = answer.outcomes.find((/** @type {any} */ o) => o.code === "bad_signature");
      const done = new Set(answer.outcomes.filter((/** @type {any} */ o) => o.code !== "bad_signature").map((/** @type {any} */ o) => o.mid));
      this.store.update((s) => {
        s.outbox = s.outbox.filter((x) => !done.has(x.mid) && x.mid > answer.last_applied_mid);
      });
      if (bad) throw new SignatureRejected(`mid ${bad.mid}: ${bad.message}`);
      if (answer.retry_after) break;
    }
    return outcomes;
  }

  /**
   * Pulls until `has_more` is false. Handles `reset` and refused cursors by starting
   * a snapshot again. Returns the number of ops applied.
   * @param {number} [limit]
   */
  async pull(limit = 200) {
    let applied = 0;
    for (;;) {
      let page;
      try {
        page = await this.api.pull(this.store.state.cursor, limit, this.deviceId ?? undefined);
      } catch (e) {
        if (e instanceof ServerError && (e.code === "cursor_invalid" || e.code === "cursor_foreign")) {
          this.store.update((s) => { s.cursor = null; s.snapshot_seen = null; });
          continue;
        }
        throw e;
      }
      if (page.reset) {
        // Push what is pending, drop documents and cursor, pull a snapshot.
        if (this.outbox.length) await this.push();
        this.store.update((s) => { s.cursor = null; s.documents = {}; s.snapshot_seen = null; });
        this.resets = (this.resets ?? 0) + 1;
        continue;
      }
      const snapshot = this.store.state.cursor === null || this.store.state.snapshot_seen !== null;
      this.store.update((s) => {
        if (snapshot) s.snapshot_seen ??= [];
        for (const op of page.ops) {
          const k = key(op.type, op.id);
          if (op.op === "put") s.documents[k] = { type: op.type, id: op.id, version: op.version, doc: op.doc };
          else delete s.documents[k];
          if (snapshot) s.snapshot_seen?.push(k);
        }
        if (snapshot && !page.has_more) {
          const seen = new Set(s.snapshot_seen);
          for (const k of Object.keys(s.documents)) if (!seen.has(k)) delete s.documents[k];
          s.snapshot_seen = null;
        }
        s.cursor = page.cursor;
      });
      applied += page.ops.length;
      this.lastPull = page;
      if (!page.has_more) return applied;
    }
  }

  /** One sync: push, then pull. */
  async sync() {
    const outcomes = await this.push();
    await this.pull();
    return outcomes;
  }

  /** @param {Uint8Array} bytes @param {string} contentType @param {Parameters<typeof uploadBlob>[3]} [opts] */
  upload(bytes, contentType, opts) {
    return uploadBlob(this.api, bytes, contentType, opts);
  }

  /** @param {Parameters<typeof listen>[1]} opts */
  listen(opts) {
    return listen(this.api, opts);
  }
}
