"""The IS sample crawler: real crawler JSON per board, site quirks, history across crawls,
determinism, atomic writes and the command line."""

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dag import is_sample
from dag.is_sample import (
    BOARDS,
    CRAWL_INTERVAL,
    crawl_bodies,
    crawler_id,
    next_crawl,
    render_crawl,
    sample_crawl,
    write_atomic,
)

NOW = datetime(2026, 3, 2, 1, 4, 0, tzinfo=UTC)  # 10:04:00 in Seoul
NAME = re.compile(
    r"^(clien_park|ppomppu_hot|fmkorea_best|damoang_free)_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.json$"
)
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
POST_KEYS = [
    "id", "post_id", "url", "site", "board", "title", "author", "avatar", "category", "tags",
    "timestamp", "crawledAt", "view_count", "like_count", "dislike_count", "comment_count",
    "image_count", "embed_count", "content", "contentHtml", "content_hash", "images",
    "embeddedContent", "comments",
]  # fmt: skip
FMKOREA_ABSENT = {"avatar", "dislike_count", "category", "tags"}
COMMENT_KEYS = [
    "id", "author", "avatar", "content", "html", "raw", "timestamp", "isReply", "depth",
    "parentId", "likeCount", "dislikeCount", "reactionCount", "replies",
]  # fmt: skip
EMBED_KEYS = ["type", "url", "provider", "videoId", "thumbnail", "title", "description", "mimeType"]


def posts_of(bodies: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (post["site"], post["post_id"]): post
        for body in bodies.values()
        for group in body
        for post in group["posts"]
    }


def walk(comments: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(comment, parent) depth first."""
    stack: list[tuple[dict[str, Any], dict[str, Any] | None]] = [(c, None) for c in comments][::-1]
    while stack:
        comment, parent = stack.pop()
        yield comment, parent
        stack.extend((reply, comment) for reply in reversed(comment["replies"]))


def count(value: int | str) -> int:
    return int(str(value).replace(",", ""))


def shingles(post: dict[str, Any]) -> set[str]:
    """5-token shingles as the signature rules define them (spec 1.4)."""
    text = re.sub(r"https?://\S+", " ", f"{post['title']} {post['content']}".lower())
    tokens = [t for t in re.findall(r"[가-힣a-z0-9]+", text) if len(t) >= 2]
    return {" ".join(tokens[i : i + 5]) for i in range(max(1, len(tokens) - 4))}


def jaccard(a: dict[str, Any], b: dict[str, Any]) -> float:
    left, right = shingles(a), shingles(b)
    return len(left & right) / len(left | right)


def check_file_shape(name: str, body: Any) -> None:
    """Everything spec 1.1 says of one file, with the per-site quirks."""
    assert NAME.match(name), name
    assert isinstance(body, list) and len(body) == 1
    meta, posts = body[0]["meta"], body[0]["posts"]
    site, board = meta["site"], meta["board"]
    assert name.startswith(f"{site}_{board}_")
    assert ISO_Z.match(meta["crawled_at"])
    assert meta["total_posts"] == len(posts) and 15 <= len(posts) <= 27
    assert meta["pages_crawled"] == -(-len(posts) // 10)
    assert set(meta["crawl_config"]) == {
        "mode", "max_pages", "max_requests", "incremental", "last_stop_id",
    }  # fmt: skip
    assert meta["crawl_config"]["mode"] == "incremental"
    assert meta["total_posts"] + meta["pages_crawled"] <= meta["crawl_config"]["max_requests"]
    fmkorea = site == "fmkorea"
    for post in posts:
        expected = [k for k in POST_KEYS if not (fmkorea and k in FMKOREA_ABSENT)]
        expected += ["commentCountHeader"] if fmkorea else []
        assert list(post) == expected, post["post_id"]
        assert isinstance(post["post_id"], str) and post["post_id"].isdigit()
        assert (
            post["id"] == hashlib.md5(f"{site}-{board}-{post['post_id']}".encode()).hexdigest()[:16]
        )
        assert (post["site"], post["board"]) == (site, board)
        assert post["post_id"] in post["url"]
        assert ISO_Z.match(post["timestamp"]) and post["crawledAt"] == meta["crawled_at"]
        assert post["timestamp"] <= post["crawledAt"]
        hashed = post["contentHtml"] if fmkorea else post["content"]
        assert post["content_hash"] == hashlib.md5(hashed.encode()).hexdigest()
        assert post["image_count"] == len(post["images"])
        assert post["embed_count"] == len(post["embeddedContent"])
        assert all(url in post["contentHtml"] for url in post["images"])
        assert all(list(embed) == EMBED_KEYS for embed in post["embeddedContent"])
        flattened = list(walk(post["comments"]))
        assert post["comment_count"] == len(flattened)
        assert len({c["id"] for c, _ in flattened}) == len(flattened)
        if fmkorea:
            assert post["commentCountHeader"] >= post["comment_count"]
        for comment, parent in flattened:
            assert list(comment) == COMMENT_KEYS
            assert comment["depth"] == (0 if parent is None else parent["depth"] + 1)
            assert comment["isReply"] is (parent is not None)
            assert comment["parentId"] == (parent["id"] if parent else None)
            assert comment["reactionCount"] == comment["likeCount"] + comment["dislikeCount"]
            assert post["timestamp"] <= comment["timestamp"] <= post["crawledAt"]
            if parent:
                assert parent["timestamp"] <= comment["timestamp"]
            if fmkorea:  # raw cid, no plain text
                assert comment["id"].isdigit() and comment["content"] is None
                assert comment["raw"] and comment["avatar"] is None
            else:
                assert comment["id"].startswith(f"{site}-{board}-{post['post_id']}_")
                assert comment["content"] == comment["raw"]


@pytest.fixture(scope="module")
def crawl0() -> dict[str, list[dict[str, Any]]]:
    return crawl_bodies(0, NOW)


@pytest.fixture(scope="module")
def crawl1() -> dict[str, list[dict[str, Any]]]:
    return crawl_bodies(1, NOW + CRAWL_INTERVAL)


def test_files_parse_as_json_in_the_crawler_format(tmp_path: Path) -> None:
    paths = sample_crawl(tmp_path, 0, NOW)
    assert sorted(p.name for p in paths) == [
        "clien_park_2026-03-02_10-04-00.json",
        "damoang_free_2026-03-02_10-04-00.json",
        "fmkorea_best_2026-03-02_10-04-00.json",
        "ppomppu_hot_2026-03-02_10-04-00.json",
    ]
    for path in paths:
        check_file_shape(path.name, json.loads(path.read_bytes().decode("utf-8")))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    crawl=st.integers(min_value=0, max_value=400),
    now=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
)
def test_every_crawl_keeps_the_format(crawl: int, now: datetime) -> None:
    for name, body in crawl_bodies(crawl, now).items():
        check_file_shape(name, json.loads(json.dumps(body)))


def test_site_quirks_are_present_and_absent(crawl0: dict[str, list[dict[str, Any]]]) -> None:
    posts = posts_of(crawl0).values()
    by_site = {site: [p for p in posts if p["site"] == site] for site in is_sample.SITES}
    for site, site_posts in by_site.items():
        has = {key for post in site_posts for key in post}
        if site == "fmkorea":
            assert not has & FMKOREA_ABSENT and "commentCountHeader" in has
        else:
            assert has >= FMKOREA_ABSENT and "commentCountHeader" not in has
    # ppomppu shows views as text, the others as numbers
    assert all(isinstance(p["view_count"], str) for p in by_site["ppomppu"])
    assert any("," in p["view_count"] for p in by_site["ppomppu"])
    assert all(isinstance(p["view_count"], int) for p in by_site["clien"])
    assert all(p["category"] is None and p["tags"] == [] for p in by_site["clien"])
    assert all(p["category"] for p in by_site["ppomppu"])
    assert any(p["tags"] for p in by_site["damoang"])
    assert any(p["avatar"] for p in by_site["clien"]) and any(
        p["avatar"] is None for p in by_site["clien"]
    )
    hangul = re.compile(r"[가-힣]")
    assert all(hangul.search(p["title"]) and hangul.search(p["content"]) for p in posts)


def test_embeds_cover_youtube_x_and_image_mime_types() -> None:
    embeds = [
        embed
        for crawl in range(0, 6)
        for post in posts_of(crawl_bodies(crawl, NOW + crawl * CRAWL_INTERVAL)).values()
        for embed in post["embeddedContent"]
    ]
    youtube = [e for e in embeds if e["type"] == "youtube"]
    assert youtube and all(re.fullmatch(r"[\w-]{11}", e["videoId"]) for e in youtube)
    assert all(e["videoId"] in e["url"] and e["videoId"] in e["thumbnail"] for e in youtube)
    x_posts = [e for e in embeds if e["type"] == "X"]
    assert x_posts and all(re.search(r"/status/\d{19}$", e["url"]) for e in x_posts)
    assert any((e["mimeType"] or "").startswith("image/") for e in embeds)
    assert {e["type"] for e in embeds} <= {"youtube", "X", "video", "iframe"}


def test_comment_trees_are_several_levels_deep(crawl0: dict[str, list[dict[str, Any]]]) -> None:
    for name, body in crawl0.items():
        depths = [c["depth"] for post in body[0]["posts"] for c, _ in walk(post["comments"])]
        assert max(depths) >= 2, name  # at least three levels in every file
        assert max(depths) <= is_sample.MAX_DEPTH


def test_same_crawl_and_time_give_byte_identical_files(tmp_path: Path) -> None:
    first = sample_crawl(tmp_path / "a", 3, NOW)
    second = sample_crawl(tmp_path / "b", 3, NOW)
    assert [p.name for p in first] == [p.name for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    assert render_crawl(3, NOW) == {p.name: p.read_bytes() for p in first}
    assert render_crawl(4, NOW) != render_crawl(3, NOW)
    # a time without zone is UTC
    assert render_crawl(3, NOW.replace(tzinfo=None)) == render_crawl(3, NOW)


def test_crawls_grow_new_posts_appear_and_old_ones_keep_their_identity(
    crawl0: dict[str, list[dict[str, Any]]], crawl1: dict[str, list[dict[str, Any]]]
) -> None:
    before, after = posts_of(crawl0), posts_of(crawl1)
    kept = set(before) & set(after)
    assert len(kept) >= 40 and set(after) - set(before)  # new posts on every crawl
    for board in BOARDS:
        assert {k for k in set(after) - set(before) if k[0] == board.site}, board.site
    for key in kept:
        old, new = before[key], after[key]
        assert (new["id"], new["timestamp"], new["url"]) == (
            old["id"],
            old["timestamp"],
            old["url"],
        )
        assert count(new["view_count"]) > count(old["view_count"])
        assert new["like_count"] >= old["like_count"]
        assert new["comment_count"] >= old["comment_count"]
    assert any(after[k]["comment_count"] > before[k]["comment_count"] for k in kept)
    # incremental mode remembers where the previous crawl stopped
    for name, body in crawl1.items():
        previous = next(b for n, b in crawl0.items() if n.split("_")[0] == name.split("_")[0])
        newest_before = max(int(p["post_id"]) for p in previous[0]["posts"])
        assert body[0]["meta"]["crawl_config"]["last_stop_id"] == str(newest_before)
    assert all(b[0]["meta"]["crawl_config"]["last_stop_id"] is None for b in crawl0.values())


def test_some_posts_are_edited_between_crawls(
    crawl0: dict[str, list[dict[str, Any]]], crawl1: dict[str, list[dict[str, Any]]]
) -> None:
    before, after = posts_of(crawl0), posts_of(crawl1)
    kept = set(before) & set(after)
    edited = [k for k in kept if before[k]["content"] != after[k]["content"]]
    assert len(edited) >= 4  # one or two per board
    assert {site for site, _ in edited} == set(is_sample.SITES)
    for key in edited:
        assert after[key]["content"].startswith(before[key]["content"] + "\n")  # a line added
        assert after[key]["title"] == before[key]["title"]
        assert after[key]["content_hash"] != before[key]["content_hash"]
    for key in kept - set(edited):  # the hash follows the content (fmkorea: the HTML)
        same_hash = before[key]["content_hash"] == after[key]["content_hash"]
        same_html = before[key]["contentHtml"] == after[key]["contentHtml"]
        assert same_hash is (same_html if key[0] == "fmkorea" else True)


def test_images_are_lost_one_and_all(
    crawl0: dict[str, list[dict[str, Any]]], crawl1: dict[str, list[dict[str, Any]]]
) -> None:
    before, after = posts_of(crawl0), posts_of(crawl1)
    kept = set(before) & set(after)
    fewer = [k for k in kept if 0 < len(after[k]["images"]) < len(before[k]["images"])]
    none_left = [k for k in kept if before[k]["images"] and not after[k]["images"]]
    assert fewer and none_left
    for key in fewer + none_left:
        lost = set(before[key]["images"]) - set(after[key]["images"])
        assert lost and set(after[key]["images"]) < set(before[key]["images"])
        assert not any(url in after[key]["contentHtml"] for url in lost)
        assert after[key]["image_count"] == len(after[key]["images"])


def test_reposts_and_near_duplicates_across_sites(crawl0: dict[str, list[dict[str, Any]]]) -> None:
    posts = list(posts_of(crawl0).values())
    pairs = [(a, b) for a, b in combinations(posts, 2) if a["site"] != b["site"]]
    reposts = [(a, b) for a, b in pairs if a["content"] == b["content"]]
    near = [
        (a, b)
        for a, b in pairs
        if a["content"] != b["content"] and a["title"] == b["title"] and jaccard(a, b) > 0.5
    ]
    assert reposts and near
    for a, b in near:
        words_a, words_b = a["content"].split(" "), b["content"].split(" ")
        assert len(words_a) == len(words_b)
        assert 1 <= sum(x != y for x, y in zip(words_a, words_b, strict=True)) <= 2
        assert jaccard(a, b) >= 0.75  # clustering's text threshold
        assert set(a["images"]) & set(b["images"])  # the shared pictures: gallery match
    # unrelated posts do not look alike
    unrelated = [(a, b) for a, b in pairs if a["title"] != b["title"]]
    assert max(jaccard(a, b) for a, b in unrelated) < 0.3


def test_near_duplicate_changes_one_or_two_words() -> None:
    text = "정말 좋아요 그리고 오늘 날씨가 좋네요 역시 여름은 덥네요 결국 끝"
    one = near_duplicate_words(text, 1)
    two = near_duplicate_words(text, 2)
    assert one == 1 and two == 2
    with pytest.raises(ValueError, match="no swappable word"):
        is_sample.near_duplicate("날씨가 좋네요", 1, "x")


def near_duplicate_words(text: str, words: int) -> int:
    changed = is_sample.near_duplicate(text, words, "seed")
    return sum(a != b for a, b in zip(text.split(" "), changed.split(" "), strict=True))


def test_write_is_atomic_and_the_temporary_name_is_not_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, list[str]]] = []
    real_replace = os.replace

    def spying_replace(src: str | Path, dst: str | Path) -> None:
        # what a watcher globbing *.json sees just before the rename
        seen.append((Path(src).name, sorted(p.name for p in tmp_path.glob("*.json"))))
        assert Path(src).parent == Path(dst).parent == tmp_path
        real_replace(src, dst)

    monkeypatch.setattr(is_sample.os, "replace", spying_replace)
    paths = sample_crawl(tmp_path, 0, NOW)
    assert len(seen) == 4
    for n, (temp, visible) in enumerate(seen):
        assert not temp.endswith(".json") and temp.endswith(".part") and temp.startswith(".")
        assert visible == sorted(p.name for p in paths[:n])  # only files already complete
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in paths)


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_replace(src: str | Path, dst: str | Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(is_sample.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(tmp_path / "clien_park_2026-03-02_10-04-00.json", b"[]")
    assert list(tmp_path.iterdir()) == []


def test_crawl_number_follows_the_files_present(tmp_path: Path) -> None:
    assert next_crawl(tmp_path / "missing") == 0
    sample_crawl(tmp_path, 0, NOW)
    (tmp_path / "other_board_2026-03-02_10-04-00.json").write_text("[]")  # not a sample board
    assert next_crawl(tmp_path) == 1
    sample_crawl(tmp_path, 1, NOW + CRAWL_INTERVAL)
    assert next_crawl(tmp_path) == 2
    with pytest.raises(ValueError, match="crawl must be >= 0"):
        render_crawl(-1, NOW)


def test_command_line_writes_the_next_crawl(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES")}
    command = [sys.executable, "-m", "dag.is_sample", "--output-dir", str(tmp_path)]
    for minutes in (0, 10):
        now = (NOW + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
        done = subprocess.run(
            [*command, "--now", now],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert re.fullmatch(r"is_sample: \d+ posts, 4 files, \d+ requests\n", done.stdout)
        assert "wrote clien_park_" in done.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 8
    # the second run took crawl 1 (files / 4): its files are those of crawl 1, 10 minutes on
    later = NOW + CRAWL_INTERVAL
    assert all((tmp_path / n).read_bytes() == data for n, data in render_crawl(1, later).items())


def test_crawler_id_is_the_crawlers() -> None:
    assert (
        crawler_id("clien", "park", "18950000")
        == hashlib.md5(b"clien-park-18950000").hexdigest()[:16]
    )
