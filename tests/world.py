"""A small, known world for API tests: two cities, two providers, one user of every role.

Built straight into the database (the API under test cannot create its own first admin).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.passwords import PasswordHashing
from server.db.engine import make_database
from server.db.models import (
    Appliance,
    City,
    Customer,
    CustomerPhone,
    FeePolicy,
    Provider,
    User,
)

PASSWORD = "correct horse battery"
T = TypeVar("T")


@dataclass
class World:
    ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def __getitem__(self, key: str) -> uuid.UUID:
        return self.ids[key]


USERS = [
    # username, role, provider key, skill, active
    ("admin", "admin", None, None, True),
    ("dispatcher", "dispatcher", None, None, True),
    ("auditor", "auditor", None, None, True),
    ("manager1", "provider_manager", "p1", None, True),
    ("provdispatch1", "dispatcher", "p1", None, True),
    ("manager2", "provider_manager", "p2", None, True),
    ("tech1", "technician", "p1", "senior", True),
    ("tech1b", "technician", "p1", "junior", True),
    ("tech1off", "technician", "p1", "intermediate", False),
    ("tech2", "technician", "p2", "intermediate", True),
]


async def _build(url: str) -> World:
    w = World()
    db = make_database(url)
    pw = PasswordHashing(time_cost=1, memory_kib=8).hash(PASSWORD)
    try:
        async with db.writer() as s:
            hz = City(
                code="hangzhou",
                name="Hangzhou",
                timezone="Asia/Shanghai",
                latitude=30.2741,
                longitude=120.1551,
            )
            nj = City(
                code="nanjing",
                name="Nanjing",
                timezone="Asia/Shanghai",
                latitude=32.0603,
                longitude=118.7969,
            )
            s.add_all([hz, nj])
            await s.flush()
            s.add_all(
                [
                    FeePolicy(
                        city_id=hz.id,
                        visit_fee=3000,
                        items=[
                            {
                                "code": "labour",
                                "label": "Labour",
                                "max_amount": 10000,
                                "allowed_in_warranty": False,
                            }
                        ],
                    ),
                    FeePolicy(city_id=nj.id, visit_fee=4000, items=[]),
                ]
            )
            p1 = Provider(code="p1", name="Westlake Home Service", cities=[hz])
            p2 = Provider(code="p2", name="Purple Mountain Repairs", cities=[nj])
            s.add_all([p1, p2])
            await s.flush()
            w.ids.update(hangzhou=hz.id, nanjing=nj.id, p1=p1.id, p2=p2.id)
            providers = {"p1": p1.id, "p2": p2.id}
            for username, role, pkey, skill, active in USERS:
                u = User(
                    username=username,
                    full_name=username.title(),
                    password_hash=pw,
                    role=role,
                    provider_id=providers.get(pkey) if pkey else None,
                    skill_level=skill,
                    active=active,
                    phone="+86 138 0000 0000",
                )
                s.add(u)
                await s.flush()
                w.ids[username] = u.id
            c1 = Customer(
                name="Li Wei",
                address="Room 1203, 88 Wensan Road, Xihu District",
                city_id=hz.id,
                latitude=30.2790,
                longitude=120.1300,
                phones=[CustomerPhone(number="+86 139 1234 5678", digits="8613912345678")],
            )
            c2 = Customer(
                name="Zhang Min",
                address="6 Zhongshan Road, Gulou District",
                city_id=nj.id,
                latitude=32.0650,
                longitude=118.7800,
                phones=[CustomerPhone(number="+86 137 5555 0001", digits="8613755550001")],
            )
            s.add_all([c1, c2])
            await s.flush()
            a1 = Appliance(
                customer_id=c1.id,
                category="water_heater",
                model="DH-60",
                serial="SN-HZ-0001",
                install_date=date(2025, 3, 1),
                warranty_end=date(2028, 3, 1),
                installer_id=w.ids["tech1b"],
                installer_provider_id=p1.id,
            )
            a2 = Appliance(
                customer_id=c2.id,
                category="smart_lock",
                model="SL-9",
                serial="SN-NJ-0001",
                warranty_end=date(2024, 1, 1),
            )
            s.add_all([a1, a2])
            await s.flush()
            w.ids.update(customer1=c1.id, customer2=c2.id, appliance1=a1.id, appliance2=a2.id)
            await s.commit()
    finally:
        await db.dispose()
    return w


def build_world(url: str) -> World:
    return asyncio.run(_build(url))


def login(client: TestClient[Any], username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    return body


def every_case(cases: Any, check: Callable[..., None]) -> None:
    """``check(*case)`` for every case (a tuple, or a ``pytest.param``), then one assertion
    naming each case that failed. For tables of refusals that change nothing, which can
    share one app and world instead of building them per case (about 0.6 s each)."""
    wrong: list[str] = []
    for case in cases:
        values = tuple(case.values) if hasattr(case, "values") else tuple(case)
        name = getattr(case, "id", None) or repr(values)[:200]
        try:
            check(*values)
        except AssertionError as exc:
            wrong.append(f"{name}: {str(exc)[:500]}")
    assert not wrong, f"{len(wrong)} of {len(cases)} cases:\n" + "\n".join(wrong)


def run_db(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``await work(session)`` straight on the database, in a committed transaction
    of its own (for arranging a state the API cannot make, or checking one)."""

    async def run() -> T:
        db = make_database(url)
        try:
            async with db.writer() as s:
                out = await work(s)
                await s.commit()
                return out
        finally:
            await db.dispose()

    return asyncio.run(run())
