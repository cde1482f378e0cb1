"""Ed25519 signatures of mutations by device keys.

Why: the ledger's hash chain shows that a row changed, but someone able to rewrite the
whole chain could also rewrite what a phone said. A mutation signed by a key that only
the phone holds cannot be forged or altered on the server side at all.

What is signed (``MutationEnvelope.signature``) depends on the device's
``signature_alg``, fixed at enrolment (``Device.signature_alg``):

- ``ed25519-jcs`` (every device enrolled since schema 0006): the RFC 8785 (JCS) bytes
  of the mutation object as received, without its ``signature`` member
  (``sync.canonical``). The server decodes the raw mutation and canonicalises it, so a
  phone may send its members in any order and with any spacing; it must sign the JCS
  form of the very values it sends.
- ``ed25519-sorted-json`` (devices enrolled earlier, kept so their phones and their
  ledger rows still verify): compact JSON with keys sorted, exactly as
  ``msgspec.json.encode(obj, order="sorted")`` writes it; a JCS signature is accepted
  from these devices too (an upgraded app). Not for new phones: its numbers are
  written differently from JavaScript's.

The signature is the base64 (standard alphabet, padded) of the 64-byte Ed25519
signature. A device enrolled with a key must sign every mutation (``push`` rejects an
unsigned one as ``signature_required``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from sync.canonical import canonical_json

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALG",
    "LEGACY_ALG",
    "SignatureStatus",
    "canonical_bytes",
    "load_public_key",
    "sign",
    "verify_signature",
]

SignatureStatus = Literal["absent", "no_key", "valid", "invalid"]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

SignatureAlg = Literal["ed25519-jcs", "ed25519-sorted-json"]
DEFAULT_ALG: SignatureAlg = "ed25519-jcs"
LEGACY_ALG: SignatureAlg = "ed25519-sorted-json"
ALGORITHMS: tuple[SignatureAlg, ...] = (DEFAULT_ALG, LEGACY_ALG)


def canonical_bytes(mutation: dict[str, Any], alg: str = DEFAULT_ALG) -> bytes:
    """The bytes a device signs: ``mutation`` without ``signature``, canonical for
    ``alg``. Raises ``ValueError`` for a value without a canonical form (or an unknown
    ``alg``)."""
    body = {k: v for k, v in mutation.items() if k != "signature"}
    if alg == DEFAULT_ALG:
        return canonical_json(body)
    if alg == LEGACY_ALG:
        return msgspec.json.encode(body, order="sorted")
    raise ValueError(f"unknown signature algorithm {alg!r}")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def sign(private_key: Ed25519PrivateKey, mutation: dict[str, Any], alg: str = DEFAULT_ALG) -> str:
    """Base64 signature of ``mutation`` (for the reference client and for tests)."""
    return base64.b64encode(private_key.sign(canonical_bytes(mutation, alg))).decode("ascii")


def load_public_key(b64: str) -> bytes:
    """The raw 32-byte Ed25519 key from its base64 (as sent at enrolment).

    Raises ``ValueError`` for bad base64, a wrong length, or bytes that are not a key."""
    try:
        raw = _b64decode(b64)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError("public_key is not valid base64") from exc
    if len(raw) != PUBLIC_KEY_BYTES:
        raise ValueError(f"public_key must be {PUBLIC_KEY_BYTES} raw bytes, got {len(raw)}")
    Ed25519PublicKey.from_public_bytes(raw)  # raises ValueError if unusable
    return raw


def verify_signature(
    public_key: bytes | None, mutation_raw: bytes, alg: str | None = DEFAULT_ALG
) -> SignatureStatus:
    """The ``signature_status`` of one mutation as received.

    ``absent``: no signature (or raw bytes that are not a JSON object, so there is none
    to read: the mutation is refused as malformed elsewhere). ``no_key``: signed, but the
    device registered no key. ``invalid``: bad base64, wrong length, a failed check, or a
    stored key that is not usable, values without a canonical form such as an integer
    beyond 2^53 (never accept what cannot be checked). ``valid``."""
    try:
        mutation = msgspec.json.decode(mutation_raw, type=dict[str, Any])
    except msgspec.DecodeError:
        return "absent"
    signature = mutation.get("signature")
    if signature is None:
        return "absent"
    if not public_key:
        return "no_key"
    if not isinstance(signature, str):
        return "invalid"
    try:
        sig = _b64decode(signature)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return "invalid"
    if len(sig) != SIGNATURE_BYTES:
        return "invalid"
    # A device enrolled under the old form may run an upgraded app that signs JCS: both
    # are the device key's signature over the same JSON value, so either is accepted.
    forms = (alg or DEFAULT_ALG,) if alg != LEGACY_ALG else (LEGACY_ALG, DEFAULT_ALG)
    for form in forms:
        try:
            signed = canonical_bytes(mutation, form)
            Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(sig, signed)
        except (InvalidSignature, ValueError):
            continue
        return "valid"
    return "invalid"
