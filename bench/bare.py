"""The framework ceiling: a bare Litestar app that answers ``GET /sync/v1/pull`` with
fixed bytes (a response Doorstep gave), and nothing else — no auth, no database, no
middleware. What Litestar and the server cost at the least for the same answer.

In-process: ``bare_app(body)``. As a server process (the fleet benchmark):
``python -m bench.bare --port P --body FILE``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from litestar import Litestar, Response, get
from litestar.enums import MediaType

__all__ = ["bare_app"]


def bare_app(body: bytes) -> Litestar:
    @get("/sync/v1/pull", sync_to_thread=False)
    def pull() -> Response[bytes]:
        return Response(body, media_type=MediaType.JSON)

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([pull, health], openapi_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True)
    args = parser.parse_args()
    app = bare_app(args.body.read_bytes())
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
