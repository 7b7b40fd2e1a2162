"""IS serving loads: the tables the Isshoo web app (PostgreSQL) and edge API (Turso) read.

Loaded through the one serving path (`dag.serving`). A crawl file's run loads exactly the rows of
that file's posts (`Scope`: the post ids of its `is_crawl_files` partition): upserts for posts,
versions, comments and signatures, a per-post replace for images and embeds (so vanished ones
go), a per-file replace for snapshots. Trends load the latest window.

| table | from | mode |
| --- | --- | --- |
| posts (+ Turso) | is_posts | upsert on id, the file's posts |
| post_versions, post_comments, post_signatures | silver tables | upsert, the file's posts |
| post_images, post_embeds | silver tables | replace the file's posts' rows |
| post_snapshots | is_post_snapshots | replace_partitions per crawl file |
| sites | is_sites | upsert on (id, board) |
| post_trends (+ Turso) | is_post_trends | upsert, the latest window |
"""

import inspect
from collections.abc import Callable

import dagster as dg
import pandera.polars as pa
import polars as pl

from contracts.is_ import (
    IsPostCommentsServing,
    IsPostEmbedsServing,
    IsPostImagesServing,
    IsPostSignaturesServing,
    IsPostSnapshotsServing,
    IsPostsServing,
    IsPostTrendsServing,
    IsPostVersionsServing,
    IsSitesServing,
)
from dag.common import IS_TAGS
from dag.is_crawl_ingestion import is_crawl_files
from dag.is_post_trends import is_post_trends
from dag.partitions import is_crawl_file_partition
from dag.serving import LoadMode, Scope, Serving, serving_asset

RESOURCES = {"postgres": "is_postgres", "turso": "turso"}


def _file_posts(column: str) -> Scope:
    """The rows of the posts in the run's crawl file, by the target's `column`."""
    return Scope(
        is_crawl_files,
        lambda bronze: bronze.select(pl.col("id").alias(column)),
        "the posts of the run's crawl files",
    )


def _of_file(table: pl.LazyFrame, bronze: pl.LazyFrame, column: str) -> pl.LazyFrame:
    return table.join(bronze.select(pl.col("id").alias(column)), on=column, how="semi")


def posts_table(is_posts: pl.LazyFrame, is_crawl_files: pl.LazyFrame) -> pl.LazyFrame:
    """`posts` rows of the file's posts; tags as a JSON array text."""
    return _of_file(is_posts, is_crawl_files, "id").with_columns(
        tags=pl.struct(pl.col("tags"))
        .struct.json_encode()
        .str.strip_prefix('{"tags":')
        .str.strip_suffix("}")
    )


def _child(name: str, column: str = "post_id") -> Callable[..., pl.LazyFrame]:
    """The build of a child table: its rows of the file's posts."""

    def build(**inputs: pl.LazyFrame) -> pl.LazyFrame:
        return _of_file(inputs[name], inputs["is_crawl_files"], column)

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD  # the inputs serving_asset reads
    build.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, kind), inspect.Parameter("is_crawl_files", kind)]
    )
    return build


def sites_table(is_sites: pl.LazyFrame, is_crawl_files: pl.LazyFrame) -> pl.LazyFrame:
    """`sites` rows of the file's boards (`id` is the site, as the web app names it)."""
    boards = is_crawl_files.select(pl.col("site").alias("id"), "board").unique()
    return is_sites.rename({"site": "id"}).join(boards, on=["id", "board"], how="semi")


def latest_trends(is_post_trends: pl.LazyFrame) -> pl.LazyFrame:
    """`post_trends` rows of the latest computed window."""
    return is_post_trends.filter(pl.col("window_end") == pl.col("window_end").max())


LATEST_WINDOW = Scope(
    is_post_trends, lambda t: latest_trends(t).select("window_end"), "the latest trend window"
)


def _load(
    table: str,
    target: str,
    contract: type[pa.DataFrameModel],
    mode: LoadMode,
    what: str,
    build: Callable[..., pl.LazyFrame] | str,
    scope: Scope | None,
    per_file: bool = True,
    partition_by: str | None = None,
) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    return serving_asset(
        Serving(
            name=f"is_{table}_{target}",
            group="IS",
            table=table,
            target=target,  # type: ignore[arg-type]
            resource_key=RESOURCES[target],
            contract=contract,
            mode=mode,
            description=f"{what} ({'PostgreSQL' if target == 'postgres' else 'Turso'} `{table}`)",
            tags=IS_TAGS,
            partitions_def=is_crawl_file_partition if per_file else None,
            partition_by=partition_by,
            scope=scope,
        ),
        build,
    )


is_posts_postgres, is_posts_postgres_contract = _load(
    "posts", "postgres", IsPostsServing, "upsert", "Community posts as last crawled",
    posts_table, _file_posts("id"),
)
is_posts_turso, is_posts_turso_contract = _load(
    "posts", "turso", IsPostsServing, "upsert", "Community posts as last crawled",
    posts_table, _file_posts("id"),
)
is_post_versions_postgres, is_post_versions_postgres_contract = _load(
    "post_versions", "postgres", IsPostVersionsServing, "upsert", "Each text a post has had",
    _child("is_post_versions"), _file_posts("post_id"),
)
is_post_comments_postgres, is_post_comments_postgres_contract = _load(
    "post_comments", "postgres", IsPostCommentsServing, "upsert", "Comments of the posts",
    _child("is_post_comments"), _file_posts("post_id"),
)
is_post_images_postgres, is_post_images_postgres_contract = _load(
    "post_images", "postgres", IsPostImagesServing, "replace_partitions", "Images of the posts",
    _child("is_post_images"), _file_posts("post_id"),
)
is_post_embeds_postgres, is_post_embeds_postgres_contract = _load(
    "post_embeds", "postgres", IsPostEmbedsServing, "replace_partitions",
    "Videos, tweets and frames embedded in the posts", _child("is_post_embeds"),
    _file_posts("post_id"),
)
is_post_signatures_postgres, is_post_signatures_postgres_contract = _load(
    "post_signatures", "postgres", IsPostSignaturesServing, "upsert",
    "Near-duplicate signatures of the posts", _child("is_post_signatures"), _file_posts("post_id"),
)
is_post_snapshots_postgres, is_post_snapshots_postgres_contract = _load(
    "post_snapshots", "postgres", IsPostSnapshotsServing, "replace_partitions",
    "Post counts per crawl", "is_post_snapshots", None,
    partition_by="crawl_file",
)
is_sites_postgres, is_sites_postgres_contract = _load(
    "sites", "postgres", IsSitesServing, "upsert", "Crawled boards and their last crawl",
    sites_table,
    Scope(
        is_crawl_files,
        lambda b: b.select(pl.col("site").alias("id"), "board"),
        "the boards of the run's crawl files",
    ),
)
is_post_trends_postgres, is_post_trends_postgres_contract = _load(
    "post_trends", "postgres", IsPostTrendsServing, "upsert", "Hot posts per 10-minute window",
    latest_trends, LATEST_WINDOW, per_file=False,
)
is_post_trends_turso, is_post_trends_turso_contract = _load(
    "post_trends", "turso", IsPostTrendsServing, "upsert", "Hot posts per 10-minute window",
    latest_trends, LATEST_WINDOW, per_file=False,
)
