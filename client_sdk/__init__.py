"""The reference phone client of Doorstep's sync protocol (``docs/protocol.md``).

``Phone`` is what an app calls; ``Store`` is its local SQLite file; ``SyncEngine`` runs
push-then-pull with backoff; ``ApiClient`` is the typed HTTP layer. Imports ``sync/``
only, never ``server/``: a phone app in another language can follow it line by line.
"""

from __future__ import annotations

from client_sdk.api import (
    ApiClient,
    AuthError,
    InvalidMutation,
    NetworkError,
    NotEnrolled,
    OutboxGapError,
    ProtocolError,
    RetryLater,
    SdkError,
    ServerError,
    SignatureRejected,
)
from client_sdk.phone import Phone
from client_sdk.store import Document, PendingMutation, RecordedOutcome, Store
from client_sdk.sync_loop import Backoff, SyncEngine, SyncReport
from sync.canonical import report_sha256

__all__ = [
    "ApiClient",
    "AuthError",
    "Backoff",
    "Document",
    "InvalidMutation",
    "NetworkError",
    "NotEnrolled",
    "OutboxGapError",
    "PendingMutation",
    "Phone",
    "ProtocolError",
    "RecordedOutcome",
    "RetryLater",
    "SdkError",
    "ServerError",
    "SignatureRejected",
    "Store",
    "SyncEngine",
    "SyncReport",
    "report_sha256",
]
