// The client against a real Doorstep server (test/server.js).
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { randomUUID } from "node:crypto";
import { Phone, reportSha256 } from "../src/index.js";
import { jpeg, PASSWORD, staff, startServer, waitFor } from "./server.js";

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
const dir = mkdtempSync(join(tmpdir(), "doorstep-phone-"));
before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

/** @param {string} name */
async function newPhone(name, user = "tech1") {
  const phone = new Phone(server.url, join(dir, `${name}.json`));
  await phone.login(user, PASSWORD);
  await phone.enrol(name);
  return phone;
}

test("first sync: enrol, device-bound login, paged snapshot, then nothing new", async () => {
  const phone = await newPhone("first");
  assert.match(phone.deviceId ?? "", /^[0-9a-f-]{36}$/);
  const me = await phone.api.call("GET", "/auth/me");
  assert.equal(me.username, "tech1");
  const n = await phone.pull(1); // one document per page: every page goes through the cursor
  const packets = phone.documents("job_packet");
  assert.ok(packets.length >= 1, "tech1 holds job packets");
  assert.equal(n, Object.keys(phone.store.state.documents).length);
  assert.ok(packets.every((p) => p.job.technician_id === undefined || typeof p.job.id === "string"));
  assert.equal(await phone.pull(), 0, "an incremental pull with nothing new has no ops");
  assert.equal(phone.lastPull?.last_applied_mid, 0);
});

/** A job of the phone's packets the technician can still work on. @param {Phone} phone */
function openJob(phone, skip = 0) {
  const open = phone.documents("job_packet").filter((p) => ["assigned", "acknowledged"].includes(p.job.status));
  assert.ok(open.length > skip, "an open job in the packets");
  return open[skip];
}

test("a day offline: visit, calls, photos, report and sign-off pushed at once; resends are duplicates", async () => {
  const phone = await newPhone("day");
  await phone.pull();
  const packet = openJob(phone);
  const job = packet.job.id;
  const { latitude, longitude } = packet.customer;
  const at = (/** @type {number} */ min) => new Date(Date.UTC(2026, 11, 2, 1, min)).toISOString();
  const photos = { door: jpeg(1), after: jpeg(2) };
  const sha = { door: "", after: "" };
  if (packet.job.status === "assigned") phone.record("job.acknowledge", job, {}, { deviceTime: at(0) });
  phone.record("job.call_attempt", job, { call_id: randomUUID(), started_at: at(1), outcome: "answered", duration_s: 42 }, { deviceTime: at(1) });
  phone.record("job.en_route", job, {}, { deviceTime: at(2) });
  phone.record("job.check_in", job, { checkin_id: randomUUID(), latitude, longitude, accuracy_m: 8, fix_time: at(30), location_provider: "gps" }, { deviceTime: at(30) });
  for (const kind of /** @type {const} */ (["door", "after"])) {
    const up = await phone.upload(photos[kind], "image/jpeg", { chunk: 700 });
    assert.ok(up.complete);
    sha[kind] = up.sha256;
  }
  const doorId = randomUUID();
  const afterId = randomUUID();
  phone.record("job.photo", job, { photo_id: doorId, sha256: sha.door, kind: "door" }, { deviceTime: at(31) });
  phone.record("job.start_work", job, {}, { deviceTime: at(32) });
  phone.record("job.note", job, { note_id: randomUUID(), text: "客户在家, 更换点火器 / igniter replaced" }, { deviceTime: at(40) });
  phone.record("job.photo", job, { photo_id: afterId, sha256: sha.after, kind: "after" }, { deviceTime: at(70) });
  const report = {
    report_id: randomUUID(), work_done: "换了点火器", parts: [{ name: "点火器 Igniter", quantity: 1, code: "IG-2" }],
    charges: [{ code: "visit_fee", amount: 3000 }], checklist: {}, photos: { door: [doorId], after: [afterId] },
  };
  phone.record("job.report", job, report, { deviceTime: at(75) });
  phone.record("job.sign_off", job, { sign_off_id: randomUUID(), signer_name: "王先生", report_sha256: reportSha256(report), signed_at: at(76), strokes: [[[10, 10, 0], [40, 22, 120], [80, 15, 260]]] }, { deviceTime: at(76) });
  phone.record("job.check_out", job, { checkin_id: randomUUID(), latitude, longitude, accuracy_m: 10 }, { deviceTime: at(80) });
  phone.record("job.complete", job, { summary: "done" }, { deviceTime: at(81) });
  const sent = structuredClone(phone.outbox);
  assert.deepEqual(sent.map((m) => m.mid), sent.map((_, i) => i + 1), "mids 1, 2, 3… with no gaps");

  // The first push's answer is lost on the way back: the outbox keeps everything.
  phone.sendPush = async (body) => { await phone.api.push(body); throw new Error("connection reset"); };
  await assert.rejects(phone.push(), /connection reset/);
  assert.equal(phone.outbox.length, sent.length);
  phone.sendPush = (body) => phone.api.push(body);
  const outcomes = await phone.push();
  assert.deepEqual(outcomes.map((o) => o.status), sent.map(() => "duplicate"), JSON.stringify(outcomes));
  assert.ok(outcomes.every((o) => ["applied", "resolved"].includes(o.first_status)), JSON.stringify(outcomes));
  assert.equal(phone.outbox.length, 0);

  // Resending the same signed bytes once more: duplicates again, nothing applied twice.
  const again = await phone.api.push({ device_id: phone.deviceId, schema_version: 1, device_time: new Date().toISOString(), mutations: sent });
  assert.deepEqual(again.outcomes.map((o) => o.status), sent.map(() => "duplicate"));
  assert.equal(again.last_applied_mid, sent.length);

  await phone.pull();
  const mine = phone.documents("job_packet").find((p) => p.job.id === job);
  const desk = await staff(server.url, "dispatcher");
  const onServer = await (await fetch(`${server.url}/jobs/${job}`, { headers: desk })).json();
  assert.equal(onServer.status, "completed");
  assert.ok(!mine || mine.job.status === "completed", "the packet shows the server's truth");
  const blob = await phone.api.send("GET", `/sync/v1/blobs/${sha.after}`);
  assert.deepEqual(Buffer.from(await blob.arrayBuffer()), photos.after);
});

test("resumable upload: a dropped link resumes at the server's offset", async () => {
  const phone = await newPhone("blob");
  const bytes = jpeg(3);
  const first = await phone.upload(bytes, "image/jpeg", { chunk: 256, stopAfterChunks: 2 });
  assert.equal(first.complete, false);
  assert.equal(first.sent, 512);
  const rest = await phone.upload(bytes, "image/jpeg", { chunk: 256 });
  assert.ok(rest.complete);
  assert.equal(rest.sent, bytes.length - 512, "only the missing bytes are sent");
  const again = await phone.upload(bytes, "image/jpeg");
  assert.equal(again.sent, 0, "a complete blob is not sent again");
});

test("mid_gap: a push starting past the server's next mid is refused; the full outbox then applies", async () => {
  const phone = await newPhone("gap", "tech2");
  await phone.pull();
  const job = openJob(phone).job.id;
  const notes = [1, 2, 3].map((i) => phone.record("job.note", job, { note_id: randomUUID(), text: `note ${i}` }));
  await assert.rejects(
    phone.api.push({ device_id: phone.deviceId, schema_version: 1, device_time: new Date().toISOString(), mutations: [notes[2]] }),
    (/** @type {any} */ e) => e.status === 409 && e.code === "mid_gap" && e.details.expected_mid === 1,
  );
  await assert.rejects(
    phone.api.push({ device_id: phone.deviceId, schema_version: 1, device_time: new Date().toISOString(), mutations: [notes[0], notes[2]] }),
    (/** @type {any} */ e) => e.status === 422 && e.code === "mids_not_consecutive",
  );
  const outcomes = await phone.push();
  assert.deepEqual(outcomes.map((o) => [o.mid, o.status]), [[1, "applied"], [2, "applied"], [3, "applied"]]);

  // A phone restored from an old backup lost mids 4 and 5: it cannot resend them.
  phone.record("job.note", job, { note_id: randomUUID(), text: "4" });
  phone.record("job.note", job, { note_id: randomUUID(), text: "5" });
  phone.store.update((s) => { s.outbox = s.outbox.slice(1); });
  await assert.rejects(phone.push(), /mid_gap.*expects mid 4.*re-enrol/);
});

test("unsigned and badly signed mutations from a keyed device", async () => {
  const phone = await newPhone("unsigned", "tech2");
  await phone.pull();
  const job = openJob(phone).job.id;
  const m = phone.record("job.note", job, { note_id: randomUUID(), text: "signed" });
  const { signature, ...unsigned } = m;
  const bad = { ...m, signature: Buffer.alloc(64).toString("base64") };
  const body = (/** @type {any[]} */ ms) => ({ device_id: phone.deviceId, schema_version: 1, device_time: new Date().toISOString(), mutations: ms });
  const forged = await phone.api.push(body([bad]));
  assert.deepEqual(forged.outcomes.map((o) => [o.status, o.code]), [["rejected", "bad_signature"]]);
  assert.equal(forged.last_applied_mid, 0, "a forged mutation does not use up its mid");
  const none = await phone.api.push(body([unsigned]));
  assert.deepEqual(none.outcomes.map((o) => [o.status, o.code]), [["rejected", "signature_required"]]);
  assert.equal(none.last_applied_mid, 1);
  assert.ok(signature);
});

test("event stream: a poke on connect and one after the bucket changes", async () => {
  const phone = await newPhone("events");
  await phone.pull();
  const job = openJob(phone, 1).job.id;
  let pokes = 0;
  let heartbeats = 0;
  const stop = new AbortController();
  const stream = phone.listen({ onPoke: () => pokes++, onHeartbeat: () => heartbeats++, signal: stop.signal, heartbeat: 1 });
  try {
    await waitFor(() => pokes >= 1, "the first poke");
    await waitFor(() => heartbeats >= 1, "a heartbeat");
    const before = pokes;
    phone.record("job.en_route", job, {}); // a status change: the packet, so the bucket, changes
    await phone.push();
    await waitFor(() => pokes > before, "a poke after the push");
    assert.ok((await phone.pull()) >= 1, "the poke announced a change to pull");
  } finally {
    stop.abort();
    await stream.catch(() => {});
  }
});

test("reset: a cursor behind the compacted log starts a new snapshot", async () => {
  const small = await startServer({ extraEnv: { DOORSTEP_BUCKET_LOG_KEEP: "1", DOORSTEP_MAINTENANCE_INTERVAL: "1" } });
  try {
    const phone = new Phone(small.url, join(dir, "reset.json"));
    await phone.login("tech1", PASSWORD);
    await phone.enrol("reset");
    await phone.pull();
    const held = Object.keys(phone.store.state.documents).length;
    const stale = phone.store.state.cursor;
    const job = openJob(phone).job.id;
    // Status changes move the bucket (notes are facts kept beside the packet).
    // One push moves the bucket one version; three pushes put the cursor behind the
    // kept log (DOORSTEP_BUCKET_LOG_KEEP=1).
    if (openJob(phone).job.status === "assigned") phone.record("job.acknowledge", job, {});
    phone.record("job.en_route", job, {});
    await phone.push();
    phone.record("job.check_in", job, { checkin_id: randomUUID() });
    await phone.push();
    phone.record("job.start_work", job, {});
    await phone.push();
    await waitFor(async () => (await phone.api.pull(stale, 10, phone.deviceId ?? undefined)).reset, "the log to be compacted");
    phone.record("job.note", job, { note_id: randomUUID(), text: "pending at reset" });
    await phone.pull();
    assert.equal(phone.resets, 1);
    assert.equal(phone.outbox.length, 0, "pending mutations were pushed before dropping the documents");
    assert.equal(Object.keys(phone.store.state.documents).length, held, "the snapshot brought the bucket back");
    assert.equal(await phone.pull(), 0);
  } finally {
    await small.close();
  }
});
