"""Photos as evidence: ``job.photo`` facts filled from their blob in either arrival
order, EXIF time/GPS/camera and a perceptual hash read on upload, reuse on other jobs
caught (same bytes or a re-compressed copy), derivatives served without metadata, and a
broken image flagged instead of crashing anything. Each test runs on both blob stores
(a folder, and an S3 bucket on moto over 127.0.0.1)."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from PIL import ExifTags, Image
from s3 import STORES, Held
from sqlalchemy import select
from test_sync_api import Phone, make_job
from world import assert_error, login, run_db

from client_sdk.uploads import upload_blob
from fixtures.photos import make_jpeg, reencode
from server.db.models.evidence import Blob, Photo

pytestmark = pytest.mark.parametrize("settings", STORES, indirect=True)

URL = "/sync/v1/blobs/"
TAKEN = datetime(2026, 11, 20, 14, 30, 5, tzinfo=timezone(timedelta(hours=8)))
LAT, LON = 30.2790, 120.1300


@pytest.fixture(scope="module")
def door() -> bytes:
    return make_jpeg(width=640, height=480, seed=7, taken_at=TAKEN, latitude=LAT, longitude=LON)


@pytest.fixture
def desk(client: Any, world: Any) -> dict[str, str]:
    return login(client, "dispatcher")


@pytest.fixture
def phone(client: Any, world: Any) -> Phone:
    return Phone(client, "tech1")


def _upload(client: Any, phone: Phone, data: bytes) -> str:
    """Upload through the SDK's resumable uploader, with the test client as its http."""
    return upload_blob(
        client,
        data,
        "image/jpeg",
        chunk_size=16 * 1024,
        headers=phone.headers,
        sleep=lambda _s: None,
    )


def _push_photo(phone: Phone, job_id: str, sha: str, kind: str = "door") -> tuple[str, dict]:
    photo_id = str(uuid.uuid4())
    args = {"photo_id": photo_id, "sha256": sha, "kind": kind}
    res = phone.push([phone.mutation("job.photo", job_id, args)])
    return photo_id, res["outcomes"][0]


def _photo(url: str, photo_id: str) -> Photo:
    async def work(s: Any) -> Photo:
        row = await s.get(Photo, uuid.UUID(photo_id))
        assert row is not None
        return row

    return run_db(url, work)


def _blob_info(url: str, sha: str) -> dict[str, Any]:
    async def work(s: Any) -> dict[str, Any]:
        return dict((await s.scalar(select(Blob).where(Blob.sha256 == sha))).info)

    return run_db(url, work)


def test_photo_after_upload_gets_exif_evidence(
    client: Any, world: Any, desk: dict[str, str], phone: Phone, database_url: str, door: bytes
) -> None:
    job = make_job(client, desk, world)
    sha = _upload(client, phone, door)
    assert sha == hashlib.sha256(door).hexdigest()
    info = _blob_info(database_url, sha)
    assert info["taken_at_zone_known"] is True and info["width"] == 640
    assert len(info["phash"]) == 16 and info["camera"] == "Xiaomi Redmi Note 12"

    photo_id, outcome = _push_photo(phone, job["id"], sha)
    assert outcome["status"] == "applied" and outcome.get("flags", []) == []
    row = _photo(database_url, photo_id)
    assert row.taken_at == TAKEN.astimezone(UTC)
    assert row.latitude == pytest.approx(LAT, abs=1e-5)
    assert row.longitude == pytest.approx(LON, abs=1e-5)
    assert row.camera == "Xiaomi Redmi Note 12" and row.phash == info["phash"]
    assert row.kind == "door" and row.sha256 == sha and row.reused_from == []
    assert row.flags == []

    # The same fact under a new mid: nothing new.
    again = phone.push(
        [
            phone.mutation(
                "job.photo", job["id"], {"photo_id": photo_id, "sha256": sha, "kind": "door"}
            )
        ]
    )
    assert again["outcomes"][0]["status"] == "applied"

    async def count(s: Any) -> int:
        return len(list(await s.scalars(select(Photo.id))))

    assert run_db(database_url, count) == 1


def test_photo_before_upload_is_pending_then_filled(
    client: Any, world: Any, desk: dict[str, str], phone: Phone, database_url: str, door: bytes
) -> None:
    job = make_job(client, desk, world)
    sha = hashlib.sha256(door).hexdigest()
    photo_id, outcome = _push_photo(phone, job["id"], sha)
    assert outcome["status"] == "applied" and outcome.get("flags", []) == ["blob_pending"]
    row = _photo(database_url, photo_id)
    assert row.flags == ["blob_pending"] and row.taken_at is None and row.phash is None

    assert _upload(client, phone, door) == sha
    row = _photo(database_url, photo_id)
    assert row.flags == []
    assert row.taken_at == TAKEN.astimezone(UTC)
    assert row.latitude == pytest.approx(LAT, abs=1e-5) and row.phash


def test_reuse_on_other_jobs(
    client: Any, world: Any, desk: dict[str, str], phone: Phone, database_url: str, door: bytes
) -> None:
    first, second, third, fourth = (make_job(client, desk, world) for _ in range(4))
    sha = _upload(client, phone, door)
    original_id, _ = _push_photo(phone, first["id"], sha)

    # The very same bytes on another job.
    same_id, outcome = _push_photo(phone, second["id"], sha)
    assert outcome["status"] == "applied"
    assert _photo(database_url, same_id).reused_from == [first["id"]]

    # A messenger-style re-encode (different bytes, same picture), uploaded after.
    copy = reencode(door)
    copy_sha = hashlib.sha256(copy).hexdigest()
    copy_id, outcome = _push_photo(phone, third["id"], copy_sha)
    assert outcome.get("flags", []) == ["blob_pending"]
    _upload(client, phone, copy)
    assert sorted(_photo(database_url, copy_id).reused_from) == sorted([first["id"], second["id"]])

    # A different picture: no reuse.
    other = make_jpeg(width=640, height=480, seed=99, taken_at=TAKEN, latitude=LAT, longitude=LON)
    other_id, _ = _push_photo(phone, fourth["id"], _upload(client, phone, other))
    assert _photo(database_url, other_id).reused_from == []

    # Only the newer photo is flagged; a second photo on the same job is not reuse.
    assert _photo(database_url, original_id).reused_from == []
    again_id, _ = _push_photo(phone, first["id"], sha, kind="other")
    assert sorted(_photo(database_url, again_id).reused_from) == sorted([second["id"], third["id"]])


def test_derivatives_carry_no_metadata(
    client: Any, world: Any, phone: Phone, door: bytes, settings: Any
) -> None:
    with Image.open(io.BytesIO(door)) as original:
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the original has GPS
    sha = _upload(client, phone, door)
    for name, box in (("thumbnail", 320), ("display", 1600)):
        for who in (phone.headers, login(client, "auditor")):
            r = client.get(f"{URL}{sha}/{name}", headers=who)
            assert r.status_code == 200, r.text
            with Held(settings) as held:  # served from where the store keeps it
                assert r.content == held.derived(sha, name.replace("thumbnail", "thumb"))
            assert r.headers["content-type"].startswith("image/jpeg")
            with Image.open(io.BytesIO(r.content)) as img:
                assert img.format == "JPEG" and max(img.size) <= box
                exif = img.getexif()
                assert not exif.get_ifd(ExifTags.IFD.GPSInfo) and len(exif) == 0
        assert_error(
            client.get(f"{URL}{sha}/{name}", headers=login(client, "tech1b")), 404, "blob_not_found"
        )
    missing = hashlib.sha256(b"nothing").hexdigest()
    assert_error(
        client.get(f"{URL}{missing}/thumbnail", headers=phone.headers), 404, "blob_not_found"
    )


def test_corrupt_image_is_flagged_not_fatal(
    client: Any, world: Any, desk: dict[str, str], phone: Phone, database_url: str
) -> None:
    job = make_job(client, desk, world)
    broken = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
    sha = hashlib.sha256(broken).hexdigest()
    before_id, outcome = _push_photo(phone, job["id"], sha)
    assert outcome.get("flags", []) == ["blob_pending"]

    assert _upload(client, phone, broken) == sha  # the upload itself succeeds
    assert _blob_info(database_url, sha) == {"error": "corrupt_image"}
    assert _photo(database_url, before_id).flags == ["bad_image"]

    after_id, outcome = _push_photo(phone, job["id"], sha)
    assert outcome["status"] == "applied" and outcome.get("flags", []) == ["bad_image"]
    row = _photo(database_url, after_id)
    assert row.flags == ["bad_image"] and row.phash is None
    assert_error(client.get(f"{URL}{sha}/thumbnail", headers=phone.headers), 404, "blob_not_found")
    assert client.get(URL + sha, headers=phone.headers).content == broken
