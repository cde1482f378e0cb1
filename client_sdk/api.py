"""A typed HTTP client for the phone-facing API (``/auth``, ``/sync/v1``).

Why a layer of its own: the sync loop must tell apart failures that mean "try again
later, nothing was lost" (``NetworkError``, ``RetryLater``) from those that no retry can
fix (``AuthError``, ``OutboxGapError``, any other ``ServerError``). Every response body
is decoded with msgspec into the wire types of ``sync/wire.py``, so a contract change
breaks here, loudly, rather than deep inside the app.

The client never keeps credentials itself: it reads and writes them through a
``Credentials`` object (the local ``Store``), so a refreshed token survives a restart.
"""

from __future__ import annotations

import base64
import email.utils
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.wire import (
    SCHEMA_VERSION,
    EnrollRequest,
    EnrollResponse,
    PullResponse,
    PushRequest,
    PushResponse,
)

__all__ = [
    "ApiClient",
    "ApiStats",
    "AuthError",
    "Credentials",
    "InvalidMutation",
    "NetworkError",
    "NotEnrolled",
    "OutboxGapError",
    "ProtocolError",
    "RetryLater",
    "SdkError",
    "ServerError",
    "SignatureRejected",
    "TokenPair",
    "TokenUser",
    "Tokens",
]

T = TypeVar("T")


# --- errors --------------------------------------------------------------------------


class SdkError(Exception):
    """Base of every error the client SDK raises on purpose."""


class InvalidMutation(SdkError, ValueError):
    """The phone refused to queue a mutation the server would reject (``sync.validation``,
    the very rules the server applies): nothing was queued. ``code`` is the code the
    server would have answered (``invalid_text``, ``timestamp_without_offset``,
    ``timestamp_out_of_range``, ``number_out_of_range``, ``unknown_argument``,
    ``invalid_arguments``, ``too_deeply_nested``), ``field`` where (``args.text``)."""

    def __init__(self, name: str, code: str, message: str, field: str = "") -> None:
        super().__init__(f"{name}: {code}: {message}")
        self.name = name
        self.code = code
        self.message = message
        self.field = field


class NetworkError(SdkError):
    """No answer: connection refused, timeout, or the connection dropped mid-answer.
    The request may or may not have reached the server; mutations are safe to resend
    (the server answers ``duplicate`` for what it already applied)."""


class ProtocolError(SdkError):
    """The server answered something this client cannot understand or trust."""


class NotEnrolled(SdkError):
    """The phone has no device id or key yet: call ``enroll()`` first."""


class ServerError(SdkError):
    """An error answer ``{code, message, details}`` from the server."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class AuthError(ServerError):
    """Not (or no longer) logged in: a 401, or a refresh that failed. The technician must
    log in again; pending mutations stay in the outbox."""


class RetryLater(ServerError):
    """A 503 or 429, or a push the server stopped early: nothing was lost, retry after
    ``retry_after`` seconds (at least)."""

    def __init__(
        self,
        retry_after: float,
        status: int = 503,
        code: str = "retry_later",
        message: str = "The server asks to retry later.",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, code, message, details)
        self.retry_after = retry_after


class OutboxGapError(ServerError):
    """409 ``mid_gap``: the server expects an earlier ``mid`` than the phone's first
    pending one. A correct outbox never skips a number, so this means the phone's store
    and the server disagree (a restored backup, a store copied to another device).
    Renumbering would silently re-apply or drop work, so the client stops instead."""

    @property
    def expected_mid(self) -> int | None:
        value = self.details.get("expected_mid")
        return int(value) if isinstance(value, int) else None


class SignatureRejected(SdkError):
    """The server refused a mutation's signature (``bad_signature``). The mid does not
    advance on the server, so the mutation stays queued; the device key no longer
    matches the registered one and the phone must be enrolled again."""

    def __init__(self, mid: int, message: str) -> None:
        super().__init__(f"mutation {mid}: {message}")
        self.mid = mid


# --- auth wire types (the server's live in server/, which a client may not import) ---


class TokenUser(msgspec.Struct):
    id: uuid.UUID
    username: str
    role: str
    full_name: str = ""


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_at: datetime
    refresh_expires_at: datetime
    user: TokenUser
    token_type: str = "bearer"
    expires_in: int = 0


@dataclass(frozen=True, slots=True)
class Tokens:
    """What the phone keeps of a login."""

    access_token: str
    refresh_token: str
    username: str
    user_id: uuid.UUID


class Credentials(Protocol):
    """Where the client keeps tokens and the device identity (``Store`` implements it)."""

    def load_tokens(self) -> Tokens | None: ...

    def save_tokens(self, tokens: Tokens | None) -> None: ...

    def save_device(
        self, device_id: uuid.UUID, private_key: bytes, last_applied_mid: int
    ) -> None: ...


@dataclass
class ApiStats:
    """Traffic counters (the simulator prints them)."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    by_path: dict[str, int] = field(default_factory=dict)


# --- the client ----------------------------------------------------------------------


def _retry_after(response: httpx.Response, details: dict[str, Any]) -> float:
    """Seconds from ``Retry-After`` (seconds or an HTTP date), else the body, else 1."""
    header = response.headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(header)
                return max(0.0, (when - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                pass
    value = details.get("retry_after")
    return float(value) if isinstance(value, int | float) else 1.0


class _ErrorBody(msgspec.Struct):
    code: str
    message: str = ""
    details: dict[str, Any] = {}


def error_from(response: httpx.Response) -> ServerError:
    """The exception for an error answer (also used for non-JSON answers of proxies)."""
    status = response.status_code
    try:
        body = msgspec.json.decode(response.content, type=_ErrorBody)
    except msgspec.MsgspecError:
        body = _ErrorBody(code="http_error", message=response.text[:200] or response.reason_phrase)
    if status in (429, 503):
        return RetryLater(
            _retry_after(response, body.details), status, body.code, body.message, body.details
        )
    if status == 401:
        return AuthError(status, body.code, body.message, body.details)
    if status == 409 and body.code == "mid_gap":
        return OutboxGapError(status, body.code, body.message, body.details)
    return ServerError(status, body.code, body.message, body.details)


class ApiClient:
    """Synchronous client over an ``httpx.Client``.

    Give ``http`` to reuse a client (Litestar's ``TestClient`` is one), or ``transport``
    to build one over a custom (e.g. fault-injecting) transport. Requests use paths
    relative to the client's ``base_url``."""

    def __init__(
        self,
        base_url: str = "",
        *,
        credentials: Credentials,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0,
    ) -> None:
        if http is not None and transport is not None:
            raise ValueError("give http or transport, not both")
        self._owns_http = http is None
        self.http = http or httpx.Client(base_url=base_url, transport=transport, timeout=timeout)
        self.timeout = timeout
        self.credentials = credentials
        self.stats = ApiStats()

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    # --- plumbing ----------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: dict[str, str | int] | None = None,
        access_token: str | None = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if access_token is not None:
            headers["Authorization"] = f"Bearer {access_token}"
        try:
            response = self.http.request(
                method, path, content=body, params=params, headers=headers, timeout=self.timeout
            )
        except httpx.TransportError as exc:
            raise NetworkError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        self.stats.requests += 1
        self.stats.bytes_sent += len(body or b"")
        self.stats.bytes_received += len(response.content)
        self.stats.by_path[path] = self.stats.by_path.get(path, 0) + 1
        return response

    @staticmethod
    def _decode(response: httpx.Response, into: type[T]) -> T:
        if not response.is_success:
            raise error_from(response)
        try:
            return msgspec.json.decode(response.content, type=into)
        except msgspec.MsgspecError as exc:
            raise ProtocolError(f"unexpected answer to {response.request.url.path}: {exc}") from exc

    def _authed(
        self,
        method: str,
        path: str,
        into: type[T],
        *,
        body: bytes | None = None,
        params: dict[str, str | int] | None = None,
    ) -> T:
        """Send with the access token; on 401 ``token_expired`` refresh once and resend.
        Why reactive only: the device clock is not trusted to judge expiry."""
        tokens = self.credentials.load_tokens()
        if tokens is None:
            raise AuthError(401, "not_logged_in", "Log in first.")
        response = self._send(
            method, path, body=body, params=params, access_token=tokens.access_token
        )
        if response.status_code == 401 and _code_of(response) == "token_expired":
            self.refresh()
            tokens = self.credentials.load_tokens()
            assert tokens is not None
            response = self._send(
                method, path, body=body, params=params, access_token=tokens.access_token
            )
        return self._decode(response, into)

    # --- auth --------------------------------------------------------------------

    def login(self, username: str, password: str, device_id: uuid.UUID | None = None) -> TokenPair:
        """Log in; with ``device_id`` the tokens are bound to that enrolled device (revoking
        the device then ends them)."""
        payload: dict[str, Any] = {"username": username, "password": password}
        if device_id is not None:
            payload["device_id"] = str(device_id)
        pair = self._decode(
            self._send("POST", "/auth/login", body=msgspec.json.encode(payload)), TokenPair
        )
        self._keep(pair)
        return pair

    def refresh(self) -> TokenPair:
        """Rotate the refresh token. Any refusal ends the login (the tokens are dropped):
        ``AuthError``. A lost answer leaves the old token spent on the server; the next
        refresh is then refused as reused, and the technician logs in again."""
        tokens = self.credentials.load_tokens()
        if tokens is None:
            raise AuthError(401, "not_logged_in", "Log in first.")
        body = msgspec.json.encode({"refresh_token": tokens.refresh_token})
        response = self._send("POST", "/auth/refresh", body=body)
        if response.status_code in (400, 401, 403):
            err = error_from(response)
            self.credentials.save_tokens(None)
            raise AuthError(
                response.status_code, err.code, f"Refresh failed; log in again. {err.message}"
            )
        pair = self._decode(response, TokenPair)
        self._keep(pair)
        return pair

    def logout(self) -> None:
        """End this login on the server (best effort) and forget the tokens."""
        tokens = self.credentials.load_tokens()
        self.credentials.save_tokens(None)
        if tokens is not None:
            body = msgspec.json.encode({"refresh_token": tokens.refresh_token})
            response = self._send("POST", "/auth/logout", body=body)
            if not response.is_success:
                raise error_from(response)

    def _keep(self, pair: TokenPair) -> None:
        self.credentials.save_tokens(
            Tokens(pair.access_token, pair.refresh_token, pair.user.username, pair.user.id)
        )

    # --- sync --------------------------------------------------------------------

    def enroll(
        self, *, label: str = "", platform: str = "", app_version: str = ""
    ) -> EnrollResponse:
        """Register this phone with a new Ed25519 key; the private key goes to the store
        in the same step as the device id, so a signed mutation can always be sent."""
        key = Ed25519PrivateKey.generate()
        public = base64.b64encode(key.public_key().public_bytes_raw()).decode("ascii")
        request = EnrollRequest(
            label=label, platform=platform, app_version=app_version, public_key=public
        )
        answer = self._authed(
            "POST", "/sync/v1/devices", EnrollResponse, body=msgspec.json.encode(request)
        )
        self.credentials.save_device(
            answer.device_id, key.private_bytes_raw(), answer.last_applied_mid
        )
        return answer

    def pull(
        self, cursor: str | None, limit: int = 500, device_id: uuid.UUID | None = None
    ) -> PullResponse:
        """One page of the caller's bucket (a snapshot page without ``cursor``)."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        if device_id is not None:
            params["device_id"] = str(device_id)
        return self._authed("GET", "/sync/v1/pull", PullResponse, params=params)

    def push(
        self, device_id: uuid.UUID, mutations: list[bytes], device_time: datetime | None = None
    ) -> PushResponse:
        """Send mutations exactly as stored (their bytes are signed), in ``mid`` order."""
        request = PushRequest(
            device_id=device_id,
            schema_version=SCHEMA_VERSION,
            device_time=device_time or datetime.now(UTC),
            mutations=[msgspec.Raw(raw) for raw in mutations],
        )
        return self._authed(
            "POST", "/sync/v1/push", PushResponse, body=msgspec.json.encode(request)
        )


def _code_of(response: httpx.Response) -> str | None:
    try:
        return msgspec.json.decode(response.content, type=_ErrorBody).code
    except msgspec.MsgspecError:
        return None
