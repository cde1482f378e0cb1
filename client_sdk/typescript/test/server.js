// A real Doorstep server for the tests: migrate + demo data into a temp data dir (its
// SQLite database and blob store), then `doorstep serve` on a free 127.0.0.1 port in a
// process group of its own, killed whatever happens.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const doorstep = process.env.DOORSTEP_BIN ?? join(root, ".venv/bin/doorstep");
export const PASSWORD = "doorstep-demo";

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (s.address());
      s.close(() => ok(port));
    });
  });
}

export async function startServer({ deadlineMs = 90_000, extraEnv = {} } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "doorstep-ts-"));
  const env = {
    ...process.env,
    DOORSTEP_DATA_DIR: dataDir,
    DOORSTEP_DATABASE_URL: "",
    DOORSTEP_OUTBOX_INTERVAL: "0",
    DOORSTEP_MAINTENANCE_INTERVAL: "0",
    DOORSTEP_PASSWORD_TIME_COST: "1",
    DOORSTEP_PASSWORD_MEMORY_KIB: "8",
    // no 503 retry_later from a loaded test machine (admission control's loop-lag shedding)
    DOORSTEP_ADMISSION_MAX_LOOP_LAG_MS: "0",
    ...extraEnv,
  };
  const opts = { env, cwd: root, stdio: /** @type {const} */ (["ignore", "ignore", "pipe"]) };
  execFileSync(doorstep, ["migrate"], opts);
  execFileSync(doorstep, ["demo-data", "--cities", "1", "--providers-per-city", "1", "--technicians-per-provider", "2",
    "--customers-per-city", "4", "--days", "2", "--jobs-per-technician-per-day", "2"], opts);
  const port = await freePort();
  const log = join(dataDir, "server.log");
  const child = spawn("sh", ["-c", `exec "$0" serve --host 127.0.0.1 --port ${port} --log-level warning >"$1" 2>&1`, doorstep, log], {
    env, cwd: root, detached: true, stdio: "ignore",
  });
  const stop = () => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  };
  process.once("exit", stop);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null) {
      stop();
      throw new Error(`server exited: ${readFileSync(log, "utf8").slice(-2000)}`);
    }
    try {
      if ((await fetch(`${url}/health`)).status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      stop();
      throw new Error("server did not start in time");
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    dataDir,
    async close() {
      stop();
      await new Promise((r) => setTimeout(r, 100));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Bearer headers of a staff login. @param {string} url @param {string} username */
export async function staff(url, username) {
  const r = await fetch(`${url}/auth/login`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password: PASSWORD }),
  });
  if (!r.ok) throw new Error(`login ${username}: ${r.status} ${await r.text()}`);
  return { Authorization: `Bearer ${(await r.json()).access_token}`, "Content-Type": "application/json" };
}

/** A small real JPEG (made with the server's own Pillow). @param {number} seed */
export function jpeg(seed) {
  const py = join(root, ".venv/bin/python");
  const code = `import io,sys;from PIL import Image;b=io.BytesIO();Image.effect_noise((160,120),40+${seed % 50}).convert("RGB").save(b,"JPEG",quality=90);sys.stdout.buffer.write(b.getvalue())`;
  return execFileSync(py, ["-c", code]);
}

/** Resolves when `check()` is true; fails after `ms` (a generous deadline, not a timing assertion). */
export async function waitFor(check, what, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
