"""Resumable photo/signature uploads to ``/sync/v1/blobs/{sha256}``.

Why resumable: technicians upload megabytes over weak links that drop mid-request.
The blob is named by its SHA-256, so the server's ``HEAD`` says what it already holds:
nothing is sent twice, and a complete blob is not sent at all.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from client_sdk.api import ApiClient, AuthError, NetworkError, RetryLater, error_from

__all__ = ["DEFAULT_CHUNK", "UploadFailed", "upload_blob"]

DEFAULT_CHUNK = 256 * 1024
BLOBS = "/sync/v1/blobs/"

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class UploadFailed(NetworkError):
    """Gave up after ``max_attempts`` failures in a row; call again later to resume."""


def _lock_for(sha: str) -> threading.Lock:
    """One upload per hash at a time in this process (a second caller waits, then
    finds the blob complete and sends nothing)."""
    with _locks_guard:
        return _locks.setdefault(sha, threading.Lock())


class _Sender:
    """Sends with the ApiClient's access token (refreshing once on ``token_expired``),
    or with the given headers over a bare ``httpx.Client``."""

    def __init__(self, api: ApiClient | httpx.Client, headers: dict[str, str] | None) -> None:
        self.api = api if isinstance(api, ApiClient) else None
        self.http = api.http if isinstance(api, ApiClient) else api
        self.headers = headers or {}

    def _auth(self) -> dict[str, str]:
        if self.api is None:
            return {}
        tokens = self.api.credentials.load_tokens()
        if tokens is None:
            raise AuthError(401, "not_logged_in", "Log in first.")
        return {"Authorization": f"Bearer {tokens.access_token}"}

    def send(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> httpx.Response:
        for attempt in (0, 1):
            all_headers = {"Accept": "application/json", **self.headers, **self._auth(), **headers}
            try:
                response = self.http.request(method, path, headers=all_headers, content=body)
            except httpx.TransportError as exc:
                raise NetworkError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            if self.api is not None:
                self.api.stats.requests += 1
                self.api.stats.bytes_sent += len(body)
                self.api.stats.by_path[path] = self.api.stats.by_path.get(path, 0) + 1
            if (
                attempt == 0
                and self.api is not None
                and response.status_code == 401
                and _code(response) == "token_expired"
            ):
                self.api.refresh()
                continue
            return response
        raise AssertionError("unreachable")


def _code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("code")
    except ValueError:
        return None
    return code if isinstance(code, str) else None


def _offset(response: httpx.Response) -> int | None:
    value = response.headers.get("upload-offset")
    if value is not None and value.isdigit():
        return int(value)
    if response.content:
        details = response.json().get("details", {})
        if isinstance(details.get("offset"), int):
            return int(details["offset"])
    return None


def upload_blob(
    api: ApiClient | httpx.Client,
    source: bytes | str | Path,
    content_type: str,
    chunk_size: int = DEFAULT_CHUNK,
    *,
    headers: dict[str, str] | None = None,
    max_attempts: int = 6,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Upload ``source`` (bytes or a file path) and return its SHA-256 once the server
    holds the complete blob.

    HEAD first: complete → nothing is sent; in progress → resume at the server's
    offset. A dropped connection re-HEADs and resumes; a ``409 offset_mismatch``
    resumes from the server's offset; 429/503 wait ``Retry-After``. Failures in a row
    are bounded by ``max_attempts`` (exponential backoff from ``backoff`` seconds);
    each chunk that lands resets the count. Other refusals (``hash_mismatch``,
    ``unsupported_type``…) raise ``ServerError`` at once: retrying cannot fix them.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    sender = _Sender(api, headers)
    path = BLOBS + sha
    length = len(data)
    with _lock_for(sha):
        failures = 0
        offset: int | None = None
        while True:
            try:
                if offset is None:
                    r = sender.send("HEAD", path, {})
                    if r.status_code == 200 and r.headers.get("upload-complete") == "?1":
                        return sha
                    if r.status_code == 200:
                        offset = _offset(r) or 0
                    elif r.status_code == 404:
                        offset = 0
                    else:
                        raise error_from(r)
                chunk = data[offset : offset + chunk_size]
                r = sender.send(
                    "PATCH",
                    path,
                    {
                        "Upload-Offset": str(offset),
                        "Upload-Length": str(length),
                        "Content-Type": content_type,
                    },
                    chunk,
                )
                if r.status_code == 201:
                    return sha
                if r.status_code == 204:
                    offset = _offset(r)
                    failures = 0
                    continue
                if r.status_code == 409 and _code(r) == "offset_mismatch":
                    offset = _offset(r)
                    failures += 1
                    if failures >= max_attempts:
                        raise UploadFailed(f"upload of {sha}: offsets keep moving")
                    continue
                raise error_from(r)
            except (NetworkError, RetryLater) as exc:
                if isinstance(exc, UploadFailed):
                    raise
                failures += 1
                if failures >= max_attempts:
                    raise UploadFailed(f"upload of {sha} failed {failures} times: {exc}") from exc
                wait = backoff * 2 ** (failures - 1)
                if isinstance(exc, RetryLater):
                    wait = max(wait, exc.retry_after)
                sleep(wait)
                offset = None
