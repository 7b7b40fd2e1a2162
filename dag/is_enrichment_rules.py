"""IS enrichment rules shared by the LLM (posts) and VLM (images) assets: revision keys, the
answer schemas and their cleaning, pending-work selection, front-page priority, image roll-up.

- Revision key of a post's result: md5(`text_rev:image_rev::pv=<IS_PROMPT_VERSION>`), image_rev
  `noimg` while none of its images has a result (so a new prompt version, a text change or new
  image results make the post pending again; the replaced system's conflicting defaults and its
  never-set image_rev are not reproduced).
- Pending work: non-deleted posts whose revision key has no result yet, front-page posts first
  (`post_rotation.last_shown_at` within the last 20 minutes, read from PostgreSQL; no table = no
  front page), then the newest posts; the batch is bounded.
- Answers: categories are 1-2 of the fixed list (invalid values dropped, default `[기타]`),
  keywords 3-8 asked for, trimmed, NUL-free, deduplicated, at most 8 kept.
"""


import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg
import polars as pl

from contracts.is_ import CATEGORIES
from dag.is_common import LAKE
from dag.is_rules import md5_hex
from dag.llm import LlmCall
from dag_io import LoadError, PostgresResource

DEFAULT_CATEGORY = "기타"
MAX_CATEGORIES = 2
MIN_KEYWORDS, MAX_KEYWORDS = 3, 8
NO_IMAGE = "noimg"
FRONT_PAGE_WINDOW = dt.timedelta(minutes=20)
UTC_DTYPE = pl.Datetime("us", "UTC")
STRINGS = pl.List(pl.String)
POST_COLUMNS = ("id", "site", "board", "title", "content", "tags", "text_rev", "timestamp",
                "is_deleted")
"""The `is_posts` columns a post's enrichment reads."""

ENRICHMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "categories": {
            "type": "array",
            "items": {"type": "string", "enum": list(CATEGORIES)},
            "minItems": 1,
            "maxItems": MAX_CATEGORIES,
        },
        "keywords": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": MIN_KEYWORDS,
            "maxItems": MAX_KEYWORDS,
        },
    },
    "required": ["categories", "keywords"],
    "additionalProperties": False,
}

ENRICHMENT_SYSTEM = (
    "You classify Korean community posts. The user message is one post as JSON (site, board, "
    "title, content, tags, images: captions, labels and OCR of its images). Answer with JSON: "
    f"`categories`: 1-2 of {', '.join(CATEGORIES)}; `keywords`: {MIN_KEYWORDS}-{MAX_KEYWORDS} "
    "short keywords (nouns or names) that say what the post is about, most important first."
)


def env_setting(name: str, default: str) -> str:
    """A non-secret setting from the environment, read at run time (empty = the default)."""
    return os.environ.get(name, "").strip() or default


def prompt_version() -> str:
    """IS_PROMPT_VERSION (default `pv1`): part of every post's revision key."""
    return env_setting("IS_PROMPT_VERSION", "pv1")


def revision_key(text_rev: pl.Expr, image_rev: pl.Expr, version: str) -> pl.Expr:
    """md5(`text_rev:image_rev::pv=<version>`), the revision a post's result is for."""
    return md5_hex(pl.concat_str([text_rev, pl.lit(":"), image_rev, pl.lit(f"::pv={version}")]))


def clean_categories(categories: pl.Expr) -> pl.Expr:
    """1-2 valid categories in answer order; invalid ones dropped; none left = [기타]."""
    kept = (
        categories.list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element().is_in(CATEGORIES)))
        .list.unique(maintain_order=True)
        .list.head(MAX_CATEGORIES)
    )
    return (
        pl.when(kept.list.len() > 0)
        .then(kept)
        .otherwise(pl.lit([DEFAULT_CATEGORY], dtype=STRINGS))
    )


def clean_keywords(keywords: pl.Expr) -> pl.Expr:
    """Keywords trimmed, NUL bytes removed, empty ones dropped, deduplicated, at most 8."""
    return (
        keywords.list.eval(pl.element().str.replace_all("\x00", "", literal=True).str.strip_chars())
        .list.eval(pl.element().filter(pl.element().str.len_chars() > 0))
        .list.unique(maintain_order=True)
        .list.head(MAX_KEYWORDS)
        .fill_null(pl.lit([], dtype=STRINGS))
    )


def as_utc(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A datetime column in UTC (a naive one is taken as UTC)."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return column.dt.convert_time_zone("UTC").cast(UTC_DTYPE)
    return column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def front_page_posts(postgres: PostgresResource, now: dt.datetime) -> pl.DataFrame:
    """Posts the web app showed on the front page in the last 20 minutes (`post_rotation`,
    written by the web app); none when the table does not exist yet."""
    try:
        rotation = postgres.read("post_rotation", columns=["post_id", "last_shown_at"])
    except LoadError:  # the web app has not created it: nothing is on the front page
        return pl.DataFrame(schema={"post_id": pl.String})
    shown = as_utc(pl.col("last_shown_at"), rotation.schema["last_shown_at"])
    return (
        rotation.filter(shown >= pl.lit(now - FRONT_PAGE_WINDOW, dtype=UTC_DTYPE))
        .select(pl.col("post_id").cast(pl.String))
        .unique()
    )


def _flat(column: str) -> pl.Expr:
    return pl.col(column).list.explode(keep_nulls=False, empty_as_null=False)


def image_rollup(images: pl.DataFrame) -> pl.DataFrame:
    """Per post, its image results rolled up (captions joined by ' | ', distinct labels, top 5
    OCR lines, max safety scores) and `image_rev`, the md5 of the roll-up."""
    ok = images.filter(pl.col("status") == "ok").sort("post_id", "url_hash")
    rolled = ok.group_by("post_id", maintain_order=True).agg(
        url_hashes=pl.col("url_hash").str.join("|"),
        image_summary=pl.col("caption").filter(pl.col("caption").str.len_chars() > 0)
        .str.join(" | "),
        image_keywords=_flat("labels").unique(maintain_order=True),
        image_ocr=_flat("ocr_lines").head(5).str.join("\n"),
        image_nsfw_max=pl.col("nsfw").max(),
        image_violence_max=pl.col("violence").max(),
    )
    return rolled.with_columns(
        image_rev=md5_hex(
            pl.concat_str(
                [
                    pl.col("url_hashes"),
                    pl.col("image_summary"),
                    pl.col("image_ocr"),
                    pl.col("image_keywords").list.join(","),
                ],
                separator="|",
                ignore_nulls=True,
            )
        )
    ).drop("url_hashes")


ROLLUP_SCHEMA: dict[str, pl.DataType] = {
    "post_id": pl.String(),
    "image_summary": pl.String(),
    "image_keywords": STRINGS,
    "image_ocr": pl.String(),
    "image_nsfw_max": pl.Float64(),
    "image_violence_max": pl.Float64(),
    "image_rev": pl.String(),
}


def pending_posts(
    posts: pl.DataFrame,
    results: pl.DataFrame,
    rollup: pl.DataFrame,
    front_page: pl.DataFrame,
    version: str,
    limit: int,
) -> pl.DataFrame:
    """The next batch of posts to enrich: non-deleted posts whose revision key (text, image
    roll-up, prompt version) has no result yet; front-page posts first, then the newest."""
    done = results.filter(pl.col("rev_key").is_not_null()).select("post_id", "rev_key")
    return (
        posts.select(POST_COLUMNS)
        .filter(~pl.col("is_deleted").fill_null(False) & pl.col("text_rev").is_not_null())
        .rename({"id": "post_id"})
        .join(rollup, on="post_id", how="left")
        .with_columns(
            image_rev=pl.col("image_rev").fill_null(NO_IMAGE),
            image_keywords=pl.col("image_keywords").fill_null(pl.lit([], dtype=STRINGS)),
            front_page=pl.col("post_id").is_in(front_page["post_id"].implode()),
        )
        .with_columns(rev_key=revision_key(pl.col("text_rev"), pl.col("image_rev"), version))
        .join(done, on=["post_id", "rev_key"], how="anti")
        .sort(
            "front_page", "timestamp", "post_id",
            descending=[True, True, False], nulls_last=True,
        )
        .head(limit)
    )


def post_prompts(pending: pl.DataFrame, max_chars: int = 4000) -> pl.Series:
    """Each pending post as the JSON the LLM reads (escaped by the encoder, text truncated)."""
    clean = [
        pl.col(c).fill_null("").str.replace_all("\x00", "", literal=True)
        for c in ("site", "board", "title")
    ]
    return pending.select(
        pl.struct(
            *clean,
            content=pl.col("content").fill_null("").str.replace_all("\x00", "", literal=True)
            .str.slice(0, max_chars),
            tags=pl.col("tags").fill_null(pl.lit([], dtype=STRINGS)),
            images=pl.struct(
                summary=pl.col("image_summary"),
                labels=pl.col("image_keywords"),
                ocr=pl.col("image_ocr"),
            ),
        ).struct.json_encode().alias("prompt")
    ).to_series()


def sample_enrichment(prompt: str) -> dict[str, Any]:
    """The offline stand-in (OPENAI_BASE_URL=sample): 기타 and the title's first words."""
    post = json.loads(prompt)
    words = [w for w in str(post.get("title", "")).split() if len(w) >= 2]
    return {"categories": [DEFAULT_CATEGORY], "keywords": (words or ["post"])[:MAX_KEYWORDS]}


OUTCOME_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.String(),
    "model": pl.String(),
    "latency_ms": pl.Float64(),
    "prompt_tokens": pl.Int64(),
    "completion_tokens": pl.Int64(),
    "error": pl.String(),
}


def outcomes(
    calls: Sequence[LlmCall],
    parse: Callable[[dict[str, Any]], dict[str, Any]],
    answer_schema: dict[str, pl.DataType],
) -> pl.DataFrame:
    """One row per call: its costs, its error, and `parse(answer)`'s fields. An answer that does
    not follow the schema (`parse` raises ValueError) is an error of that call."""
    rows: list[dict[str, Any]] = []
    for call in calls:
        row: dict[str, Any] = {
            "key": call.key, "model": call.model, "latency_ms": call.latency_ms,
            "prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens,
            "error": call.error,
        }
        if call.answer is not None and call.error is None:
            try:
                row.update(parse(call.answer))
            except ValueError as error:
                row["error"] = f"answer does not follow the schema: {error}"
        rows.append(row)
    return pl.DataFrame(rows, schema={**OUTCOME_SCHEMA, **answer_schema})


def strings(answer: dict[str, Any], name: str) -> list[str]:
    """A list-of-strings field of an answer (ValueError when it is not one)."""
    value = answer.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} is not a list of strings: {str(value)[:80]}")
    return value


def failed_calls_check(
    asset: dg.AssetsDefinition, keys: Sequence[str], noun: str
) -> dg.AssetChecksDefinition:
    """`<asset>_calls`: fails the run when calls of this run failed, naming them.

    Why a check: the asset writes the batch through the IO manager (successes and the failed
    calls' outcomes), so they persist; this check then reads what the run wrote and raises.
    It is not blocking, so the successes still reach the serving loads of the same run; it is
    not a contract check, so nothing is refused (the rows are valid: the failure is the run's)."""
    name = f"{asset.key.path[-1]}_calls"

    @dg.asset_check(
        asset=asset,
        name=name,
        description=f"No {noun} call of the run failed (each failure is named; no retries: the "
        "next run picks the same work up again)",
        required_resource_keys={LAKE},
    )
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        lake = getattr(context.resources, LAKE)
        rows = lake.read(asset.key, None, asset.metadata_by_key[asset.key]).filter(
            pl.col("call_run_id") == context.run.run_id
        ).select(*keys, "status", "error").collect()
        failed = rows.filter(pl.col("status") == "error")
        if failed.height:
            named = "; ".join(
                f"{'/'.join(str(v) for v in r[:-2])}: {r[-1]}" for r in failed.head(10).rows()
            )
            raise dg.Failure(
                description=f"{name}: {failed.height} of {rows.height} {noun} call(s) of this run "
                f"failed (their successes are written): {named}",
                metadata={"failed": failed.height, "calls": rows.height},
            )
        return dg.AssetCheckResult(passed=True, metadata={"calls": rows.height, "failed": 0})

    return check
