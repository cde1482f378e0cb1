"""Pull cursors: opaque to phones, signed by the server, bound to one technician.

A cursor is either mid-snapshot (``s``: the snapshot version and the last entity sent)
or incremental (``i``: every operation up to ``version`` has been delivered).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass

import msgspec

from server.errors import Invalid

__all__ = ["Cursor", "CursorCodec"]


@dataclass(frozen=True, slots=True)
class Cursor:
    technician_id: uuid.UUID
    epoch: int
    phase: str  # "s" snapshot, "i" incremental
    version: int
    after_type: str = ""
    after_id: str = ""


def _bad() -> Invalid:
    return Invalid(
        "cursor_invalid", "The cursor is not one this server issued; pull without a cursor."
    )


class CursorCodec:
    def __init__(self, key: str) -> None:
        self._hmac = hmac.new(
            hashlib.sha256(b"doorstep-cursor:" + key.encode()).digest(), digestmod=hashlib.sha256
        )
        """The HMAC with its key already set up: each MAC copies it (cheaper than keying)."""

    def _mac(self, body: bytes) -> str:
        h = self._hmac.copy()
        h.update(body)
        return base64.urlsafe_b64encode(h.digest()[:12]).decode()

    def encode(self, c: Cursor) -> str:
        body = base64.urlsafe_b64encode(
            msgspec.json.encode(
                [c.technician_id.hex, c.epoch, c.phase, c.version, c.after_type, c.after_id]
            )
        )
        return f"{body.decode().rstrip('=')}.{self._mac(body.rstrip(b'='))}"

    def decode(self, text: str, technician_id: uuid.UUID) -> Cursor:
        body, _, mac = text.partition(".")
        if not body or not hmac.compare_digest(mac, self._mac(body.encode())):
            raise _bad()
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            tid, epoch, phase, version, after_type, after_id = msgspec.json.decode(raw)
            cursor = Cursor(
                uuid.UUID(hex=tid),
                int(epoch),
                str(phase),
                int(version),
                str(after_type),
                str(after_id),
            )
        except (ValueError, TypeError, msgspec.DecodeError) as exc:
            raise _bad() from exc
        if cursor.phase not in ("s", "i"):
            raise _bad()
        if cursor.technician_id != technician_id:
            raise Invalid("cursor_foreign", "This cursor belongs to another technician's bucket.")
        return cursor
