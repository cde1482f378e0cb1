"""Field-evidence mutations: call attempts, check-out, the completion report and the
customer's sign-off."""

from __future__ import annotations

from sync.mutation_base import Handler

__all__ = ["HANDLERS"]

HANDLERS: dict[str, Handler] = {}
