"""A populated world for tests that walk every route (fuzzing, the permission matrix):
a token for every role, and objects of both providers to aim at — jobs, a device, blobs,
a customer's report link — so requests reach past "no such id".

Also reads the app's route table: every route, its methods and the roles its guard
allows, so those tests cover routes added later without being edited.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from world import PASSWORD, World

ROLES = ["admin", "dispatcher", "auditor", "manager1", "provdispatch1", "tech1"]
"""Logins of every role in ``world.USERS`` (``tech1`` with a device-bound token)."""
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    """The OpenAPI form: ``/jobs/{job_id}``."""
    handler: str
    allowed_roles: frozenset[str] | None
    """Roles the guard lets through; ``None``: no role guard."""
    public: bool
    in_schema: bool = True
    """False for the console's pages and static files (not API operations)."""

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def api_routes(app: Litestar) -> list[RouteInfo]:
    """Every HTTP operation of the app but the documentation pages and the automatic
    OPTIONS answers."""
    out: list[RouteInfo] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/docs"):
            continue
        for handler in route.route_handlers:
            methods = sorted(m for m in handler.http_methods if m != "OPTIONS")
            if not methods:
                continue
            roles: frozenset[str] | None = None
            for guard in handler.resolve_guards():
                allowed = getattr(getattr(guard, "func", guard), "allowed_roles", None)
                if allowed is not None:
                    names = frozenset(getattr(r, "value", r) for r in allowed)
                    roles = names if roles is None else roles & names
            for method in methods:
                out.append(
                    RouteInfo(
                        method=method,
                        path=route.path_format,
                        handler=handler.handler_name,
                        allowed_roles=roles,
                        public=bool(handler.opt.get("public")),
                        in_schema=bool(handler.resolve_include_in_schema()),
                    )
                )
    return sorted(out, key=lambda r: (r.path, r.method))


ROLE_OF = {
    "admin": "admin",
    "dispatcher": "dispatcher",
    "auditor": "auditor",
    "manager1": "provider_manager",
    "provdispatch1": "dispatcher",
    "tech1": "technician",
}


def _window(hours: float = 24) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
    }


def small_jpeg(seed: int) -> bytes:
    from fixtures.photos import make_jpeg

    return make_jpeg(width=64, height=48, seed=seed, quality=80)


@dataclass
class Estate:
    """What a route-walking test aims at. ``mine``: objects of tech1 / provider p1;
    ``theirs``: the same kinds of object of tech2 / provider p2."""

    world: World
    tokens: dict[str, str] = field(default_factory=dict)
    mine: dict[str, str] = field(default_factory=dict)
    theirs: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        if who == ANONYMOUS:
            return {}
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _ok(r: Any, *codes: int) -> Any:
    assert r.status_code in (codes or (200, 201)), f"{r.request.method} {r.request.url}: {r.text}"
    return r.json() if r.content else None


def _login(client: Any, who: str, device_id: str | None = None) -> str:
    body: dict[str, Any] = {"username": who, "password": PASSWORD}
    if device_id:
        body["device_id"] = device_id
    return str(_ok(client.post("/auth/login", json=body))["access_token"])


def _tech_side(client: Any, estate: Estate, tech: str, provider: str, out: dict[str, str]) -> str:
    """Enrol the technician's phone, give them a job, upload a photo; the device-bound
    token."""
    w = estate.world
    plain = {"Authorization": f"Bearer {_login(client, tech)}"}
    device = _ok(client.post("/sync/v1/devices", json={"label": "estate"}, headers=plain))
    token = _login(client, tech, device["device_id"])
    auth = {"Authorization": f"Bearer {token}"}
    desk = estate.headers("dispatcher")
    customer = "customer1" if provider == "p1" else "customer2"
    appliance = "appliance1" if provider == "p1" else "appliance2"
    job = _ok(
        client.post(
            "/jobs",
            json={
                "customer_id": str(w[customer]),
                "kind": "repair",
                "appliance_id": str(w[appliance]),
                **_window(),
            },
            headers=desk,
        )
    )
    _ok(
        client.post(
            f"/jobs/{job['id']}/assign",
            json={"provider_id": str(w[provider]), "technician_id": str(w[tech])},
            headers=desk,
        )
    )
    photo = small_jpeg(seed=1 if provider == "p1" else 2)
    sha = hashlib.sha256(photo).hexdigest()
    _ok(
        client.patch(
            f"/sync/v1/blobs/{sha}",
            content=photo,
            headers={
                **auth,
                "Upload-Offset": "0",
                "Upload-Length": str(len(photo)),
                "Content-Type": "image/jpeg",
            },
        )
    )
    link = _ok(client.post(f"/jobs/{job['id']}/service-report/link", json={}, headers=desk))
    out.update(
        job_id=job["id"],
        customer_id=str(w[customer]),
        appliance_id=str(w[appliance]),
        provider_id=str(w[provider]),
        city_id=str(w["hangzhou" if provider == "p1" else "nanjing"]),
        user_id=str(w[tech]),
        device_id=device["device_id"],
        sha256=sha,
        token=link["url"].rsplit("/", 1)[1],
    )
    return token


def build_estate(client: Any, world: World) -> Estate:
    estate = Estate(world=world)
    for who in ROLES:
        if who != "tech1":
            estate.tokens[who] = _login(client, who)
    estate.tokens["tech1"] = _tech_side(client, estate, "tech1", "p1", estate.mine)
    _tech_side(client, estate, "tech2", "p2", estate.theirs)
    return estate


def fill_path(path: str, ids: dict[str, str]) -> str | None:
    """``path`` with every ``{name}`` replaced from ``ids``; ``None`` if one is unknown."""
    out = path
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        name = out[start + 1 : end]
        value = ids.get(name, _STATIC_IDS.get(name))
        if value is None:
            return None
        out = out[:start] + value + out[end + 1 :]
    return out


_STATIC_IDS = {
    "job_kind": "repair",
    "claim_type": "customer_not_home",
    "article_id": str(uuid.UUID(int=7)),
}
