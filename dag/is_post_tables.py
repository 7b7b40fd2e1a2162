"""IS silver tier: the keyed post tables every crawl file upserts.

Each asset runs per crawl file (the file's partition of `is_crawl_files`) and upserts one keyed
Delta table with the lake's merge mode: a re-delivered file writes the same rows again, an
unchanged post is skipped, a newer crawl of a post updates it. Images and embeds that vanished
from a post (also when its list became empty) are deleted from their tables. Snapshots are the
only table split per file: one row per post per crawl, the counts over time trends read.
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.is_ import (
    IsPostComments,
    IsPostEmbeds,
    IsPostImages,
    IsPosts,
    IsPostSnapshots,
    IsPostVersions,
    IsSites,
)
from dag.common import elapsed
from dag.is_common import (
    BACKFILL,
    LAKE,
    POOL,
    crawl_scoped,
    is_tags,
    latest_crawl_of_each_post,
    stored_for,
)
from dag.is_crawl_ingestion import is_crawl_files
from dag.is_rules import comment_rows, embed_rows, image_rows, post_changes
from dag.partitions import is_crawl_file_partition
from dag_io import lake

# Every asset here: group IS, one run per crawl file (or one per backfill range), Delta, silver.
PER_FILE: dict[str, Any] = {
    "group_name": "IS",
    "partitions_def": is_crawl_file_partition,
    "backfill_policy": BACKFILL,
    "io_manager_key": LAKE,
    "kinds": {"polars", "deltalake"},
    "tags": is_tags("silver"),
}


def _keyed(model: type, keys: list[str], **extra: str) -> dict:
    """Metadata of a keyed table every crawl file's run upserts into."""
    return {
        **lake(write_mode="merge", merge_keys=keys, **extra),  # type: ignore[arg-type]
        "dagster/column_schema": column_schema(model),
    }


def _post_rows(changes: pl.DataFrame) -> pl.DataFrame:
    """Silver post rows of the posts a crawl changed (new ones keep their first crawl time)."""
    return changes.select(
        *[c for c in polars_schema(IsPosts) if c not in _DERIVED],
        created_at=pl.coalesce("created_at", "crawled_at"),
        updated_at=pl.col("crawled_at"),
        is_deleted=pl.lit(False),
    ).select(list(polars_schema(IsPosts)))


_DERIVED = ("created_at", "updated_at", "is_deleted")


@dg.asset(
    **PER_FILE,
    metadata=_keyed(IsPosts, ["site", "post_id"]),
    required_resource_keys={LAKE},
    pool=POOL,
)
def is_posts(
    context: dg.AssetExecutionContext, is_crawl_files: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Community posts as last crawled, one row per (site, post id): title, body, author, counts
    and `text_rev` (the revision of its text enrichment keys on). A crawl that changes neither
    the text, the tags nor the comment, image and embed counts is skipped; an older crawl than
    the stored one never overwrites it."""
    started = time.perf_counter()
    incoming = latest_crawl_of_each_post(is_crawl_files.collect())
    current = stored_for(
        context, is_posts, incoming.select("site", "post_id"), polars_schema(IsPosts)
    )
    changes = post_changes(incoming, current).join(
        current.select("id", stored_at="crawled_at"), on="id", how="left"
    ).with_columns(stale=(pl.col("stored_at") > pl.col("crawled_at")).fill_null(False))
    write = changes.filter(~pl.col("skip") & ~pl.col("stale"))
    return dg.Output(
        _post_rows(write).lazy(),
        metadata={
            "posts_in_file": incoming.height,
            "posts_new": int(changes["is_new"].sum()),
            "posts_text_changed": int((changes["changed"] & ~changes["is_new"]).sum()),
            "posts_unchanged_skipped": int(changes["skip"].sum()),
            "posts_older_than_stored": int((changes["stale"] & ~changes["skip"]).sum()),
            "rows_written": write.height,
            "execution_time_sec": elapsed(started),
        },
    )


def current_crawls(context: dg.AssetExecutionContext, bronze: pl.DataFrame) -> pl.DataFrame:
    """Each post's latest crawl among the run's files, unless `is_posts` already holds a newer
    crawl of it (a re-delivered older file never rolls back a post's children either)."""
    latest = latest_crawl_of_each_post(bronze)
    stored = stored_for(context, is_posts, latest.select("site", "post_id"), polars_schema(IsPosts))
    return latest.join(
        stored.select("id", stored_at="crawled_at"), on="id", how="left"
    ).filter(pl.col("stored_at").is_null() | (pl.col("crawled_at") >= pl.col("stored_at"))).drop(
        "stored_at"
    )


@dg.asset(
    **PER_FILE,
    metadata=_keyed(IsPostVersions, ["post_id", "content_hash"]),
    required_resource_keys={LAKE},
    deps=[is_posts],
    pool=POOL,
)
def is_post_versions(
    context: dg.AssetExecutionContext, is_crawl_files: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Each text a post has had: a new version (max + 1) whenever a crawl sees content it has not
    seen before for that post; a known (post, content hash) is never written again."""
    incoming = current_crawls(context, is_crawl_files.collect()).filter(
        pl.col("content_hash").is_not_null()
    )
    known = stored_for(
        context, is_post_versions, incoming.select(post_id="id"), polars_schema(IsPostVersions)
    )
    latest = known.group_by("post_id").agg(pl.col("version").max().alias("latest"))
    new = (
        incoming.select(
            post_id="id",
            title="title",
            content="content",
            content_html="content_html",
            content_hash="content_hash",
            changed_at="crawled_at",
        )
        .join(known, on=["post_id", "content_hash"], how="anti")
        .join(latest, on="post_id", how="left")
        .with_columns(version=(pl.col("latest").fill_null(0) + 1).cast(pl.Int32))
        .select(list(polars_schema(IsPostVersions)))
    )
    return dg.Output(new.lazy(), metadata={"versions_added": new.height})


@dg.asset(
    **PER_FILE,
    metadata=_keyed(IsPostComments, ["id"]),
    deps=[is_posts],
    pool=POOL,
)
def is_post_comments(
    context: dg.AssetExecutionContext, is_crawl_files: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Comments of the crawled posts, flattened depth first from their reply trees: `path` gives
    the position (001.002 = second reply to the first comment), `root_id` the thread's top-level
    comment. Upserted by id; comments are never deleted."""
    # Every crawl of the run counts (a comment gone from a later crawl is kept: comments are
    # never deleted); of a comment seen in several crawls the latest wins.
    bronze = is_crawl_files.collect().sort("crawled_at", "crawl_file", "position")
    bronze = bronze.join(current_crawls(context, bronze).select("id"), on="id", how="semi")
    rows, stats = comment_rows(bronze)
    rows = rows.unique("id", keep="last", maintain_order=True)
    return dg.Output(
        rows.lazy(),
        metadata={"comments": rows.height, **dataclasses.asdict(stats)},
    )


def _media(
    context: dg.AssetExecutionContext,
    asset: dg.AssetsDefinition,
    model: type,
    rows_of: Callable[[pl.DataFrame], pl.DataFrame],
    is_crawl_files: pl.LazyFrame,
    noun: str,
) -> dg.Output[pl.LazyFrame]:
    """The crawl's media rows of its posts plus the stored rows of the same posts that the crawl
    no longer lists, flagged `deleted` (the merge removes them; a post whose list is now empty
    loses all of its rows)."""
    bronze = current_crawls(context, is_crawl_files.collect())
    schema = polars_schema(model)
    rows = rows_of(bronze).select(list(schema))
    current = stored_for(context, asset, bronze.select(post_id="id"), schema)
    vanished = current.join(rows, on=["post_id", "url_hash"], how="anti")
    output = pl.concat(
        [
            rows.with_columns(deleted=pl.lit(False)),
            vanished.select(list(schema)).with_columns(deleted=pl.lit(True)),
        ]
    )
    return dg.Output(
        output.lazy(), metadata={noun: rows.height, f"{noun}_removed": vanished.height}
    )


@dg.asset(
    **PER_FILE,
    metadata=_keyed(IsPostImages, ["post_id", "url_hash"], merge_delete_flag="deleted"),
    required_resource_keys={LAKE},
    deps=[is_posts],
    pool=POOL,
)
def is_post_images(
    context: dg.AssetExecutionContext, is_crawl_files: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Images of the crawled posts, keyed by md5 of the URL; images gone from a post are removed."""
    return _media(context, is_post_images, IsPostImages, image_rows, is_crawl_files, "images")


@dg.asset(
    **PER_FILE,
    metadata=_keyed(IsPostEmbeds, ["post_id", "url_hash"], merge_delete_flag="deleted"),
    required_resource_keys={LAKE},
    deps=[is_posts],
    pool=POOL,
)
def is_post_embeds(
    context: dg.AssetExecutionContext, is_crawl_files: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Videos, tweets and frames embedded in the crawled posts; embeds gone from a post are
    removed."""
    return _media(context, is_post_embeds, IsPostEmbeds, embed_rows, is_crawl_files, "embeds")


@dg.asset(
    **PER_FILE,
    metadata={
        **lake(partition_by="crawl_file"),
        "dagster/column_schema": column_schema(IsPostSnapshots),
    },
)
def is_post_snapshots(is_crawl_files: pl.LazyFrame) -> pl.LazyFrame:
    """Each post's counts as one crawl saw them (one row per post per crawl file): the counts
    over time that hot-post trends are computed from."""
    return is_crawl_files.select(
        post_id="id",
        crawl_file="crawl_file",
        timestamp="crawled_at",
        view_count="view_count",
        like_count="like_count",
        dislike_count="dislike_count",
        comment_count="comment_count",
    ).select(list(polars_schema(IsPostSnapshots)))


@dg.asset(
    **PER_FILE,
    metadata=_keyed(IsSites, ["site", "board"]),
    required_resource_keys={LAKE},
    pool=POOL,
)
def is_sites(context: dg.AssetExecutionContext, is_crawl_files: pl.LazyFrame) -> pl.LazyFrame:
    """The crawled boards of each community site and when each was last crawled (a re-delivered
    older file never moves it back)."""
    crawled = is_crawl_files.group_by("site", "board").agg(
        last_crawled_at=pl.col("crawled_at").max()
    ).collect()
    current = stored_for(context, is_sites, crawled.select("site", "board"), polars_schema(IsSites))
    return (
        pl.concat([crawled, current.join(crawled.select("site", "board"), on=["site", "board"])])
        .group_by("site", "board")
        .agg(pl.col("last_crawled_at").max())
        .select(list(polars_schema(IsSites)))
        .lazy()
    )


is_posts_contract = contract_check(
    is_posts, IsPosts, read=crawl_scoped(is_posts, is_crawl_files, "id")
)
is_post_versions_contract = contract_check(
    is_post_versions, IsPostVersions, read=crawl_scoped(is_post_versions, is_crawl_files)
)
is_post_comments_contract = contract_check(
    is_post_comments, IsPostComments, read=crawl_scoped(is_post_comments, is_crawl_files)
)
is_post_images_contract = contract_check(
    is_post_images, IsPostImages, read=crawl_scoped(is_post_images, is_crawl_files)
)
is_post_embeds_contract = contract_check(
    is_post_embeds, IsPostEmbeds, read=crawl_scoped(is_post_embeds, is_crawl_files)
)
is_post_snapshots_contract = contract_check(is_post_snapshots, IsPostSnapshots)
is_sites_contract = contract_check(is_sites, IsSites)
