// The event stream (docs/protocol.md §10): a Server-Sent Events parser over fetch.
// It only says when to pull; `onPoke` is called for each `event: poke`.

/**
 * Opens `GET /sync/v1/events` and calls `onPoke()` for every poke until `signal` aborts
 * or the server ends the stream. Resolves when the stream ends (reconnect then).
 * @param {import("./api.js").Api} api
 * @param {{onPoke: () => void, onHeartbeat?: () => void, signal?: AbortSignal, heartbeat?: number}} opts
 */
export async function listen(api, opts) {
  const pair = api.pair;
  const r = await api.raw(`/sync/v1/events?heartbeat=${opts.heartbeat ?? 25}`, {
    headers: { Accept: "text/event-stream", Authorization: `Bearer ${pair?.access_token}` },
    signal: opts.signal,
  });
  if (!r.ok || !r.body) throw new Error(`event stream: HTTP ${r.status}`);
  const decoder = new TextDecoder();
  let buffer = "";
  let event = { type: "message", data: "" };
  try {
    for await (const piece of r.body) {
      buffer += decoder.decode(piece, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, "");
        buffer = buffer.slice(nl + 1);
        if (line === "") {
          if (event.type === "poke") opts.onPoke();
          event = { type: "message", data: "" };
        } else if (line.startsWith(":")) {
          opts.onHeartbeat?.();
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event.type = value;
          else if (field === "data") event.data += (event.data ? "\n" : "") + value;
        }
      }
    }
  } catch (e) {
    if (!opts.signal?.aborted) throw e;
  }
}
