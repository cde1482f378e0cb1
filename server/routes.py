"""Every feature's route handlers, listed once."""

from __future__ import annotations

from typing import Any

__all__ = ["route_handlers"]


def route_handlers() -> list[Any]:
    from server.auth.routes import AuthController
    from server.jobs.routes import JobController
    from server.notifications.routes import NotificationController

    return [
        AuthController,
        JobController,
        NotificationController,
    ]
