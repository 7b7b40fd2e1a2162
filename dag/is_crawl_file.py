"""IS bronze: one crawler JSON file (`<site>_<board>_<YYYY-MM-DD>_<HH-MM-SS>.json`) -> post rows.

The body is a list of `{meta, posts}` groups (several groups are concatenated) or one bare
`{meta, posts}` object. Each post becomes one row of `BRONZE_SCHEMA`: typed scalar fields, the
file's lineage (stem, sha256, meta), and the raw `images` / `embeddedContent` / `comments` arrays
kept as compact JSON text for the silver rules (`dag.is_rules`).

What is tolerated, because the crawlers deliver it: any optional field missing (fmkorea has no
avatar, dislike_count, category or tags), `post_id` as a number, counts as strings ("1,234",
"12"; "" is null), timestamps with or without a zone (no zone = UTC, "2026-12-06 10:20:00" too),
NUL characters (removed from every text), lone UTF-16 surrogates (replaced by U+FFFD), duplicate
post ids (the last occurrence wins and is counted). Everything else fails with `CrawlFileError`
naming the file and, when one is at fault, the post (post_id and position) and the field.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

UTC_TIME = pl.Datetime("us", "UTC")

BRONZE_SCHEMA: dict[str, pl.DataType] = {
    "crawl_file": pl.String(),
    "file_sha256": pl.String(),
    "meta_json": pl.String(),
    "crawled_at": UTC_TIME,
    "crawler_version": pl.String(),
    "crawl_mode": pl.String(),
    "position": pl.Int32(),
    "id": pl.String(),
    "post_id": pl.String(),
    "site": pl.String(),
    "board": pl.String(),
    "url": pl.String(),
    "title": pl.String(),
    "author": pl.String(),
    "avatar": pl.String(),
    "category": pl.String(),
    "tags": pl.List(pl.String()),
    "timestamp": UTC_TIME,
    "post_crawled_at": UTC_TIME,
    "view_count": pl.Int64(),
    "like_count": pl.Int64(),
    "dislike_count": pl.Int64(),
    "comment_count": pl.Int64(),
    "image_count": pl.Int64(),
    "embed_count": pl.Int64(),
    "content": pl.String(),
    "content_html": pl.String(),
    "content_hash": pl.String(),
    "images_json": pl.String(),
    "embeds_json": pl.String(),
    "comments_json": pl.String(),
}

COUNT_COLUMNS: tuple[str, ...] = (
    "view_count",
    "like_count",
    "dislike_count",
    "comment_count",
    "image_count",
    "embed_count",
)
# bronze column -> the post's JSON key
TIME_FIELDS: dict[str, str] = {"timestamp": "timestamp", "post_crawled_at": "crawledAt"}
TEXT_FIELDS: dict[str, str] = {
    "url": "url",
    "title": "title",
    "author": "author",
    "avatar": "avatar",
    "category": "category",
    "content": "content",
    "content_html": "contentHtml",
    "content_hash": "content_hash",
}
JSON_FIELDS: dict[str, str] = {
    "images_json": "images",
    "embeds_json": "embeddedContent",
    "comments_json": "comments",
}

DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_FILE_BYTES_ENV = "IS_MAX_FILE_BYTES"
CRAWL_TIMEZONE = ZoneInfo("Asia/Seoul")  # the crawlers name their files in local time
HTML_HASH_SITES = frozenset({"fmkorea"})  # content_hash = md5(contentHtml) on these sites

_NAME = re.compile(
    r"^(?P<site>[^_]+)_(?P<board>.+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<time>\d{2}-\d{2}-\d{2})$"
)
# A `\u` escape preceded by a run of backslashes: it is a real escape only when the run is odd.
# Matched are a surrogate pair, a lone surrogate and NUL (see _clean_escapes).
_ESCAPE = re.compile(
    r"(\\+)u([dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|[dD][89a-fA-F][0-9a-fA-F]{2}|0000)"
)
RAW_SUFFIX = "__raw"  # raw text of a column parsed later (see raise_unparsed)


class CrawlFileError(ValueError):
    """Not a usable crawl file; the message names the file, and the post and field at fault."""


@dataclass(frozen=True)
class CrawlFile:
    """One parsed crawl file: its posts as bronze rows (duplicates removed) and its lineage."""

    path: Path
    stem: str
    sha256: str  # of the bytes as delivered
    meta: dict[str, Any]  # the first group's meta
    posts: pl.DataFrame  # BRONZE_SCHEMA, one row per post
    duplicates_dropped: int  # rows dropped because a later post had the same (site, post_id)
    site: str
    board: str


def parse_crawl_name(name: str) -> tuple[str, str, datetime] | None:
    """(site, board, crawl time) of a crawl file name or stem, None when it does not match.

    `clien_park_2026-12-06_10-20-00(.json)` -> ("clien", "park", 2026-12-06 10:20:00+09:00): the
    crawlers write local (Asia/Seoul) time, returned as an aware datetime in that zone. The site
    has no underscore; the board may have some.
    """
    stem = Path(name).name.removesuffix(".json")
    match = _NAME.match(stem)
    if match is None:
        return None
    try:
        local = datetime.strptime(f"{match['date']} {match['time']}", "%Y-%m-%d %H-%M-%S")
    except ValueError:  # the shape matched, but not a real date or time (month 13, hour 25)
        return None
    return match["site"], match["board"], local.replace(tzinfo=CRAWL_TIMEZONE)


def max_file_bytes() -> int:
    """The largest crawl file read (IS_MAX_FILE_BYTES, default 256 MiB)."""
    value = os.environ.get(MAX_FILE_BYTES_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_FILE_BYTES
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{MAX_FILE_BYTES_ENV} must be a positive integer, got {value!r}")
    return int(value)


def parse_count(raw: pl.Expr) -> pl.Expr:
    """A count delivered as text ("1,234", " 12 ") -> Int64; "" -> null; unparseable -> null (the
    caller compares with the raw value to name what did not parse)."""
    cleaned = raw.str.strip_chars().str.replace_all(",", "", literal=True)
    return pl.when(cleaned != "").then(cleaned).cast(pl.Int64, strict=False)


def parse_utc(raw: pl.Expr) -> pl.Expr:
    """An ISO-like timestamp text -> Datetime(us, UTC); "" -> null; unparseable -> null.

    With a zone (Z, +09:00, +0900, +09) it is converted to UTC; without one it is UTC. Accepted:
    "T" or a space between date and time, missing seconds, any fraction (cut to microseconds),
    a bare date (midnight).
    """
    text = (
        raw.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})$", "${1}T00:00:00")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
        .str.replace(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})([+-]|[zZ]|$)", "${1}:00${2}")
        .str.replace(r"[zZ]$", "+00:00")
    )
    zoned = text.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%#z", time_unit="us", time_zone="UTC", strict=False
    )
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=False)
    return pl.coalesce(zoned, naive.dt.replace_time_zone("UTC")).cast(UTC_TIME)


def post_label(post_id: object, position: object) -> str:
    """How messages name a post: `post '123' (position 4)`."""
    if post_id is None:
        return f"post at position {position}"
    return f"post {post_id!r} (position {position})"


def read_crawl_file(path: Path, *, max_bytes: int | None = None) -> CrawlFile:
    """Parse one crawl file into bronze rows; raise CrawlFileError on anything unusable.

    `max_bytes` (default: IS_MAX_FILE_BYTES or 256 MiB) is checked on the file's size before
    reading, and again on what was read (a file still growing).
    """
    path = Path(path)
    name = path.name
    limit = max_file_bytes() if max_bytes is None else max_bytes
    size = path.stat().st_size
    if size > limit:
        raise CrawlFileError(
            f"{name}: {size:,} bytes is over the limit of {limit:,} bytes ({MAX_FILE_BYTES_ENV})"
        )
    with path.open("rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise CrawlFileError(f"{name}: grew past the limit of {limit:,} bytes while being read")
    sha256 = hashlib.sha256(raw).hexdigest()
    body = _load_json(_decode(raw, name), name)
    groups = _groups(body, name)
    named = parse_crawl_name(name)
    columns: dict[str, list[Any]] = {column: [] for column in _RAW_SCHEMA}
    position = 0
    for meta, posts in groups:
        group = _GroupContext.of(meta, name, named)
        for post in posts:
            _add_post(columns, post, position, group)
            position += 1
    frame = _typed(pl.DataFrame(columns, schema=_RAW_SCHEMA), name)
    posts_frame = frame.with_columns(
        crawl_file=pl.lit(path.stem, pl.String),
        file_sha256=pl.lit(sha256, pl.String),
    ).select([pl.col(column).cast(dtype) for column, dtype in BRONZE_SCHEMA.items()])
    # Last occurrence wins (a later page of the same crawl saw the newer state of the post).
    deduped = posts_frame.unique(subset=["site", "post_id"], keep="last", maintain_order=True).sort(
        "position"
    )
    first_meta = groups[0][0]
    site, board = _file_site_board(first_meta, named, deduped, name)
    return CrawlFile(
        path=path,
        stem=path.stem,
        sha256=sha256,
        meta=first_meta,
        posts=deduped,
        duplicates_dropped=posts_frame.height - deduped.height,
        site=site,
        board=board,
    )


# --- the body -------------------------------------------------------------------------------
def _decode(raw: bytes, name: str) -> str:
    """UTF-8 text (a BOM is dropped) with NULs removed and lone surrogate escapes repaired."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise CrawlFileError(
            f"{name}: not UTF-8 at byte {error.start} (line {line}): {error.reason}"
        ) from None
    text = text.replace("\x00", "")
    if "\\u" in text:
        text = _ESCAPE.sub(_clean_escapes, text)
    return text


def _clean_escapes(match: re.Match[str]) -> str:
    """Drop `\\u0000` and turn a lone surrogate escape into U+FFFD: Python would decode them into
    strings that cannot be stored (NUL is banned from our texts, a lone surrogate is not UTF-8;
    JavaScript crawlers emit one when they cut a string inside an emoji)."""
    run, code = match[1], match[2]
    if len(run) % 2 == 0 or len(code) > 4:  # an escaped backslash, or a valid surrogate pair
        return match[0]
    if code == "0000":
        return run[:-1]
    return run[:-1] + "\\ufffd"


def _load_json(text: str, name: str) -> Any:
    def refuse_constant(constant: str) -> None:
        raise CrawlFileError(f"{name}: {constant} is not a JSON value")

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as error:
        raise CrawlFileError(
            f"{name}: not valid JSON (malformed or truncated) at line {error.lineno}, "
            f"column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise CrawlFileError(
            f"{name}: JSON nested too deeply to parse (a comment tree hundreds of levels deep?)"
        ) from None


def _groups(body: Any, name: str) -> list[tuple[dict[str, Any], list[Any]]]:
    """The `(meta, posts)` groups of the body: `[{meta, posts}, ...]` or one `{meta, posts}`."""
    if isinstance(body, dict):
        candidates = [body]
    elif isinstance(body, list):
        if not body:
            raise CrawlFileError(f"{name}: the body is an empty list, expected [{{meta, posts}}]")
        candidates = body
    else:
        raise CrawlFileError(
            f"{name}: the body is {_json_type(body)}, expected [{{meta, posts}}] or {{meta, posts}}"
        )
    groups = []
    for index, group in enumerate(candidates):
        where = "the body" if isinstance(body, dict) else f"element {index} of the body"
        if not isinstance(group, dict) or "posts" not in group or "meta" not in group:
            keys = ", ".join(list(group)[:6]) if isinstance(group, dict) else _json_type(group)
            hint = " (a list of posts without meta?)" if "post_id" in keys.split(", ") else ""
            raise CrawlFileError(
                f"{name}: {where} is not a {{meta, posts}} group (got {keys}){hint}"
            )
        if not isinstance(group["meta"], dict):
            raise CrawlFileError(f"{name}: meta of {where} is {_json_type(group['meta'])}")
        if not isinstance(group["posts"], list):
            raise CrawlFileError(f"{name}: posts of {where} is {_json_type(group['posts'])}")
        groups.append((group["meta"], group["posts"]))
    return groups


def _json_type(value: Any) -> str:
    """What a JSON value is, with its article, for messages ("an object", "a string", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "a number"


@dataclass(frozen=True)
class _GroupContext:
    """What every post of one `{meta, posts}` group shares."""

    name: str
    meta_json: str
    crawled_at: datetime
    crawler_version: str | None
    crawl_mode: str | None
    site: str | None  # meta's, else the file name's
    board: str | None

    @classmethod
    def of(
        cls, meta: dict[str, Any], name: str, named: tuple[str, str, datetime] | None
    ) -> _GroupContext:
        config = meta.get("crawl_config")
        mode = config.get("mode") if isinstance(config, dict) else None
        return cls(
            name=name,
            meta_json=_compact(meta, f"{name}: meta"),
            crawled_at=_meta_crawled_at(meta, name, named),
            crawler_version=_scalar_text(meta.get("crawler_version"), name, "meta.crawler_version"),
            crawl_mode=_scalar_text(mode, name, "meta.crawl_config.mode"),
            site=_scalar_text(meta.get("site"), name, "meta.site") or (named[0] if named else None),
            board=_scalar_text(meta.get("board"), name, "meta.board")
            or (named[1] if named else None),
        )


def _meta_crawled_at(
    meta: dict[str, Any], name: str, named: tuple[str, str, datetime] | None
) -> datetime:
    value = meta.get("crawled_at")
    if value is None or (isinstance(value, str) and not value.strip()):
        if named is None:
            raise CrawlFileError(
                f"{name}: no meta.crawled_at and no time in the file name "
                "(<site>_<board>_<YYYY-MM-DD>_<HH-MM-SS>.json)"
            )
        return named[2].astimezone(ZoneInfo("UTC"))
    if not isinstance(value, str):
        raise CrawlFileError(f"{name}: meta.crawled_at is {_json_type(value)}: {value!r}")
    parsed = pl.select(parse_utc(pl.lit(value, pl.String))).item()
    if parsed is None:
        raise CrawlFileError(f"{name}: meta.crawled_at {value!r} is not a timestamp")
    return parsed


def _scalar_text(value: Any, name: str, field: str) -> str | None:
    """A text field: strings as they are, numbers as text, "" -> None; objects are refused."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise CrawlFileError(f"{name}: {field} is {_json_type(value)}: {str(value)[:80]!r}")


# --- posts ----------------------------------------------------------------------------------
_RAW_SCHEMA: dict[str, pl.DataType] = {
    "meta_json": pl.String(),
    "crawled_at": UTC_TIME,
    "crawler_version": pl.String(),
    "crawl_mode": pl.String(),
    "position": pl.Int32(),
    "id": pl.String(),
    "post_id": pl.String(),
    "site": pl.String(),
    "board": pl.String(),
    **{column: pl.String() for column in TEXT_FIELDS},
    "tags": pl.List(pl.String()),
    **{column + RAW_SUFFIX: pl.String() for column in (*TIME_FIELDS, *COUNT_COLUMNS)},
    **{column: pl.String() for column in JSON_FIELDS},
}


def _add_post(
    columns: dict[str, list[Any]], post: Any, position: int, group: _GroupContext
) -> None:
    """Append one post's values to the column lists (typed later, as whole columns)."""
    name = group.name
    if not isinstance(post, dict):
        raise CrawlFileError(
            f"{name}: {post_label(None, position)} is {_json_type(post)}, not an object"
        )
    post_id = _post_id(post.get("post_id"), name, position)
    label = post_label(post_id, position)

    def text(key: str) -> str | None:
        return _scalar_text(post.get(key), name, f"{label}: field {key!r}")

    site = text("site") or group.site
    board = text("board") or group.board
    if site is None or board is None:
        missing = "site" if site is None else "board"
        raise CrawlFileError(
            f"{name}: {label}: no {missing!r} in the post, the meta or the file name"
        )
    values: dict[str, Any] = {column: text(key) for column, key in TEXT_FIELDS.items()}
    if values["content_hash"] is None:
        hashed = values["content_html"] if site in HTML_HASH_SITES else values["content"]
        values["content_hash"] = hashlib.md5((hashed or "").encode()).hexdigest()
    post_key = text("id") or hashlib.md5(f"{site}-{board}-{post_id}".encode()).hexdigest()[:16]
    values.update(
        meta_json=group.meta_json,
        crawled_at=group.crawled_at,
        crawler_version=group.crawler_version,
        crawl_mode=group.crawl_mode,
        position=position,
        id=post_key,
        post_id=post_id,
        site=site,
        board=board,
        tags=_tags(post.get("tags"), name, label),
    )
    for column, key in TIME_FIELDS.items():
        values[column + RAW_SUFFIX] = text(key)
    for column in COUNT_COLUMNS:
        values[column + RAW_SUFFIX] = _count_text(post.get(column), name, label, column)
    for column, key in JSON_FIELDS.items():
        values[column] = _json_text(post.get(key), name, label, key)
    for column, items in columns.items():
        items.append(values[column])


def _post_id(value: Any, name: str, position: int) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    what = "no post_id" if value is None or value == "" else f"post_id {value!r}"
    raise CrawlFileError(f"{name}: {post_label(None, position)} has {what}")


def _tags(value: Any, name: str, label: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CrawlFileError(f"{name}: {label}: field 'tags' is {_json_type(value)}, not a list")
    tags = [_scalar_text(tag, name, f"{label}: a tag") for tag in value]
    return [tag for tag in tags if tag is not None]


def _count_text(value: Any, name: str, label: str, field: str) -> str | None:
    """A count's raw value as text (parsed as a column later): ints, integral floats, strings."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool | dict | list):
        raise CrawlFileError(f"{name}: {label}: field {field!r}: {value!r} is not a count")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value)


def _json_text(value: Any, name: str, label: str, field: str) -> str:
    if value is None:
        return "[]"
    if not isinstance(value, list):
        raise CrawlFileError(f"{name}: {label}: field {field!r} is {_json_type(value)}, not a list")
    return _compact(value, f"{name}: {label}: field {field!r}")


def _compact(value: Any, what: str) -> str:
    """Compact JSON text (non-ASCII kept); `what` names the value when it is nested too deeply
    for the encoder (it recurses, so a value that barely parsed may not serialise)."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        raise CrawlFileError(f"{what} is nested too deeply") from None


def _typed(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Counts and timestamps parsed as whole columns; a value that did not parse is an error."""
    parsed = frame.with_columns(
        *(parse_utc(pl.col(c + RAW_SUFFIX)).alias(c) for c in TIME_FIELDS),
        *(parse_count(pl.col(c + RAW_SUFFIX)).alias(c) for c in COUNT_COLUMNS),
    )
    fields = {**TIME_FIELDS, **{c: c for c in COUNT_COLUMNS}}
    raise_unparsed(
        parsed, fields, lambda row: f"{name}: {post_label(row['post_id'], row['position'])}"
    )
    return parsed


def raise_unparsed(
    frame: pl.DataFrame, fields: dict[str, str], where: Callable[[dict[str, Any]], str]
) -> None:
    """Raise CrawlFileError for the first row whose raw text (`<column>__raw`, blank = absent)
    did not parse into `<column>`; `fields` maps columns to the names messages use, `where`
    names the row."""
    for column, field in fields.items():
        delivered = pl.col(column + RAW_SUFFIX).str.strip_chars().str.len_bytes() > 0
        bad = frame.filter(delivered & pl.col(column).is_null())
        if bad.height:
            row = bad.row(0, named=True)
            kind = "count" if frame.schema[column] == pl.Int64 else "timestamp"
            raise CrawlFileError(
                f"{where(row)}: field {field!r}: {row[column + RAW_SUFFIX]!r} is not a {kind}"
            )


def _file_site_board(
    meta: dict[str, Any],
    named: tuple[str, str, datetime] | None,
    posts: pl.DataFrame,
    name: str,
) -> tuple[str, str]:
    """The file's (site, board): the first meta's, else the file name's, else the first post's."""
    site = meta.get("site") or (named[0] if named else None)
    board = meta.get("board") or (named[1] if named else None)
    if (not site or not board) and posts.height:
        site, board = site or posts["site"][0], board or posts["board"][0]
    if not site or not board:
        raise CrawlFileError(f"{name}: no site/board in meta, file name or posts")
    return str(site), str(board)


def crawl_folder(variable: str, default_subdir: str) -> Path:
    """A crawler's output folder: `$variable`, else `<DAG_DATA_DIR or ./data>/<default_subdir>`."""
    configured = os.environ.get(variable)
    if configured:
        return Path(configured).resolve()
    return Path(os.environ.get("DAG_DATA_DIR", "data")).resolve() / default_subdir


def read_partition_file(folder: Path, partition_key: str, asset: str) -> CrawlFile:
    """The crawl file of one dynamic partition (key = file stem) in `folder`, read whole."""
    path = folder / f"{partition_key}.json"
    crawl = read_crawl_file(path)
    if crawl.stem != partition_key:
        raise CrawlFileError(f"{asset}: {path} is not the file of partition {partition_key}")
    return crawl
