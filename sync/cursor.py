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
from typing import TypeVar

import msgspec

from server.errors import Invalid

__all__ = ["Cursor", "CursorCodec"]

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Cursor:
    technician_id: uuid.UUID
    epoch: int
    phase: str  # "s" snapshot, "i" incremental
    version: int
    after_type: str = ""
    after_id: str = ""


_BAD = "The cursor is not one this server issued; pull without a cursor."


REMEMBERED = 8192
"""Cursors remembered per codec, each way (a few hundred bytes each)."""


def _remember(memory: dict[K, V], key: K, value: V) -> None:
    if len(memory) >= REMEMBERED:  # forget them all rather than grow (one miss each)
        memory.clear()
    memory[key] = value


class CursorCodec:
    """Signs and checks cursors.

    A phone at the head sends the same cursor on every poll and gets the same one back,
    so both directions are remembered (bounded; a full memory is emptied, as the rate
    buckets are in ``server.limits``): ``decode`` remembers the cursors whose MAC and content it
    checked, keyed by the whole string the MAC covers, and ``encode`` the text of each
    ``Cursor`` (a frozen value; the same key gives the same text). A repeat then costs a
    dictionary look-up instead of two HMACs. Only cursors that passed every check are
    remembered, so forged ones cannot fill it; the technician is compared on every
    call."""

    def __init__(self, key: str) -> None:
        self._hmac = hmac.new(
            hashlib.sha256(b"doorstep-cursor:" + key.encode()).digest(), digestmod=hashlib.sha256
        )
        """The HMAC with its key already set up: each MAC copies it (cheaper than keying)."""
        self._texts: dict[Cursor, str] = {}
        self._cursors: dict[str, Cursor] = {}

    def _mac(self, body: bytes) -> str:
        h = self._hmac.copy()
        h.update(body)
        return base64.urlsafe_b64encode(h.digest()[:12]).decode()

    def encode(self, c: Cursor) -> str:
        text = self._texts.get(c)
        if text is None:
            text = self._encode(c)
            _remember(self._texts, c, text)
        return text

    def _encode(self, c: Cursor) -> str:
        body = base64.urlsafe_b64encode(
            msgspec.json.encode(
                [c.technician_id.hex, c.epoch, c.phase, c.version, c.after_type, c.after_id]
            )
        )
        return f"{body.decode().rstrip('=')}.{self._mac(body.rstrip(b'='))}"

    def decode(self, text: str, technician_id: uuid.UUID) -> Cursor:
        # One function, the codes raised in it literally: the OpenAPI document's error
        # codes are read from the source a few calls deep (server.openapi_errors).
        cursor = self._cursors.get(text)
        if cursor is None:
            body, _, mac = text.partition(".")
            if not body or not hmac.compare_digest(mac, self._mac(body.encode())):
                raise Invalid("cursor_invalid", _BAD)
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
                raise Invalid("cursor_invalid", _BAD) from exc
            if cursor.phase not in ("s", "i"):
                raise Invalid("cursor_invalid", _BAD)
            _remember(self._cursors, text, cursor)  # only a cursor that passed every check
        if cursor.technician_id != technician_id:
            raise Invalid("cursor_foreign", "This cursor belongs to another technician's bucket.")
        return cursor
