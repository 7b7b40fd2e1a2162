"""IS silver row rules over bronze crawl rows: comments, images, embeds, text revision, changes.

Pure functions (no Dagster), called by the silver assets and tested on literal frames:
- `comment_rows`: the comment trees flattened depth-first (`path`, `depth`, `parent_id`,
  `root_id` = the top-level ancestor's own id, which fixes the original's root-id bug), flat
  replies (`parentId`) attached under their parent, orphans and duplicates counted, cycles refused;
- `image_rows` / `embed_rows`: one row per distinct (post id, md5 of url);
- `text_rev` / `md5_hex`: the enrichment revision key md5(`title|content|` + sorted tags JSON);
- `post_changes`: which incoming posts are new, changed, or skipped as unchanged.

Rows refer to their post by the post's `id` (the key of `posts`), as the original tables do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl

from dag.is_crawl_file import (
    RAW_SUFFIX,
    UTC_TIME,
    CrawlFileError,
    parse_count,
    parse_utc,
    post_label,
    raise_unparsed,
)

COMMENTS_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "post_id": pl.String(),
    "parent_id": pl.String(),
    "root_id": pl.String(),
    "path": pl.String(),
    "depth": pl.Int32(),
    "author": pl.String(),
    "avatar": pl.String(),
    "content": pl.String(),
    "content_html": pl.String(),
    "raw": pl.String(),
    "timestamp": UTC_TIME,
    "like_count": pl.Int64(),
    "dislike_count": pl.Int64(),
    "reaction_count": pl.Int64(),
    "is_deleted": pl.Boolean(),
}
IMAGES_SCHEMA: dict[str, pl.DataType] = {
    "post_id": pl.String(),
    "url": pl.String(),
    "url_hash": pl.String(),
    "alt": pl.String(),
    "width": pl.Int32(),
    "height": pl.Int32(),
}
EMBEDS_SCHEMA: dict[str, pl.DataType] = {
    "post_id": pl.String(),
    "type": pl.String(),
    "mime_type": pl.String(),
    "url": pl.String(),
    "url_hash": pl.String(),
    "video_id": pl.String(),
    "thumbnail": pl.String(),
    "title": pl.String(),
    "description": pl.String(),
}
# The stored `posts` columns post_changes compares with.
CURRENT_POST_COLUMNS: tuple[str, ...] = (
    "site",
    "post_id",
    "id",
    "content_hash",
    "tags",
    "comment_count",
    "image_count",
    "embed_count",
    "created_at",
    "text_rev",
)
SKIP_COUNT_COLUMNS: tuple[str, ...] = ("comment_count", "image_count", "embed_count")

# comment column -> the comment's JSON key
_COMMENT_TEXT = {
    "author": "author",
    "avatar": "avatar",
    "content": "content",
    "content_html": "html",
}
_COMMENT_COUNTS = {
    "like_count": "likeCount",
    "dislike_count": "dislikeCount",
    "reaction_count": "reactionCount",
}
# embed column -> the embeddedContent key (`provider` is not stored, as in the original)
_EMBED_FIELDS = {
    "type": "type",
    "mime_type": "mimeType",
    "url": "url",
    "video_id": "videoId",
    "thumbnail": "thumbnail",
    "title": "title",
    "description": "description",
}
_EMBED_DTYPE = pl.List(pl.Struct({key: pl.String() for key in _EMBED_FIELDS.values()}))
# json.dumps(ensure_ascii=False) escapes exactly these: quote, backslash, C0 controls.
_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    **{chr(c): f"\\u{c:04x}" for c in range(0x20) if chr(c) not in "\n\r\t\b\f"},
}


@dataclass(frozen=True)
class CommentStats:
    """What flattening did, for the asset's metadata."""

    comments: int  # rows returned
    posts_with_comments: int
    orphans: int  # replies whose parent is not in the post: kept as top-level comments
    duplicates: int  # comments dropped because a later one in the same post had the same id
    max_depth: int  # -1 when there are no comments


# --- hashes and revisions -------------------------------------------------------------------
def md5_hex(expr: pl.Expr) -> pl.Expr:
    """md5 hex digest of a String expression (UTF-8 bytes); null stays null."""

    def digest(series: pl.Series) -> pl.Series:
        return pl.Series(
            series.name,
            [None if v is None else hashlib.md5(v.encode()).hexdigest() for v in series],
            dtype=pl.String,
        )

    return expr.map_batches(digest, return_dtype=pl.String, is_elementwise=True)


def sorted_tags(tags: pl.Expr) -> pl.Expr:
    """Tags as a sorted list without nulls; a null list is the empty list."""
    return (
        pl.when(tags.is_null())
        .then(pl.lit([], pl.List(pl.String)))
        .otherwise(tags.list.drop_nulls().list.sort())
    )


def tags_json(tags: pl.Expr) -> pl.Expr:
    """`json.dumps(sorted(tags), ensure_ascii=False)` as an expression (`["a", "b"]`, `[]`)."""
    ordered = sorted_tags(tags)
    escaped = ordered.list.eval(
        pl.element().str.replace_many(list(_JSON_ESCAPES), list(_JSON_ESCAPES.values()))
    )
    joined = pl.concat_str(pl.lit('["'), escaped.list.join('", "'), pl.lit('"]'))
    return pl.when(ordered.list.len() == 0).then(pl.lit("[]")).otherwise(joined)


def text_rev(title: pl.Expr, content: pl.Expr, tags: pl.Expr) -> pl.Expr:
    """The text revision key: md5(f"{title}|{content}|" + json.dumps(sorted(tags),
    ensure_ascii=False)), a null title/content as "", null tags as []."""
    text = pl.concat_str(
        title.fill_null(""), pl.lit("|"), content.fill_null(""), pl.lit("|"), tags_json(tags)
    )
    return md5_hex(text)


# --- comments -------------------------------------------------------------------------------
_END = object()


@dataclass
class _PostComments:
    """One post's comments, flattened into the column lists of the output."""

    where: str  # "<file>: post '<post_id>' (position n)" for messages
    post_key: str  # the post's `id`
    prefix: str  # "<site>-<board>-<post_id>_": how crawler ids extend a raw parentId cid


def comment_rows(bronze: pl.DataFrame) -> tuple[pl.DataFrame, CommentStats]:
    """Every comment of the bronze rows, depth-first, as COMMENTS_SCHEMA rows.

    Input columns: id, site, board, crawl_file, position, comments_json (post_id is used for
    messages and parentId resolution when present). Per post:
    - the nested `replies` trees are walked iteratively (no Python recursion: any depth works)
      in document order; `path` = 1-based sibling indices zero-padded to 3 digits joined by "."
      ("001.002"), `depth` from the tree (0 = top level), `parent_id` the parent's id,
      `root_id` the top-level ancestor's own id (a top-level comment's is its own);
    - a top-level comment with `parentId` is a flat reply: it is attached under the comment with
      that id (also tried as `<site>-<board>-<post_id>_<parentId>`, the crawlers' id form for a
      raw cid); when no such comment exists, or when it says `isReply` without a `parentId`, it
      stays top-level and counts as an orphan; a `parentId` chain that cycles is an error;
    - a comment without `id` gets `<post id>:<path>` (the post's id and its path), stable as
      long as the comments before it stay; a duplicate id: the last occurrence wins (its replies
      and those of the dropped copies are kept under it), counted;
    - counts ("1,234", "12", "") and timestamps are parsed like the posts'; `raw` keeps text, or
      compact JSON when the crawler delivered an object.
    Work is linear in the number of comments.
    """
    names = ["id", "site", "board", "crawl_file", "position", "comments_json"]
    has_post_id = "post_id" in bronze.columns
    rows = bronze.select(*names, pl.col("post_id") if has_post_id else pl.lit(None, pl.String))
    columns: dict[str, list[Any]] = {name: [] for name in _COMMENT_RAW_SCHEMA}
    orphans = duplicates = posts_with_comments = 0
    # A loop over posts: each comments_json is a tree, flattened by _flatten (not tabular).
    for post_key, site, board, crawl_file, position, comments_json, post_id in rows.iter_rows():
        where = f"{crawl_file}: {post_label(post_id, position)}"
        post = _PostComments(where, post_key, f"{site}-{board}-{post_id}_")
        comments = _load_list(comments_json, where, "comments")
        if comments:
            posts_with_comments += 1
            post_orphans, post_duplicates = _flatten(comments, post, columns)
            orphans += post_orphans
            duplicates += post_duplicates
    raw = pl.DataFrame(columns, schema=_COMMENT_RAW_SCHEMA)
    typed = raw.with_columns(
        parse_utc(pl.col("timestamp" + RAW_SUFFIX)).alias("timestamp"),
        *(parse_count(pl.col(c + RAW_SUFFIX)).alias(c) for c in _COMMENT_COUNTS),
    )
    raise_unparsed(
        typed,
        {"timestamp": "timestamp", **_COMMENT_COUNTS},
        lambda row: f"{row['where']}: comment {row['id']!r}",
    )
    frame = typed.with_columns(is_deleted=pl.lit(False)).select(
        [pl.col(c).cast(dtype) for c, dtype in COMMENTS_SCHEMA.items()]
    )
    stats = CommentStats(
        comments=frame.height,
        posts_with_comments=posts_with_comments,
        orphans=orphans,
        duplicates=duplicates,
        max_depth=int(frame.select(pl.col("depth").max().fill_null(-1)).item()),
    )
    return frame, stats


_COMMENT_RAW_SCHEMA: dict[str, pl.DataType] = {
    "where": pl.String(),
    **{c: COMMENTS_SCHEMA[c] for c in ("id", "post_id", "parent_id", "root_id", "path", "depth")},
    **{c: pl.String() for c in (*_COMMENT_TEXT, "raw")},
    **{c + RAW_SUFFIX: pl.String() for c in ("timestamp", *_COMMENT_COUNTS)},
}


def _load_list(text: str | None, where: str, field: str) -> list[Any]:
    if text is None or text == "":
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CrawlFileError(f"{where}: {field} is not valid JSON: {error}") from None
    except RecursionError:
        raise CrawlFileError(f"{where}: {field} is nested too deeply to parse") from None
    if value is None:
        return []
    if not isinstance(value, list):
        raise CrawlFileError(f"{where}: {field} is not a JSON array")
    return value


def _walk(comments: list[Any], where: str) -> Iterator[tuple[dict[str, Any], int]]:
    """(comment, index of the comment it is nested under or -1) in document (pre-)order, with an
    explicit stack of iterators instead of recursion."""
    stack: list[tuple[Iterator[Any], int]] = [(iter(comments), -1)]
    index = 0
    while stack:
        items, parent = stack[-1]
        item = next(items, _END)
        if item is _END:
            stack.pop()
            continue
        if not isinstance(item, dict):
            raise CrawlFileError(f"{where}: comment number {index + 1} is not an object: {item!r}")
        yield item, parent
        replies = item.get("replies")
        if replies is not None and not isinstance(replies, list):
            raise CrawlFileError(f"{where}: comment {item.get('id')!r}: replies is not a list")
        if replies:
            stack.append((iter(replies), index))
        index += 1


def _key(value: Any) -> str | None:
    """A comment id or parentId as text (numbers too); None when absent or empty."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def _flatten(
    comments: list[Any], post: _PostComments, columns: dict[str, list[Any]]
) -> tuple[int, int]:
    """Append one post's comments to `columns`; return (orphans, duplicates)."""
    nodes: list[dict[str, Any]] = []
    nested_under: list[int] = []
    for node, parent in _walk(comments, post.where):
        nodes.append(node)
        nested_under.append(parent)
    keys = [_key(node.get("id")) for node in nodes]
    last: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key is not None:
            last[key] = index
    alive = [key is None or last[key] == index for index, key in enumerate(keys)]

    def canonical(index: int) -> int:
        key = keys[index]
        return index if key is None else last[key]

    orphans = 0
    parent_of = [-1] * len(nodes)
    for index, node in enumerate(nodes):
        if not alive[index]:
            continue
        if nested_under[index] >= 0:
            parent_of[index] = canonical(nested_under[index])
            continue
        parent_key = _key(node.get("parentId"))
        if parent_key is not None:
            target = last.get(parent_key)
            if target is None:
                target = last.get(post.prefix + parent_key)
            if target is None:
                orphans += 1
            else:
                parent_of[index] = target
        elif node.get("isReply") is True:
            orphans += 1
    children: list[list[int]] = [[] for _ in nodes]
    roots: list[int] = []
    for index in range(len(nodes)):
        if alive[index]:
            (roots if parent_of[index] < 0 else children[parent_of[index]]).append(index)
    reached = _emit(nodes, keys, roots, children, post, columns)
    unreached = [i for i, ok in enumerate(alive) if ok and not reached[i]]
    if unreached:  # every parent chain ends at a top-level comment unless it cycles
        _raise_cycle(unreached[0], keys, parent_of, post)
    return orphans, len(nodes) - sum(alive)


def _emit(
    nodes: list[dict[str, Any]],
    keys: list[str | None],
    roots: list[int],
    children: list[list[int]],
    post: _PostComments,
    columns: dict[str, list[Any]],
) -> list[bool]:
    """Depth-first, pre-order, iterative: append the rows reachable from `roots`; return which
    comments were reached."""
    path = [""] * len(nodes)
    depth = [0] * len(nodes)
    root = [0] * len(nodes)
    ids: list[str] = [""] * len(nodes)
    reached = [False] * len(nodes)
    stack = [(roots[k], -1, k + 1) for k in range(len(roots) - 1, -1, -1)]
    while stack:
        index, parent, sibling = stack.pop()
        if parent < 0:
            path[index], depth[index], root[index] = f"{sibling:03d}", 0, index
        else:
            path[index] = f"{path[parent]}.{sibling:03d}"
            depth[index], root[index] = depth[parent] + 1, root[parent]
        ids[index] = keys[index] or f"{post.post_key}:{path[index]}"
        node = nodes[index]
        _append_comment(
            columns,
            node,
            post,
            ids[index],
            None if parent < 0 else ids[parent],
            ids[root[index]],
            path[index],
            depth[index],
        )
        reached[index] = True
        kids = children[index]
        stack.extend((kids[k], index, k + 1) for k in range(len(kids) - 1, -1, -1))
    return reached


def _append_comment(
    columns: dict[str, list[Any]],
    node: dict[str, Any],
    post: _PostComments,
    comment_id: str,
    parent_id: str | None,
    root_id: str,
    path: str,
    depth: int,
) -> None:
    values: dict[str, Any] = {
        "where": post.where,
        "id": comment_id,
        "post_id": post.post_key,
        "parent_id": parent_id,
        "root_id": root_id,
        "path": path,
        "depth": depth,
        "raw": _raw_text(node.get("raw")),
        "timestamp" + RAW_SUFFIX: _comment_text(node, "timestamp", post, comment_id),
    }
    for column, key in _COMMENT_TEXT.items():
        values[column] = _comment_text(node, key, post, comment_id)
    for column, key in _COMMENT_COUNTS.items():
        values[column + RAW_SUFFIX] = _count_text(
            node.get(key), f"{post.where}: comment {comment_id!r}", key
        )
    for column, items in columns.items():
        items.append(values[column])


def _comment_text(
    node: dict[str, Any], key: str, post: _PostComments, comment_id: str
) -> str | None:
    value = node.get(key)
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise CrawlFileError(
        f"{post.where}: comment {comment_id!r}: field {key!r} is not text: {str(value)[:80]!r}"
    )


def _count_text(value: Any, where: str, key: str) -> str | None:
    """A count's raw value as text, parsed as a column later (ints, integral floats, strings)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool | dict | list):
        raise CrawlFileError(f"{where}: field {key!r}: {value!r} is not a count")
    return None if value is None else str(value)


def _raw_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _raise_cycle(
    start: int, keys: list[str | None], parent_of: list[int], post: _PostComments
) -> None:
    """`start` was not reached from a top-level comment, so following its parents leads into a
    cycle: name the first comment on it and the cycle itself."""
    order: dict[int, int] = {}  # comment -> step at which the walk met it (insertion-ordered)
    index = start
    while index not in order:
        order[index] = len(order)
        index = parent_of[index]
    cycle = list(order)[order[index] :]
    labels = [keys[i] or f"#{i + 1} (no id)" for i in cycle]
    raise CrawlFileError(
        f"{post.where}: comment {labels[0]!r}: parentId chain cycles "
        f"({' -> '.join([*labels, labels[0]])})"
    )


# --- images and embeds ----------------------------------------------------------------------
def image_rows(bronze: pl.DataFrame) -> pl.DataFrame:
    """IMAGES_SCHEMA rows from `images_json` (columns id, crawl_file, position, images_json):
    URL strings, or objects {url, alt, width, height}; one row per distinct (post id, url hash),
    the first occurrence kept (gallery order). Entries without a URL are skipped."""
    # A loop over posts: the arrays mix strings and objects, which no single JSON dtype holds.
    columns: dict[str, list[Any]] = {name: [] for name in _IMAGE_RAW_SCHEMA}
    has_post_id = "post_id" in bronze.columns
    rows = bronze.select(
        "id",
        "crawl_file",
        "position",
        "images_json",
        pl.col("post_id") if has_post_id else pl.lit(None, pl.String),
    )
    for post_key, crawl_file, position, images_json, post_id in rows.iter_rows():
        where = f"{crawl_file}: {post_label(post_id, position)}"
        for number, item in enumerate(_load_list(images_json, where, "images"), start=1):
            image = {"url": item} if isinstance(item, str) else item
            if not isinstance(image, dict):
                raise CrawlFileError(f"{where}: image {number} is not a URL or object: {item!r}")
            url = _key(image.get("url"))
            if url is None:
                continue
            columns["where"].append(f"{where}: image {number}")
            columns["post_id"].append(post_key)
            columns["url"].append(url)
            columns["alt"].append(_raw_text(image.get("alt")))
            for side in ("width", "height"):
                text = _count_text(image.get(side), f"{where}: image {number}", side)
                columns[side + RAW_SUFFIX].append(text)
    typed = pl.DataFrame(columns, schema=_IMAGE_RAW_SCHEMA).with_columns(
        parse_count(pl.col("width" + RAW_SUFFIX)).alias("width"),
        parse_count(pl.col("height" + RAW_SUFFIX)).alias("height"),
    )
    raise_unparsed(typed, {"width": "width", "height": "height"}, lambda row: row["where"])
    return (
        typed.with_columns(url_hash=md5_hex(pl.col("url")))
        .select([pl.col(c).cast(dtype) for c, dtype in IMAGES_SCHEMA.items()])
        .unique(subset=["post_id", "url_hash"], keep="first", maintain_order=True)
    )


_IMAGE_RAW_SCHEMA: dict[str, pl.DataType] = {
    "where": pl.String(),
    "post_id": pl.String(),
    "url": pl.String(),
    "alt": pl.String(),
    "width" + RAW_SUFFIX: pl.String(),
    "height" + RAW_SUFFIX: pl.String(),
}


def _embeds(bronze: pl.DataFrame) -> pl.DataFrame:
    """One row per delivered embed object (url may be null), with the post's id."""
    decoded = _decode_json_column(bronze, "embeds_json", _EMBED_DTYPE, "embeddedContent")
    return (
        decoded.select(pl.col("id").alias("post_id"), pl.col("embeds_json").alias("embed"))
        .explode("embed", keep_nulls=False, empty_as_null=False)
        .unnest("embed")
        .rename({key: column for column, key in _EMBED_FIELDS.items() if key != column})
        .with_columns(url=pl.col("url").str.strip_chars())
        .with_columns(url=pl.when(pl.col("url") != "").then(pl.col("url")))  # "" = no url
    )


def embed_rows(bronze: pl.DataFrame) -> pl.DataFrame:
    """EMBEDS_SCHEMA rows from `embeds_json` (columns id, crawl_file, position, embeds_json):
    embeddedContent objects {type, url, provider, videoId, thumbnail, title, description,
    mimeType}; one row per distinct (post id, url hash), the first occurrence kept. An embed
    without a url has no key and is skipped; `embeds_without_url` counts them for metadata."""
    return (
        _embeds(bronze)
        .filter(pl.col("url").is_not_null())
        .with_columns(url_hash=md5_hex(pl.col("url")))
        .select([pl.col(c).cast(dtype) for c, dtype in EMBEDS_SCHEMA.items()])
        .unique(subset=["post_id", "url_hash"], keep="first", maintain_order=True)
    )


def embeds_without_url(bronze: pl.DataFrame) -> int:
    """How many delivered embeds `embed_rows` skipped for having no url."""
    return _embeds(bronze).select(pl.col("url").is_null().sum()).item()


def _decode_json_column(
    bronze: pl.DataFrame, column: str, dtype: pl.DataType, field: str
) -> pl.DataFrame:
    """`column` decoded to `dtype` in one vectorised pass; when that fails, the post at fault is
    found row by row (only then) and named."""
    frame = bronze.select(
        "id",
        "crawl_file",
        "position",
        column,
        *(["post_id"] if "post_id" in bronze.columns else []),
    )
    try:
        return frame.with_columns(pl.col(column).str.json_decode(dtype))
    except pl.exceptions.ComputeError as error:
        failure = error
    for row in frame.iter_rows(named=True):
        try:
            pl.Series([row[column]], dtype=pl.String).str.json_decode(dtype)
        except pl.exceptions.ComputeError as error:
            where = f"{row['crawl_file']}: {post_label(row.get('post_id'), row['position'])}"
            reason = str(error).splitlines()[0]
            raise CrawlFileError(f"{where}: {field} is not a list of objects: {reason}") from None
    raise failure  # no single row fails alone: Polars' own message is all there is


# --- post changes ---------------------------------------------------------------------------
def post_changes(incoming: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """Incoming bronze rows (one file, deduplicated) compared with the stored posts.

    `current` = the stored `posts` rows of the same (site, post_id) (at least
    CURRENT_POST_COLUMNS; may be empty). Added columns:
    - `is_new`: no stored row;
    - `changed`: new, or content_hash or the sorted tags differ (drives versions and text_rev);
    - `skip`: stored and content_hash, sorted tags, comment_count, image_count and embed_count
      all equal: the original leaves these rows alone (their view/like counts are not refreshed);
    - `created_at`: the stored one, null for new posts (the caller fills it);
    - `text_rev`: computed for changed posts, else the stored one (computed when none is stored).
    Nulls compare equal to nulls; null tags equal []. The incoming columns are kept as they are.
    """
    missing = [c for c in CURRENT_POST_COLUMNS if c not in current.columns]
    if missing:
        raise ValueError(f"post_changes: the stored posts lack columns {missing}")
    if current.select(pl.struct("site", "post_id").is_duplicated().any()).item():
        raise ValueError("post_changes: the stored posts hold a (site, post_id) twice")
    stored = current.select(
        "site",
        "post_id",
        _exists=pl.lit(True),
        _content_hash=pl.col("content_hash"),
        _tags=sorted_tags(pl.col("tags")),
        _created_at=pl.col("created_at").cast(UTC_TIME),
        _text_rev=pl.col("text_rev"),
        **{f"_{c}": pl.col(c) for c in SKIP_COUNT_COLUMNS},
    )
    is_new = pl.col("_exists").is_null()
    same_content = pl.col("content_hash").eq_missing(pl.col("_content_hash"))
    same_tags = sorted_tags(pl.col("tags")).eq_missing(pl.col("_tags"))
    same_counts = pl.all_horizontal(
        pl.col(c).cast(pl.Int64).eq_missing(pl.col(f"_{c}").cast(pl.Int64))
        for c in SKIP_COUNT_COLUMNS
    )
    new_rev = text_rev(pl.col("title"), pl.col("content"), pl.col("tags"))
    changed = is_new | ~same_content | ~same_tags
    return (
        incoming.drop("is_new", "changed", "skip", "created_at", "text_rev", strict=False)
        .join(stored, on=["site", "post_id"], how="left", maintain_order="left")
        .with_columns(
            is_new=is_new,
            changed=changed,
            skip=~is_new & same_content & same_tags & same_counts,
            created_at=pl.col("_created_at"),
            text_rev=pl.when(changed).then(new_rev).otherwise(pl.coalesce("_text_rev", new_rev)),
        )
        .drop(stored.columns[2:])
    )
