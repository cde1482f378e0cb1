// Resumable, content-addressed blob upload (docs/protocol.md §9).
import { createHash } from "node:crypto";
import { errorFrom } from "./api.js";

export const DEFAULT_CHUNK = 256 * 1024;

/**
 * Uploads `bytes` under their SHA-256, resuming where the server is (HEAD), in chunks.
 * Returns `{sha256, size, content_type, sent}` (`sent`: bytes sent by this call).
 * @param {import("./api.js").Api} api @param {Uint8Array} bytes @param {string} contentType
 * @param {{chunk?: number, stopAfterChunks?: number}} [opts] stopAfterChunks: give up early (tests a dropped link)
 */
export async function uploadBlob(api, bytes, contentType, opts = {}) {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const path = `/sync/v1/blobs/${sha256}`;
  const chunk = opts.chunk ?? DEFAULT_CHUNK;
  let offset = 0;
  let sent = 0;
  const head = await api.send("HEAD", path);
  if (head.status === 200) {
    if (head.headers.get("upload-complete") === "?1") return { sha256, size: bytes.length, content_type: contentType, sent, complete: true };
    offset = Number(head.headers.get("upload-offset") ?? 0);
  } else if (head.status !== 404) {
    throw await errorFrom(head);
  }
  for (let chunks = 0; ; chunks++) {
    if (opts.stopAfterChunks !== undefined && chunks >= opts.stopAfterChunks) {
      return { sha256, size: bytes.length, content_type: contentType, sent, complete: false };
    }
    const body = bytes.subarray(offset, offset + chunk);
    const r = await api.send("PATCH", path, {
      body,
      headers: { "Upload-Offset": String(offset), "Upload-Length": String(bytes.length), "Content-Type": contentType },
    });
    if (r.status === 201) {
      await r.arrayBuffer();
      return { sha256, size: bytes.length, content_type: contentType, sent: sent + body.length, complete: true };
    }
    if (r.status === 204) {
      sent += body.length;
      offset = Number(r.headers.get("upload-offset"));
      continue;
    }
    const err = await errorFrom(r);
    if (err.code === "offset_mismatch") {
      offset = Number(err.details.offset ?? r.headers.get("upload-offset"));
      continue;
    }
    if (err.code === "hash_mismatch") offset = 0;
    throw err;
  }
}
