// The phone's persistent state in one JSON file, written atomically (temp file +
// rename): tokens, device and key, the outbox with its mid counter, the cursor and
// the documents. A real app would use SQLite; the rules are the same: the cursor is
// saved in the same write as the page's documents, and a mutation gets its mid when
// it is written to the outbox (docs/protocol.md §4, §5).
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

/**
 * @typedef {{
 *   tokens: any, device_id: string | null, seed_hex: string | null,
 *   next_mid: number, outbox: Array<Record<string, any>>,
 *   cursor: string | null, snapshot_seen: string[] | null,
 *   documents: Record<string, {type: string, id: string, version: number, doc: any}>
 * }} State
 */

/** @returns {State} */
const empty = () => ({
  tokens: null, device_id: null, seed_hex: null, next_mid: 1, outbox: [],
  cursor: null, snapshot_seen: null, documents: {},
});

export class FileStore {
  /** @param {string} path */
  constructor(path) {
    this.path = path;
    /** @type {State} */
    this.state = existsSync(path) ? { ...empty(), ...JSON.parse(readFileSync(path, "utf8")) } : empty();
  }

  /** Applies `change` to the state and writes it in one atomic step. @param {(s: State) => void} change */
  update(change) {
    const next = structuredClone(this.state);
    change(next);
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(next));
    renameSync(tmp, this.path);
    this.state = next;
  }

  /** The token store the Api uses. */
  tokenStore() {
    return { load: () => this.state.tokens, save: (/** @type {any} */ t) => this.update((s) => { s.tokens = t; }) };
  }
}
