"""Calling an app through its ASGI interface, with no HTTP client in between.

The in-process measurements (``bench/sync_bench.py``) time the server: Litestar's
routing, the middleware, the guards, the handler, the encoding of the answer. An HTTP
client library in the same loop adds its own work to every call (httpx's
``ASGITransport`` alone takes several times an empty pull's query), which is neither
Doorstep's cost nor the baseline's. ``AsgiCaller`` builds the ASGI scope, hands the app
the body, and collects the answer: what a server such as uvicorn does once it has
parsed the request, and no more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

__all__ = ["Answer", "AsgiCaller", "Call"]


class Answer:
    __slots__ = ("body", "status")

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class Call:
    """A request prepared once (its ASGI scope), to be sent many times."""

    __slots__ = ("scope",)

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope


class AsgiCaller:
    def __init__(self, app: Any, host: str = "doorstep.bench") -> None:
        self.app, self.host = app, host

    def prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        length: int = 0,
    ) -> Call:
        """The scope a server would build once it parsed the request line and headers
        (``length``: the body's, for its Content-Length)."""
        raw_headers = [(b"host", self.host.encode())]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        if length:
            raw_headers.append((b"content-length", str(length).encode()))
        return Call(
            {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "method": method,
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": urlencode(params or {}).encode(),
                "root_path": "",
                "headers": raw_headers,
                "client": ("127.0.0.1", 50000),
                "server": (self.host, 80),
            }
        )

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> Answer:
        return await self.send(self.prepare("POST", path, None, headers, len(body)), body)

    async def send(self, call: Call, body: bytes = b"") -> Answer:
        """The app's answer to ``call`` (with ``body``), collected whole."""
        scope = dict(call.scope)  # the app adds its own keys to a scope
        sent = False
        done = asyncio.Event()
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()  # the app asks only once it has answered: the client left
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await self.app(scope, receive, send)
        if not done.is_set():
            method, path = scope["method"], scope["path"]
            raise RuntimeError(f"{method} {path}: the app returned without finishing its answer")
        return Answer(status, b"".join(chunks))
