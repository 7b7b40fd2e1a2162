"""IS end to end on the embedded defaults: sample crawls, the sensor's per-file runs, trends,
the PostgreSQL and Turso loads; the same file ingested twice gives the same tables; a bad file
fails its own run only."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dag.definitions import is_modules
from dag.is_common import is_output_dir
from dag.is_demo import CRAWLS, TRENDS_WINDOW_END, sensor_runs
from dag.is_sample import sample_crawl
from dag.jobs import is_jobs
from dag.sensors import is_output_data_sensor
from dag_io import PostgresResource
from tests.sql import query

SILVER = (
    "is_posts",
    "is_post_versions",
    "is_post_comments",
    "is_post_images",
    "is_post_embeds",
    "is_sites",
    "is_post_signatures",
)
SERVING = {
    "posts": "id",
    "post_versions": "post_id, content_hash",
    "post_comments": "id",
    "post_images": "post_id, url_hash",
    "post_embeds": "post_id, url_hash",
    "post_snapshots": "crawl_file, post_id",
    "sites": "id, board",
    "post_signatures": "post_id",
    "post_trends": "post_id, window_start, window_end",
}


@pytest.fixture
def is_defs(
    data_dir: Path, postgres_resource: PostgresResource, monkeypatch: pytest.MonkeyPatch
) -> dg.Definitions:
    monkeypatch.setenv("IS_SENSOR_SETTLE_SECONDS", "0")
    monkeypatch.setenv("IS_SENSOR_PARSE_GRACE_SECONDS", "0")
    from dag.resources import build_resources

    resources = build_resources()
    resources["is_postgres"] = postgres_resource
    return dg.Definitions(
        assets=dg.load_assets_from_modules(is_modules),
        asset_checks=dg.load_asset_checks_from_modules(is_modules),
        jobs=is_jobs,
        sensors=[is_output_data_sensor],
        resources=resources,
    )


def ingest(
    defs: dg.Definitions, instance: dg.DagsterInstance, requests: list[dg.RunRequest]
) -> dict[str, dg.ExecuteInProcessResult]:
    job = defs.resolve_job_def("is_ingest_job")
    return {
        str(r.partition_key): job.execute_in_process(
            instance=instance, partition_key=r.partition_key, raise_on_error=False
        )
        for r in requests
    }


def lake_table(data_dir: Path, asset: str) -> pl.DataFrame:
    frame = pl.read_delta(str(data_dir / "lake" / "delta" / asset))
    return frame.sort(frame.columns[:2])


def serving_counts(pg: PostgresResource) -> dict[str, tuple[int, int]]:
    out = {}
    for table, key in SERVING.items():
        sql = f"SELECT count(*) AS n, count(DISTINCT ({key})) AS k FROM public.{table}"
        row = query(pg, sql).row(0)
        out[table] = (row[0], row[1])
    return out


def failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]


@pytest.mark.postgres
@pytest.mark.slow
def test_two_crawls_trends_and_the_same_file_twice(
    is_defs: dg.Definitions, data_dir: Path, postgres_resource: PostgresResource
) -> None:
    with dg.instance_for_test() as instance:
        cursor = None
        for crawl, at in enumerate(CRAWLS):
            files = sample_crawl(is_output_dir(), crawl, at)
            requests, cursor = sensor_runs(is_defs, instance, cursor)
            assert sorted(r.partition_key for r in requests) == sorted(f.stem for f in files)
            for key, result in ingest(is_defs, instance, requests).items():
                assert result.success, key
                assert failed_checks(result) == [], key
        # Nothing new: the sensor asks for nothing.
        assert sensor_runs(is_defs, instance, cursor)[0] == []
        trends = is_defs.resolve_job_def("is_trends_job").execute_in_process(
            instance=instance,
            run_config={"ops": {"is_post_trends": {"config": {"window_end": TRENDS_WINDOW_END}}}},
        )
        assert trends.success and failed_checks(trends) == []

        posts = lake_table(data_dir, "is_posts")
        bronze = pl.read_delta(str(data_dir / "lake" / "delta" / "is_crawl_files"))
        assert posts.height == bronze.select("site", "post_id").n_unique()
        counts = serving_counts(postgres_resource)
        assert counts["posts"] == (posts.height, posts.height)
        assert all(rows == keys for rows, keys in counts.values()), counts
        assert counts["post_snapshots"][0] == bronze.height
        # Both crawls fall in the window: counts grew, so some post is hot.
        hot = query(postgres_resource, "SELECT max(hot_score) FROM public.post_trends").item()
        assert hot > 0
        end = dt.datetime.fromisoformat(TRENDS_WINDOW_END)
        windows = query(postgres_resource, "SELECT DISTINCT window_end FROM public.post_trends")
        assert windows.to_series().to_list() == [end]
        # Crawl 1 edits posts: their new text is version 2 (and only those get one).
        versions = lake_table(data_dir, "is_post_versions")
        edited = bronze.group_by("id").agg(pl.col("content_hash").n_unique().alias("texts"))
        assert versions["version"].max() == 2
        assert versions.height == edited["texts"].sum()
        # Vanished images are gone from the lake and from PostgreSQL.
        latest = bronze.sort("crawled_at").unique("id", keep="last")
        listed = (
            latest.select(
                "id", pl.col("images_json").str.json_decode(pl.List(pl.String)).alias("urls")
            )
            .explode("urls")
            .drop_nulls()
        )
        assert lake_table(data_dir, "is_post_images").height == listed.height
        assert counts["post_images"][0] == listed.height

        # The same file again (a re-delivery): every table stays as it was.
        before = {a: lake_table(data_dir, a) for a in SILVER}
        key = sorted(f.stem for f in files)[0]
        again = ingest(is_defs, instance, [dg.RunRequest(partition_key=key)])
        assert again[key].success
        for asset, frame in before.items():
            assert_frame_equal(lake_table(data_dir, asset), frame, check_row_order=False)
        assert serving_counts(postgres_resource) == counts


@pytest.mark.postgres
@pytest.mark.slow
def test_a_bad_file_fails_its_own_run_only(
    is_defs: dg.Definitions, data_dir: Path, postgres_resource: PostgresResource
) -> None:
    # One good file beside the bad one is enough to show the runs are independent.
    files, others = sample_crawl(is_output_dir(), 0, CRAWLS[0])[:1], []
    for other in sorted(is_output_dir().glob("*.json")):
        if other not in files:
            other.unlink()
            others.append(other)
    assert others, "the sample crawl wrote one file only"
    good = json.loads(files[0].read_text(encoding="utf-8"))
    bad = is_output_dir() / "clien_park_2026-12-01_19-30-00.json"
    bad.write_text(json.dumps(good, ensure_ascii=False)[:-500], encoding="utf-8")  # truncated
    with dg.instance_for_test() as instance:
        requests, _ = sensor_runs(is_defs, instance, None)
        results = ingest(is_defs, instance, requests)
    assert len(results) == len(files) + 1
    assert not results[bad.stem].success
    failure = results[bad.stem].failure_data_for_node("is_crawl_files")
    assert failure is not None and bad.name in str(failure.error)
    assert all(r.success for k, r in results.items() if k != bad.stem)
    bronze = pl.read_delta(str(data_dir / "lake" / "delta" / "is_crawl_files"))
    assert bad.stem not in bronze["crawl_file"].to_list()
