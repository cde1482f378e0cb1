"""A stand-in for the brand's SMS platform: a real HTTP server on 127.0.0.1, in a thread
of the test, that records every post and answers as the test scripts it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)


@dataclass
class FakeGateway:
    """``script``: one answer per post, in order — an int status (200 answers
    ``{"id": "gw-<n>"}``), or ``"hang"`` (holds the request until ``release()``, so the
    sender's timeout fires). When the script is used up, the last answer repeats.
    ``dedupe``: a repeated Idempotency-Key answers 409 (as a careful gateway would)."""

    script: list[int | str] = field(default_factory=lambda: [200])
    dedupe: bool = False
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._released = threading.Event()
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with gateway._lock:
                    seen = {r.headers.get("idempotency-key") for r in gateway.received}
                    gateway.received.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, raw)
                    )
                    n = len(gateway.received)
                    answer = gateway.script[min(n, len(gateway.script)) - 1]
                if gateway.dedupe and self.headers.get("Idempotency-Key") in seen:
                    answer = 409
                if answer == "hang":
                    gateway._released.wait(timeout=60)
                    answer = 200
                payload = json.dumps({"id": f"gw-{n}"}).encode() if answer == 200 else b"{}"
                try:
                    self.send_response(int(answer))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the sender gave up waiting and closed the connection
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"

    def start(self) -> FakeGateway:
        self.thread.start()
        return self

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=30)
