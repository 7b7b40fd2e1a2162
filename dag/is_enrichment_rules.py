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


MAX_ROLLUP_OCR, MAX_ROLLUP_OBJECTS, MAX_ROLLUP_COLORS = 5, 20, 10
OBJECT_DTYPE = pl.Struct({"name": pl.String, "count": pl.Float64, "confidence": pl.Float64})
COLOR_DTYPE = pl.Struct({"name": pl.String, "hex": pl.String, "ratio": pl.Float64})
"""Item dtypes of `objects_json` / `colors_json` (count read as a number, then rounded)."""


def _json_array(column: str) -> pl.Expr:
    """A list-of-structs column as JSON array text ('[]' when empty)."""
    return pl.concat_str(
        pl.lit("["),
        pl.col(column).list.eval(pl.element().struct.json_encode()).list.join(","),
        pl.lit("]"),
    )


def _items(ok: pl.DataFrame, column: str, dtype: pl.Struct) -> pl.DataFrame:
    """One row per item of each image's JSON array (`post_id` + the struct's fields), names
    trimmed and lower-cased (the merge key), nameless items dropped."""
    return (
        ok.select("post_id", item=pl.col(column).str.json_decode(pl.List(dtype)))
        .explode("item")
        .drop_nulls("item")
        .unnest("item")
        .with_columns(name=pl.col("name").str.strip_chars().str.to_lowercase())
        .filter(pl.col("name").str.len_chars() > 0)
    )


def top_objects(ok: pl.DataFrame) -> pl.DataFrame:
    """Per post, objects merged by name (counts summed, best confidence), top 20 by count then
    confidence (then name: a stable order), as JSON text `image_objects`."""
    merged = (
        _items(ok, "objects_json", OBJECT_DTYPE)
        .group_by("post_id", "name")
        .agg(
            count=pl.col("count").fill_null(1.0).clip(0.0).sum().round().cast(pl.Int64),
            confidence=pl.col("confidence").clip(0.0, 1.0).max(),
        )
        .sort(["post_id", "count", "confidence", "name"],
              descending=[False, True, True, False], nulls_last=True)
    )
    return merged.group_by("post_id", maintain_order=True).agg(
        objects=pl.struct("name", "count", "confidence").head(MAX_ROLLUP_OBJECTS)
    ).select("post_id", image_objects=_json_array("objects"))


def top_colors(ok: pl.DataFrame) -> pl.DataFrame:
    """Per post, colours merged by name and hex (lower-cased); ratio = the share of the post's
    described images (a colour missing from an image counts 0 there); top 10 by ratio (then
    name, hex), as JSON text `image_colors`."""
    images = ok.group_by("post_id").agg(images=pl.len())
    merged = (
        _items(ok, "colors_json", COLOR_DTYPE)
        .with_columns(hex=pl.col("hex").fill_null("").str.strip_chars().str.to_lowercase())
        .group_by("post_id", "name", "hex")
        .agg(ratio=pl.col("ratio").fill_null(0.0).clip(0.0, 1.0).sum())
        .join(images, on="post_id")
        .with_columns(ratio=(pl.col("ratio") / pl.col("images")).round(6))
        .sort(["post_id", "ratio", "name", "hex"], descending=[False, True, False, False])
    )
    return merged.group_by("post_id", maintain_order=True).agg(
        colors=pl.struct("name", "hex", "ratio").head(MAX_ROLLUP_COLORS)
    ).select("post_id", image_colors=_json_array("colors"))


def image_rollup(images: pl.DataFrame) -> pl.DataFrame:
    """Per post, its described images rolled up (spec "vlm_worker" / "image_rollup"): captions
    joined by ' | ', distinct labels, top 5 OCR lines, safety mean and max per metric, top 20
    objects, top 10 colours, and `image_rev` = md5(url_hashes | summary | ocr | keywords |
    objects | colors): a new caption, label, OCR line, object or colour (or a new described
    image) changes it, nothing else does."""
    ok = images.filter(pl.col("status") == "ok").sort("post_id", "url_hash")
    rolled = (
        ok.group_by("post_id", maintain_order=True)
        .agg(
            url_hashes=pl.col("url_hash").str.join("|"),
            image_summary=pl.col("caption").filter(pl.col("caption").str.len_chars() > 0)
            .str.join(" | "),
            image_keywords=_flat("labels").unique(maintain_order=True),
            image_ocr=_flat("ocr_lines").head(MAX_ROLLUP_OCR).str.join("\n"),
            image_nsfw_max=pl.col("nsfw").max(),
            image_violence_max=pl.col("violence").max(),
            image_nsfw_avg=pl.col("nsfw").mean(),
            image_violence_avg=pl.col("violence").mean(),
        )
        .join(top_objects(ok), on="post_id", how="left")
        .join(top_colors(ok), on="post_id", how="left")
        .with_columns(pl.col("image_objects", "image_colors").fill_null("[]"))
    )
    parts = [pl.col("url_hashes"), pl.col("image_summary"), pl.col("image_ocr"),
             pl.col("image_keywords").list.join(","), pl.col("image_objects"),
             pl.col("image_colors")]
    return rolled.with_columns(
        image_rev=md5_hex(pl.concat_str([p.fill_null("") for p in parts], separator="|"))
    ).drop("url_hashes").select(
        [pl.col(c).cast(t) for c, t in ROLLUP_SCHEMA.items()])


ROLLUP_SCHEMA: dict[str, pl.DataType] = {
    "post_id": pl.String(),
    "image_summary": pl.String(),
    "image_keywords": STRINGS,
    "image_ocr": pl.String(),
    "image_nsfw_max": pl.Float64(),
    "image_violence_max": pl.Float64(),
    "image_nsfw_avg": pl.Float64(),
    "image_violence_avg": pl.Float64(),
    "image_objects": pl.String(),
    "image_colors": pl.String(),
    "image_rev": pl.String(),
}


def with_missing_columns(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """`frame` with `schema`'s columns it lacks added as nulls (a lake table written before a
    column was added: the merge adds it on the next write)."""
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in frame.columns]
    return frame.with_columns(missing) if missing else frame


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
