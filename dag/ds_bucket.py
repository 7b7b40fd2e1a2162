"""The logo buckets: the S3-compatible source and target buckets (Cloudflare R2 in production).

`LogoBuckets` is the resource of one group (`ds_logo_buckets`, `cd_logo_buckets`), bound once in
`dag/resources.py` from `DS_R2_*` / `CD_R2_*` (endpoint, bucket names, keys) and
`DS_PUBLIC_URL` / `CD_PUBLIC_URL`. With no endpoint configured, the embedded default applies: a
local directory per bucket under `<DAG_DATA_DIR>/buckets/`, so the demo runs without a service.

Both kinds of store offer the same four calls: `listing` (key, size, ETag, last modified), `get`,
`put` and `delete`. The S3 client (boto3) never retries (`total_max_attempts=1`) and every call
has connect and read timeouts. A local object's ETag is the MD5 of its bytes, as S3 computes it
for a single-part upload.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import boto3  # type: ignore[import-untyped]
import dagster as dg
import polars as pl
from botocore.config import Config  # type: ignore[import-untyped]

LISTING_SCHEMA = pl.Schema(
    {
        "key": pl.String(),
        "size": pl.Int64(),
        "etag": pl.String(),
        "last_modified": pl.Datetime("us", "UTC"),
    }
)


class Store(Protocol):
    """One bucket."""

    @property
    def name(self) -> str: ...

    def listing(self, prefix: str = "") -> pl.DataFrame: ...
    def get(self, key: str) -> bytes: ...
    def put(self, key: str, body: bytes, content_type: str) -> None: ...
    def delete(self, keys: list[str]) -> None: ...


@dataclass(frozen=True)
class S3Store:
    """A bucket on an S3-compatible server."""

    client: Any
    name: str

    def listing(self, prefix: str = "") -> pl.DataFrame:
        rows: list[dict[str, Any]] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        for page in pages:
            rows.extend(
                {
                    "key": item["Key"],
                    "size": item["Size"],
                    "etag": item["ETag"].strip('"'),
                    "last_modified": item["LastModified"].astimezone(UTC),
                }
                for item in page.get("Contents", [])
            )
        return pl.DataFrame(rows, schema=LISTING_SCHEMA)

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return body

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=body, ContentType=content_type)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            answer = self.client.delete_objects(Bucket=self.name, Delete={"Objects": batch})
            if answer.get("Errors"):
                error = answer["Errors"][0]
                raise OSError(
                    f"bucket {self.name}: could not delete {len(answer['Errors'])} object(s), "
                    f"e.g. {error.get('Key')}: {error.get('Code')} {error.get('Message')}"
                )


@dataclass(frozen=True)
class DirStore:
    """A local directory standing in for a bucket (the embedded default)."""

    root: Path
    name: str

    def listing(self, prefix: str = "") -> pl.DataFrame:
        if not self.root.is_dir():
            return pl.DataFrame(schema=LISTING_SCHEMA)
        rows = [
            {
                "key": path.name,
                "size": stat.st_size,
                "etag": hashlib.md5(path.read_bytes()).hexdigest(),  # as S3 (single part)
                "last_modified": datetime.fromtimestamp(stat.st_mtime, UTC),
            }
            for path in sorted(self.root.glob(f"{prefix}*"))
            if path.is_file() and not path.name.startswith(".") and (stat := path.stat())
        ]
        return pl.DataFrame(rows, schema=LISTING_SCHEMA)

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / f".{key}.partial"  # readers never see half an object
        partial.write_bytes(body)
        partial.replace(self.root / key)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            (self.root / key).unlink(missing_ok=True)


class LogoBuckets(dg.ConfigurableResource):
    """The source bucket the crawler uploads `clogo-<id>.png` to and the target bucket the PNG
    and its WebP are published from (`public_url` is the target's public address)."""

    endpoint_url: str = ""
    """S3 API endpoint (R2: https://<account>.r2.cloudflarestorage.com); empty: local dirs."""
    region: str = "auto"
    access_key_id: str = ""
    secret_access_key: str = ""
    source_bucket: str
    target_bucket: str
    public_url: str
    local_root: str = ""
    """Parent of the bucket directories of the embedded default."""
    timeout_seconds: int = 60

    def _client(self) -> Any:
        config = Config(
            connect_timeout=self.timeout_seconds,
            read_timeout=self.timeout_seconds,
            retries={"total_max_attempts": 1, "mode": "standard"},  # fail fast, no retries
            signature_version="s3v4",
            s3={"addressing_style": "path"},
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id or None,
            aws_secret_access_key=self.secret_access_key or None,
            config=config,
        )

    @property
    def local(self) -> bool:
        return not self.endpoint_url

    def store(self, bucket: str) -> Store:
        if self.local:
            return DirStore(Path(self.local_root) / bucket, bucket)
        return S3Store(self._client(), bucket)

    def source(self) -> Store:
        return self.store(self.source_bucket)

    def target(self) -> Store:
        return self.store(self.target_bucket)

    def crawler_env(self) -> dict[str, str]:
        """The crawler's own (unprefixed) variables for the source bucket."""
        env = {"R2_BUCKET": self.source_bucket}
        if self.local:
            return {**env, "R2_LOCAL_DIR": str(Path(self.local_root) / self.source_bucket)}
        return {
            **env,
            "R2_ENDPOINT": self.endpoint_url,
            "R2_ACCESS_KEY_ID": self.access_key_id,
            "R2_SECRET_ACCESS_KEY": self.secret_access_key,
            "R2_REGION": self.region,
        }


def crawler_store(env: dict[str, str] | None = None) -> Store:
    """The source bucket as a crawler sees it, from its R2_* variables (`crawler_env`)."""
    env = dict(os.environ) if env is None else env
    bucket = env["R2_BUCKET"]
    if env.get("R2_LOCAL_DIR"):
        return DirStore(Path(env["R2_LOCAL_DIR"]), bucket)
    return LogoBuckets(
        endpoint_url=env["R2_ENDPOINT"],
        region=env.get("R2_REGION", "auto"),
        access_key_id=env.get("R2_ACCESS_KEY_ID", ""),
        secret_access_key=env.get("R2_SECRET_ACCESS_KEY", ""),
        source_bucket=bucket,
        target_bucket=bucket,
        public_url="",
    ).source()
