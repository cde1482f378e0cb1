"""The leaks of issue 13, closed: a photo naming another provider's blob is kept as
evidence but its bytes never reach that job's customer link, and ``HEAD`` on a blob
tells nobody more than ``GET`` would."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from test_sync_api import Phone, make_job
from world import login, run_db

from client_sdk.uploads import upload_blob
from fixtures.photos import make_jpeg
from server.db.models.evidence import Photo
from server.reports.placeholder import placeholder_jpeg
from sync.photos import FOREIGN

URL = "/sync/v1/blobs/"


def _job_of_p2(client: Any, world: Any, desk: dict[str, str]) -> dict:
    job = make_job(
        client,
        desk,
        world,
        tech=None,
        customer_id=str(world["customer2"]),
        appliance_id=str(world["appliance2"]),
    )
    r = client.post(
        f"/jobs/{job['id']}/assign",
        json={"provider_id": str(world["p2"]), "technician_id": str(world["tech2"])},
        headers=desk,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _photo(phone: Phone, job_id: str, sha: str) -> dict:
    args = {"photo_id": str(uuid.uuid4()), "sha256": sha, "kind": "door"}
    (outcome,) = phone.push([phone.mutation("job.photo", job_id, args)])["outcomes"]
    return {**outcome, "photo_id": args["photo_id"]}


def test_another_providers_blob_is_kept_flagged_and_never_served_on_the_link(
    client, world, database_url
):
    desk = login(client, "dispatcher")
    theirs = make_job(client, desk, world)  # provider 1's job, tech1's photo
    mine = _job_of_p2(client, world, desk)
    tech1, tech2 = Phone(client, "tech1"), Phone(client, "tech2")
    data = make_jpeg(width=320, height=240, seed=5, taken_at=None, latitude=None, longitude=None)
    sha = upload_blob(client, data, "image/jpeg", headers=tech1.headers, sleep=lambda _s: None)
    assert _photo(tech1, theirs["id"], sha)["status"] == "applied"

    stolen = _photo(tech2, mine["id"], sha)
    assert stolen["status"] == "applied"  # kept as evidence …
    assert FOREIGN in stolen["flags"]

    async def read(s: Any) -> Photo:
        return (
            await s.scalars(select(Photo).where(Photo.id == uuid.UUID(stolen["photo_id"])))
        ).one()

    row = run_db(database_url, read)
    assert theirs["id"] in row.reused_from and FOREIGN in row.flags  # … flagged

    # The customer link of provider 2's job shows a placeholder, never provider 1's bytes.
    link = client.post(f"/jobs/{mine['id']}/service-report/link", headers=desk).json()["url"]
    img = client.get(f"{link}/photos/{sha}")
    assert img.status_code == 200 and img.content == placeholder_jpeg()
    # Provider 1's own link still shows the picture.
    own = client.post(f"/jobs/{theirs['id']}/service-report/link", headers=desk).json()["url"]
    real = client.get(f"{own}/photos/{sha}")
    assert real.status_code == 200 and real.content != placeholder_jpeg()
    # Provider 2's staff and technician cannot read the bytes either.
    for who in ("manager2", "tech2"):
        headers = login(client, who)
        for suffix in ("", "/thumbnail", "/display"):
            assert client.get(URL + sha + suffix, headers=headers).status_code == 404


def test_head_answers_exactly_as_get_for_visibility(client, world):
    tech1, tech2 = Phone(client, "tech1"), Phone(client, "tech2")
    manager2 = login(client, "manager2")
    data = make_jpeg(width=64, height=64, seed=9, taken_at=None, latitude=None, longitude=None)
    sha = upload_blob(client, data, "image/jpeg", headers=tech1.headers, sleep=lambda _s: None)
    for headers in (tech1.headers, login(client, "dispatcher"), login(client, "manager1")):
        assert client.get(URL + sha, headers=headers).status_code == 200
        assert client.head(URL + sha, headers=headers).status_code == 200
    for headers in (tech2.headers, manager2):
        assert client.get(URL + sha, headers=headers).status_code == 404
        head = client.head(URL + sha, headers=headers)
        assert head.status_code == 404 and "upload-offset" not in head.headers
    # An upload in progress: only those who could read the blob learn its offset.
    partial = make_jpeg(width=64, height=64, seed=10, taken_at=None, latitude=None, longitude=None)
    part_sha = hashlib.sha256(partial).hexdigest()
    r = client.patch(
        URL + part_sha,
        content=partial[:100],
        headers={
            **tech1.headers,
            "Upload-Offset": "0",
            "Upload-Length": str(len(partial)),
            "Content-Type": "image/jpeg",
        },
    )
    assert r.status_code == 204, r.text
    assert client.head(URL + part_sha, headers=tech1.headers).headers["upload-offset"] == "100"
    assert client.head(URL + part_sha, headers=tech2.headers).status_code == 404
    assert client.head(URL + part_sha, headers=manager2).status_code == 404
