"""IS silver tier: near-duplicate signatures of the crawled posts (for story clustering).

Per post: a 64-bit SimHash and a 128-slot MinHash of its text, and MinHashes of its gallery
(image host/file names) and embeds (YouTube ids, tweet ids, hosts), computed by
`dag.is_signatures`. A post without tokens has no signature, so it never matches anything.
"""

import time

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.is_ import IsPostSignatures
from dag.common import elapsed
from dag.is_common import LAKE, POOL, crawl_scoped
from dag.is_crawl_ingestion import is_crawl_files
from dag.is_post_tables import PER_FILE, current_crawls, is_posts
from dag.is_rules import embed_rows, image_rows
from dag.is_signatures import signatures
from dag_io import lake

EMBED = pl.Struct({"type": pl.String, "url": pl.String, "video_id": pl.String})


def signature_input(bronze: pl.DataFrame) -> pl.DataFrame:
    """What `signatures` reads per post: its text, image URLs and embeds."""
    images = image_rows(bronze).group_by("post_id").agg(image_urls=pl.col("url"))
    embeds = (
        embed_rows(bronze)
        .group_by("post_id")
        .agg(embeds=pl.struct("type", "url", "video_id"))
    )
    return (
        bronze.select(post_id="id", title="title", content="content")
        .join(images, on="post_id", how="left")
        .join(embeds, on="post_id", how="left")
        .with_columns(
            pl.col("image_urls").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("embeds").cast(pl.List(EMBED)).fill_null(pl.lit([], dtype=pl.List(EMBED))),
        )
    )


@dg.asset(
    **PER_FILE,
    metadata={
        **lake(write_mode="merge", merge_keys=["post_id"]),
        "dagster/column_schema": column_schema(IsPostSignatures),
    },
    required_resource_keys={LAKE},
    deps=[is_posts],
    pool=POOL,
)
def is_post_signatures(
    context: dg.AssetExecutionContext, is_crawl_files: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Near-duplicate signatures of each crawled post: text SimHash64 and MinHash-128, gallery
    and embed MinHash-128 (null when the post has no tokens, images or embeds)."""
    started = time.perf_counter()
    bronze = current_crawls(context, is_crawl_files.collect())
    signed = signatures(signature_input(bronze)).join(
        bronze.select(post_id="id", computed_at="crawled_at"), on="post_id"
    )
    return dg.Output(
        signed.select(list(polars_schema(IsPostSignatures))).lazy(),
        metadata={
            "posts_signed": int(signed["text_simhash64"].is_not_null().sum()),
            "posts_without_tokens": int(signed["text_simhash64"].is_null().sum()),
            "posts_truncated": int(signed["tokens_truncated"].sum()),
            "execution_time_sec": elapsed(started),
        },
    )


is_post_signatures_contract = contract_check(
    is_post_signatures,
    IsPostSignatures,
    read=crawl_scoped(is_post_signatures, is_crawl_files),
)
