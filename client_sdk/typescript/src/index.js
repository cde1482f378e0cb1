// Doorstep's reference phone client (docs/protocol.md). Types: ./openapi.d.ts.
export { Api, ServerError } from "./api.js";
export { DEFAULT_CHUNK, uploadBlob } from "./blobs.js";
export { listen } from "./events.js";
export { canonicalBytes, canonicalize } from "./jcs.js";
export { Phone, SignatureRejected } from "./phone.js";
export { generateKey, keyFromSeed, reportSha256, SIGNATURE_ALG, signingInput, signMutation, verifyMutation } from "./signing.js";
export { FileStore } from "./store.js";
