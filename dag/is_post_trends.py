"""IS gold tier: hot-post trends, one 10-minute window at a time.

A window ends on a 10-minute boundary and looks back 30 minutes: per post, its latest minus its
earliest snapshot in (end - 30 min, end] gives the deltas, and
`hot_score = d_view + 3 d_comment + 2 d_like` (raw; the web layer normalises it). Upserted on
(post_id, window_start, window_end), so recomputing a window replaces it.
"""

import datetime as dt
import time

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.is_ import IsPostTrends
from dag.common import elapsed
from dag.is_common import LAKE, is_tags
from dag.is_post_tables import is_post_snapshots
from dag_io import lake

WINDOW = dt.timedelta(minutes=10)
LOOKBACK = dt.timedelta(minutes=30)
COUNTS = {"view": "view_count", "comment": "comment_count", "like": "like_count"}
HOT_WEIGHTS = {"view": 1, "comment": 3, "like": 2}


def window_end(at: dt.datetime) -> dt.datetime:
    """The 10-minute boundary at or before `at`, in UTC (naive times are UTC)."""
    utc = at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return utc.replace(minute=utc.minute - utc.minute % 10, second=0, microsecond=0)


def hot_score(view: pl.Expr, comment: pl.Expr, like: pl.Expr) -> pl.Expr:
    """The hot-post score of a window's deltas."""
    return (
        HOT_WEIGHTS["view"] * view + HOT_WEIGHTS["comment"] * comment + HOT_WEIGHTS["like"] * like
    )


def post_trends(snapshots: pl.LazyFrame, end: dt.datetime) -> pl.LazyFrame:
    """Each post's deltas and hot score in the window ending at `end` (a 10-minute boundary)."""
    start = end - LOOKBACK
    in_window = snapshots.filter(
        (pl.col("timestamp") > start) & (pl.col("timestamp") <= end)
    ).sort("post_id", "timestamp")

    def delta(column: str) -> pl.Expr:
        return (pl.col(column).last() - pl.col(column).first()).fill_null(0)

    return (
        in_window.group_by("post_id")
        .agg(
            view_delta=delta("view_count"),
            comment_delta=delta("comment_count"),
            like_delta=delta("like_count"),
            dislike_delta=delta("dislike_count"),
        )
        .with_columns(
            window_start=pl.lit(start, dtype=pl.Datetime("us", "UTC")),
            window_end=pl.lit(end, dtype=pl.Datetime("us", "UTC")),
            hot_score=hot_score(
                pl.col("view_delta"), pl.col("comment_delta"), pl.col("like_delta")
            ),
        )
        .select(list(polars_schema(IsPostTrends)))
        .sort("hot_score", "post_id", descending=[True, False])
    )


class IsPostTrendsConfig(dg.Config):
    """`window_end`: ISO time of the window's end (floored to 10 minutes); empty = now."""

    window_end: str = ""


@dg.asset(
    group_name="IS",
    io_manager_key=LAKE,
    kinds={"polars", "deltalake"},
    tags=is_tags("gold"),
    metadata={
        **lake(write_mode="merge", merge_keys=["post_id", "window_start", "window_end"]),
        "dagster/column_schema": column_schema(IsPostTrends),
    },
    deps=[is_post_snapshots],
    required_resource_keys={LAKE},
)
def is_post_trends(
    context: dg.AssetExecutionContext, config: IsPostTrendsConfig
) -> dg.Output[pl.LazyFrame]:
    """Hot posts per 10-minute window: each post's view, comment and like growth over the last
    30 minutes and its hot score, the ranking the front page shows."""
    started = time.perf_counter()
    at = dt.datetime.fromisoformat(config.window_end) if config.window_end else dt.datetime.now()
    end = window_end(at if config.window_end else at.astimezone(dt.UTC))
    lake_io = getattr(context.resources, LAKE)
    snapshots = lake_io.read(
        is_post_snapshots.key,
        is_post_snapshots.partitions_def,
        is_post_snapshots.metadata_by_key[is_post_snapshots.key],
    )
    trends = post_trends(snapshots, end).collect()
    return dg.Output(
        trends.lazy(),
        metadata={
            "window_end": end.isoformat(),
            "posts": trends.height,
            "top_post": trends["post_id"][0] if trends.height else None,
            "top_hot_score": int(trends["hot_score"][0]) if trends.height else None,
            "execution_time_sec": elapsed(started),
        },
    )


def _latest_window(trends: pl.LazyFrame) -> pl.LazyFrame:
    return trends.filter(pl.col("window_end") == pl.col("window_end").max())


is_post_trends_contract = contract_check(
    is_post_trends,
    IsPostTrends,
    read=lambda context: _latest_window(
        getattr(context.resources, LAKE).read(
            is_post_trends.key, None, is_post_trends.metadata_by_key[is_post_trends.key]
        )
    ),
)
