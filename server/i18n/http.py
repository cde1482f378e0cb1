"""The locale of a request: ``?lang=``, the signed-in user's preference, the browser's
``Accept-Language``, the brand's default (``server.i18n.choice.choose``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models.user import User
from server.i18n.choice import choose

__all__ = ["request_locale"]


async def request_locale(
    request: Any, db: AsyncSession | None = None, user_id: uuid.UUID | None = None
) -> str:
    user_locale = None
    if db is not None and user_id is not None:
        user = await db.get(User, user_id)
        user_locale = user.locale if user is not None else None
    return choose(
        request.query_params.get("lang"), user_locale, request.headers.get("accept-language")
    )
