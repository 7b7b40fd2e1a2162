"""IS bronze tier: one crawler file's posts as delivered, with lineage.

One partition per crawl file (its stem). Each file is read whole and validated before anything
is written (`dag.is_crawl_file`); a malformed file fails its run, naming the file and the post,
and writes nothing. The sensor starts one run per file; a backfill range reads its files in one
run.
"""

import time

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.is_ import IsCrawlFiles
from dag.common import elapsed
from dag.is_common import BACKFILL, LAKE, is_output_dir, is_tags
from dag.is_crawl_file import read_partition_file
from dag.partitions import is_crawl_file_partition
from dag_io import lake


@dg.asset(
    group_name="IS",
    partitions_def=is_crawl_file_partition,
    backfill_policy=BACKFILL,
    io_manager_key=LAKE,
    kinds={"polars", "deltalake"},
    tags=is_tags("bronze"),
    metadata={
        **lake(partition_by="crawl_file"),
        "dagster/column_schema": column_schema(IsCrawlFiles),
    },
)
def is_crawl_files(context: dg.AssetExecutionContext) -> dg.Output[pl.LazyFrame]:
    """Community posts of one crawler file (clien, ppomppu, fmkorea, damoang boards): the
    file's meta and each post's fields, comments, images and embeds kept as raw JSON text."""
    started = time.perf_counter()
    crawls = [
        read_partition_file(is_output_dir(), key, "is_crawl_files")
        for key in context.partition_keys
    ]
    posts = pl.concat([c.posts for c in crawls])
    return dg.Output(
        posts.lazy(),
        metadata={
            "files": [str(c.path) for c in crawls][:20],
            "sha256": crawls[0].sha256 if len(crawls) == 1 else None,
            "sites": sorted({f"{c.site}/{c.board}" for c in crawls}),
            "posts": posts.height,
            "duplicates_dropped": sum(c.duplicates_dropped for c in crawls),
            "execution_time_sec": elapsed(started),
        },
    )


is_crawl_files_contract = contract_check(is_crawl_files, IsCrawlFiles)
