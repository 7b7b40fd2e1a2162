"""IS gold tier: each post's categories and keywords from an LLM, with its images rolled up.

The `openai` resource answers with a strict JSON schema (categories an enum of the fixed list,
3-8 keywords); invalid categories are dropped (default `[기타]`), keywords trimmed and
deduplicated (`dag.is_enrichment_rules`). The prompt is the post as JSON (site, board, title,
content, tags and its images' roll-up), encoded by Polars, never pasted into a template.

Pending work, batch and priority: `dag.is_enrichment_rules.pending_posts` (revision key
md5(`text_rev:image_rev::pv=<IS_PROMPT_VERSION>`), front page first, IS_ENRICHMENT_BATCH_SIZE,
default 100); at most OPENAI_MAX_CONCURRENCY calls in flight.

Write, audit, publish with failed calls: the asset returns every row of the batch to the IO
manager (a MERGE on post_id): successes with their result, failures with the previous result
kept and the call's error recorded; its blocking contract check audits them. The non-blocking
`is_post_enrichment_calls` check then reads the run's rows and raises naming the failed posts,
so the run fails while the successes stay written (and loaded). No retries: the next run finds
the failed posts still pending.
"""


import datetime as dt
import time
from typing import Any

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.is_ import IsPostEnrichment, IsPosts
from dag.common import elapsed
from dag.is_common import LAKE, is_tags, stored
from dag.is_enrichment_rules import (
    ENRICHMENT_SCHEMA,
    ENRICHMENT_SYSTEM,
    POST_COLUMNS,
    ROLLUP_SCHEMA,
    STRINGS,
    UTC_DTYPE,
    clean_categories,
    clean_keywords,
    env_setting,
    failed_calls_check,
    front_page_posts,
    image_rollup,
    outcomes,
    pending_posts,
    post_prompts,
    prompt_version,
    sample_enrichment,
    strings,
    with_missing_columns,
)
from dag.is_image_enrichment import is_post_image_enrichment
from dag.is_post_tables import is_posts
from dag.llm import OpenAIResource
from dag_io import PostgresResource, lake

_ANSWER_SCHEMA: dict[str, pl.DataType] = {"categories": STRINGS, "keywords": STRINGS}
_RESULT = ("rev_key", "text_rev", "image_rev", "prompt_version", "categories", "keywords",
           "enriched_at", "image_summary", "image_keywords", "image_ocr", "image_nsfw_max",
           "image_violence_max", "image_nsfw_avg", "image_violence_avg", "image_objects",
           "image_colors")


def _parse(answer: dict[str, Any]) -> dict[str, Any]:
    return {"categories": strings(answer, "categories"), "keywords": strings(answer, "keywords")}


def enrichment_rows(
    pending: pl.DataFrame,
    answers: pl.DataFrame,
    previous: pl.DataFrame,
    *,
    version: str,
    run_id: str,
    now: dt.datetime,
) -> pl.DataFrame:
    """The rows to upsert: each answered post's result, and each failed post's previous result
    (none: no result) with the call's error."""
    schema = polars_schema(IsPostEnrichment)
    now_lit = pl.lit(now, dtype=UTC_DTYPE)
    frame = pending.join(answers.rename({"key": "post_id"}), on="post_id", how="left").with_columns(
        status=pl.when(pl.col("error").is_null()).then(pl.lit("ok")).otherwise(pl.lit("error")),
        call_run_id=pl.lit(run_id),
        called_at=now_lit,
    )
    done = frame.filter(pl.col("status") == "ok").with_columns(
        categories=clean_categories(pl.col("categories")),
        keywords=clean_keywords(pl.col("keywords")),
        prompt_version=pl.lit(version),
        enriched_at=now_lit,
    )
    failed = (
        frame.filter(pl.col("status") == "error")
        .select("post_id", "front_page", "status", "model", "latency_ms", "prompt_tokens",
                "completion_tokens", "error", "call_run_id", "called_at")
        .join(previous.select("post_id", *_RESULT), on="post_id", how="left")
        .with_columns(
            [pl.col(c).fill_null(pl.lit([], dtype=STRINGS))
             for c in ("categories", "keywords", "image_keywords")]
        )
    )
    return pl.concat(
        [done.select(list(schema)), failed.select(list(schema))], how="vertical_relaxed"
    ).select([pl.col(c).cast(t) for c, t in schema.items()])


class IsPostEnrichmentConfig(dg.Config):
    """Run settings; empty = the environment's, then the defaults."""

    batch_size: int = 0
    """Posts per run (IS_ENRICHMENT_BATCH_SIZE, default 100)."""
    now: str = ""
    """ISO time the front page is judged at (default: now)."""


@dg.asset(
    group_name="IS",
    io_manager_key=LAKE,
    kinds={"polars", "deltalake", "openai"},
    tags=is_tags("gold", is_step="enrichment"),
    metadata={
        **lake(write_mode="merge", merge_keys=["post_id"]),
        "dagster/column_schema": column_schema(IsPostEnrichment),
    },
    deps=[is_posts, is_post_image_enrichment],
    required_resource_keys={LAKE, "openai", "is_postgres"},
)
def is_post_enrichment(
    context: dg.AssetExecutionContext, config: IsPostEnrichmentConfig
) -> dg.Output[pl.LazyFrame]:
    """What each post is about: 1-2 categories from the fixed list and 3-8 keywords from an
    LLM, with its images' captions, labels, OCR, safety, objects and colours rolled up. Every
    call's outcome (model, latency, tokens, error) is kept in the post's row."""
    openai: OpenAIResource = context.resources.openai
    is_postgres: PostgresResource = context.resources.is_postgres
    openai.require("is_post_enrichment")
    started = time.perf_counter()
    at = dt.datetime.fromisoformat(config.now) if config.now else dt.datetime.now(dt.UTC)
    at = at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)
    version = prompt_version()
    limit = config.batch_size or int(env_setting("IS_ENRICHMENT_BATCH_SIZE", "100"))
    schema = polars_schema(IsPostEnrichment)
    posts_lf = stored(context, is_posts)
    results_lf, images_lf = stored(context, is_post_enrichment), stored(
        context, is_post_image_enrichment
    )
    results = with_missing_columns(
        results_lf.collect() if results_lf is not None else pl.DataFrame(schema=schema), schema
    )
    rollup = (
        image_rollup(images_lf.collect()) if images_lf is not None
        else pl.DataFrame(schema=ROLLUP_SCHEMA)
    )
    posts = (
        posts_lf.select(POST_COLUMNS).collect() if posts_lf is not None
        else pl.DataFrame(schema=posts_schema())
    )
    pending = pending_posts(posts, results, rollup, front_page_posts(is_postgres, at), version,
                            limit)
    calls = openai.complete_json(
        "is_post_enrichment",
        list(zip(pending["post_id"], post_prompts(pending), strict=True)),
        system=ENRICHMENT_SYSTEM, schema_name="is_post_enrichment", schema=ENRICHMENT_SCHEMA,
        sample=sample_enrichment, raise_on_failure=False,
    )
    answers = outcomes(calls, _parse, _ANSWER_SCHEMA)
    rows = enrichment_rows(pending, answers, results, version=version,
                           run_id=context.run.run_id, now=dt.datetime.now(dt.UTC))
    failed = rows.filter(pl.col("status") == "error")
    tokens = rows.select(pl.col("prompt_tokens").sum() + pl.col("completion_tokens").sum()).item()
    latency = rows["latency_ms"].median() if rows.height else None
    return dg.Output(
        rows.lazy(),
        metadata={
            "posts_in_batch": pending.height,
            "front_page_posts": int(pending["front_page"].sum()),
            "enriched": rows.height - failed.height,
            "failed": failed.height,
            "failed_posts": dg.MetadataValue.json(failed["post_id"].head(20).to_list()),
            "llm_model": openai.model or "",
            "llm_sample_mode": openai.sample_mode,
            "tokens": int(tokens or 0),
            "latency_ms_median": float(latency) if isinstance(latency, int | float) else None,
            "prompt_version": version,
            "execution_time_sec": elapsed(started),
        },
    )


def posts_schema() -> dict[str, pl.DataType]:
    """The `is_posts` columns pending work reads (an empty frame before the first crawl)."""
    full = polars_schema(IsPosts)
    return {c: full[c] for c in POST_COLUMNS}


is_post_enrichment_contract = contract_check(is_post_enrichment, IsPostEnrichment)
is_post_enrichment_calls = failed_calls_check(is_post_enrichment, ["post_id"], "LLM")
