// RFC 8785 (JSON Canonicalization Scheme), the signing input of `ed25519-jcs`.
//
// Written here rather than taken from npm: RFC 8785 defines its string and number
// forms as ECMAScript's JSON.stringify, so in JavaScript the whole scheme is "sort the
// members by UTF-16 code units, at every level" (Array.prototype.sort's default order
// on strings is exactly that). 30 lines checked against docs/protocol/vectors/ beat a
// dependency. A Kotlin or Swift phone should use an RFC 8785 library instead.

/**
 * The canonical JSON text of `value` (encode it as UTF-8 to sign or hash it).
 * @param {unknown} value
 * @returns {string}
 */
export function canonicalize(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") {
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("JCS: NaN and Infinity have no JSON form");
    return JSON.stringify(value); // -0 → "0", 1e21 → "1e+21", 5.0 → "5"
  }
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(",")}]`;
  if (typeof value === "object") {
    const obj = /** @type {Record<string, unknown>} */ (value);
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(obj[k])}`).join(",")}}`;
  }
  throw new TypeError(`JCS: ${typeof value} has no JSON form`);
}

/**
 * The UTF-8 bytes of the canonical form.
 * @param {unknown} value
 * @returns {Buffer}
 */
export function canonicalBytes(value) {
  return Buffer.from(canonicalize(value), "utf8");
}
