"""Senders: how a queued message leaves the server.

``LogSender`` (no gateway configured) keeps the message and logs that it did: its
status is ``logged``, never ``sent`` — nothing reached the customer. ``HttpGateway``
posts it to the brand's SMS platform (the contract is in docs/sms-gateway.md):

    POST <sms_gateway_url>
    Content-Type: application/json
    Idempotency-Key: <the message id: the same on every retry>
    X-Doorstep-Signature: sha256=<hex HMAC-SHA256 of the body with the shared secret>
    {"message_id", "to", "text", "template", "receipt_url"}

A 2xx answer (or 409: the gateway has that idempotency key already) means accepted;
408, 425, 429, 5xx, a timeout or a refused connection are temporary (tried again with
backoff); any other answer is permanent (the message goes to the dead letters).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

from server.db.models import Notification
from server.notifications.signing import SIGNATURE_HEADER, sign
from server.settings import Settings

__all__ = [
    "Handed",
    "HttpGateway",
    "LogSender",
    "PermanentFailure",
    "Sender",
    "TemporaryFailure",
    "sender_for",
]

log = logging.getLogger("doorstep.notifications")

TEMPORARY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Handed:
    """What a sender did with a message: ``logged`` or ``accepted`` (by a gateway,
    with the gateway's id for it when it gave one)."""

    status: str
    gateway_id: str | None = None


class TemporaryFailure(Exception):
    """Worth trying again later (timeouts, 5xx, 429...). ``code`` is stored on the row."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class PermanentFailure(TemporaryFailure):
    """The gateway refused the message itself: trying again would not help."""


class Sender(Protocol):
    async def send(self, notification: Notification) -> Handed:
        """Hand one message over; raise ``TemporaryFailure`` or ``PermanentFailure``."""
        ...

    async def close(self) -> None: ...


class LogSender:
    """Stores and logs: the default when no gateway is configured. No phone number or
    text in the log: customers' data stays out of logs."""

    async def send(self, notification: Notification) -> Handed:
        log.info(
            "notification %s (%s) kept by the log sender: no SMS gateway is configured",
            notification.id,
            notification.template,
        )
        return Handed("logged")

    async def close(self) -> None:
        return None


class HttpGateway:
    """The brand's SMS platform over HTTP (JSON, HMAC-signed, idempotent)."""

    def __init__(
        self, url: str, secret: str, *, timeout: float = 10.0, receipt_url: str = ""
    ) -> None:
        self.url = url
        self.secret = secret
        self.receipt_url = receipt_url
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)

    def payload(self, n: Notification) -> bytes:
        body: dict[str, object] = {
            "message_id": str(n.id),
            "to": n.recipient,
            "text": n.body,
            "template": n.template,
        }
        if self.receipt_url:
            body["receipt_url"] = self.receipt_url
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    async def send(self, notification: Notification) -> Handed:
        body = self.payload(notification)
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": str(notification.id),
            SIGNATURE_HEADER: sign(self.secret, body),
            "X-Doorstep-Attempt": str(notification.attempts),
        }
        try:
            r = await self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TemporaryFailure("gateway_timeout") from exc
        except httpx.HTTPError as exc:  # refused, reset, DNS...
            raise TemporaryFailure("gateway_unreachable") from exc
        if r.status_code == 409 or 200 <= r.status_code < 300:
            return Handed("accepted", _gateway_id(r))
        if r.status_code in TEMPORARY_STATUSES or r.status_code >= 500:
            raise TemporaryFailure(f"gateway_http_{r.status_code}")
        raise PermanentFailure(f"gateway_http_{r.status_code}")

    async def close(self) -> None:
        await self.client.aclose()


def _gateway_id(r: httpx.Response) -> str | None:
    try:
        data = r.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("id", "gateway_id", "message_id"):
            value = data.get(key)
            if isinstance(value, str | int) and str(value):
                return str(value)[:128]
    return None


def sender_for(settings: Settings) -> Sender:
    """The gateway when ``sms_gateway_url`` is set, else the log sender."""
    if settings.sms_gateway_url:
        return HttpGateway(
            settings.sms_gateway_url,
            settings.sms_gateway_secret,
            timeout=settings.sms_gateway_timeout,
            receipt_url=settings.sms_receipt_url,
        )
    return LogSender()
