"""Keyword trends on fixed timestamps (ranges, deleted posts, normalisation) and their loads."""

import datetime as dt
from typing import Any

import dagster as dg
import polars as pl
import pytest

from contracts import validate_frame
from contracts.is_ import IsKeywordTrends
from dag.is_common import LAKE
from dag.is_enrichment_loads import is_keyword_trends_postgres, is_keyword_trends_turso
from dag.is_keyword_trends import is_keyword_trends, keyword_trends
from dag.resources import build_resources

END = dt.datetime(2026, 12, 6, 10, 30, tzinfo=dt.UTC)
UTC = pl.Datetime("us", "UTC")


def _frames(*rows: tuple[str, float, bool, list[str]]) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(post, hours before END published, deleted, keywords)"""
    posts = pl.DataFrame(
        [(p, END - dt.timedelta(hours=h), d) for p, h, d, _ in rows],
        schema={"id": pl.String, "timestamp": UTC, "is_deleted": pl.Boolean}, orient="row",
    )
    enrichment = pl.DataFrame(
        {"post_id": [r[0] for r in rows], "keywords": [r[3] for r in rows]},
        schema={"post_id": pl.String, "keywords": pl.List(pl.String)},
    )
    return posts.lazy(), enrichment.lazy()


def _counts(trends: pl.DataFrame, label: str) -> dict[str, int]:
    picked = trends.filter(pl.col("range_label") == label)
    return dict(zip(picked["keyword"], picked["count"], strict=True))


def test_keyword_counts_per_range_on_fixed_timestamps() -> None:
    posts, enrichment = _frames(
        ("a", 1, False, [" AI ", "ai", "Galaxy"]),  # one post counts once per keyword
        ("b", 3, False, ["ai"]),  # exactly 3h before the end: in 3h (end inclusive, start not)
        ("c", 5, False, ["AI", "아이폰"]),
        ("d", 20, False, ["아이폰", "  "]),  # blank keywords dropped
        ("e", 24 * 6, False, ["week"]),
        ("f", 24 * 8, False, ["old"]),  # older than a week
        ("g", 2, True, ["deleted"]),  # deleted posts never count
        ("h", -1, False, ["future"]),  # after the window's end
    )
    trends = keyword_trends(posts, enrichment, END, END).collect()
    assert validate_frame(trends, IsKeywordTrends)[0]
    assert _counts(trends, "3h") == {"ai": 1, "galaxy": 1}
    assert _counts(trends, "6h") == {"ai": 3, "galaxy": 1, "아이폰": 1}
    assert _counts(trends, "24h") == {"ai": 3, "galaxy": 1, "아이폰": 2}
    assert _counts(trends, "1w") == {"ai": 3, "galaxy": 1, "아이폰": 2, "week": 1}
    three = trends.filter(pl.col("range_label") == "3h").row(0, named=True)
    assert three["window_start"] == END - dt.timedelta(hours=3) and three["window_end"] == END


@pytest.mark.postgres
def test_keyword_trends_asset_and_loads(
    data_dir: Any, postgres_resource: Any
) -> None:
    posts, enrichment = _frames(("a", 1, False, ["AI"]), ("b", 2, False, ["ai", "폰"]))
    full_posts = posts.collect()
    resources = {**build_resources(), "is_postgres": postgres_resource}

    @dg.asset(name="is_posts", io_manager_key=LAKE,
              metadata={"write_mode": "merge", "merge_keys": ["id"]})
    def seed_posts() -> pl.LazyFrame:
        return full_posts.lazy()

    @dg.asset(name="is_post_enrichment", io_manager_key=LAKE,
              metadata={"write_mode": "merge", "merge_keys": ["post_id"]})
    def seed_enrichment() -> pl.LazyFrame:
        return enrichment.with_columns(rev_key=pl.lit("0" * 32))

    with dg.instance_for_test() as instance:
        assert dg.materialize([seed_posts, seed_enrichment], resources=resources,
                              instance=instance).success
        result = dg.materialize(
            [is_keyword_trends, is_keyword_trends_postgres, is_keyword_trends_turso],
            resources=resources, instance=instance,
            run_config={"ops": {"is_keyword_trends": {
                "config": {"window_end": "2026-12-06T10:35:00+00:00"}}}},
        )
        assert result.success
    loaded = postgres_resource.read("keyword_trends")
    counts = loaded.filter(pl.col("range_label") == "3h").sort("keyword")
    assert counts.select("keyword", "count").rows() == [("ai", 2), ("폰", 1)]
    assert loaded["window_end"].dt.replace_time_zone(None).unique().to_list() == [
        END.replace(tzinfo=None)
    ] or loaded["window_end"].unique().to_list() == [END]


def test_wired_definitions_follow_the_guideline_and_keep_enrichment_out_of_ingest(
    data_dir: Any,
) -> None:
    from dag import definitions, is_enrichment, is_enrichment_loads, is_image_enrichment
    from dag import is_keyword_trends as keyword_module
    from dag.conventions import check_definitions, lake_config_violations, missing_contract_checks
    from dag.jobs import all_jobs
    from dag.schedules import all_schedules
    from dag.sensors import all_sensors, freshness_checks

    modules = [*(m for g in definitions.groups for m in g), is_image_enrichment, is_enrichment,
               keyword_module, is_enrichment_loads]
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules(modules),
        asset_checks=[*dg.load_asset_checks_from_modules(modules), *freshness_checks],
        jobs=all_jobs, schedules=all_schedules, sensors=all_sensors, resources=build_resources(),
    )
    assert check_definitions(defs) == []
    assert missing_contract_checks(defs) == []
    assert lake_config_violations(defs) == []
    ingest = {k.path[-1] for k in defs.resolve_job_def("is_ingest_job").asset_layer
              .selected_asset_keys}
    enrichment = {k.path[-1] for k in defs.resolve_job_def("is_enrichment_job").asset_layer
                  .selected_asset_keys}
    keywords = {k.path[-1] for k in defs.resolve_job_def("is_keyword_trends_job").asset_layer
                .selected_asset_keys}
    assert "is_posts" in ingest and not ingest & (enrichment | keywords)
    assert enrichment == {"is_post_image_enrichment", "is_post_enrichment",
                          "is_post_enrichment_postgres", "is_post_image_enrichment_postgres"}
    assert keywords == {"is_keyword_trends", "is_keyword_trends_postgres",
                        "is_keyword_trends_turso"}
