"""SS bronze and silver posts: one phone-board crawl file's posts, then the normalised posts.

`ss_crawl_files` reads a crawl file with the IS reader (`dag.is_crawl_file`: same JSON format,
same validation and error messages naming the file and post); `ss_normalized_posts` upserts one
row per (post_id, url) with the text (title + content + the author's own comments), the cues and
the scores of `dag.ss_rules`.
"""

import time

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.ss import SsCrawlFiles, SsNormalizedPosts
from dag.common import elapsed
from dag.is_crawl_file import read_partition_file
from dag.ss_common import BACKFILL, LAKE, POOL, ss_crawl_file_partition, ss_output_dir, ss_tags
from dag.ss_rules import op_comment_frame, with_cues
from dag_io import lake

KST = "Asia/Seoul"


@dg.asset(
    group_name="SS",
    partitions_def=ss_crawl_file_partition,
    backfill_policy=BACKFILL,
    io_manager_key=LAKE,
    kinds={"polars", "deltalake", "json"},
    tags=ss_tags("bronze"),
    metadata={**lake(partition_by="crawl_file"),
              "dagster/column_schema": column_schema(SsCrawlFiles)},
)
def ss_crawl_files(context: dg.AssetExecutionContext) -> dg.Output[pl.LazyFrame]:
    """Phone-board posts (ppomppu/phone) of one crawl file as delivered, with lineage."""
    started = time.perf_counter()
    crawls = [
        read_partition_file(ss_output_dir(), key, "ss_crawl_files")
        for key in context.partition_keys
    ]
    posts = pl.concat([c.posts for c in crawls])
    return dg.Output(
        posts.lazy(),
        metadata={
            "files": [str(c.path) for c in crawls][:20],
            "posts": posts.height,
            "duplicates_dropped": sum(c.duplicates_dropped for c in crawls),
            "dagster/row_count": posts.height,
            "execution_time_sec": elapsed(started),
        },
    )


def normalize_posts(bronze: pl.DataFrame) -> pl.DataFrame:
    """`SsNormalizedPosts` rows of bronze posts: the latest crawl of each (post_id, url)."""
    latest = bronze.sort("crawled_at", "crawl_file", "position").unique(
        ["post_id", "url"], keep="last", maintain_order=True
    ).with_row_index("row")
    op = op_comment_frame(latest.select("row", "author", "comments_json"))
    body = pl.concat_str(pl.col("title").fill_null(""), pl.lit("\n"),
                         pl.col("content").fill_null(""))
    return with_cues(latest.lazy().with_columns(op_comments=op), body, pl.col("op_comments"))\
        .with_columns(
            text=pl.concat_str(body, pl.lit("\n"), pl.col("op_comments")),
            posted_at=pl.col("timestamp"),
            source_posted_at=pl.col("timestamp").dt.convert_time_zone(KST).dt.date(),
        ).select(list(polars_schema(SsNormalizedPosts))).collect()


@dg.asset(
    group_name="SS",
    partitions_def=ss_crawl_file_partition,
    backfill_policy=BACKFILL,
    io_manager_key=LAKE,
    kinds={"polars", "deltalake"},
    tags=ss_tags("silver"),
    metadata={**lake(write_mode="merge", merge_keys=["post_id", "url"]),
              "dagster/column_schema": column_schema(SsNormalizedPosts)},
    pool=POOL,
)
def ss_normalized_posts(ss_crawl_files: pl.LazyFrame) -> dg.Output[pl.LazyFrame]:
    """Phone-board posts, one row per (post_id, url): text, city, channel, move type, contract,
    payment, advertorial score, intent and deal candidate score."""
    started = time.perf_counter()
    bronze = ss_crawl_files.collect()
    posts = normalize_posts(bronze)
    return dg.Output(
        posts.lazy(),
        metadata={
            "posts": posts.height,
            "duplicates_dropped": bronze.height - posts.height,
            "intents": dict(posts["intent"].value_counts().iter_rows()),
            "candidates": int(posts["is_candidate"].sum()),
            "dagster/row_count": posts.height,
            "execution_time_sec": elapsed(started),
        },
    )


ss_crawl_files_contract = contract_check(ss_crawl_files, SsCrawlFiles)
ss_normalized_posts_contract = contract_check(ss_normalized_posts, SsNormalizedPosts)
