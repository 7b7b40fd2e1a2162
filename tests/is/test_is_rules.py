"""IS silver row rules (issue #15): comment flattening (paths, root ids, flat replies, orphans,
cycles, duplicates), image and embed rows, the text revision key and the unchanged-post skip."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dag.is_crawl_file import BRONZE_SCHEMA, CrawlFileError
from dag.is_rules import (
    COMMENTS_SCHEMA,
    CURRENT_POST_COLUMNS,
    EMBEDS_SCHEMA,
    IMAGES_SCHEMA,
    comment_rows,
    embed_rows,
    embeds_without_url,
    image_rows,
    md5_hex,
    post_changes,
    text_rev,
)

FILE = "clien_park_2026-12-06_10-20-00"


def bronze(*posts: dict[str, Any]) -> pl.DataFrame:
    """Bronze rows of FILE: each post's comments/images/embeds given as Python lists."""
    rows = []
    for position, post in enumerate(posts):
        post_id = post.get("post_id", str(position + 1))
        rows.append(
            {
                "crawl_file": FILE,
                "position": position,
                "id": post.get("id", f"P{post_id}"),
                "post_id": post_id,
                "site": "clien",
                "board": "park",
                "title": post.get("title", "제목"),
                "content": post.get("content", "본문"),
                "tags": post.get("tags", []),
                "content_hash": post.get("content_hash", "h1"),
                **{c: post.get(c) for c in ("comment_count", "image_count", "embed_count")},
                "comments_json": json.dumps(post.get("comments", []), ensure_ascii=False),
                "images_json": json.dumps(post.get("images", []), ensure_ascii=False),
                "embeds_json": json.dumps(post.get("embeds", []), ensure_ascii=False),
            }
        )
    schema = {name: BRONZE_SCHEMA[name] for name in rows[0]}
    return pl.DataFrame(rows, schema=schema)


def flat(comments: list[dict[str, Any]], **post: Any) -> pl.DataFrame:
    frame, _ = comment_rows(bronze({"comments": comments, **post}))
    return frame


def tree(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return frame.select("id", "parent_id", "root_id", "path", "depth").rows()


# --- comment trees -------------------------------------------------------------------------------
def test_nested_tree_is_flattened_depth_first() -> None:
    comments = [
        {
            "id": "a",
            "author": "김",
            "content": "첫 댓글",
            "html": "<p>첫 댓글</p>",
            "raw": "raw a",
            "timestamp": "2026-12-06T01:00:00Z",
            "likeCount": "1,204",
            "dislikeCount": 0,
            "reactionCount": "",
            "replies": [
                {"id": "a1", "replies": [{"id": "a1x"}]},
                {"id": "a2", "replies": []},
            ],
        },
        {"id": "b", "timestamp": "2026-12-06 10:00:00", "raw": {"node": "li"}},
    ]
    frame, stats = comment_rows(bronze({"comments": comments}))
    assert frame.schema == pl.Schema(COMMENTS_SCHEMA)
    assert tree(frame) == [
        ("a", None, "a", "001", 0),
        ("a1", "a", "a", "001.001", 1),
        ("a1x", "a1", "a", "001.001.001", 2),
        ("a2", "a", "a", "001.002", 1),
        ("b", None, "b", "002", 0),
    ]
    first = frame.row(0, named=True)
    assert (first["post_id"], first["author"], first["content_html"]) == (
        "P1",
        "김",
        "<p>첫 댓글</p>",
    )
    assert (first["like_count"], first["dislike_count"], first["reaction_count"]) == (1204, 0, None)
    assert first["timestamp"] == datetime(2026, 12, 6, 1, tzinfo=UTC)
    assert frame["timestamp"][4] == datetime(2026, 12, 6, 10, tzinfo=UTC)  # no zone = UTC
    assert frame["raw"].to_list()[::4] == ["raw a", '{"node":"li"}']
    assert frame["is_deleted"].to_list() == [False] * 5
    assert (stats.comments, stats.orphans, stats.duplicates, stats.max_depth) == (5, 0, 0, 2)


def test_top_level_root_id_is_its_own_id_not_the_first_siblings() -> None:
    """The original gave every top-level comment the FIRST sibling's id as root_id."""
    frame = flat([{"id": "first"}, {"id": "second", "replies": [{"id": "r"}]}, {"id": "third"}])
    roots = dict(zip(frame["id"], frame["root_id"], strict=True))
    assert roots == {"first": "first", "second": "second", "r": "second", "third": "third"}


def test_flat_replies_are_attached_under_their_parent() -> None:
    comments = [
        {"id": "clien-park-1_100", "content": "parent"},
        {"id": "clien-park-1_200"},
        {"id": "clien-park-1_101", "parentId": "clien-park-1_100", "isReply": True},
        {"id": "clien-park-1_102", "parentId": "100", "isReply": True},  # a raw cid
        {"id": "clien-park-1_103", "parentId": 101, "isReply": True},  # a reply to a reply
    ]
    frame, stats = comment_rows(bronze({"post_id": "1", "comments": comments}))
    assert tree(frame) == [
        ("clien-park-1_100", None, "clien-park-1_100", "001", 0),
        ("clien-park-1_101", "clien-park-1_100", "clien-park-1_100", "001.001", 1),
        ("clien-park-1_103", "clien-park-1_101", "clien-park-1_100", "001.001.001", 2),
        ("clien-park-1_102", "clien-park-1_100", "clien-park-1_100", "001.002", 1),
        ("clien-park-1_200", None, "clien-park-1_200", "002", 0),
    ]
    assert stats.orphans == 0


def test_orphan_reply_becomes_top_level_and_is_counted() -> None:
    comments = [
        {"id": "a"},
        {"id": "lost", "parentId": "deleted-parent", "isReply": True},
        {"id": "flagged", "isReply": True},  # a reply that does not say to what
    ]
    frame, stats = comment_rows(bronze({"comments": comments}))
    assert tree(frame) == [
        ("a", None, "a", "001", 0),
        ("lost", None, "lost", "002", 0),
        ("flagged", None, "flagged", "003", 0),
    ]
    assert stats.orphans == 2


@pytest.mark.parametrize(
    ("comments", "named"),
    [
        (
            [{"id": "x", "parentId": "y"}, {"id": "y", "parentId": "x"}],
            r"'x': parentId chain cycles",
        ),
        ([{"id": "ok"}, {"id": "self", "parentId": "self"}], r"'self': .*\(self -> self\)"),
        (
            [
                {"id": "t"},
                {"id": "a", "parentId": "c"},
                {"id": "b", "parentId": "a"},
                {"id": "c", "parentId": "b"},
            ],
            r"'a': parentId chain cycles \(a -> c -> b -> a\)",
        ),
    ],
)
def test_parent_id_cycle_names_file_post_and_comment(
    comments: list[dict[str, Any]], named: str
) -> None:
    second = bronze({"post_id": "10"}, {"post_id": "77", "comments": comments})
    with pytest.raises(CrawlFileError, match=rf"{FILE}: post '77' \(position 1\): comment {named}"):
        comment_rows(second)


def test_duplicate_comment_ids_last_wins_and_is_counted() -> None:
    comments = [
        {"id": "a", "content": "old", "replies": [{"id": "a1"}]},
        {"id": "b"},
        {"id": "a", "content": "new", "replies": [{"id": "a2"}]},
    ]
    frame, stats = comment_rows(bronze({"comments": comments}))
    # the last copy takes its place; the replies of both copies are kept under it
    assert tree(frame) == [
        ("b", None, "b", "001", 0),
        ("a", None, "a", "002", 0),
        ("a1", "a", "a", "002.001", 1),
        ("a2", "a", "a", "002.002", 1),
    ]
    assert frame.filter(pl.col("id") == "a")["content"].to_list() == ["new"]
    assert stats.duplicates == 1


def test_comment_without_id_gets_post_id_and_path() -> None:
    frame = flat([{"content": "x", "replies": [{"content": "y"}]}], id="3f2a9c1d0b7e6a55")
    assert tree(frame) == [
        ("3f2a9c1d0b7e6a55:001", None, "3f2a9c1d0b7e6a55:001", "001", 0),
        ("3f2a9c1d0b7e6a55:001.001", "3f2a9c1d0b7e6a55:001", "3f2a9c1d0b7e6a55:001", "001.001", 1),
    ]


def test_numeric_comment_ids_become_text() -> None:  # fmkorea delivers the raw cid
    assert flat([{"id": 812345, "replies": [{"id": 812346}]}])["id"].to_list() == [
        "812345",
        "812346",
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("likeCount", "많음", r"field 'likeCount': '많음' is not a count"),
        ("likeCount", True, r"field 'likeCount': True is not a count"),
        ("timestamp", "어제", r"field 'timestamp': '어제' is not a timestamp"),
        ("author", {"n": 1}, r"field 'author' is not text"),
    ],
)
def test_bad_comment_value_names_file_post_comment_and_field(
    field: str, value: Any, message: str
) -> None:
    frame = bronze({"post_id": "5", "comments": [{"id": "ok"}, {"id": "c9", field: value}]})
    with pytest.raises(CrawlFileError, match=rf"{FILE}: post '5' \(position 0\): comment 'c9': "):
        comment_rows(frame)
    with pytest.raises(CrawlFileError, match=message):
        comment_rows(frame)


def test_bad_comments_json_names_the_post() -> None:
    frame = bronze({"post_id": "5"}).with_columns(comments_json=pl.lit('[{"id": "a"'))
    with pytest.raises(CrawlFileError, match=rf"{FILE}: post '5' \(position 0\): comments is not"):
        comment_rows(frame)
    frame = bronze({"post_id": "5", "comments": ["just text"]})
    with pytest.raises(CrawlFileError, match=r"post '5' .*: comment number 1 is not an object"):
        comment_rows(frame)


def test_very_deep_reply_chain_is_flattened_without_recursion() -> None:
    depth = 3000  # deeper than Python's default recursion limit
    comments = [{"id": "c0"}] + [{"id": f"c{i}", "parentId": f"c{i - 1}"} for i in range(1, depth)]
    frame, stats = comment_rows(bronze({"comments": comments}))
    assert frame.height == depth and stats.max_depth == depth - 1
    last = frame.row(depth - 1, named=True)
    assert (last["id"], last["root_id"], last["parent_id"]) == (
        f"c{depth - 1}",
        "c0",
        f"c{depth - 2}",
    )
    assert last["path"] == ".".join(["001"] * depth)


def test_thirty_thousand_comments_in_one_file() -> None:
    posts = [
        {
            "post_id": str(p),
            "comments": [
                {
                    "id": f"{p}_{t}",
                    "likeCount": "1",
                    "replies": [{"id": f"{p}_{t}_{r}"} for r in range(2)],
                }
                for t in range(10)
            ],
        }
        for p in range(1000)
    ]
    frame, stats = comment_rows(bronze(*posts))
    assert frame.height == 30_000 == stats.comments
    assert stats.posts_with_comments == 1000
    assert frame["id"].n_unique() == 30_000
    assert frame.filter(pl.col("depth") == 0).height == 10_000


@st.composite
def forests(draw: st.DrawFn) -> list[tuple[int, bool]]:
    """A random forest: (parent index or -1, delivered flat with parentId) per node; parents come
    first, so every draw is a valid forest."""
    size = draw(st.integers(min_value=0, max_value=40))
    return [
        (
            draw(st.integers(min_value=-1, max_value=index - 1)),
            draw(st.booleans()),
        )
        for index in range(size)
    ]


def _deliver(forest: list[tuple[int, bool]], prefix: str) -> list[dict[str, Any]]:
    """The forest as a crawler would deliver it: nested replies, or flat with parentId."""
    nodes = [{"id": f"{prefix}{i}", "replies": []} for i in range(len(forest))]
    top: list[dict[str, Any]] = []
    for index, (parent, flat_reply) in enumerate(forest):
        if parent < 0:
            top.append(nodes[index])
        elif flat_reply:
            top.append({**nodes[index], "parentId": f"{prefix}{parent}", "isReply": True})
            nodes[index] = top[-1]
        else:
            nodes[parent]["replies"].append(nodes[index])
    return top


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(forests(), min_size=1, max_size=3))
def test_flattening_properties_on_random_trees(posts: list[list[tuple[int, bool]]]) -> None:
    frame, stats = comment_rows(
        bronze(*({"comments": _deliver(f, f"p{k}c")} for k, f in enumerate(posts)))
    )
    assert frame.height == sum(len(f) for f in posts) == stats.comments
    assert stats.orphans == 0 and stats.duplicates == 0
    for k, forest in enumerate(posts):
        rows = {
            r["id"]: r for r in frame.filter(pl.col("post_id") == f"P{k + 1}").iter_rows(named=True)
        }
        assert len(rows) == len(forest)
        assert len({r["path"] for r in rows.values()}) == len(forest)  # paths unique per post
        for index, (parent, _) in enumerate(forest):
            row = rows[f"p{k}c{index}"]
            assert row["parent_id"] == (None if parent < 0 else f"p{k}c{parent}")
            root = rows[row["root_id"]]  # a comment of the same post
            assert root["depth"] == 0 and root["parent_id"] is None
            assert row["depth"] == row["path"].count(".")
            if parent >= 0:
                parent_path = rows[row["parent_id"]]["path"]
                assert row["path"].startswith(parent_path + ".")
                assert row["root_id"] == rows[row["parent_id"]]["root_id"]
            else:
                assert row["root_id"] == row["id"]


# --- images and embeds ---------------------------------------------------------------------------
def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_image_rows_from_urls_and_objects_one_per_url() -> None:
    images = [
        "https://cdn.clien.net/a.jpg",
        {"url": "https://cdn.clien.net/b.png", "alt": "고양이", "width": "1,024", "height": 768},
        "https://cdn.clien.net/a.jpg",  # the same image twice in the post
        {"url": None, "alt": "no url"},
        "",
    ]
    frame = image_rows(bronze({"images": images}, {"images": []}, {"id": "P9", "images": ["x"]}))
    assert frame.schema == pl.Schema(IMAGES_SCHEMA)
    assert frame.rows() == [
        ("P1", "https://cdn.clien.net/a.jpg", md5("https://cdn.clien.net/a.jpg"), None, None, None),
        (
            "P1",
            "https://cdn.clien.net/b.png",
            md5("https://cdn.clien.net/b.png"),
            "고양이",
            1024,
            768,
        ),
        ("P9", "x", md5("x"), None, None, None),
    ]


def test_image_and_embed_rows_of_empty_lists_are_empty() -> None:
    posts = bronze({"images": [], "embeds": []}, {}).with_columns(
        images_json=pl.Series(["[]", None]), embeds_json=pl.Series(["[]", None])
    )
    assert image_rows(posts).height == 0 and image_rows(posts).schema == pl.Schema(IMAGES_SCHEMA)
    assert embed_rows(posts).height == 0 and embed_rows(posts).schema == pl.Schema(EMBEDS_SCHEMA)


def test_bad_image_names_the_post() -> None:
    with pytest.raises(CrawlFileError, match=rf"{FILE}: post '4' \(position 0\): image 2 is not"):
        image_rows(bronze({"post_id": "4", "images": ["a", 5]}))
    with pytest.raises(CrawlFileError, match=r"post '4' .*: image 1: field 'width': '10px' is not"):
        image_rows(bronze({"post_id": "4", "images": [{"url": "a", "width": "10px"}]}))


def test_embed_rows_one_per_url_without_url_skipped_and_counted() -> None:
    youtube = {
        "type": "youtube",
        "url": "https://www.youtube.com/embed/dQw4w9WgXcQ",
        "provider": "YouTube",
        "videoId": "dQw4w9WgXcQ",
        "thumbnail": "https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
        "title": "영상",
        "description": None,
    }
    tweet = {"type": "X", "url": "https://x.com/user/status/1", "mimeType": "text/html"}
    embeds = [
        youtube,
        tweet,
        {**youtube, "title": "again"},
        {"type": "iframe", "url": ""},
        {"type": "video"},
    ]
    posts = bronze({"embeds": embeds}, {"embeds": [tweet]})
    frame = embed_rows(posts)
    assert frame.schema == pl.Schema(EMBEDS_SCHEMA)
    assert frame.select("post_id", "type", "video_id", "title", "mime_type").rows() == [
        ("P1", "youtube", "dQw4w9WgXcQ", "영상", None),
        ("P1", "X", None, None, "text/html"),
        ("P2", "X", None, None, "text/html"),
    ]
    assert frame["url_hash"].to_list()[:2] == [md5(youtube["url"]), md5(tweet["url"])]
    assert embeds_without_url(posts) == 2


def test_bad_embed_names_the_post() -> None:
    posts = bronze({"post_id": "1"}, {"post_id": "8", "embeds": ["https://youtu.be/x"]})
    with pytest.raises(CrawlFileError, match=rf"{FILE}: post '8' \(position 1\): embeddedContent"):
        embed_rows(posts)


# --- text revision -------------------------------------------------------------------------------
def test_text_rev_known_values() -> None:
    frame = pl.DataFrame(
        {"title": ["제목", None], "content": ["본문", None], "tags": [["유머", "IT"], None]},
        schema={"title": pl.String, "content": pl.String, "tags": pl.List(pl.String)},
    )
    revs = frame.select(text_rev(pl.col("title"), pl.col("content"), pl.col("tags")))
    # md5('제목|본문|["IT", "유머"]') and md5('||[]')
    assert revs.to_series().to_list() == [
        "9a98ee52dd5f91263e2083fa1b454132",
        "21fa68d5fb1feef2b3e4af4c98ad9ab9",
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(st.none(), st.text(max_size=20)),
    st.one_of(st.none(), st.text(max_size=20)),
    st.lists(st.text(max_size=8), max_size=5),
)
def test_text_rev_equals_the_original_python(
    title: str | None, content: str | None, tags: list[str]
) -> None:
    expected = md5(f"{title or ''}|{content or ''}|" + json.dumps(sorted(tags), ensure_ascii=False))
    frame = pl.DataFrame(
        {"title": [title], "content": [content], "tags": [tags]},
        schema={"title": pl.String, "content": pl.String, "tags": pl.List(pl.String)},
    )
    assert (
        frame.select(text_rev(pl.col("title"), pl.col("content"), pl.col("tags"))).item()
        == expected
    )


def test_md5_hex_keeps_nulls() -> None:
    frame = pl.DataFrame({"x": ["a", None, "한글"]}, schema={"x": pl.String})
    series = frame.select(md5_hex(pl.col("x"))).to_series()
    assert series.to_list() == [md5("a"), None, md5("한글")]
    assert series.dtype == pl.String


# --- post changes --------------------------------------------------------------------------------
CREATED = datetime(2026, 12, 1, tzinfo=UTC)


def stored(*rows: dict[str, Any]) -> pl.DataFrame:
    schema = {
        "site": pl.String,
        "post_id": pl.String,
        "id": pl.String,
        "content_hash": pl.String,
        "tags": pl.List(pl.String),
        "comment_count": pl.Int64,
        "image_count": pl.Int64,
        "embed_count": pl.Int64,
        "created_at": pl.Datetime("us", "UTC"),
        "text_rev": pl.String,
        "view_count": pl.Int64,
    }
    base = {
        "site": "clien",
        "content_hash": "h1",
        "tags": ["a", "b"],
        "comment_count": 3,
        "image_count": 1,
        "embed_count": 0,
        "created_at": CREATED,
        "text_rev": "stored-rev",
        "view_count": 10,
    }
    return pl.DataFrame([{**base, "id": f"P{r['post_id']}", **r} for r in rows], schema=schema)


def incoming_posts() -> pl.DataFrame:
    counts = {"comment_count": 3, "image_count": 1, "embed_count": 0}
    return bronze(
        {"post_id": "1", "tags": ["b", "a"], **counts},  # same, tags reordered -> skip
        {"post_id": "2", **counts, "tags": ["a", "b"], "comment_count": 4},  # counts only
        {"post_id": "3", **counts, "tags": ["a", "b"], "content_hash": "h2"},  # edited
        {"post_id": "4", **counts, "tags": ["a"]},  # tags changed
        {"post_id": "5", **counts},  # new
    )


def test_post_changes_new_skip_counts_and_edits() -> None:
    current = stored(*({"post_id": str(i)} for i in range(1, 5)))
    assert set(CURRENT_POST_COLUMNS) <= set(current.columns)
    incoming = incoming_posts()
    changes = post_changes(incoming, current)
    assert changes.columns == [
        *incoming.columns,
        "is_new",
        "changed",
        "skip",
        "created_at",
        "text_rev",
    ]
    flags = changes.select("post_id", "is_new", "changed", "skip").rows()
    assert flags == [
        ("1", False, False, True),
        ("2", False, False, False),  # counts-only change: written, not a text change
        ("3", False, True, False),
        ("4", False, True, False),
        ("5", True, True, False),
    ]
    assert changes["created_at"].to_list() == [CREATED] * 4 + [None]
    fresh = incoming.select(
        text_rev(pl.col("title"), pl.col("content"), pl.col("tags"))
    ).to_series()
    assert changes["text_rev"].to_list() == [
        "stored-rev",
        "stored-rev",
        fresh[2],
        fresh[3],
        fresh[4],
    ]


def test_post_changes_against_an_empty_table_marks_all_new() -> None:
    changes = post_changes(incoming_posts(), stored().clear())
    assert changes["is_new"].all() and changes["changed"].all() and not changes["skip"].any()
    assert changes["created_at"].is_null().all()
    assert changes["text_rev"].str.len_chars().to_list() == [32] * 5


def test_post_changes_null_tags_equal_empty_and_missing_text_rev_is_computed() -> None:
    current = stored({"post_id": "1", "tags": None, "text_rev": None})
    incoming = bronze(
        {"post_id": "1", "tags": [], "comment_count": 3, "image_count": 1, "embed_count": 0}
    )
    changes = post_changes(incoming, current)
    assert changes.select("is_new", "changed", "skip").row(0) == (False, False, True)
    assert (
        changes["text_rev"][0]
        == incoming.select(text_rev(pl.col("title"), pl.col("content"), pl.col("tags"))).item()
    )


def test_post_changes_refuses_a_table_without_its_columns() -> None:
    with pytest.raises(ValueError, match=r"lack columns \['text_rev'\]"):
        post_changes(incoming_posts(), stored().drop("text_rev"))
    twice = stored({"post_id": "1"}, {"post_id": "1"})
    with pytest.raises(ValueError, match=r"\(site, post_id\) twice"):
        post_changes(incoming_posts(), twice)
