"""Reading one IS crawl file into bronze rows (issue #15): body shapes, per-site quirks, counts and
timestamps as delivered, NUL bytes, and bad files refused with the file, post and field named."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dag.is_crawl_file import (
    BRONZE_SCHEMA,
    DEFAULT_MAX_FILE_BYTES,
    CrawlFileError,
    parse_count,
    parse_crawl_name,
    read_crawl_file,
)

NAME = "clien_park_2026-12-06_10-20-00.json"
META = {
    "site": "clien",
    "board": "park",
    "crawled_at": "2026-12-06T01:20:00Z",
    "crawler_version": "2.3.1",
    "total_posts": 1,
    "pages_crawled": 1,
    "crawl_config": {"mode": "incremental", "max_pages": 3, "max_requests": 30},
}
CLIEN_POST: dict[str, Any] = {
    "id": "3f2a9c1d0b7e6a55",
    "post_id": "18812345",
    "url": "https://www.clien.net/service/board/park/18812345",
    "site": "clien",
    "board": "park",
    "title": "오늘 점심 뭐 드셨나요",
    "author": "김철수",
    "avatar": "https://cdn.clien.net/avatar/1.png",
    "category": "잡담",
    "tags": ["점심", "음식"],
    "timestamp": "2026-12-06T01:05:00.000Z",
    "crawledAt": "2026-12-06T01:19:58.123Z",
    "view_count": 1523,
    "like_count": 12,
    "dislike_count": 0,
    "comment_count": 3,
    "image_count": 1,
    "embed_count": 1,
    "content": "김치찌개 먹었습니다",
    "contentHtml": "<p>김치찌개 먹었습니다</p>",
    "content_hash": "d0c1b2a3e4f5a6b7c8d9e0f1a2b3c4d5",
    "images": ["https://cdn.clien.net/img/1.jpg"],
    "embeddedContent": [{"type": "youtube", "url": "https://youtu.be/abc", "videoId": "abc"}],
    "comments": [{"id": "clien-park-18812345_1", "content": "좋네요", "replies": []}],
}
FMKOREA_POST: dict[str, Any] = {
    "post_id": 8123456789,
    "url": "https://www.fmkorea.com/8123456789",
    "site": "fmkorea",
    "board": "best",
    "title": "베스트 글",
    "author": "익명",
    "timestamp": "2026-12-06 09:58:00",
    "crawledAt": "2026-12-06T01:19:00Z",
    "view_count": "3,401",
    "like_count": "57",
    "comment_count": "8",
    "commentCountHeader": "[8]",
    "image_count": 0,
    "embed_count": 0,
    "content": "본문",
    "contentHtml": "<div>본문</div>",
}


def write(tmp_path: Path, body: Any, name: str = NAME) -> Path:
    path = tmp_path / name
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, indent=1)
    path.write_text(text, encoding="utf-8")
    return path


def one_post(tmp_path: Path, post: dict[str, Any], meta: dict[str, Any] = META) -> dict[str, Any]:
    crawl = read_crawl_file(write(tmp_path, [{"meta": meta, "posts": [post]}]))
    assert crawl.posts.height == 1
    return crawl.posts.row(0, named=True)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- body shapes ---------------------------------------------------------------------------------
def test_list_body_gives_typed_rows_with_lineage(tmp_path: Path) -> None:
    path = write(tmp_path, [{"meta": META, "posts": [CLIEN_POST]}])
    crawl = read_crawl_file(path)
    assert crawl.posts.schema == pl.Schema(BRONZE_SCHEMA)
    assert (crawl.stem, crawl.site, crawl.board) == (path.stem, "clien", "park")
    assert crawl.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert crawl.meta == META
    assert crawl.duplicates_dropped == 0
    row = crawl.posts.row(0, named=True)
    assert row["crawl_file"] == "clien_park_2026-12-06_10-20-00"
    assert row["file_sha256"] == crawl.sha256
    assert json.loads(row["meta_json"]) == META
    assert row["meta_json"] == json.dumps(META, separators=(",", ":"))  # compact, in order
    assert row["crawled_at"] == utc(2026, 12, 6, 1, 20)
    assert (row["crawler_version"], row["crawl_mode"], row["position"]) == (
        "2.3.1",
        "incremental",
        0,
    )
    assert (row["id"], row["post_id"]) == ("3f2a9c1d0b7e6a55", "18812345")
    assert row["title"] == "오늘 점심 뭐 드셨나요"
    assert row["tags"] == ["점심", "음식"]
    assert row["timestamp"] == utc(2026, 12, 6, 1, 5)
    assert row["post_crawled_at"] == datetime(2026, 12, 6, 1, 19, 58, 123000, tzinfo=UTC)
    assert [row[c] for c in ("view_count", "like_count", "dislike_count")] == [1523, 12, 0]
    assert row["content_html"] == "<p>김치찌개 먹었습니다</p>"
    assert row["content_hash"] == CLIEN_POST["content_hash"]  # as delivered
    assert json.loads(row["images_json"]) == CLIEN_POST["images"]
    assert json.loads(row["embeds_json"]) == CLIEN_POST["embeddedContent"]
    assert json.loads(row["comments_json"]) == CLIEN_POST["comments"]
    assert row["comments_json"].startswith('[{"id":"clien-park-18812345_1","content":"좋네요"')


def test_bare_object_body_gives_the_same_rows(tmp_path: Path) -> None:
    listed = read_crawl_file(write(tmp_path, [{"meta": META, "posts": [CLIEN_POST]}]))
    (tmp_path / "bare").mkdir()
    bare = read_crawl_file(write(tmp_path / "bare", {"meta": META, "posts": [CLIEN_POST]}))
    assert bare.posts.drop("file_sha256").equals(listed.posts.drop("file_sha256"))
    assert bare.sha256 != listed.sha256


def test_several_groups_are_concatenated_with_their_own_meta(tmp_path: Path) -> None:
    later = {**META, "crawled_at": "2026-12-06T01:25:00+00:00", "crawl_config": {"mode": "full"}}
    second = {**CLIEN_POST, "id": None, "post_id": "18812346"}
    body = [
        {"meta": META, "posts": [CLIEN_POST]},
        {"meta": later, "posts": [second, {**second, "post_id": "18812347"}]},
    ]
    crawl = read_crawl_file(write(tmp_path, body))
    assert crawl.posts["position"].to_list() == [0, 1, 2]
    assert crawl.posts["crawl_mode"].to_list() == ["incremental", "full", "full"]
    assert (
        crawl.posts["crawled_at"].to_list()
        == [utc(2026, 12, 6, 1, 20)] + [utc(2026, 12, 6, 1, 25)] * 2
    )
    assert json.loads(crawl.posts["meta_json"][2]) == later
    assert crawl.meta == META  # the file's meta is the first group's
    # a post without a crawler id gets md5("<site>-<board>-<post_id>")[:16]
    assert crawl.posts["id"][1] == hashlib.md5(b"clien-park-18812346").hexdigest()[:16]


# --- per-site quirks -----------------------------------------------------------------------------
def test_fmkorea_post_without_optional_fields(tmp_path: Path) -> None:
    meta = {**META, "site": "fmkorea", "board": "best"}
    row = one_post(tmp_path, FMKOREA_POST, meta)
    assert (row["avatar"], row["dislike_count"], row["category"]) == (None, None, None)
    assert row["tags"] == []
    assert row["post_id"] == "8123456789"  # a number made a string
    assert row["id"] == hashlib.md5(b"fmkorea-best-8123456789").hexdigest()[:16]
    assert (row["view_count"], row["like_count"], row["comment_count"]) == (3401, 57, 8)
    # fmkorea hashes the HTML when the crawler did not deliver a hash
    assert row["content_hash"] == hashlib.md5("<div>본문</div>".encode()).hexdigest()
    assert (row["images_json"], row["embeds_json"], row["comments_json"]) == ("[]", "[]", "[]")
    assert row["timestamp"] == utc(2026, 12, 6, 9, 58)  # no zone = UTC


@pytest.mark.parametrize(
    ("site", "board"), [("clien", "park"), ("ppomppu", "hot"), ("damoang", "free")]
)
def test_other_sites_hash_the_plain_content_and_fall_back_to_meta(
    tmp_path: Path, site: str, board: str
) -> None:
    post = {"post_id": "77", "title": "t", "content": "본문 텍스트", "contentHtml": "<p>x</p>"}
    row = one_post(tmp_path, post, {**META, "site": site, "board": board})
    assert (row["site"], row["board"]) == (site, board)  # the post's own, else meta's
    assert row["content_hash"] == hashlib.md5("본문 텍스트".encode()).hexdigest()
    assert row["tags"] == [] and row["view_count"] is None


def test_site_and_board_fall_back_to_the_file_name(tmp_path: Path) -> None:
    meta = {"crawled_at": "2026-12-06T01:20:00Z"}
    row = one_post(tmp_path, {"post_id": "1"}, meta)
    assert (row["site"], row["board"]) == ("clien", "park")
    assert row["content_hash"] == hashlib.md5(b"").hexdigest()  # no content at all


# --- counts and timestamps -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1,234", 1234), ("12", 12), (" 7 ", 7), ("", None), (None, None), (5, 5), (9.0, 9)],
)
def test_counts_as_delivered(tmp_path: Path, raw: Any, expected: int | None) -> None:
    assert one_post(tmp_path, {"post_id": "1", "view_count": raw})["view_count"] == expected


@pytest.mark.parametrize("raw", ["12k", "1.5", "1.2만", "abc", True, [1]])
def test_unparseable_count_names_file_post_and_field(tmp_path: Path, raw: Any) -> None:
    posts = [{"post_id": "1"}, {"post_id": "5", "like_count": raw}]
    where = rf"{NAME}: post '5' \(position 1\): field 'like_count': .* is not a count"
    with pytest.raises(CrawlFileError, match=where):
        read_crawl_file(write(tmp_path, [{"meta": META, "posts": posts}]))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-06T10:20:00Z", utc(2026, 12, 6, 10, 20)),
        ("2026-12-06T10:20:00.5+09:00", datetime(2026, 12, 6, 1, 20, 0, 500000, tzinfo=UTC)),
        ("2026-12-06T10:20:00+0900", utc(2026, 12, 6, 1, 20)),
        ("2026-12-06T10:20:00", utc(2026, 12, 6, 10, 20)),
        ("2026-12-06 10:20:00", utc(2026, 12, 6, 10, 20)),
        ("2026-12-06T10:20", utc(2026, 12, 6, 10, 20)),
        ("2026-12-06T10:20:00.123456789Z", datetime(2026, 12, 6, 10, 20, 0, 123456, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_timestamps_with_and_without_zone(
    tmp_path: Path, raw: str | None, expected: datetime | None
) -> None:
    row = one_post(tmp_path, {"post_id": "1", "timestamp": raw, "crawledAt": raw})
    assert row["timestamp"] == expected
    assert row["post_crawled_at"] == expected


def test_unparseable_timestamp_names_the_post_and_field(tmp_path: Path) -> None:
    post = {"post_id": "9", "crawledAt": "어제 10:20"}
    where = rf"{NAME}: post '9' \(position 0\): field 'crawledAt': '어제 10:20' is not a"
    with pytest.raises(CrawlFileError, match=where + " timestamp"):
        one_post(tmp_path, post)


def test_crawled_at_falls_back_to_the_seoul_time_in_the_file_name(tmp_path: Path) -> None:
    meta = {key: value for key, value in META.items() if key != "crawled_at"}
    row = one_post(tmp_path, {"post_id": "1"}, meta)
    assert row["crawled_at"] == utc(2026, 12, 6, 1, 20)  # 10:20 KST
    path = write(tmp_path, [{"meta": meta, "posts": []}], name="crawl.json")
    with pytest.raises(CrawlFileError, match=r"crawl\.json: no meta\.crawled_at and no time"):
        read_crawl_file(path)


# --- text cleaning -------------------------------------------------------------------------------
def test_nul_bytes_are_removed_from_every_text(tmp_path: Path) -> None:
    raw = (
        '[{"meta": {"site": "clien\\u0000", "board": "park", "crawled_at": "2026-12-06T01:20:00Z"},'
        ' "posts": [{"post_id": "1\\u0000", "title": "제\\u0000목", "tags": ["a\\u0000b"],'
        ' "content": "back\\\\u0000slash", "author": "x\u0000y",'
        ' "comments": [{"id": "c\\u0000", "content": "\\u0000댓글"}]}]}]'
    )
    crawl = read_crawl_file(write(tmp_path, raw))
    row = crawl.posts.row(0, named=True)
    assert (row["post_id"], row["title"], row["tags"], row["author"]) == ("1", "제목", ["ab"], "xy")
    assert row["content"] == "back\\u0000slash"  # an escaped backslash, not a NUL: kept
    assert json.loads(row["comments_json"]) == [{"id": "c", "content": "댓글"}]
    assert json.loads(row["meta_json"])["site"] == "clien"
    texts = crawl.posts.select(pl.col(pl.String)).row(0)
    assert not any("\x00" in text for text in texts if text)


def test_lone_surrogate_is_replaced_and_pairs_are_kept(tmp_path: Path) -> None:
    raw = (
        json.dumps([{"meta": META, "posts": [{"post_id": "1", "title": "x", "content": "y"}]}])
        .replace('"x"', '"cut \\ud83d"')
        .replace('"y"', '"smile \\ud83d\\ude00"')
    )
    row = read_crawl_file(write(tmp_path, raw)).posts.row(0, named=True)
    assert (row["title"], row["content"]) == ("cut \ufffd", "smile 😀")


def test_five_megabyte_body_is_kept(tmp_path: Path) -> None:
    body = "가나다라마바사 " * (5 * 1024 * 1024 // 22 + 1)
    row = one_post(tmp_path, {"post_id": "1", "content": body})
    assert len(row["content"]) == len(body) and row["content"] == body
    assert row["content_hash"] == hashlib.md5(body.encode()).hexdigest()


# --- duplicates ----------------------------------------------------------------------------------
def test_duplicate_post_ids_last_occurrence_wins_and_is_counted(tmp_path: Path) -> None:
    posts = [
        {"post_id": "1", "title": "first", "view_count": 1},
        {"post_id": "2", "title": "other"},
        {"post_id": 1, "title": "second", "view_count": 2},
        {"post_id": "1", "title": "third", "view_count": 3},
    ]
    crawl = read_crawl_file(write(tmp_path, [{"meta": META, "posts": posts}]))
    assert crawl.duplicates_dropped == 2
    assert crawl.posts.select("post_id", "title", "view_count", "position").rows() == [
        ("2", "other", None, 1),
        ("1", "third", 3, 3),
    ]


# --- bad files -----------------------------------------------------------------------------------
def test_malformed_json_names_file_line_and_column(tmp_path: Path) -> None:
    text = json.dumps([{"meta": META, "posts": [CLIEN_POST]}], ensure_ascii=False, indent=1)
    broken = text.replace('"title": "오늘', '"title" "오늘', 1)
    line = broken[: broken.index('"title" "오늘')].count("\n") + 1
    with pytest.raises(CrawlFileError, match=rf"{NAME}: not valid JSON .* at line {line}, column"):
        read_crawl_file(write(tmp_path, broken))


def test_truncated_json_names_file_and_line(tmp_path: Path) -> None:
    text = json.dumps([{"meta": META, "posts": [CLIEN_POST] * 3}], ensure_ascii=False, indent=1)
    cut = text[: len(text) // 2]
    lines = cut.count("\n") + 1
    with pytest.raises(CrawlFileError, match=rf"{NAME}: not valid JSON \(malformed or truncated\)"):
        read_crawl_file(write(tmp_path, cut))
    with pytest.raises(CrawlFileError, match=rf"at line {lines}, column \d+"):
        read_crawl_file(write(tmp_path, cut))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([CLIEN_POST], r"element 0 of the body is not a \{meta, posts\} group .*without meta"),
        ('"just text"', r"the body is a string, expected \[\{meta, posts\}\]"),
        ([], r"the body is an empty list"),
        ({"posts": []}, r"the body is not a \{meta, posts\} group"),
        ([{"meta": None, "posts": []}], r"meta of element 0 of the body is null"),
        ([{"meta": META, "posts": {"post_id": "1"}}], r"posts of element 0 .* is an object"),
        ([{"meta": META, "posts": ["x"]}], r"post at position 0 is a string, not an object"),
    ],
)
def test_wrong_shapes_are_refused_by_name(tmp_path: Path, body: Any, message: str) -> None:
    with pytest.raises(CrawlFileError, match=rf"{NAME}: {message}"):
        read_crawl_file(write(tmp_path, body))


@pytest.mark.parametrize("post_id", [None, "", "  ", True, {"n": 1}])
def test_missing_post_id_names_the_position(tmp_path: Path, post_id: Any) -> None:
    posts = [{"post_id": "1"}, {"post_id": "2"}, {"post_id": post_id, "title": "x"}]
    if post_id is None:
        del posts[2]["post_id"]
    with pytest.raises(CrawlFileError, match=rf"{NAME}: post at position 2 has (no )?post_id"):
        read_crawl_file(write(tmp_path, [{"meta": META, "posts": posts}]))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tags", "유머", r"field 'tags' is a string, not a list"),
        ("comments", {"id": 1}, r"field 'comments' is an object, not a list"),
        ("title", {"ko": "제목"}, r"field 'title' is an object"),
    ],
)
def test_wrong_field_types_name_post_and_field(
    tmp_path: Path, field: str, value: Any, message: str
) -> None:
    with pytest.raises(CrawlFileError, match=rf"{NAME}: post '3' \(position 0\): {message}"):
        one_post(tmp_path, {"post_id": "3", field: value})


def test_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(json.dumps([{"meta": META, "posts": []}]).encode() + "한".encode("cp949"))
    with pytest.raises(CrawlFileError, match=rf"{NAME}: not UTF-8 at byte \d+ \(line 1\)"):
        read_crawl_file(path)


def test_over_size_file_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / NAME
    with path.open("wb") as handle:  # sparse: 1 byte over the default, nothing written
        handle.truncate(DEFAULT_MAX_FILE_BYTES + 1)

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(Path, "open", no_read)
    with pytest.raises(CrawlFileError, match=rf"{NAME}: 268,435,457 bytes is over the limit"):
        read_crawl_file(path)
    monkeypatch.undo()
    small = write(tmp_path, [{"meta": META, "posts": [CLIEN_POST]}], name="small.json")
    with pytest.raises(CrawlFileError, match=r"small\.json: .* over the limit of 100 bytes"):
        read_crawl_file(small, max_bytes=100)
    monkeypatch.setenv("IS_MAX_FILE_BYTES", "200")
    with pytest.raises(CrawlFileError, match=r"over the limit of 200 bytes \(IS_MAX_FILE_BYTES\)"):
        read_crawl_file(small)
    monkeypatch.setenv("IS_MAX_FILE_BYTES", "lots")
    with pytest.raises(ValueError, match="IS_MAX_FILE_BYTES must be a positive integer"):
        read_crawl_file(small)


def test_deeply_nested_comments_fail_with_the_file_named(tmp_path: Path) -> None:
    depth = 5000
    deep = '{"id": "c", "replies": [' * depth + "]}" * depth
    raw = (
        '[{"meta": {"site": "clien", "board": "park", "crawled_at": "2026-12-06T01:20:00Z"},'
        f' "posts": [{{"post_id": "1", "comments": [{deep}]}}]}}]'
    )
    with pytest.raises(CrawlFileError, match=rf"{NAME}: JSON nested too deeply"):
        read_crawl_file(write(tmp_path, raw))


# --- file names ----------------------------------------------------------------------------------
def test_parse_crawl_name() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    assert parse_crawl_name(NAME) == ("clien", "park", datetime(2026, 12, 6, 10, 20, tzinfo=seoul))
    assert parse_crawl_name("fmkorea_best_2026-01-31_23-59-59") == (
        "fmkorea",
        "best",
        datetime(2026, 1, 31, 23, 59, 59, tzinfo=seoul),
    )
    named = parse_crawl_name(os.path.join("a", "damoang_free_board_2026-02-01_00-00-00.json"))
    assert named is not None and named[:2] == ("damoang", "free_board")
    for bad in ("clien_park.json", "clien_park_2026-13-01_10-20-00.json", "x_2026-12-06_10-20-00"):
        assert parse_crawl_name(bad) is None, bad


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=10**12), st.booleans())
def test_parse_count_reads_grouped_and_plain_digits(value: int, grouped: bool) -> None:
    text = f"{value:,}" if grouped else str(value)
    assert pl.select(parse_count(pl.lit(f" {text} "))).item() == value
