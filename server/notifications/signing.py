"""The shared-secret signature of everything the SMS gateway and Doorstep post to each
other: ``X-Doorstep-Signature: sha256=<hex HMAC-SHA256 of the raw body>``."""

from __future__ import annotations

import hashlib
import hmac

from server.errors import Forbidden, Unauthorized

__all__ = ["SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Doorstep-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> None:
    """Refuse a post whose signature does not match (401), or any post when no gateway
    secret is configured (403)."""
    if not secret:
        raise Forbidden("sms_gateway_disabled", "No SMS gateway is configured on this server.")
    if header is None or not hmac.compare_digest(sign(secret, body), header.strip()):
        raise Unauthorized("bad_signature", "The gateway signature does not match the body.")
