// Ed25519 keys and `ed25519-jcs` signatures with node:crypto (docs/protocol.md §3, §6).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { canonicalBytes } from "./jcs.js";

export const SIGNATURE_ALG = "ed25519-jcs";
// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410).
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** @typedef {{ seed: Buffer, publicKey: string }} DeviceKey  seed: the raw private key; publicKey: base64 of the raw 32 bytes */

/** @returns {DeviceKey} a new key pair (a real phone keeps the seed in the Keystore/Keychain). */
export function generateKey() {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  return keyFromSeed(Buffer.from(/** @type {string} */ (jwk.d), "base64url"));
}

/** @param {Buffer} seed @returns {DeviceKey} */
export function keyFromSeed(seed) {
  if (seed.length !== 32) throw new TypeError("an Ed25519 seed is 32 bytes");
  const pub = createPublicKey(privateKeyObject(seed)).export({ format: "jwk" });
  return { seed, publicKey: Buffer.from(/** @type {string} */ (pub.x), "base64url").toString("base64") };
}

/** @param {Buffer} seed */
function privateKeyObject(seed) {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
}

/**
 * The signing input: the JCS bytes of the mutation without `signature`.
 * @param {Record<string, unknown>} mutation
 */
export function signingInput(mutation) {
  const { signature: _drop, ...rest } = mutation;
  return canonicalBytes(rest);
}

/**
 * `mutation` with its `signature` (standard base64 of the 64-byte Ed25519 signature).
 * @template {Record<string, unknown>} M
 * @param {M} mutation @param {Buffer} seed @returns {M & {signature: string}}
 */
export function signMutation(mutation, seed) {
  const signature = sign(null, signingInput(mutation), privateKeyObject(seed)).toString("base64");
  return { ...mutation, signature };
}

/** @param {Record<string, unknown>} mutation @param {string} publicKey base64 raw key */
export function verifyMutation(mutation, publicKey) {
  const key = createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKey, "base64").toString("base64url") },
    format: "jwk",
  });
  return verify(null, signingInput(mutation), key, Buffer.from(String(mutation.signature), "base64"));
}

/**
 * `report_sha256` of a job.report's args: SHA-256 (hex) of the JCS bytes without
 * `report_id`, every field present with its default (docs/protocol.md §7).
 * @param {{report_id?: string, work_done?: string, parts?: Array<{name: string, quantity?: number, code?: string, unit_price?: number}>, charges?: Array<{code: string, amount: number, label?: string}>, checklist?: Record<string, boolean>, photos?: Record<string, string[]>}} args
 */
export function reportSha256(args) {
  const full = {
    work_done: args.work_done ?? "",
    parts: (args.parts ?? []).map((p) => ({ name: p.name, quantity: p.quantity ?? 1, code: p.code ?? "", unit_price: p.unit_price ?? 0 })),
    charges: (args.charges ?? []).map((c) => ({ code: c.code, amount: c.amount, label: c.label ?? "" })),
    checklist: args.checklist ?? {},
    photos: args.photos ?? {},
  };
  return createHash("sha256").update(canonicalBytes(full)).digest("hex");
}
