"""The README's main command against an S3-compatible lake (moto's server on loopback).

`DAG_LAKE_URI=s3://bucket/prefix` plus the `AWS_*` variables must move every Delta and Parquet
table to the object store with no other change: the same demo, the same tables and row counts.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.conftest import run_demo

pytestmark = [pytest.mark.slow, pytest.mark.scale_out]

# One table of each group: every group writes its lake tables to the bucket.
EXPECTED = ("nps_his_digest", "cd_digest_price", "is_posts", "ss_deals", "ds_logo_webp")


def lake_rows(output: str) -> dict[str, int]:
    return {
        name: int(rows.replace(",", ""))
        for name, rows in re.findall(r"^  delta    (\w+) +([\d,]+) rows$", output, re.MULTILINE)
    }


def test_demo_runs_unchanged_on_an_s3_lake(s3_endpoint: str, tmp_path: Path) -> None:
    import boto3

    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",  # secret-scan: deliberate
    )
    s3.create_bucket(Bucket=bucket)
    demo = run_demo(
        tmp_path / "data",
        {
            "DAG_LAKE_URI": f"s3://{bucket}/demo",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": s3_endpoint,
        },
        timeout=900,
    )
    out = demo.output
    assert demo.returncode == 0, out[-4000:]
    assert "All runs succeeded" in out
    assert f"  delta    s3://{bucket}/demo/delta\n" in out, out[-4000:]
    rows = lake_rows(out)
    for table in EXPECTED:
        assert rows.get(table, 0) > 0, (table, rows)
    # The tables live in the bucket (a Delta log per table), and nothing went to the local disk.
    keys = {
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="demo/")
        for obj in page.get("Contents", [])
    }
    for table in EXPECTED:
        assert any(k.startswith(f"demo/delta/{table}/_delta_log/") for k in keys), table
    assert not (demo.data / "lake").exists() or not any((demo.data / "lake").rglob("*.parquet"))
