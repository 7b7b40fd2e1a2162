"""IS serving loads of enrichment and keyword trends (the one serving path, `dag.serving`).

| table | from | mode |
| --- | --- | --- |
| post_enrichment | is_post_enrichment | upsert, the latest run's posts with a result |
| post_image_enrichment | is_post_image_enrichment | upsert, the latest run's images with a result |
| keyword_trends (+ Turso) | is_keyword_trends | upsert, the latest window |

Lists go out as JSON array text (the web app reads jsonb-like text, as `posts.tags`), and so do
the image roll-up's safety (avg and max per metric), objects (top 20) and colours (top 10). A run's
scope is the rows its latest enrichment run wrote (`call_run_id`): a failed call's row keeps its
previous result, which is upserted again unchanged.
"""

from collections.abc import Callable

import dagster as dg
import pandera.polars as pa
import polars as pl

from contracts.is_ import (
    IsKeywordTrendsServing,
    IsPostEnrichmentServing,
    IsPostImageEnrichmentServing,
)
from dag.common import IS_TAGS
from dag.is_enrichment import is_post_enrichment
from dag.is_image_enrichment import is_post_image_enrichment
from dag.is_keyword_trends import is_keyword_trends
from dag.serving import LoadMode, Scope, Serving, serving_asset

RESOURCES = {"postgres": "is_postgres", "turso": "turso"}


def json_list(column: str) -> pl.Expr:
    """A list column as JSON array text ('[]' when empty)."""
    return (
        pl.struct(pl.col(column).alias("v")).struct.json_encode()
        .str.strip_prefix('{"v":').str.strip_suffix("}")
        .alias(column)
    )


def latest_run(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The rows the latest enrichment run wrote (its calls are the newest)."""
    newest = pl.col("call_run_id").sort_by("called_at").last()
    return frame.filter(pl.col("call_run_id") == newest)


def post_enrichment_table(is_post_enrichment: pl.LazyFrame) -> pl.LazyFrame:
    """`post_enrichment` rows of the latest run's posts that hold a result."""
    return latest_run(is_post_enrichment).filter(pl.col("rev_key").is_not_null()).select(
        "post_id", "rev_key", "text_rev", "image_rev",
        fused_version=pl.lit("fusion:") + pl.col("prompt_version"),
        fused_categories=json_list("categories"),
        fused_keywords=json_list("keywords"),
        fused_model=pl.col("model"),
        fused_at=pl.col("enriched_at"),
        image_summary=pl.col("image_summary"),
        image_keywords=json_list("image_keywords"),
        image_ocr=pl.col("image_ocr"),
        image_nsfw_max=pl.col("image_nsfw_max"),
        image_violence_max=pl.col("image_violence_max"),
        image_safety=image_safety(),
        image_objects=pl.col("image_objects"),
        image_colors=pl.col("image_colors"),
    )


def image_safety() -> pl.Expr:
    """`{"nsfw": {"avg", "max"}, "violence": {"avg", "max"}}` as JSON text (null: no image
    described)."""
    metrics = [pl.struct(avg=pl.col(f"image_{m}_avg"), max=pl.col(f"image_{m}_max")).alias(m)
               for m in ("nsfw", "violence")]
    return pl.when(pl.col("image_nsfw_max").is_not_null() | pl.col("image_nsfw_avg").is_not_null()
                   ).then(pl.struct(metrics).struct.json_encode())


def post_image_enrichment_table(is_post_image_enrichment: pl.LazyFrame) -> pl.LazyFrame:
    """`post_image_enrichment` rows of the latest run's images described by the VLM."""
    return latest_run(is_post_image_enrichment).filter(pl.col("status") == "ok").select(
        "post_id", "url_hash", "image_url", "model", "version", "caption",
        labels=json_list("labels"),
        ocr_lines=json_list("ocr_lines"),
        safety=pl.struct("nsfw", "violence").struct.json_encode(),
        objects=pl.col("objects_json"),
        colors=pl.col("colors_json"),
        enriched_at=pl.col("enriched_at"),
    )


def latest_keyword_window(is_keyword_trends: pl.LazyFrame) -> pl.LazyFrame:
    """`keyword_trends` rows of the latest computed window."""
    return is_keyword_trends.filter(pl.col("window_end") == pl.col("window_end").max())


def _run_scope(source: dg.AssetsDefinition, keys: list[str]) -> Scope:
    return Scope(
        source, lambda frame: latest_run(frame).select(keys), "the latest enrichment run's rows"
    )


LATEST_KEYWORD_WINDOW = Scope(
    is_keyword_trends,
    lambda t: latest_keyword_window(t).select("window_end"),
    "the latest keyword trend window",
)


def _load(
    table: str,
    target: str,
    contract: type[pa.DataFrameModel],
    mode: LoadMode,
    what: str,
    build: Callable[..., pl.LazyFrame],
    scope: Scope,
    stage: str,
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
            tags={**IS_TAGS, "is_step": stage},
            scope=scope,
        ),
        build,
    )


is_post_enrichment_postgres, is_post_enrichment_postgres_contract = _load(
    "post_enrichment", "postgres", IsPostEnrichmentServing, "upsert",
    "Categories, keywords and image roll-up of each post", post_enrichment_table,
    _run_scope(is_post_enrichment, ["post_id"]), "enrichment",
)
is_post_image_enrichment_postgres, is_post_image_enrichment_postgres_contract = _load(
    "post_image_enrichment", "postgres", IsPostImageEnrichmentServing, "upsert",
    "What the first and last image of each post show", post_image_enrichment_table,
    _run_scope(is_post_image_enrichment, ["post_id", "url_hash"]), "enrichment",
)
is_keyword_trends_postgres, is_keyword_trends_postgres_contract = _load(
    "keyword_trends", "postgres", IsKeywordTrendsServing, "upsert",
    "Trending keywords per 10-minute window", latest_keyword_window, LATEST_KEYWORD_WINDOW,
    "keyword_trends",
)
is_keyword_trends_turso, is_keyword_trends_turso_contract = _load(
    "keyword_trends", "turso", IsKeywordTrendsServing, "upsert",
    "Trending keywords per 10-minute window", latest_keyword_window, LATEST_KEYWORD_WINDOW,
    "keyword_trends",
)
