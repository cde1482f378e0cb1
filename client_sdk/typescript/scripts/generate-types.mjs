// Regenerates src/openapi.d.ts from the server's OpenAPI document
// (`doorstep openapi`, then openapi-typescript). `--check`: fail if the committed file is stale.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "..");
const root = resolve(pkg, "../..");
const doorstep = process.env.DOORSTEP_BIN ?? join(root, ".venv/bin/doorstep");
const target = join(pkg, "src/openapi.d.ts");
const tmp = mkdtempSync(join(tmpdir(), "doorstep-types-"));
try {
  const doc = join(tmp, "openapi.json");
  execFileSync(doorstep, ["openapi", "-o", doc], {
    env: { ...process.env, DOORSTEP_DATA_DIR: join(tmp, "data") },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const out = join(tmp, "openapi.d.ts");
  execFileSync(join(pkg, "node_modules/.bin/openapi-typescript"), [doc, "-o", out], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const fresh = readFileSync(out, "utf8");
  if (process.argv.includes("--check")) {
    if (readFileSync(target, "utf8") !== fresh) {
      console.error("src/openapi.d.ts is stale: run `npm run generate`");
      process.exit(1);
    }
    console.log("src/openapi.d.ts is current");
  } else {
    writeFileSync(target, fresh);
    console.log(`wrote src/openapi.d.ts (${fresh.split("\n").length} lines)`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
