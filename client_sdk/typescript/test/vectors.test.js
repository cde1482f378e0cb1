// The client checked against docs/protocol/vectors/ (the same files the Python suite uses).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { canonicalize } from "../src/jcs.js";
import { keyFromSeed, reportSha256, signMutation, signingInput, verifyMutation } from "../src/signing.js";

const vectors = new URL("../../../docs/protocol/vectors/", import.meta.url);
const load = (name) => JSON.parse(readFileSync(new URL(name, vectors), "utf8"));

test("canonicalization vectors", () => {
  const v = load("canonicalization.json");
  assert.ok(v.cases.length >= 10);
  for (const c of v.cases) {
    const out = canonicalize(JSON.parse(c.input));
    assert.equal(out, c.canonical, c.name);
    assert.equal(Buffer.from(out, "utf8").toString("hex"), c.canonical_hex, c.name);
  }
  // Integers beyond ±(2^53 − 1) lose digits when parsed: their canonical form is not
  // the text that was meant, which is why a phone must never sign one.
  for (const c of v.not_canonical) assert.notEqual(canonicalize(JSON.parse(c.input)), c.input, c.name);
});

test("signature vectors", () => {
  const v = load("signatures.json");
  assert.equal(v.algorithm, "ed25519-jcs");
  const key = keyFromSeed(Buffer.from(v.seed_hex, "hex"));
  assert.equal(key.publicKey, v.public_key);
  for (const c of v.cases) {
    assert.equal(signingInput(c.mutation).toString("utf8"), c.signing_input, c.name);
    const signed = signMutation(c.mutation, key.seed);
    assert.equal(signed.signature, c.signature, c.name);
    assert.ok(verifyMutation(signed, key.publicKey));
    assert.ok(verifyMutation(JSON.parse(c.sent), key.publicKey), `${c.name}: sent form verifies`);
    assert.ok(!verifyMutation({ ...signed, base_version: 99 }, key.publicKey));
  }
});

test("report_sha256 vectors", () => {
  for (const c of load("report_sha256.json").cases) {
    assert.equal(reportSha256(c.args), c.report_sha256, c.name);
  }
});
