"""IS contracts: Isshoo community hot posts, from crawler files to the tables the web app reads.

Bronze holds one crawler file's posts as delivered (nested comments, images and embeds as raw
JSON text, with lineage); silver holds the keyed tables the crawls upsert (posts and their
versions, comments, images, embeds, snapshots, sites, signatures); gold holds the hot-post
trends. (`is` is a Python keyword, hence the module name `contracts.is_`.)
"""

from __future__ import annotations

from typing import Annotated, Any

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

SITES = ("clien", "ppomppu", "fmkorea", "damoang")
HEX16 = r"^[0-9a-f]{16}$"
MD5 = r"^[0-9a-f]{32}$"
UTC = Annotated[pl.Datetime, "us", "UTC"]
TAGS = Annotated[pl.List, pl.String]


def _text(description: str, *, nullable: bool = True) -> Any:
    return pa.Field(nullable=nullable, description=description)


def _count(description: str) -> Any:
    return pa.Field(ge=0, nullable=True, description=description)


def _site() -> Any:
    return pa.Field(str_matches=r"^[a-z0-9_]+$", description="community site (clien, fmkorea..)")


class _PostRef(pa.DataFrameModel):
    post_id: pl.String = pa.Field(
        str_length={"min_value": 1}, description="the post's id (posts.id, 16 hex of md5)"
    )


# -- bronze -------------------------------------------------------------------------------------
class IsCrawlerExecutor(pa.DataFrameModel):
    """One crawl file a crawler run wrote into IS_OUTPUT_DIR (the run's manifest)."""

    file: pl.String = pa.Field(
        unique=True,
        str_matches=r"^[a-z0-9]+_[a-z0-9]+_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.json$",
        description="<site>_<board>_<YYYY-MM-DD>_<HH-MM-SS>.json (Asia/Seoul time)",
    )
    site: pl.String = _site()
    board: pl.String = pa.Field(description="board")
    crawled_at: UTC = pa.Field(nullable=True, description="meta.crawled_at (UTC)")
    posts: pl.Int64 = pa.Field(ge=0, nullable=True, description="posts in the file")
    bytes: pl.Int64 = pa.Field(gt=0, description="file size")
    parses: pl.Boolean = pa.Field(description="the file is complete JSON")

    class Config:
        strict = True


class IsCrawlFiles(pa.DataFrameModel):
    """One post of one crawler file, as the crawler delivered it (the last of duplicate ids)."""

    crawl_file: pl.String = pa.Field(
        description="file stem <site>_<board>_<date>_<time>; partition"
    )
    file_sha256: pl.String = pa.Field(str_matches=r"^[0-9a-f]{64}$", description="lineage")
    meta_json: pl.String = _text("the file's meta object as JSON", nullable=False)
    crawled_at: UTC = pa.Field(description="meta.crawled_at: when the crawl ran (UTC)")
    crawler_version: pl.String = _text("meta.crawler_version")
    crawl_mode: pl.String = _text("meta.crawl_config.mode: incremental, full or hot")
    position: pl.Int32 = pa.Field(ge=0, description="0-based index of the post in the file")
    id: pl.String = pa.Field(description="crawler id: md5(<site>-<board>-<post_id>)[:16]")
    post_id: pl.String = pa.Field(str_length={"min_value": 1}, description="site's post number")
    site: pl.String = _site()
    board: pl.String = pa.Field(description="board of the site (park, hot, best, free)")
    url: pl.String = _text("post URL")
    title: pl.String = _text("title")
    author: pl.String = _text("author nickname")
    avatar: pl.String = _text("author avatar URL (fmkorea: none)")
    category: pl.String = _text("board category (fmkorea: none)")
    tags: TAGS = pa.Field(description="tags as delivered ([] when none)")
    timestamp: UTC = pa.Field(nullable=True, description="published at (UTC)")
    post_crawled_at: UTC = pa.Field(nullable=True, description="post's crawledAt (UTC)")
    view_count: pl.Int64 = _count("views")
    like_count: pl.Int64 = _count("likes")
    dislike_count: pl.Int64 = _count("dislikes (fmkorea: none)")
    comment_count: pl.Int64 = _count("comments (size of the flattened tree)")
    image_count: pl.Int64 = _count("images")
    embed_count: pl.Int64 = _count("embeds")
    content: pl.String = _text("plain-text body")
    content_html: pl.String = _text("HTML body")
    content_hash: pl.String = _text("md5 of content (fmkorea: of the HTML)")
    images_json: pl.String = _text("images[] as JSON text", nullable=False)
    embeds_json: pl.String = _text("embeddedContent[] as JSON text", nullable=False)
    comments_json: pl.String = _text("comments[] tree as JSON text", nullable=False)

    class Config:
        unique = ("crawl_file", "site", "post_id")
        strict = True


# -- silver -------------------------------------------------------------------------------------
class IsPosts(pa.DataFrameModel):
    """A community post as last crawled (unchanged crawls skipped), keyed by (site, post_id)."""

    id: pl.String = pa.Field(unique=True, description="md5(<site>-<board>-<post_id>)[:16]")
    post_id: pl.String = pa.Field(description="site's post number")
    site: pl.String = _site()
    board: pl.String = pa.Field(description="board")
    url: pl.String = _text("post URL")
    title: pl.String = _text("title")
    author: pl.String = _text("author")
    avatar: pl.String = _text("author avatar URL")
    timestamp: UTC = pa.Field(nullable=True, description="published at (UTC)")
    content: pl.String = _text("plain-text body")
    content_html: pl.String = _text("HTML body")
    content_hash: pl.String = _text("md5 of the content as the crawler hashed it")
    category: pl.String = _text("board category")
    tags: TAGS = pa.Field(description="tags")
    view_count: pl.Int64 = _count("views at the last stored crawl")
    like_count: pl.Int64 = _count("likes")
    dislike_count: pl.Int64 = _count("dislikes")
    comment_count: pl.Int64 = _count("comments")
    image_count: pl.Int64 = _count("images")
    embed_count: pl.Int64 = _count("embeds")
    crawled_at: UTC = pa.Field(description="crawl that stored this row (UTC)")
    created_at: UTC = pa.Field(description="first crawl of the post (UTC)")
    updated_at: UTC = pa.Field(description="last crawl that changed the row (UTC)")
    is_deleted: pl.Boolean = pa.Field(description="deleted on the site (never set by crawls yet)")
    text_rev: pl.String = pa.Field(str_matches=MD5, description="md5(title|content|sorted tags)")
    crawl_file: pl.String = pa.Field(description="lineage: file that stored this row")

    class Config:
        unique = ("site", "post_id")
        strict = True


class IsPostVersions(_PostRef):
    """One version of a post's text: a new row each time its content changes."""

    version: pl.Int32 = pa.Field(ge=1, description="1 for the first text, then max + 1")
    title: pl.String = _text("title of this version")
    content: pl.String = _text("body of this version")
    content_html: pl.String = _text("HTML of this version")
    content_hash: pl.String = pa.Field(description="content hash of this version")
    changed_at: UTC = pa.Field(description="crawl that saw this version first (UTC)")

    class Config:
        unique = ("post_id", "content_hash")
        strict = True


class IsPostComments(_PostRef):
    """A comment of a post, flattened depth first from the crawler's reply tree."""

    id: pl.String = pa.Field(description="comment id as delivered")
    parent_id: pl.String = _text("parent comment id (null at top level)")
    root_id: pl.String = pa.Field(description="the top-level ancestor's own id")
    path: pl.String = pa.Field(
        str_matches=r"^\d{3,}(\.\d{3,})*$", description="1-based sibling indices, 001.002"
    )
    depth: pl.Int32 = pa.Field(ge=0, description="0 = top level")
    author: pl.String = _text("author")
    avatar: pl.String = _text("avatar URL")
    content: pl.String = _text("text (fmkorea: none)")
    content_html: pl.String = _text("HTML")
    raw: pl.String = _text("raw text as scraped")
    timestamp: UTC = pa.Field(nullable=True, description="written at (UTC)")
    like_count: pl.Int64 = _count("likes")
    dislike_count: pl.Int64 = _count("dislikes")
    reaction_count: pl.Int64 = _count("reactions")
    is_deleted: pl.Boolean = pa.Field(description="the source has no deleted flag: false")

    class Config:
        unique = ("id",)
        strict = True

    @pa.dataframe_check(description="a top-level comment is its own root")
    @classmethod
    def top_level_is_own_root(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("depth") > 0) | (pl.col("root_id") == pl.col("id"))
        )


class IsPostImages(_PostRef):
    """An image of a post (vanished images are removed)."""

    url: pl.String = pa.Field(description="image URL")
    url_hash: pl.String = pa.Field(str_matches=MD5, description="md5 of the URL")
    alt: pl.String = _text("alt text")
    width: pl.Int32 = pa.Field(ge=0, nullable=True, description="width in pixels")
    height: pl.Int32 = pa.Field(ge=0, nullable=True, description="height in pixels")

    class Config:
        unique = ("post_id", "url_hash")
        strict = True


class IsPostEmbeds(_PostRef):
    """A video, tweet or frame embedded in a post (vanished embeds are removed)."""

    type: pl.String = _text("youtube, X, video or iframe")
    mime_type: pl.String = _text("MIME type when known")
    url: pl.String = pa.Field(description="embed URL")
    url_hash: pl.String = pa.Field(str_matches=MD5, description="md5 of the URL")
    video_id: pl.String = _text("video id (YouTube)")
    thumbnail: pl.String = _text("thumbnail URL")
    title: pl.String = _text("title")
    description: pl.String = _text("description")

    class Config:
        unique = ("post_id", "url_hash")
        strict = True


class IsPostSnapshots(_PostRef):
    """A post's counts as one crawl file saw them (counts over time, for trends)."""

    crawl_file: pl.String = pa.Field(description="file stem; partition column")
    timestamp: UTC = pa.Field(description="when the crawl ran (meta.crawled_at, UTC)")
    view_count: pl.Int64 = _count("views")
    like_count: pl.Int64 = _count("likes")
    dislike_count: pl.Int64 = _count("dislikes")
    comment_count: pl.Int64 = _count("comments")

    class Config:
        unique = ("crawl_file", "post_id")
        strict = True


class IsSites(pa.DataFrameModel):
    """A crawled board of a community site and its last crawl."""

    site: pl.String = _site()
    board: pl.String = pa.Field(description="board")
    last_crawled_at: UTC = pa.Field(description="latest crawl of the board (UTC)")

    class Config:
        unique = ("site", "board")
        strict = True


class IsPostSignatures(_PostRef):
    """Near-duplicate signatures of a post (no tokens: no signature, never a match)."""

    text_simhash64: pl.String = pa.Field(nullable=True, str_matches=HEX16, description="SimHash")
    text_minhash128: pl.Binary = pa.Field(nullable=True, description="128 x u64 big-endian")
    gallery_minhash128: pl.Binary = pa.Field(nullable=True, description="over image host/name")
    embed_minhash128: pl.Binary = pa.Field(nullable=True, description="over yt:/x:/em: keys")
    token_count: pl.Int32 = pa.Field(ge=0, description="tokens used (capped)")
    tokens_truncated: pl.Boolean = pa.Field(description="the text had more tokens than the cap")
    image_count: pl.Int32 = pa.Field(ge=0, description="images signed")
    embed_count: pl.Int32 = pa.Field(ge=0, description="embeds signed")
    computed_at: UTC = pa.Field(description="crawl time of the text signed (UTC)")

    class Config:
        unique = ("post_id",)
        strict = True

    @pa.dataframe_check(description="minhashes are 128 slots of 8 bytes")
    @classmethod
    def minhash_size(cls, data: PolarsData) -> pl.LazyFrame:
        sizes = [
            pl.col(c).bin.size().is_null() | (pl.col(c).bin.size() == 1024)
            for c in ("text_minhash128", "gallery_minhash128", "embed_minhash128")
        ]
        return data.lazyframe.select(pl.all_horizontal(sizes))


# -- gold ---------------------------------------------------------------------------------------
class IsPostTrends(_PostRef):
    """A post's growth in one 10-minute window (30-minute lookback): the hot-post ranking."""

    window_start: UTC = pa.Field(description="window end - 30 minutes (UTC)")
    window_end: UTC = pa.Field(description="10-minute boundary (UTC)")
    view_delta: pl.Int64 = pa.Field(ge=0, description="views gained")
    comment_delta: pl.Int64 = pa.Field(description="comments gained (deletions: negative)")
    like_delta: pl.Int64 = pa.Field(description="likes gained")
    dislike_delta: pl.Int64 = pa.Field(description="dislikes gained")
    hot_score: pl.Int64 = pa.Field(description="view_delta + 3 comment_delta + 2 like_delta")

    class Config:
        unique = ("post_id", "window_start", "window_end")
        strict = True

    @pa.dataframe_check(description="hot_score = d_view + 3 d_comment + 2 d_like")
    @classmethod
    def hot_score_rule(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("hot_score")
            == pl.col("view_delta") + 3 * pl.col("comment_delta") + 2 * pl.col("like_delta")
        )


# -- serving (PostgreSQL `posts`... as the web application reads them) ---------------------------
class IsPostsServing(pa.DataFrameModel):
    """Serving `posts`: one row per post (tags as a JSON array text)."""

    id: pl.String = pa.Field(description="post id")
    post_id: pl.String = pa.Field(description="site's post number")
    site: pl.String = _site()
    board: pl.String = pa.Field(description="board")
    url: pl.String = _text("post URL")
    title: pl.String = _text("title")
    author: pl.String = _text("author")
    avatar: pl.String = _text("avatar URL")
    timestamp: UTC = pa.Field(nullable=True, description="published at")
    content: pl.String = _text("body")
    content_html: pl.String = _text("HTML body")
    content_hash: pl.String = _text("content hash")
    category: pl.String = _text("category")
    tags: pl.String = pa.Field(description="tags as a JSON array")
    view_count: pl.Int64 = _count("views")
    like_count: pl.Int64 = _count("likes")
    dislike_count: pl.Int64 = _count("dislikes")
    comment_count: pl.Int64 = _count("comments")
    image_count: pl.Int64 = _count("images")
    embed_count: pl.Int64 = _count("embeds")
    crawled_at: UTC = pa.Field(description="last stored crawl")
    created_at: UTC = pa.Field(description="first crawl")
    updated_at: UTC = pa.Field(description="last change")
    is_deleted: pl.Boolean = pa.Field(description="deleted on the site")

    class Config:
        unique = ("id",)
        strict = True


class IsPostVersionsServing(IsPostVersions):
    """Serving `post_versions`."""


class IsPostCommentsServing(IsPostComments):
    """Serving `post_comments`."""


class IsPostImagesServing(IsPostImages):
    """Serving `post_images` (replaced per post, so vanished images go)."""


class IsPostEmbedsServing(IsPostEmbeds):
    """Serving `post_embeds` (replaced per post, so vanished embeds go)."""


class IsPostSnapshotsServing(IsPostSnapshots):
    """Serving `post_snapshots`: replaced per crawl file (re-delivery is idempotent)."""


class IsSitesServing(pa.DataFrameModel):
    """Serving `sites`: `id` is the site, as the web app reads it."""

    id: pl.String = _site()
    board: pl.String = pa.Field(description="board")
    last_crawled_at: UTC = pa.Field(description="latest crawl (UTC)")

    class Config:
        unique = ("id", "board")
        strict = True


class IsPostSignaturesServing(IsPostSignatures):
    """Serving `post_signatures`."""


class IsPostTrendsServing(IsPostTrends):
    """Serving `post_trends`: upserted per window."""


# == IS part 2: LLM / VLM enrichment and keyword trends (dag/is_enrichment.py, ...) ==============
CATEGORIES = (
    "유머", "정보", "질문", "후기", "뉴스", "토론", "후방",
    "짤", "정치", "쇼핑", "IT", "스포츠", "게임", "기타",
)
"""The fixed category list of post enrichment (the LLM's enum)."""
KEYWORD_RANGES = ("3h", "6h", "24h", "1w")
CALL_STATUSES = ("ok", "error")
IMAGE_STATUSES = ("ok", "skipped", "error")
IMAGE_ROUTES = ("ocr", "photo")
"""The VLM prompt an image took (dag.is_image_enrichment: routed by image heuristics)."""


class _CallOutcome(pa.DataFrameModel):
    """The outcome of the latest call of a row (every call is recorded in its row)."""

    status: pl.String = pa.Field(description="ok (a result), error (the call failed)")
    model: pl.String = _text("model that answered (sample = offline stand-in)")
    latency_ms: pl.Float64 = pa.Field(ge=0, nullable=True, description="call latency")
    prompt_tokens: pl.Int64 = _count("prompt tokens reported")
    completion_tokens: pl.Int64 = _count("completion tokens reported")
    error: pl.String = _text("why the latest call failed (null when it succeeded)")
    call_run_id: pl.String = pa.Field(description="Dagster run of the latest call")
    called_at: UTC = pa.Field(description="when the latest call was made (UTC)")


class IsPostEnrichment(_CallOutcome, _PostRef):
    """A post's LLM enrichment (categories, keywords) and its images' roll-up. A failed call
    keeps the previous result and records the error; `rev_key` is the revision the result is for
    (null: no result yet), md5(text_rev:image_rev::pv=<prompt version>)."""

    rev_key: pl.String = pa.Field(nullable=True, str_matches=MD5, description="result revision")
    text_rev: pl.String = _text("text revision of the result (posts.text_rev)")
    image_rev: pl.String = _text("image roll-up revision of the result (noimg: none)")
    prompt_version: pl.String = _text("IS_PROMPT_VERSION of the result")
    categories: TAGS = pa.Field(description="1-2 of the fixed list ([] before a first result)")
    keywords: TAGS = pa.Field(description="3-8 keywords, deduplicated")
    enriched_at: UTC = pa.Field(nullable=True, description="when the result was made (UTC)")
    front_page: pl.Boolean = pa.Field(description="picked first: shown on the front page")
    image_summary: pl.String = _text("captions of the enriched images joined by ' | '")
    image_keywords: TAGS = pa.Field(description="distinct labels of the enriched images")
    image_ocr: pl.String = _text("top 5 OCR lines of the images, one per line")
    image_nsfw_max: pl.Float64 = pa.Field(ge=0, le=1, nullable=True, description="max nsfw")
    image_violence_max: pl.Float64 = pa.Field(ge=0, le=1, nullable=True, description="max violence")
    image_nsfw_avg: pl.Float64 = pa.Field(ge=0, le=1, nullable=True, description="mean nsfw")
    image_violence_avg: pl.Float64 = pa.Field(
        ge=0, le=1, nullable=True, description="mean violence"
    )
    image_objects: pl.String = _text(
        "top 20 objects merged by name, [{name, count, confidence}] as JSON (count desc)"
    )
    image_colors: pl.String = _text(
        "top 10 colours merged by name and hex, [{name, hex, ratio}] as JSON (ratio desc)"
    )

    class Config:
        unique = ("post_id",)
        strict = True

    @pa.dataframe_check(description="categories: 1-2 of the fixed list when there is a result")
    @classmethod
    def categories_rule(cls, data: PolarsData) -> pl.LazyFrame:
        size = pl.col("categories").list.len()
        valid = pl.col("categories").list.eval(pl.element().is_in(CATEGORIES)).list.all()
        return data.lazyframe.select(
            pl.when(pl.col("rev_key").is_null()).then(size == 0)
            .otherwise((size >= 1) & (size <= 2) & valid)
        )

    @pa.dataframe_check(description="at most 8 keywords; status is ok or error")
    @classmethod
    def keywords_and_status(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("keywords").list.len() <= 8) & pl.col("status").is_in(CALL_STATUSES)
        )


class IsPostImageEnrichment(_CallOutcome, _PostRef):
    """A post's first or last image as the VLM described it (status skipped: the image could not
    be used, e.g. too large or not an image; error: fetch timeout or failed call, retried by the
    next run)."""

    url_hash: pl.String = pa.Field(str_matches=MD5, description="md5 of the image URL")
    image_url: pl.String = pa.Field(description="image URL")
    rev_key: pl.String = pa.Field(
        nullable=True, str_matches=MD5, description="md5(url_hash::vpv=<VLM prompt version>)"
    )
    prompt_version: pl.String = _text("IS_VLM_PROMPT_VERSION of the result")
    version: pl.Int32 = pa.Field(ge=1, description="row layout version (2, as the replaced system)")
    image_bytes: pl.Int64 = _count("bytes downloaded")
    caption: pl.String = _text("one-sentence caption")
    labels: TAGS = pa.Field(description="up to 20 labels")
    ocr_lines: TAGS = pa.Field(description="up to 200 text lines of <= 160 characters")
    nsfw: pl.Float64 = pa.Field(ge=0, le=1, nullable=True, description="safety score")
    violence: pl.Float64 = pa.Field(ge=0, le=1, nullable=True, description="safety score")
    objects_json: pl.String = _text("[{name, count, confidence}] as JSON")
    colors_json: pl.String = _text("[{name, hex, ratio}] as JSON")
    enriched_at: UTC = pa.Field(nullable=True, description="when the result was made (UTC)")
    route: pl.String = pa.Field(
        nullable=True, isin=list(IMAGE_ROUTES),
        description="prompt of the result: ocr or photo (null: no result)",
    )

    class Config:
        unique = ("post_id", "url_hash")
        strict = True

    @pa.dataframe_check(description="labels <= 20, OCR <= 200 lines, status known")
    @classmethod
    def bounds(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("labels").list.len() <= 20)
            & (pl.col("ocr_lines").list.len() <= 200)
            & pl.col("status").is_in(IMAGE_STATUSES)
        )


class IsKeywordTrends(pa.DataFrameModel):
    """How many recent non-deleted posts carry a keyword, per 10-minute window and range."""

    keyword: pl.String = pa.Field(str_length={"min_value": 1}, description="trimmed, lower-cased")
    range_label: pl.String = pa.Field(isin=list(KEYWORD_RANGES), description="3h, 6h, 24h, 1w")
    window_start: UTC = pa.Field(description="window end - range (UTC, exclusive)")
    window_end: UTC = pa.Field(description="10-minute boundary (UTC, inclusive)")
    count: pl.Int64 = pa.Field(ge=1, description="posts published in the range with the keyword")
    computed_at: UTC = pa.Field(description="when the window was computed (UTC)")

    class Config:
        unique = ("keyword", "range_label", "window_start", "window_end")
        strict = True


class IsPostEnrichmentServing(pa.DataFrameModel):
    """Serving `post_enrichment`: posts with a result; lists as JSON array text."""

    post_id: pl.String = pa.Field(description="post id")
    rev_key: pl.String = pa.Field(str_matches=MD5, description="result revision")
    text_rev: pl.String = _text("text revision")
    image_rev: pl.String = _text("image revision")
    fused_version: pl.String = pa.Field(description="fusion:<prompt version>")
    fused_categories: pl.String = pa.Field(description="categories as a JSON array")
    fused_keywords: pl.String = pa.Field(description="keywords as a JSON array")
    fused_model: pl.String = _text("model")
    fused_at: UTC = pa.Field(description="when the result was made")
    image_summary: pl.String = _text("captions joined by ' | '")
    image_keywords: pl.String = pa.Field(description="image labels as a JSON array")
    image_ocr: pl.String = _text("top OCR lines")
    image_nsfw_max: pl.Float64 = pa.Field(nullable=True, description="max nsfw")
    image_violence_max: pl.Float64 = pa.Field(nullable=True, description="max violence")
    image_safety: pl.String = _text('{"nsfw": {"avg", "max"}, "violence": {"avg", "max"}} JSON')
    image_objects: pl.String = _text("top 20 objects as a JSON array")
    image_colors: pl.String = _text("top 10 colours as a JSON array")

    class Config:
        unique = ("post_id",)
        strict = True


class IsPostImageEnrichmentServing(pa.DataFrameModel):
    """Serving `post_image_enrichment`: images with a result; lists as JSON array text."""

    post_id: pl.String = pa.Field(description="post id")
    url_hash: pl.String = pa.Field(str_matches=MD5, description="md5 of the URL")
    image_url: pl.String = pa.Field(description="image URL")
    model: pl.String = _text("model")
    version: pl.Int32 = pa.Field(ge=1, description="row layout version")
    caption: pl.String = _text("caption")
    labels: pl.String = pa.Field(description="labels as a JSON array")
    ocr_lines: pl.String = pa.Field(description="OCR lines as a JSON array")
    safety: pl.String = pa.Field(description='{"nsfw": x, "violence": y} as JSON')
    objects: pl.String = _text("objects as JSON")
    colors: pl.String = _text("colours as JSON")
    enriched_at: UTC = pa.Field(description="when the result was made")

    class Config:
        unique = ("post_id", "url_hash")
        strict = True


class IsKeywordTrendsServing(IsKeywordTrends):
    """Serving `keyword_trends`: upserted per window."""


# == IS part 2: story clusters and rotation (dag/is_clusters.py, dag/is_cluster_loads.py) =======
CLUSTER_MATCH_TYPES = ["text", "both", "embed"]


class IsClusterPosts(pa.DataFrameModel):
    """A post's membership in a story cluster (a post belongs to at most one cluster)."""

    cluster_id: pl.String = pa.Field(str_length={"min_value": 1}, description="cluster id (uuid)")
    post_id: pl.String = pa.Field(unique=True, description="member post (posts.id)")
    similarity: pl.Float64 = pa.Field(
        ge=0.0, le=1.0, description="the (representative, member) pair's similarity (0: no match)"
    )
    match_type: pl.String = pa.Field(
        nullable=True, isin=CLUSTER_MATCH_TYPES, description="text, both or embed (null: none)"
    )
    is_representative: pl.Boolean = pa.Field(description="the cluster's representative post")
    cluster_created_at: UTC = pa.Field(description="when the cluster was created (UTC)")
    cluster_updated_at: UTC = pa.Field(description="last build or merge that changed it (UTC)")

    class Config:
        unique = ("post_id",)
        strict = True

    @pa.dataframe_check(description="exactly one representative per cluster, >= 2 members")
    @classmethod
    def one_representative(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("is_representative").sum().over("cluster_id") == 1)
            & (pl.len().over("cluster_id") >= 2)
        )


class IsClusters(pa.DataFrameModel):
    """A story cluster: near-duplicate posts across sites, with a stable id across runs."""

    id: pl.String = pa.Field(unique=True, description="cluster id (uuid), stable across runs")
    representative_post_id: pl.String = pa.Field(description="member with the highest hot score")
    title: pl.String = _text("the representative's title")
    size: pl.Int32 = pa.Field(ge=2, description="members")
    created_at: UTC = pa.Field(description="first build of the cluster (UTC)")
    updated_at: UTC = pa.Field(description="last build or merge that changed it (UTC)")

    class Config:
        unique = ("id",)
        strict = True


class IsClusterTrends(pa.DataFrameModel):
    """A cluster's hot score in one 10-minute window (sum of its members' hot scores)."""

    cluster_id: pl.String = pa.Field(description="cluster id")
    window_start: UTC = pa.Field(description="window end - 30 minutes (UTC)")
    window_end: UTC = pa.Field(description="10-minute boundary (UTC)")
    hot_score: pl.Int64 = pa.Field(description="sum of the members' hot scores in the window")
    rank: pl.Int32 = pa.Field(
        ge=1, nullable=True, description="hot rank in the current window (null: earlier windows)"
    )

    class Config:
        unique = ("cluster_id", "window_start", "window_end")
        strict = True


class IsClusterRotation(pa.DataFrameModel):
    """A cluster's front-page rotation state (label 1w): showings in a row and suppression."""

    cluster_id: pl.String = pa.Field(description="cluster id")
    window_label: pl.String = pa.Field(isin=["1w"], description="rotation range")
    consecutive_hits: pl.Int32 = pa.Field(ge=0, le=2, description="showings in a row (3: reset)")
    last_shown_at: UTC = pa.Field(nullable=True, description="window end it was last shown (UTC)")
    suppressed_until: UTC = pa.Field(nullable=True, description="hidden until (UTC)")
    last_score: pl.Float64 = pa.Field(
        ge=0.0, le=1.0, nullable=True, description="percentile x exp(-age_hours / 48)"
    )
    rank: pl.Int32 = pa.Field(
        ge=1, le=20, nullable=True, description="position shown in the current window (1..20)"
    )
    window_end: UTC = pa.Field(description="window the state was computed for (UTC)")

    class Config:
        unique = ("cluster_id", "window_label")
        strict = True


class IsClustersServing(IsClusters):
    """Serving `clusters` (PostgreSQL and Turso): replaced each build."""


class IsClusterPostsServing(pa.DataFrameModel):
    """Serving `cluster_posts`: replaced each build."""

    cluster_id: pl.String = pa.Field(description="cluster id")
    post_id: pl.String = pa.Field(description="member post")
    similarity: pl.Float64 = pa.Field(ge=0.0, le=1.0, description="similarity to the rep.")
    match_type: pl.String = pa.Field(nullable=True, isin=CLUSTER_MATCH_TYPES, description="rule")
    is_representative: pl.Boolean = pa.Field(description="the representative")

    class Config:
        unique = ("cluster_id", "post_id")
        strict = True


class IsClusterTrendsServing(IsClusterTrends):
    """Serving `cluster_trends` (PostgreSQL and Turso): the latest two windows replaced, so the
    previous window's ranks are cleared in the target too."""


class IsClusterRotationServing(IsClusterRotation):
    """Serving `cluster_rotation`: replaced each window."""
