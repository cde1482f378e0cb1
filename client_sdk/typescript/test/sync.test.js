// The client against a real Doorstep server (test/server.js).
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Phone } from "../src/index.js";
import { PASSWORD, staff, startServer } from "./server.js";

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
