"""Blob stores in tests: a real S3-compatible HTTP server (moto's, on a free loopback
port) with a fresh bucket per test, and ``Held``: what a store really holds, read
straight from its folder or bucket rather than through the store under test."""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from server.settings import Settings
from sync.blobs import blob_key, derived_key

STORES = ["filesystem", "s3"]
_BUCKETS = itertools.count()


def moto_missing() -> str | None:
    """Why the S3 tests cannot run here, or None."""
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        return f"moto[server] is not installed ({exc}): pip install -e '.[dev]'"
    return None


class MotoServer:
    """moto's S3 API served over HTTP on 127.0.0.1 in a thread of this process."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()


def client(endpoint: str) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client("s3", endpoint_url=endpoint)


def new_bucket(endpoint: str) -> str:
    """A bucket no other test uses (workers run in processes of their own, each with its
    own server)."""
    name = f"doorstep-{os.getpid()}-{next(_BUCKETS)}"
    s3 = client(endpoint)
    s3.create_bucket(Bucket=name)
    s3.close()
    return name


def s3_settings(settings: Settings, endpoint: str, prefix: str = "dep/one") -> Settings:
    return settings.replace(
        blob_store="s3",
        s3_bucket=new_bucket(endpoint),
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
        s3_prefix=prefix,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        # an S3 node has no blob folder: any use of one would show up as a file here
        blob_dir=Path(settings.data_dir) / "no-blobs-here",
    )


def store_settings(request: pytest.FixtureRequest, settings: Settings, kind: str) -> Settings:
    """``settings`` with the blob store ``kind``: the default folder, or a fresh bucket
    on the session's moto server (skips when moto is not installed)."""
    if kind == "filesystem":
        return settings
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return s3_settings(settings, endpoint)


class Held:
    """What the configured store holds for a blob, read directly."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.s3 = client(settings.s3_endpoint_url) if settings.blob_store == "s3" else None
        prefix = settings.s3_prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.root = settings.resolved_blob_dir

    def close(self) -> None:
        if self.s3 is not None:
            self.s3.close()

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def keys(self, under: str = "") -> list[str]:
        """Every key in the bucket under the prefix (S3 only), prefix removed."""
        assert self.s3 is not None
        listed = self.s3.list_objects_v2(Bucket=self.settings.s3_bucket, Prefix=self.prefix + under)
        return sorted(o["Key"][len(self.prefix) :] for o in listed.get("Contents", ()))

    def _get(self, key: str) -> bytes | None:
        assert self.s3 is not None
        try:
            answer = self.s3.get_object(Bucket=self.settings.s3_bucket, Key=self.prefix + key)
        except self.s3.exceptions.NoSuchKey:
            return None
        with answer["Body"] as body:
            data: bytes = body.read()
            return data

    def blob(self, sha: str) -> bytes | None:
        if self.s3 is not None:
            return self._get(f"blobs/{blob_key(sha)}")
        path = self.root / blob_key(sha)
        return path.read_bytes() if path.exists() else None

    def partial(self, sha: str) -> bytes | None:
        """The partial upload's bytes (the chunk objects in order), None when none."""
        if self.s3 is not None:
            keys = self.keys(f"partials/{sha}/")
            if not keys:
                return None
            return b"".join(self._get(k) or b"" for k in keys)
        path = self.root / "partial" / sha
        return path.read_bytes() if path.exists() else None

    def drop_partial(self, sha: str) -> None:
        """Lose the partial upload behind the database's back (a crash, a wiped disk)."""
        if self.s3 is not None:
            for key in self.keys(f"partials/{sha}/"):
                self.s3.delete_object(Bucket=self.settings.s3_bucket, Key=self.prefix + key)
        else:
            (self.root / "partial" / sha).unlink()

    def derived(self, sha: str, name: str) -> bytes | None:
        if self.s3 is not None:
            return self._get(derived_key(sha, name))
        path = self.root / derived_key(sha, name)
        return path.read_bytes() if path.exists() else None
