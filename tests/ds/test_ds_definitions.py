"""The DS and CD logo modules obey the guideline as wired definitions (conventions, contracts,
lake config), and the clean-up assets are in no job."""

from __future__ import annotations

import dagster as dg

from dag import cd_logo_assets, ds_logo_assets
from dag.conventions import check_definitions, lake_config_violations, missing_contract_checks
from dag.jobs import ds_jobs
from dag.resources import build_resources

MODULES = [ds_logo_assets, cd_logo_assets]


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules(MODULES),
        asset_checks=dg.load_asset_checks_from_modules(MODULES),
        jobs=ds_jobs,
        resources=build_resources(),
    )


def test_logo_modules_follow_the_conventions() -> None:
    defs = definitions()
    assert check_definitions(defs) == []
    assert missing_contract_checks(defs) == []
    assert lake_config_violations(defs) == []


def test_cleanup_is_in_no_job() -> None:
    defs = definitions()
    graph = defs.resolve_asset_graph()
    for job in ds_jobs:
        selected = {k.to_user_string() for k in job.selection.resolve(graph)}  # type: ignore[union-attr]
        assert "ds_logo_webp" in selected or "cd_logo_webp" in selected
        assert not selected & {"ds_bucket_cleanup", "cd_bucket_cleanup"}


def test_buckets_default_to_local_directories(data_dir) -> None:  # type: ignore[no-untyped-def]
    resources = build_resources()
    for project in ("ds", "cd"):
        buckets = resources[f"{project}_logo_buckets"]
        assert buckets.local
        assert str(data_dir) in buckets.local_root
        assert buckets.public_url.startswith("file://")
