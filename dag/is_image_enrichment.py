"""IS gold tier: the first and last image of each post as a VLM describes them.

Per image: caption, labels (<= 20), OCR lines (<= 200 x 160 characters), safety scores (nsfw,
violence in 0..1), objects and colours, from the `qwen25` resource (an `OpenAIResource` bound to
VLM_*). Images are downloaded with httpx (IS_IMAGE_TIMEOUT_SECONDS, IS_IMAGE_MAX_BYTES).

Routing and preprocessing (the `route` column, the data URL sent): `dag.is_image_routing`.

Pending work: the first and last image (by their place in the post's HTML) of non-deleted posts
whose revision key md5(`url_hash::vpv=<IS_VLM_PROMPT_VERSION>`) has no result yet, front-page
posts first, at most IS_IMAGE_ENRICHMENT_BATCH_SIZE images per run. Outcomes:
- `ok`: the VLM's description;
- `skipped`: the image cannot be used (larger than the limit, not an image, HTTP 4xx): a
  result, not retried for the same revision;
- `error`: download timeout, HTTP 5xx, connection error or a failed call: recorded (a previous
  result is kept), the run fails after writing the batch (`is_post_image_enrichment_calls`), and
  the next run picks the image up again. No retries within a run.
"""


import base64
import datetime as dt
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dagster as dg
import httpx
import polars as pl
from PIL import Image, UnidentifiedImageError

from contracts import column_schema, contract_check, polars_schema
from contracts.is_ import IsPostImageEnrichment
from dag.common import elapsed
from dag.is_common import LAKE, is_tags, stored
from dag.is_enrichment_rules import (
    STRINGS,
    UTC_DTYPE,
    env_setting,
    failed_calls_check,
    front_page_posts,
    outcomes,
    strings,
    with_missing_columns,
)
from dag.is_image_routing import ROUTE_PROMPTS, Route, RouteSettings, prepare_image
from dag.is_post_tables import is_post_images, is_posts
from dag.is_rules import md5_hex
from dag.llm import OpenAIResource
from dag_io import PostgresResource, lake

ROW_VERSION = 2
MAX_LABELS, MAX_OCR_LINES, MAX_OCR_CHARS = 20, 200, 160
_NAMED = {"type": "string"}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}


def _items(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": {
        "type": "object", "properties": properties, "required": list(properties),
        "additionalProperties": False,
    }}


IMAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "caption": {"type": "string"},
        "labels": {"type": "array", "items": _NAMED, "maxItems": MAX_LABELS},
        "ocr_lines": {"type": "array", "items": _NAMED, "maxItems": MAX_OCR_LINES},
        "safety": {"type": "object", "properties": {"nsfw": _SHARE, "violence": _SHARE},
                   "required": ["nsfw", "violence"], "additionalProperties": False},
        "objects": _items({"name": _NAMED, "count": {"type": "integer"}, "confidence": _SHARE}),
        "colors": _items({"name": _NAMED, "hex": _NAMED, "ratio": _SHARE}),
    },
    "required": ["caption", "labels", "ocr_lines", "safety", "objects", "colors"],
    "additionalProperties": False,
}
IMAGE_SYSTEM = (
    "You describe one image of a Korean community post. Answer with JSON: a one-sentence "
    "caption, up to 20 labels, the text lines you can read (ocr_lines, in reading order), "
    "safety scores nsfw and violence in 0..1, the objects you see (name, count, confidence) and "
    "the main colours (name, hex, ratio of the image)."
)
_ANSWER_SCHEMA: dict[str, pl.DataType] = {
    "caption": pl.String(), "labels": STRINGS, "ocr_lines": STRINGS, "nsfw": pl.Float64(),
    "violence": pl.Float64(), "objects_json": pl.String(), "colors_json": pl.String(),
}


def vlm_prompt_version() -> str:
    """IS_VLM_PROMPT_VERSION (default `vpv2`, the routed OCR/PHOTO prompts): part of every
    image's revision key."""
    return env_setting("IS_VLM_PROMPT_VERSION", "vpv2")


@dataclass(frozen=True)
class FetchedImage:
    """A downloaded image as a data URL and its route, or why there is none (`transient`: try
    next run)."""

    url: str
    data_url: str | None
    size: int
    problem: str | None = None
    transient: bool = False
    route: Route | None = None
    heavy: bool = False


def fetch_image(
    client: httpx.Client, url: str, max_bytes: int, settings: RouteSettings | None = None
) -> FetchedImage:
    """Download `url` (the client's timeout) without reading past `max_bytes`; check it is an
    image; route and encode it (`prepare_image`)."""
    body = bytearray()
    try:
        with client.stream("GET", url) as response:
            if response.status_code >= 400:
                return FetchedImage(url, None, 0, f"fetch: HTTP {response.status_code}",
                                    transient=response.status_code >= 500)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                return FetchedImage(url, None, int(declared),
                                    f"image of {declared} bytes is over the {max_bytes} limit")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    return FetchedImage(url, None, len(body),
                                        f"image is over the {max_bytes}-byte limit")
    except httpx.TimeoutException as error:
        return FetchedImage(url, None, len(body), f"fetch timed out: {error!r}", transient=True)
    except httpx.HTTPError as error:  # connection refused, reset, protocol error
        return FetchedImage(url, None, len(body), f"fetch failed: {error!r}", transient=True)
    try:
        with Image.open(io.BytesIO(bytes(body))) as probe:
            probe.verify()
        prepared = prepare_image(bytes(body), url, settings or RouteSettings())
    except Image.DecompressionBombError as error:  # more pixels than Pillow decodes safely
        return FetchedImage(url, None, len(body), f"image too large to decode: {error}")
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        return FetchedImage(url, None, len(body), f"not an image: {error}")
    encoded = base64.b64encode(prepared.data).decode("ascii")
    return FetchedImage(url, f"data:{prepared.mime};base64,{encoded}", len(body),
                        route=prepared.route, heavy=prepared.heavy)


def fetch_images(
    urls: list[str],
    *,
    timeout_seconds: float,
    max_bytes: int,
    concurrency: int,
    settings: RouteSettings | None = None,
) -> list[FetchedImage]:
    """Download, route and encode `urls` with at most `concurrency` at once (no retries)."""
    if not urls:
        return []
    with httpx.Client(timeout=timeout_seconds, follow_redirects=True) as client, \
            ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda u: fetch_image(client, u, max_bytes, settings), urls))


def image_prompt(fetched: FetchedImage) -> str:
    """The user message of an image's call: its route's prompt and its URL."""
    return f"{ROUTE_PROMPTS[fetched.route or 'photo']}\nImage URL: {fetched.url}"


def pending_images(
    posts: pl.DataFrame,
    images: pl.DataFrame,
    results: pl.DataFrame,
    front_page: pl.DataFrame,
    version: str,
    limit: int,
) -> pl.DataFrame:
    """The next images to describe: the first and last image of each non-deleted post (by their
    place in its HTML, then url hash) whose revision key has no result; front page first."""
    place = pl.col("content_html").fill_null("").str.find(pl.col("url"), literal=True)
    rank = pl.int_range(pl.len()).over("post_id")
    done = results.filter(pl.col("status").is_in(["ok", "skipped"])).select(
        "post_id", "url_hash", "rev_key"
    )
    return (
        images.join(
            posts.filter(~pl.col("is_deleted").fill_null(False)).select(
                post_id="id", content_html="content_html", timestamp="timestamp"
            ),
            on="post_id",
        )
        .with_columns(place=place)
        .sort("post_id", "place", "url_hash", nulls_last=True)
        .filter((rank == 0) | (rank == pl.len().over("post_id") - 1))
        .with_columns(
            rev_key=md5_hex(pl.concat_str([pl.col("url_hash"), pl.lit(f"::vpv={version}")])),
            front_page=pl.col("post_id").is_in(front_page["post_id"].implode()),
        )
        .join(done, on=["post_id", "url_hash", "rev_key"], how="anti")
        .sort("front_page", "timestamp", "post_id", "place",
              descending=[True, True, False, False], nulls_last=True)
        .head(limit)
        .select("post_id", "url_hash", "url", "rev_key", "front_page")
    )


def _parse(answer: dict[str, Any]) -> dict[str, Any]:
    caption = answer.get("caption")
    safety = answer.get("safety")
    if not isinstance(caption, str) or not isinstance(safety, dict):
        raise ValueError("caption or safety missing")
    objects, colors = answer.get("objects"), answer.get("colors")
    if not isinstance(objects, list) or not isinstance(colors, list):
        raise ValueError("objects or colors is not a list")
    nsfw, violence = safety.get("nsfw"), safety.get("violence")
    if not isinstance(nsfw, int | float) or not isinstance(violence, int | float):
        raise ValueError(f"safety scores are not numbers: {safety}")
    return {
        "caption": caption, "labels": strings(answer, "labels"),
        "ocr_lines": strings(answer, "ocr_lines"), "nsfw": float(nsfw),
        "violence": float(violence),
        "objects_json": json.dumps(objects, ensure_ascii=False),
        "colors_json": json.dumps(colors, ensure_ascii=False),
    }


def image_rows(
    pending: pl.DataFrame,
    fetched: list[FetchedImage],
    answers: pl.DataFrame,
    previous: pl.DataFrame,
    *,
    version: str,
    run_id: str,
    now: dt.datetime,
) -> pl.DataFrame:
    """The rows to upsert: results (`ok`, with the route their prompt took), unusable images
    (`skipped`) and failures (`error`, with the previous result and its route kept when there is
    one)."""
    schema = polars_schema(IsPostImageEnrichment)
    fetch = pl.DataFrame(
        {"url_hash_key": [f"{p}/{h}" for p, h in zip(pending["post_id"], pending["url_hash"],
                                                     strict=True)],
         "image_bytes": [f.size for f in fetched],
         "fetch_problem": [f.problem for f in fetched],
         "fetch_transient": [f.transient for f in fetched],
         "fetch_route": [f.route for f in fetched]},
        schema={"url_hash_key": pl.String, "image_bytes": pl.Int64, "fetch_problem": pl.String,
                "fetch_transient": pl.Boolean, "fetch_route": pl.String},
    )
    now_lit = pl.lit(now, dtype=UTC_DTYPE)
    frame = (
        pending.with_columns(url_hash_key=pl.concat_str("post_id", pl.lit("/"), "url_hash"))
        .join(fetch, on="url_hash_key", how="left")
        .join(answers.rename({"key": "url_hash_key"}), on="url_hash_key", how="left")
        .with_columns(
            status=pl.when(pl.col("fetch_problem").is_not_null() & ~pl.col("fetch_transient"))
            .then(pl.lit("skipped"))
            .when(pl.col("fetch_problem").is_not_null() | pl.col("error").is_not_null())
            .then(pl.lit("error"))
            .otherwise(pl.lit("ok")),
            error=pl.coalesce("fetch_problem", "error"),
        )
    )
    fresh = frame.filter(pl.col("status") != "error").with_columns(
        image_url=pl.col("url"),
        prompt_version=pl.lit(version),
        version=pl.lit(ROW_VERSION, dtype=pl.Int32),
        labels=pl.col("labels").list.head(MAX_LABELS).fill_null(pl.lit([], dtype=STRINGS)),
        ocr_lines=pl.col("ocr_lines").list.head(MAX_OCR_LINES)
        .list.eval(pl.element().str.slice(0, MAX_OCR_CHARS))
        .fill_null(pl.lit([], dtype=STRINGS)),
        nsfw=pl.col("nsfw").clip(0.0, 1.0),
        violence=pl.col("violence").clip(0.0, 1.0),
        enriched_at=now_lit,
        model=pl.when(pl.col("status") == "ok").then(pl.col("model")),
        route=pl.when(pl.col("status") == "ok").then(pl.col("fetch_route")),
    )
    failed = (
        frame.filter(pl.col("status") == "error")
        .select("post_id", "url_hash", "url", "model", "latency_ms", "prompt_tokens",
                "completion_tokens", "error", "status", "image_bytes")
        .join(previous.drop("model", "latency_ms", "prompt_tokens", "completion_tokens",
                            "error", "status", "image_bytes", "call_run_id", "called_at"),
              on=["post_id", "url_hash"], how="left")
        .with_columns(
            image_url=pl.coalesce("image_url", "url"),
            version=pl.coalesce("version", pl.lit(ROW_VERSION, dtype=pl.Int32)),
            labels=pl.col("labels").fill_null(pl.lit([], dtype=STRINGS)),
            ocr_lines=pl.col("ocr_lines").fill_null(pl.lit([], dtype=STRINGS)),
        )
    )
    stamp = {"call_run_id": pl.lit(run_id), "called_at": now_lit}
    return pl.concat(
        [fresh.with_columns(**stamp).select(list(schema)),
         failed.with_columns(**stamp).select(list(schema))],
        how="vertical_relaxed",
    ).select([pl.col(c).cast(t) for c, t in schema.items()])


class IsPostImageEnrichmentConfig(dg.Config):
    """Run settings; empty = the environment's (IS_IMAGE_*), then the defaults."""

    batch_size: int = 0
    """Images per run (IS_IMAGE_ENRICHMENT_BATCH_SIZE, default 33)."""
    now: str = ""
    """ISO time the front page is judged at (default: now)."""


def _now(text: str) -> dt.datetime:
    at = dt.datetime.fromisoformat(text) if text else dt.datetime.now(dt.UTC)
    return at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)


@dg.asset(
    group_name="IS",
    io_manager_key=LAKE,
    kinds={"polars", "deltalake", "openai"},
    tags=is_tags("gold", is_step="enrichment"),
    metadata={
        **lake(write_mode="merge", merge_keys=["post_id", "url_hash"]),
        "dagster/column_schema": column_schema(IsPostImageEnrichment),
    },
    deps=[is_posts, is_post_images],
    required_resource_keys={LAKE, "qwen25", "is_postgres"},
)
def is_post_image_enrichment(
    context: dg.AssetExecutionContext, config: IsPostImageEnrichmentConfig
) -> dg.Output[pl.LazyFrame]:
    """What the first and last image of each post show (caption, labels, text read from it,
    safety scores, objects, colours), as a vision-language model describes them; the post's
    enrichment rolls them up. Every call's outcome (model, latency, tokens, error) is kept."""
    qwen25: OpenAIResource = context.resources.qwen25
    is_postgres: PostgresResource = context.resources.is_postgres
    qwen25.require("is_post_image_enrichment")
    started = time.perf_counter()
    now = _now(config.now)
    version = vlm_prompt_version()
    limit = config.batch_size or int(env_setting("IS_IMAGE_ENRICHMENT_BATCH_SIZE", "33"))
    schema = polars_schema(IsPostImageEnrichment)
    posts_lf, images_lf = stored(context, is_posts), stored(context, is_post_images)
    results_lf = stored(context, is_post_image_enrichment)
    results = with_missing_columns(
        results_lf.collect() if results_lf is not None else pl.DataFrame(schema=schema), schema
    )
    if posts_lf is None or images_lf is None:
        pending = pl.DataFrame(schema={"post_id": pl.String, "url_hash": pl.String,
                                       "url": pl.String, "rev_key": pl.String,
                                       "front_page": pl.Boolean})
    else:
        posts = posts_lf.select("id", "content_html", "timestamp", "is_deleted").collect()
        images = images_lf.select("post_id", "url", "url_hash").collect()
        pending = pending_images(posts, images, results, front_page_posts(is_postgres, now),
                                 version, limit)
    fetched = fetch_images(
        pending["url"].to_list(),
        timeout_seconds=float(env_setting("IS_IMAGE_TIMEOUT_SECONDS", "10")),
        max_bytes=int(env_setting("IS_IMAGE_MAX_BYTES", "5000000")),
        concurrency=qwen25.max_concurrency,
        settings=RouteSettings.from_env(),
    )
    keys = [f"{p}/{h}" for p, h in zip(pending["post_id"], pending["url_hash"], strict=True)]
    usable = [(k, f) for k, f in zip(keys, fetched, strict=True) if f.data_url is not None]
    # one batch for both routes (the route's prompt is the user message): full concurrency
    calls = qwen25.complete_json(
        "is_post_image_enrichment",
        [(k, image_prompt(f)) for k, f in usable],
        system=IMAGE_SYSTEM, schema_name="is_image", schema=IMAGE_SCHEMA,
        sample=lambda _: {"caption": "", "labels": [], "ocr_lines": [],
                          "safety": {"nsfw": 0.0, "violence": 0.0}, "objects": [], "colors": []},
        images={k: [f.data_url] for k, f in usable if f.data_url is not None},
        raise_on_failure=False,
    )
    answers = outcomes(calls, _parse, _ANSWER_SCHEMA)
    rows = image_rows(pending, fetched, answers, results, version=version,
                      run_id=context.run.run_id, now=dt.datetime.now(dt.UTC))
    counts = rows["status"].value_counts()
    by_status = dict(zip(counts["status"], counts["count"], strict=True))
    return dg.Output(
        rows.lazy(),
        metadata={
            "images_pending_in_batch": pending.height,
            "front_page_images": int(pending["front_page"].sum()),
            "ok": int(by_status.get("ok", 0)),
            "skipped": int(by_status.get("skipped", 0)),
            "failed": int(by_status.get("error", 0)),
            "vlm_calls": len(calls),
            "routed_ocr": sum(f.route == "ocr" for f in fetched),
            "routed_photo": sum(f.route == "photo" for f in fetched),
            "ocr_heavy_preprocessed": sum(f.heavy for f in fetched),
            "vlm_model": qwen25.model or "",
            "prompt_version": version,
            "execution_time_sec": elapsed(started),
        },
    )


is_post_image_enrichment_contract = contract_check(is_post_image_enrichment, IsPostImageEnrichment)
is_post_image_enrichment_calls = failed_calls_check(
    is_post_image_enrichment, ["post_id", "url_hash"], "VLM"
)
