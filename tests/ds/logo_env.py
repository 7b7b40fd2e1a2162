"""DS logo test environment: source and target buckets on the loopback moto server, the DS
and definitions of the DS logo assets bound to them."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import dagster as dg
import polars as pl
import pytest

from dag import ds_logo_assets
from dag.ds_bucket import LogoBuckets
from dag_io import DeltaIOManager, PostgresResource

COMPANY_IDS = [str(i) for i in range(101, 109)]
PUBLIC_URL = "https://cdn.example.test/ds"
CHAIN = ["ds_logo_sources", "ds_logo_files", "ds_logo_webp", "ds_company_thumbnails"]


@dataclass
class Logos:
    defs: dg.Definitions
    instance: dg.DagsterInstance
    buckets: LogoBuckets
    postgres: PostgresResource
    endpoint: str

    def run(
        self, selection: list[str] | None = None, **kwargs: object
    ) -> dg.ExecuteInProcessResult:
        job = dg.define_asset_job("t", selection=selection or CHAIN)
        defs = dg.Definitions(
            assets=self.defs.assets, asset_checks=self.defs.asset_checks, jobs=[job],
            resources=self.defs.resources,
        )
        return defs.resolve_job_def("t").execute_in_process(
            instance=self.instance, raise_on_error=False, **kwargs  # type: ignore[arg-type]
        )

    def table(self, asset: str) -> pl.DataFrame:
        return pl.read_delta(str(Path(self.defs.resources["delta_io_manager"].root_uri) / asset))

    def keys(self, bucket: str) -> set[str]:
        return set(self.buckets.store(bucket).listing()["key"].to_list())


def recorded(endpoint: str) -> list[dict[str, str]]:
    """The moto recorder's log since it was (re)started: method and URL of each request."""
    with urllib.request.urlopen(f"{endpoint}/moto-api/recorder/download-recording",
                                timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    return [{"method": e["method"], "url": e["url"]} for e in map(json.loads, lines) if e]


def restart_recording(endpoint: str) -> None:
    for action in ("stop-recording", "reset-recording", "start-recording"):
        urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method="POST"),
            timeout=10,
        ).close()


@pytest.fixture
def logos(
    s3_endpoint: str, postgres_resource: PostgresResource, data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Logos]:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # moto accepts any key pair; taken from the variables like the lake fixture's.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    key_id, key = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    suffix = uuid.uuid4().hex[:8]
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id=key_id, aws_secret_access_key=key)
    for name in (f"ds-src-{suffix}", f"ds-tgt-{suffix}"):
        client.create_bucket(Bucket=name)
    buckets = LogoBuckets(
        endpoint_url=s3_endpoint, region="us-east-1", access_key_id=key_id,
        secret_access_key=key, source_bucket=f"ds-src-{suffix}",
        target_bucket=f"ds-tgt-{suffix}", public_url=PUBLIC_URL, timeout_seconds=10,
    )
    postgres_resource.load(
        "company", pl.DataFrame({"id": COMPANY_IDS, "name": [f"회사{i}" for i in COMPANY_IDS]}),
        mode="replace",
    )
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules([ds_logo_assets]),
        asset_checks=dg.load_asset_checks_from_modules([ds_logo_assets]),
        resources={
            "ds_logo_buckets": buckets,
            "ds_postgres": postgres_resource,
            "delta_io_manager": DeltaIOManager(root_uri=str(data_dir / "lake" / "delta")),
        },
    )
    with dg.instance_for_test() as instance:
        yield Logos(defs, instance, buckets, postgres_resource, s3_endpoint)
