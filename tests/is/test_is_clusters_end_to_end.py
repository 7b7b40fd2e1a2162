"""Story clusters end to end on the embedded defaults: the sample crawls ingested by the sensor's
runs, the trends job (cluster trends and rotation included), the clusters job with its
PostgreSQL and Turso loads; ids stay the same on a second build."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dag import is_cluster_loads, is_clusters
from dag.definitions import is_modules
from dag.is_common import is_output_dir
from dag.is_demo import CRAWLS, TRENDS_WINDOW_END, sensor_runs
from dag.is_sample import sample_crawl
from dag.jobs import is_jobs
from dag.sensors import is_output_data_sensor
from dag_io import PostgresResource
from tests.sql import query

NOW = "2026-12-01T10:38:00+00:00"


@pytest.fixture
def defs(
    data_dir: Path, postgres_resource: PostgresResource, monkeypatch: pytest.MonkeyPatch
) -> dg.Definitions:
    monkeypatch.setenv("IS_SENSOR_SETTLE_SECONDS", "0")
    monkeypatch.setenv("IS_SENSOR_PARSE_GRACE_SECONDS", "0")
    from dag.resources import build_resources

    resources = build_resources()
    resources["is_postgres"] = postgres_resource
    modules = [*is_modules, is_clusters, is_cluster_loads]
    return dg.Definitions(
        assets=dg.load_assets_from_modules(modules),
        asset_checks=dg.load_asset_checks_from_modules(modules),
        jobs=is_jobs,
        sensors=[is_output_data_sensor],
        resources=resources,
    )


def lake(data_dir: Path, asset: str) -> pl.DataFrame:
    return pl.read_delta(str(data_dir / "lake" / "delta" / asset))


def failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        e.asset_check_evaluation_data.check_name
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.asset_check_evaluation_data.passed
    ]


@pytest.mark.postgres
@pytest.mark.slow
def test_clusters_trends_and_rotation_from_sample_crawls(
    defs: dg.Definitions, data_dir: Path, postgres_resource: PostgresResource
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    cursor = None
    ingest = defs.resolve_job_def("is_ingest_job")
    for crawl, at in enumerate(CRAWLS):
        sample_crawl(is_output_dir(), crawl, at)
        requests, cursor = sensor_runs(defs, instance, cursor)
        for request in requests:
            ingest.execute_in_process(instance=instance, partition_key=request.partition_key)
    trends_config = {"ops": {"is_post_trends": {"config": {"window_end": TRENDS_WINDOW_END}}}}
    defs.resolve_job_def("is_trends_job").execute_in_process(
        instance=instance, run_config=trends_config
    )  # no cluster yet: the cluster trends and rotation are empty
    clusters_config = {"ops": {"is_cluster_posts": {"config": {"now": NOW}}}}
    built = defs.resolve_job_def("is_clusters_job").execute_in_process(
        instance=instance, run_config=clusters_config
    )
    assert failed_checks(built) == []
    members = lake(data_dir, "is_cluster_posts")
    clusters = lake(data_dir, "is_clusters")
    assert clusters.height >= 2  # the sample's reposts and near-duplicates
    assert members.group_by("cluster_id").len()["len"].min() >= 2
    assert set(clusters["id"]) == set(members["cluster_id"])
    rerun = defs.resolve_job_def("is_trends_job").execute_in_process(
        instance=instance, run_config=trends_config
    )
    assert failed_checks(rerun) == []
    trends = lake(data_dir, "is_cluster_trends")
    rotation = lake(data_dir, "is_cluster_rotation")
    assert set(trends["cluster_id"]) <= set(clusters["id"])
    assert rotation["rank"].drop_nulls().len() == min(20, rotation.height)
    assert rotation["last_shown_at"].dtype == pl.Datetime("us", "UTC")
    # A second build half an hour later keeps every cluster's id.
    later = {"ops": {"is_cluster_posts": {"config": {"now": "2026-12-01T11:08:00+00:00"}}}}
    defs.resolve_job_def("is_clusters_job").execute_in_process(instance=instance, run_config=later)
    again = lake(data_dir, "is_clusters")
    assert set(again["id"]) == set(clusters["id"])
    served = query(postgres_resource, "SELECT id FROM public.clusters")
    assert set(served["id"]) == set(again["id"])
    ranked = query(
        postgres_resource, "SELECT count(*) AS n FROM public.cluster_trends WHERE rank IS NOT NULL"
    )
    assert ranked["n"][0] == trends.filter(pl.col("rank").is_not_null()).height
