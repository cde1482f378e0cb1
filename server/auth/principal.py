"""Who is calling, and the scope rules that follow from it — in one place."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from server.db.models.user import Role

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    role: Role
    provider_id: uuid.UUID | None
    device_id: uuid.UUID | None = None

    @property
    def sees_everything(self) -> bool:
        """The brand's own staff: admins, auditors and call-center dispatchers."""
        if self.role in (Role.ADMIN, Role.AUDITOR):
            return True
        return self.role == Role.DISPATCHER and self.provider_id is None

    @property
    def is_technician(self) -> bool:
        return self.role == Role.TECHNICIAN

    @property
    def is_call_center_dispatcher(self) -> bool:
        return self.role == Role.DISPATCHER and self.provider_id is None

    def may_see_provider(self, provider_id: uuid.UUID | None) -> bool:
        return self.sees_everything or (
            self.provider_id is not None and provider_id == self.provider_id
        )
