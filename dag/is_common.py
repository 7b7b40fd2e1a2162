"""What the IS asset modules share: where crawl files land, tags, and reads of stored tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl

from dag.common import IS_TAGS, Tier, tags
from dag.is_crawl_file import crawl_folder

LAKE = "delta_io_manager"
"""The IS lake: keyed silver tables need Delta (MERGE)."""

POOL = "is_lake"
"""Runs of different crawl files upsert the same silver tables: their steps take turns (a Delta
commit conflict would otherwise fail the second run)."""


BACKFILL = dg.BackfillPolicy.single_run()
"""A backfill over a range of crawl files is one run (tag-based `--partition-range` backfills need
it); the silver assets then keep each post's latest crawl of the range."""


def latest_crawl_of_each_post(bronze: pl.DataFrame) -> pl.DataFrame:
    """One row per post: its latest crawl among the run's files (a range run may hold several
    crawls of a post; the sensor's runs hold one file)."""
    return bronze.sort("crawled_at", "crawl_file", "position").unique(
        ["site", "post_id"], keep="last", maintain_order=True
    )


def is_output_dir() -> Path:
    """The folder crawlers write to (`IS_OUTPUT_DIR`, default `<data>/is/output`)."""
    return crawl_folder("IS_OUTPUT_DIR", "is/output")


def is_tags(tier: Tier, **extra: str) -> dict[str, str]:
    return tags(tier, IS_TAGS, **extra)


def stored(context: dg.AssetExecutionContext, asset: dg.AssetsDefinition) -> pl.LazyFrame | None:
    """The rows `asset`'s table holds now (lazy, for a filtered read), None before its first
    write: the keyed silver tables compare a crawl with what is stored."""
    lake = getattr(context.resources, asset.get_io_manager_key_for_asset_key(asset.key))
    try:
        return lake.read(asset.key, asset.partitions_def, asset.metadata_by_key[asset.key])
    except FileNotFoundError:
        return None


def stored_for(
    context: dg.AssetExecutionContext,
    asset: dg.AssetsDefinition,
    keys: pl.DataFrame,
    schema: dict[str, pl.DataType],
) -> pl.DataFrame:
    """The stored rows of `asset` matching a row of `keys` (an empty frame of `schema` before the
    first write). Each key column's values are pushed down into the scan, so Delta skips files
    by their column statistics: filter on columns the table is sorted by (site, post_id), not on
    a hash id, or every file is read."""
    frame = stored(context, asset)
    if frame is None:
        return pl.DataFrame(schema=schema)
    pushed = [pl.col(c).is_in(keys.get_column(c).unique().implode()) for c in keys.columns]
    return frame.filter(*pushed).collect().join(keys.unique(), on=keys.columns, how="semi")


def crawl_scoped(
    asset: dg.AssetsDefinition, bronze: dg.AssetsDefinition, column: str = "post_id"
) -> Callable[[dg.AssetCheckExecutionContext], pl.LazyFrame]:
    """A check's read of a keyed table: only the rows of the posts in the run's crawl files, so
    checking a crawl costs what the crawl holds, not what the table has grown to."""

    def read(context: dg.AssetCheckExecutionContext) -> pl.LazyFrame:
        lake = getattr(context.resources, LAKE)
        posts = lake.read(
            bronze.key, bronze.partitions_def, bronze.metadata_by_key[bronze.key],
            list(context.partition_keys),
        ).select(pl.col("id").alias(column)).unique()
        table = lake.read(asset.key, asset.partitions_def, asset.metadata_by_key[asset.key])
        return table.join(posts, on=column, how="semi")

    return read
