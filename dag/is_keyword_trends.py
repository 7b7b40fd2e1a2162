"""IS gold tier: keyword trends, one 10-minute window at a time.

For a window ending on a 10-minute boundary and each range (3h, 6h, 24h, 1w): how many
non-deleted posts published in (end - range, end] carry each keyword of their enrichment,
keywords trimmed and lower-cased (a post counts once per keyword). Counts are raw. Upserted on
(keyword, range_label, window_start, window_end), so recomputing a window replaces its counts.
"""


import datetime as dt
import time

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.is_ import KEYWORD_RANGES, IsKeywordTrends
from dag.common import elapsed
from dag.is_common import LAKE, is_tags, stored
from dag.is_enrichment import is_post_enrichment
from dag.is_enrichment_rules import UTC_DTYPE
from dag.is_post_tables import is_posts
from dag.is_post_trends import window_end
from dag_io import lake

RANGES: dict[str, dt.timedelta] = dict(
    zip(KEYWORD_RANGES, (dt.timedelta(hours=3), dt.timedelta(hours=6), dt.timedelta(hours=24),
                         dt.timedelta(weeks=1)), strict=True)
)


def keyword_trends(
    posts: pl.LazyFrame, enrichment: pl.LazyFrame, end: dt.datetime, computed_at: dt.datetime
) -> pl.LazyFrame:
    """Keyword counts of the window ending at `end` for every range. `posts`: id, timestamp,
    is_deleted; `enrichment`: post_id, keywords."""
    longest = max(RANGES.values())
    keywords = (
        posts.filter(
            ~pl.col("is_deleted").fill_null(False)
            & (pl.col("timestamp") > end - longest)
            & (pl.col("timestamp") <= end)
        )
        .select(post_id="id", timestamp="timestamp")
        .join(enrichment.select("post_id", "keywords"), on="post_id")
        .explode("keywords")
        .select(
            "post_id", "timestamp",
            keyword=pl.col("keywords").str.replace_all("\x00", "", literal=True)
            .str.strip_chars().str.to_lowercase(),
        )
        .filter(pl.col("keyword").str.len_chars() > 0)
        .unique(["post_id", "keyword"])
    )
    per_range = [
        keywords.filter(pl.col("timestamp") > end - span)
        .group_by("keyword")
        .agg(count=pl.len().cast(pl.Int64))
        .with_columns(
            range_label=pl.lit(label),
            window_start=pl.lit(end - span, dtype=UTC_DTYPE),
        )
        for label, span in RANGES.items()
    ]
    return (
        pl.concat(per_range)
        .with_columns(
            window_end=pl.lit(end, dtype=UTC_DTYPE),
            computed_at=pl.lit(computed_at, dtype=UTC_DTYPE),
        )
        .select(list(polars_schema(IsKeywordTrends)))
        .sort("range_label", "count", "keyword", descending=[False, True, False])
    )


class IsKeywordTrendsConfig(dg.Config):
    """`window_end`: ISO time of the window's end (floored to 10 minutes); empty = now."""

    window_end: str = ""


@dg.asset(
    group_name="IS",
    io_manager_key=LAKE,
    kinds={"polars", "deltalake"},
    tags=is_tags("gold", is_step="keyword_trends"),
    metadata={
        **lake(
            write_mode="merge", merge_keys=["keyword", "range_label", "window_start", "window_end"]
        ),
        "dagster/column_schema": column_schema(IsKeywordTrends),
    },
    deps=[is_posts, is_post_enrichment],
    required_resource_keys={LAKE},
)
def is_keyword_trends(
    context: dg.AssetExecutionContext, config: IsKeywordTrendsConfig
) -> dg.Output[pl.LazyFrame]:
    """Trending keywords per 10-minute window: how many posts of the last 3 hours, 6 hours,
    day and week carry each keyword of their enrichment (deleted posts left out)."""
    started = time.perf_counter()
    at = dt.datetime.fromisoformat(config.window_end) if config.window_end else dt.datetime.now()
    end = window_end(at if config.window_end else at.astimezone(dt.UTC))
    posts, enrichment = stored(context, is_posts), stored(context, is_post_enrichment)
    if posts is None or enrichment is None:  # nothing crawled or enriched yet: no keywords
        trends = pl.DataFrame(schema=polars_schema(IsKeywordTrends))
    else:
        trends = keyword_trends(
            posts.select("id", "timestamp", "is_deleted"),
            enrichment.filter(pl.col("rev_key").is_not_null()),
            end,
            dt.datetime.now(dt.UTC),
        ).collect()
    top = trends.filter(pl.col("range_label") == "3h")
    return dg.Output(
        trends.lazy(),
        metadata={
            "window_end": end.isoformat(),
            "rows": trends.height,
            "keywords_3h": top.height,
            "top_keyword_3h": top["keyword"][0] if top.height else None,
            "execution_time_sec": elapsed(started),
        },
    )


def _latest_window(trends: pl.LazyFrame) -> pl.LazyFrame:
    return trends.filter(pl.col("window_end") == pl.col("window_end").max())


is_keyword_trends_contract = contract_check(
    is_keyword_trends,
    IsKeywordTrends,
    read=lambda context: _latest_window(
        getattr(context.resources, LAKE).read(
            is_keyword_trends.key, None, is_keyword_trends.metadata_by_key[is_keyword_trends.key]
        )
    ),
)
