"""The DS demo step on the embedded defaults: local bucket folders, the embedded PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dag import ds_logo_assets
from dag.ds_demo import run_ds_demo
from dag.jobs import ds_logos_job
from dag.resources import build_resources

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_demo_step_publishes_logos_to_local_folders(
    data_dir: Path, postgres_resource: object
) -> None:
    resources = {**build_resources(), "ds_postgres": postgres_resource}
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules([ds_logo_assets]),
        asset_checks=dg.load_asset_checks_from_modules([ds_logo_assets]),
        jobs=[ds_logos_job], resources=resources,
    )
    with dg.instance_for_test() as instance:
        assert run_ds_demo(defs, instance) > 0
    published = sorted(p.name for p in (data_dir / "buckets" / "ds-logos").iterdir())
    assert len(published) == 2 * 11  # 12 companies, the last one's PNG is corrupt
    rows = resources["ds_postgres"].read("company_thumbnail")
    assert rows.height == 11
    assert rows["thumbnail"][0].startswith("file://")
