"""IS post signatures (dag.is_signatures): tokens, SimHash64, MinHash-128, Jaccard.

Hand-made near-duplicates give known Jaccard values; hypothesis checks the MinHash estimate
against the true Jaccard of random sets and the vectorised SimHash / MinHash against plain
per-row reference implementations; determinism is checked across processes; bounded work on a
5 MB body is asserted on the work itself (tokens used, text read), never on wall-clock time.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dag import is_signatures as sig
from dag.is_signatures import (
    MAX_TEXT_CHARS,
    MAX_TOKENS,
    NUM_SLOTS,
    SIGNATURE_BYTES,
    SIGNATURE_SCHEMA,
    hashed_sets,
    jaccard,
    minhash128,
    signatures,
    simhash64,
    simhash_distance,
    tokens,
)

ROOT = Path(__file__).resolve().parents[2]
EMBED = pl.Struct({"type": pl.String, "url": pl.String, "video_id": pl.String})
INPUT_SCHEMA = {
    "post_id": pl.String,
    "title": pl.String,
    "content": pl.String,
    "image_urls": pl.List(pl.String),
    "embeds": pl.List(EMBED),
}
SYLLABLES = "가나다라마바사아자차카타파하한국대성신우현진경제정치사회문화스포츠게임"


def words(count: int, seed: int) -> list[str]:
    """`count` distinct-ish Korean and latin words (deterministic)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        if i % 4 == 3:
            out.append("".join(rng.choice(list("abcdefghij"), 5)))
        else:
            out.append("".join(rng.choice(list(SYLLABLES), 3)))
    return out


def posts(*rows: dict[str, Any]) -> pl.DataFrame:
    """A signatures input frame; missing fields are null / empty lists."""
    full = [
        {
            "post_id": row.get("post_id", str(i)),
            "title": row.get("title"),
            "content": row.get("content"),
            "image_urls": row.get("image_urls", []),
            "embeds": row.get("embeds", []),
        }
        for i, row in enumerate(rows)
    ]
    return pl.DataFrame(full, schema=INPUT_SCHEMA)


def signed(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    return signatures(posts(*rows)).to_dicts()


LONG = " ".join(words(300, seed=1))
OTHER = " ".join(words(300, seed=2))


# --- tokens -------------------------------------------------------------------------------------
def token_list(text: str | None) -> list[str]:
    return pl.select(tokens(pl.lit(text, dtype=pl.String))).to_series()[0].to_list()


def test_korean_tokens_lowercase_and_length_rule() -> None:
    text = "안녕하세요! 오늘 날씨가 좋네요ㅋㅋ 가 Hello, WORLD 123 a 4 Ｆｕｌｌ 한국2024년"
    assert token_list(text) == [
        "안녕하세요",
        "오늘",
        "날씨가",
        "좋네요ㅋㅋ",  # compatibility jamo are Hangul: one run with the syllables
        "hello",
        "world",
        "123",
        "한국2024년",  # one run of Hangul and digits
    ]  # "가", "a", "4" are shorter than 2; full-width letters are not a-z


def test_urls_are_stripped_before_tokenising() -> None:
    text = "링크 https://Example.com/path?q=테스트 그리고 www.site.kr/abc 끝까지 HTTP://x.io/y 끝"
    assert token_list(text) == ["링크", "그리고", "끝까지"]


def test_nul_bytes_are_removed_and_null_text_has_no_tokens() -> None:
    assert token_list("ab\x00cd 한\x00국") == ["abcd", "한국"]
    assert token_list(None) == []
    assert token_list("!!! ... ?") == []


def test_token_count_matches_the_tokens_expression() -> None:
    frame = posts(
        {"title": "제목 Title", "content": "본문 내용 https://a.b/c 입니다 x"},
        {"title": None, "content": "하나"},
    )
    expected = frame.select(
        tokens(
            pl.concat_str(
                [pl.col("title").fill_null(""), pl.col("content").fill_null("")], separator=" "
            )
        ).list.len()
    ).to_series()
    assert signatures(frame)["token_count"].to_list() == expected.to_list() == [5, 1]


def test_upper_and_lower_case_texts_sign_alike() -> None:
    upper, lower = signed(
        {"content": "HELLO World 안녕 " + LONG.upper()}, {"content": "hello world 안녕 " + LONG}
    )
    for column in ("text_simhash64", "text_minhash128"):
        assert upper[column] == lower[column]


# --- schema, nulls, counts ----------------------------------------------------------------------
def test_output_schema_and_order() -> None:
    out = signatures(posts({"post_id": "b", "content": LONG}, {"post_id": "a", "content": OTHER}))
    assert out.schema == SIGNATURE_SCHEMA
    assert out["post_id"].to_list() == ["b", "a"]
    row = out.row(0, named=True)
    assert len(row["text_minhash128"]) == SIGNATURE_BYTES == 1024
    assert len(row["text_simhash64"]) == 16
    assert row["text_simhash64"] == row["text_simhash64"].lower()
    int(row["text_simhash64"], 16)


def test_empty_input_gives_an_empty_frame() -> None:
    out = signatures(pl.DataFrame(schema=INPUT_SCHEMA))
    assert out.height == 0
    assert out.schema == SIGNATURE_SCHEMA


def test_no_tokens_no_signature_even_with_images() -> None:
    rows = signed(
        {
            "title": "",
            "content": "!!! :) https://only.a/link",
            "image_urls": ["https://i.kr/a.jpg"],
            "embeds": [
                {"type": "youtube", "url": "https://youtu.be/abcdefghijk", "video_id": None}
            ],
        },
        {"title": None, "content": None},
        {"title": "ㅋ", "content": "a b c"},  # only 1-character runs
    )
    for row in rows:
        assert row["token_count"] == 0
        assert row["text_simhash64"] is None
        assert row["text_minhash128"] is None
        assert row["gallery_minhash128"] is None
        assert row["embed_minhash128"] is None
    assert rows[0]["image_count"] == 1 and rows[0]["embed_count"] == 1
    # Two empty posts never match (the original gave them Jaccard 1, bug 1.11.6).
    assert jaccard(rows[0]["text_minhash128"], rows[1]["text_minhash128"]) == 0.0
    assert simhash_distance(rows[0]["text_simhash64"], rows[1]["text_simhash64"]) is None


def test_gallery_and_embed_null_without_images_or_embeds() -> None:
    (row,) = signed({"content": LONG, "image_urls": [None], "embeds": None})
    assert row["text_minhash128"] is not None
    assert row["gallery_minhash128"] is None and row["embed_minhash128"] is None
    assert row["image_count"] == 0 and row["embed_count"] == 0


def test_short_post_uses_its_tokens_as_shingles() -> None:
    sets = hashed_sets(
        posts({"content": "사과 바나나 포도"}, {"content": "사과 배즙 포도 딸기 수박 참외"})
    )
    assert sets.text_counts.tolist() == [3, 2]  # 3 tokens; 6 tokens -> 2 windows of 5
    short, same = signed({"content": "사과 바나나 포도"}, {"content": "포도 바나나 사과 사과"})
    assert jaccard(short["text_minhash128"], same["text_minhash128"]) == 1.0  # same token set


# --- Jaccard on hand-made near-duplicates -------------------------------------------------------
def test_identical_text_is_jaccard_one_and_simhash_equal() -> None:
    a, b = signed({"title": "같은 제목", "content": LONG}, {"title": "같은 제목", "content": LONG})
    assert jaccard(a["text_minhash128"], b["text_minhash128"]) == 1.0
    assert a["text_simhash64"] == b["text_simhash64"]
    assert simhash_distance(a["text_simhash64"], b["text_simhash64"]) == 0


def test_one_changed_word_is_high_but_not_one_and_unrelated_is_low() -> None:
    changed = LONG.split()
    changed[150] = "완전히다른단어"
    a, b, c = signed({"content": LONG}, {"content": " ".join(changed)}, {"content": OTHER})
    # 296 shingles, 5 of them changed: true Jaccard 291 / 301 = 0.967.
    near = jaccard(a["text_minhash128"], b["text_minhash128"])
    assert 0.85 <= near < 1.0
    assert jaccard(a["text_minhash128"], c["text_minhash128"]) <= 0.1
    near_bits = simhash_distance(a["text_simhash64"], b["text_simhash64"])
    far_bits = simhash_distance(a["text_simhash64"], c["text_simhash64"])
    assert near_bits is not None and far_bits is not None
    assert near_bits <= 12 < 20 <= far_bits


def test_jaccard_tracks_the_share_of_shared_text() -> None:
    base = words(400, seed=5)
    half = base[:200] + words(200, seed=6)  # first half shared: true Jaccard 196 / 596 = 0.33
    a, b = signed({"content": " ".join(base)}, {"content": " ".join(half)})
    assert abs(jaccard(a["text_minhash128"], b["text_minhash128"]) - 196 / 596) <= 0.15


def test_same_images_different_text_match_on_gallery_only() -> None:
    images = ["https://img.clien.net/a/2024/photo1.jpg", "https://img.clien.net/b/photo2.png?w=300"]
    resized = ["https://IMG.clien.net:443/x/y/photo1.jpg?size=small", "//img.clien.net/photo2.png"]
    a, b = signed(
        {"content": LONG, "image_urls": images}, {"content": OTHER, "image_urls": resized}
    )
    assert jaccard(a["gallery_minhash128"], b["gallery_minhash128"]) == 1.0  # host/last segment
    assert jaccard(a["text_minhash128"], b["text_minhash128"]) <= 0.1
    assert a["image_count"] == b["image_count"] == 2


def test_embed_items_youtube_x_and_other_hosts() -> None:
    def embed(kind: str | None, url: str | None, video_id: str | None = None) -> dict[str, Any]:
        return {"type": kind, "url": url, "video_id": video_id}

    items = pl.DataFrame(
        {
            "e": [
                embed("youtube", "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1"),
                embed("iframe", "https://youtu.be/dQw4w9WgXcQ"),
                embed("youtube", None, "dQw4w9WgXcQ"),
                embed("X", "https://x.com/user/status/1234567890123"),
                embed("twitter", "https://twitter.com/u/statuses/99", "555"),
                embed("iframe", "https://player.Vimeo.com/video/1?x=1"),
                embed("video", None),
            ]
        },
        schema={"e": EMBED},
    )
    assert items.select(sig.embed_item(pl.col("e"))).to_series().to_list() == [
        "yt:dQw4w9WgXcQ",
        "yt:dQw4w9WgXcQ",
        "yt:dQw4w9WgXcQ",
        "x:1234567890123",
        "x:555",  # the crawler's id wins over the URL
        "em:player.vimeo.com",
        None,  # nothing to identify it: not an item
    ]
    a, b = signed(
        {"content": LONG, "embeds": [items["e"][0], items["e"][3]]},
        {"content": OTHER, "embeds": [items["e"][1], items["e"][3], items["e"][3]]},
    )
    assert jaccard(a["embed_minhash128"], b["embed_minhash128"]) == 1.0
    assert b["embed_count"] == 3


def test_gallery_items() -> None:
    urls = pl.Series(
        "u",
        [
            "https://Img.A.com/p/q/x.jpg?v=1#f",
            "http://b.net/",
            "c.jpg",
            "  ",
            None,
            "https://user@cdn.x.kr:8080/a/b",
        ],
    )
    out = pl.select(sig.gallery_item(pl.lit(urls))).to_series().to_list()
    assert out == ["img.a.com/x.jpg", "b.net/", "/c.jpg", None, None, "cdn.x.kr/b"]


def test_embed_struct_without_video_id_is_read_as_null() -> None:
    frame = posts({"content": LONG}).with_columns(
        embeds=pl.lit([{"type": "youtube", "url": "https://youtu.be/abcdefghijk"}])
    )
    (row,) = signatures(frame).to_dicts()
    assert row["embed_count"] == 1 and row["embed_minhash128"] is not None


# --- bounded work -------------------------------------------------------------------------------
def test_five_megabyte_body_is_bounded_and_flagged() -> None:
    head = " ".join(words(30_000, seed=9))
    tail_a = ("가나다 " * 2_000_000)[: 5_000_000 - len(head)]
    tail_b = ("라마바 " * 2_000_000)[: 5_000_000 - len(head)]
    frame = posts({"content": head + tail_a}, {"content": head + tail_b}, {"content": LONG})
    assert frame["content"].str.len_chars().head(2).to_list() == [5_000_000, 5_000_000]
    sets = hashed_sets(frame)
    assert sets.token_count.tolist() == [MAX_TOKENS, MAX_TOKENS, 300]
    assert sets.text_counts.max() <= MAX_TOKENS  # shingle work is capped too
    out = signatures(frame)
    assert out["tokens_truncated"].to_list() == [True, True, False]
    a, b, _ = out.to_dicts()
    # Only the first MAX_TOKENS tokens are used: a different tail changes nothing.
    assert a["text_minhash128"] == b["text_minhash128"]
    assert a["text_simhash64"] == b["text_simhash64"]
    assert len(a["text_minhash128"]) == SIGNATURE_BYTES


def test_text_beyond_the_character_cap_is_not_read() -> None:
    spaces = " " * MAX_TEXT_CHARS  # no tokens before the cap
    rows = signed({"content": "시작 " + spaces + "뒤의 단어"}, {"content": "시작"})
    assert rows[0]["tokens_truncated"] is True and rows[1]["tokens_truncated"] is False
    assert rows[0]["token_count"] == rows[1]["token_count"] == 1
    assert rows[0]["text_minhash128"] == rows[1]["text_minhash128"]


# --- determinism --------------------------------------------------------------------------------
def digest(frame: pl.DataFrame) -> str:
    """sha256 over every value of every row (nulls included), independent of Polars' hash()."""
    h = hashlib.sha256()
    for row in frame.iter_rows():
        h.update(repr(row).encode())
    return h.hexdigest()


DETERMINISM_INPUT = dict(
    post_id=["p1", "p2", "p3"],
    title=["제목 하나", "Title Two", None],
    content=[LONG, OTHER, "짧은 글"],
    image_urls=[["https://i.kr/a/1.jpg"], [], None],
    embeds=[[{"type": "X", "url": "https://x.com/a/status/7", "video_id": None}], [], None],
)


SIGN_AND_DIGEST = textwrap.dedent(
    f"""
    import hashlib
    import polars as pl
    from dag.is_signatures import signatures

    embed = pl.Struct({{"type": pl.String, "url": pl.String, "video_id": pl.String}})
    schema = {{"post_id": pl.String, "title": pl.String, "content": pl.String,
              "image_urls": pl.List(pl.String), "embeds": pl.List(embed)}}
    frame = pl.DataFrame({DETERMINISM_INPUT!r}, schema=schema)
    h = hashlib.sha256()
    for row in signatures(frame).iter_rows():
        h.update(repr(row).encode())
    print(h.hexdigest())
    """
)


def _signing_process(**env: str) -> subprocess.Popen[str]:
    """A fresh process that signs DETERMINISM_INPUT and prints the digest of its rows."""
    return subprocess.Popen(
        [sys.executable, "-c", SIGN_AND_DIGEST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


def _digest_of(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err[-2000:]
    return out.strip()


def test_same_input_same_bytes_in_this_process_and_in_a_subprocess() -> None:
    frame = pl.DataFrame(DETERMINISM_INPUT, schema=INPUT_SCHEMA)
    first = signatures(frame)
    assert digest(first) == digest(signatures(frame.clone()))
    # A fresh process: its own Polars thread pool (one thread here), categories and hash seeds.
    process = _signing_process(POLARS_MAX_THREADS="1", PYTHONHASHSEED="12345")
    assert _digest_of(process) == digest(first)


def test_compiled_kernels_survive_concurrent_compiles_and_a_kill_mid_compile(
    tmp_path: Path,
) -> None:
    """A fresh install compiles the numba kernels on first use and caches them: a process
    killed while compiling, then two processes compiling into the same empty cache at once, then
    one loading from the cache all sign alike (no torn cache file is ever read)."""
    expected = digest(signatures(pl.DataFrame(DETERMINISM_INPUT, schema=INPUT_SCHEMA)))
    cache = str(tmp_path / "numba-cache")
    killed = _signing_process(NUMBA_CACHE_DIR=cache)
    time.sleep(1.5)  # past the imports, inside the first compile (~4 s)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    racing = [_signing_process(NUMBA_CACHE_DIR=cache) for _ in range(2)]
    assert [_digest_of(process) for process in racing] == [expected, expected]
    assert list(Path(cache).rglob("*.nbi")), "the kernels were not cached"
    assert _digest_of(_signing_process(NUMBA_CACHE_DIR=cache)) == expected


def test_known_values_are_pinned() -> None:
    """Persisted signatures are compared across runs and releases: the hash scheme must not
    drift. These values were computed once by this implementation; a change here means every
    stored signature would have to be recomputed."""
    (row,) = signed(
        {
            "title": "고정된 제목",
            "content": "안녕하세요 반갑습니다 Hello World 오늘은 날씨가 맑고 바람이 분다 2024년",
            "image_urls": ["https://img.kr/a/b/photo.jpg"],
        }
    )
    text = np.frombuffer(row["text_minhash128"], dtype=">u8")
    gallery = np.frombuffer(row["gallery_minhash128"], dtype=">u8")
    assert row["text_simhash64"] == PINNED_SIMHASH
    assert [int(text[i]) for i in (0, 1, 64, 127)] == PINNED_TEXT_SLOTS
    assert int(gallery[5]) == PINNED_GALLERY_SLOT


PINNED_SIMHASH = "323892b5bf404908"
PINNED_TEXT_SLOTS = [65335404203051808, 52868639670226255, 14235102120823257, 65335404203051808]
PINNED_GALLERY_SLOT = 39803064653472919
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    return h ^ (h >> 33)


def documented_hash(text: str) -> int:
    """The module doc's item hash, in plain Python integers."""
    data = text.encode("utf-8")
    total = 0
    for i, byte in enumerate(data):
        multiplier = fmix64(((i + 1) * GOLDEN) & MASK) | 1
        total = (total + (byte + 1) * multiplier) & MASK
    return fmix64(total ^ ((len(data) * GOLDEN) & MASK))


def test_item_hash_is_the_documented_formula() -> None:
    items = ["", "a", "ab", "한국어", "img.kr/photo.jpg", "x" * 300]
    got = sig._hash_strings(pl.Series(items, dtype=pl.String))
    assert [int(v) for v in got] == [documented_hash(item) for item in items]


# --- jaccard / simhash_distance helpers ---------------------------------------------------------
def test_jaccard_and_distance_validate_their_inputs() -> None:
    with pytest.raises(ValueError, match="signature b has 3 bytes, expected 1024"):
        jaccard(bytes(SIGNATURE_BYTES), b"abc")
    with pytest.raises(ValueError, match="not 16 lower-case hex digits"):
        simhash_distance("0" * 16, "XYZ")
    assert jaccard(None, bytes(SIGNATURE_BYTES)) == 0.0
    assert jaccard(bytes(SIGNATURE_BYTES), bytes(SIGNATURE_BYTES)) == 1.0
    assert simhash_distance("0" * 16, "f" * 16) == 64
    assert simhash_distance("00000000000000ff", "0000000000000001") == 7


# --- bad input ----------------------------------------------------------------------------------
def test_missing_columns_name_the_source() -> None:
    with pytest.raises(ValueError, match=r"clien_park_x\.json: .*need columns \['embeds'\]"):
        signatures(posts({"content": "a"}).drop("embeds"), source="clien_park_x.json")


def test_null_post_id_names_the_row_and_title() -> None:
    frame = posts({"post_id": "ok", "content": "하나"}).vstack(
        posts({"content": "둘", "title": "문제의 글"}).with_columns(
            pl.lit(None, pl.String).alias("post_id")
        )
    )
    message = r"f\.json: post at row 1 \(title '문제의 글'\) has no post_id"
    with pytest.raises(ValueError, match=message):
        signatures(frame, source="f.json")


def test_duplicate_post_ids_are_refused() -> None:
    frame = posts({"post_id": "7", "content": "a"}, {"post_id": "7", "content": "b"})
    with pytest.raises(ValueError, match=r"f\.json: post '7' appears 2 times"):
        signatures(frame, source="f.json")


def test_wrong_column_type_is_refused() -> None:
    frame = posts({"content": "a"}).with_columns(image_urls=pl.lit("https://a/b.jpg"))
    with pytest.raises(ValueError, match=r"column image_urls is String, expected List\(String\)"):
        signatures(frame)


def test_all_null_columns_are_accepted() -> None:
    frame = pl.DataFrame(
        {
            "post_id": ["1"],
            "title": [None],
            "content": ["사과 바나나"],
            "image_urls": [None],
            "embeds": [None],
        }
    )
    (row,) = signatures(frame).to_dicts()
    assert row["token_count"] == 2 and row["gallery_minhash128"] is None


# --- properties ---------------------------------------------------------------------------------
@st.composite
def set_pair(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    shared = draw(st.integers(0, 150))
    only_a = draw(st.integers(0, 150))
    only_b = draw(st.integers(0, 150))
    if shared + only_a + only_b < 20 or shared + only_a == 0 or shared + only_b == 0:
        shared += 20
    salt = draw(st.integers(0, 10**9))
    names = [f"{salt}-{i}.jpg" for i in range(shared + only_a + only_b)]
    a = names[:shared] + names[shared : shared + only_a]
    b = names[:shared] + names[shared + only_a :]
    return a, b


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(set_pair())
def test_minhash_estimates_the_true_jaccard(pair: tuple[list[str], list[str]]) -> None:
    a, b = pair
    true = len(set(a) & set(b)) / len(set(a) | set(b))
    frame = posts(
        {"content": "공통 본문", "image_urls": [f"https://g.kr/i/{n}" for n in a]},
        {"content": "공통 본문", "image_urls": [f"https://g.kr/j/{n}" for n in b]},
    )
    left, right = signatures(frame)["gallery_minhash128"].to_list()
    # 128 slots: standard error <= 0.045; 0.2 is more than 4 of them.
    assert abs(jaccard(left, right) - true) <= 0.2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=30), st.integers(0, 2**32))
def test_simhash64_matches_per_row_bit_votes(counts: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = np.array(counts, dtype=np.int64)
    hashes = rng.integers(0, 2**64, int(sizes.sum()), dtype=np.uint64, endpoint=False)
    got = simhash64(hashes, sizes)
    start = 0
    for row, size in enumerate(counts):
        block = hashes[start : start + size]
        start += size
        expected = 0
        for bit in range(64):
            ones = int(((block >> np.uint64(bit)) & np.uint64(1)).sum())
            expected |= int(2 * ones > size) << bit
        assert int(got[row]) == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=12), st.integers(0, 2**32))
def test_minhash128_matches_a_per_row_reference(counts: list[int], seed: int) -> None:
    """One-permutation MinHash + densification, written row by row and slot by slot."""
    rng = np.random.default_rng(seed)
    sizes = np.array(counts, dtype=np.int64)
    hashes = rng.integers(0, 2**64, int(sizes.sum()), dtype=np.uint64, endpoint=False)
    got = minhash128(hashes, sizes)
    start = 0
    empty = 2**64 - 1
    for row, size in enumerate(counts):
        block = [int(h) for h in hashes[start : start + size]]
        start += size
        slots = [empty] * NUM_SLOTS
        for h in block:
            slot, value = h >> 57, h & ((1 << 57) - 1)
            slots[slot] = min(slots[slot], value)
        dense = list(slots)
        if block:
            for i in range(NUM_SLOTS):
                if slots[i] == empty:
                    dense[i] = next(slots[j] for j in sig._ORDER[i] if slots[j] != empty)
        assert [int(v) for v in got[row]] == dense


@pytest.mark.parametrize("counts", [[2, 2], [3, 3, 3], [9, -1]])
def test_counts_that_do_not_cover_the_hashes_are_refused(counts: list[int]) -> None:
    hashes = np.arange(8, dtype=np.uint64)  # the compiled kernel must never read past them
    for sketch in (simhash64, minhash128):
        with pytest.raises(ValueError, match="8 hashes for counts summing to"):
            sketch(hashes, np.array(counts, dtype=np.int64))


def test_threaded_sketching_equals_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 200, 50)
    hashes = rng.integers(0, 2**64, int(counts.sum()), dtype=np.uint64, endpoint=False)
    monkeypatch.setattr(sig, "_THREADS", 1)
    whole, whole_simhash = minhash128(hashes, counts), simhash64(hashes, counts)
    monkeypatch.setattr(sig, "_THREADS", 4)
    monkeypatch.setattr(sig, "_CHUNK_ROWS", 7)  # 50 rows in 4 slices of 12-13 rows
    assert (minhash128(hashes, counts) == whole).all()
    assert (simhash64(hashes, counts) == whole_simhash).all()


# The sketch as numpy array code (np.minimum.at scatter, densification by probe steps and by
# rank loops), an earlier implementation kept as the reference the compiled kernel must equal
# slot for slot.
REF_SPARSE = 11
REF_RANK_BY_SOURCE = np.ascontiguousarray(sig._RANK.T).astype(np.int16)
REF_ORDER_BY_STEP = np.ascontiguousarray(sig._ORDER.T)


def reference_sketch(hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    rows = len(counts)
    empty = np.uint64(2**64 - 1)
    slots = np.full(rows * NUM_SLOTS, empty, dtype=np.uint64)
    key = np.repeat(np.arange(rows, dtype=np.int64) << 7, counts)
    key |= (hashes >> np.uint64(57)).astype(np.int64)
    np.minimum.at(slots, key, hashes & np.uint64((1 << 57) - 1))
    slots = slots.reshape(rows, NUM_SLOTS)
    filled = slots != empty
    per_row = filled.sum(axis=1)
    dense = slots.copy()
    flat, out = slots.ravel(), dense.ravel()
    many = (per_row > REF_SPARSE) & (per_row < NUM_SLOTS)
    pending = np.flatnonzero(~filled & many[:, None])
    for step in range(NUM_SLOTS - 1):
        if not len(pending):
            break
        slot = pending & (NUM_SLOTS - 1)
        borrowed = flat[(pending ^ slot) | REF_ORDER_BY_STEP[step][slot]]
        found = borrowed != empty
        out[pending[found]] = borrowed[found]
        pending = pending[~found]
    single = np.flatnonzero(per_row == 1)
    if len(single):
        dense[single] = slots[single].min(axis=1)[:, None]
    for count in range(2, REF_SPARSE + 1):
        chosen = np.flatnonzero(per_row == count)
        if not len(chosen):
            continue
        sources = np.nonzero(filled[chosen])[1].reshape(len(chosen), count)
        values = slots[chosen[:, None], sources]
        best_rank = REF_RANK_BY_SOURCE[sources[:, 0]]
        best = np.repeat(values[:, :1], NUM_SLOTS, axis=1)
        for j in range(1, count):
            rank = REF_RANK_BY_SOURCE[sources[:, j]]
            better = rank < best_rank
            best_rank = np.where(better, rank, best_rank)
            best = np.where(better, values[:, j : j + 1], best)
        dense[chosen] = np.where(filled[chosen], slots[chosen], best)
    return dense


@st.composite
def flat_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 0-400 hashes (many of 1-20: the few-items path, and 12-20: both sides of its
    limit), sometimes crowded into a few slots or with repeated hashes."""
    seed = draw(st.integers(0, 2**32))
    rng = np.random.default_rng(seed)
    high = draw(st.sampled_from([3, 17, 21, 60, 140, 400]))
    counts = rng.integers(0, high, draw(st.integers(1, 60)))
    hashes = rng.integers(0, 2**64, int(counts.sum()), dtype=np.uint64, endpoint=False)
    if draw(st.booleans()):  # few distinct slots: repeated slots and sparse rows
        slot = rng.integers(0, draw(st.integers(1, 20)), len(hashes)).astype(np.uint64)
        hashes = (hashes & np.uint64((1 << 57) - 1)) | (slot << np.uint64(57))
    if draw(st.booleans()) and len(hashes):  # repeated items within and across rows
        hashes = hashes[rng.integers(0, max(len(hashes) // 4, 1), len(hashes))]
    return hashes, counts


@settings(max_examples=150, deadline=None)
@given(flat_sets(), st.sampled_from([(1, 1), (3, 2), (2, 8)]))
def test_fast_sketch_equals_the_reference(
    sets: tuple[np.ndarray, np.ndarray], chunking: tuple[int, int]
) -> None:
    """The kernel's paths (few items, few filled slots, probe walks) in one or several threads
    give the reference's slots, also as stored (big-endian, only the rows asked for); the
    SimHash in threads equals one thread's."""
    hashes, counts = sets
    present = counts > 0
    expected = np.full((len(counts), NUM_SLOTS), 2**64 - 1, dtype=np.uint64)
    kept = np.repeat(present, counts)
    expected[present] = reference_sketch(hashes[kept], counts[present])
    whole_simhash = simhash64(hashes, counts)
    rows = np.flatnonzero(present)
    stored = np.empty((len(rows), NUM_SLOTS), dtype=np.uint64)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sig, "_CHUNK_ROWS", chunking[0])
        patch.setattr(sig, "_THREADS", chunking[1])
        got = minhash128(hashes, counts)
        sig._sketch(hashes, counts, rows, minhash=stored, big_endian=True)
        threaded_simhash = simhash64(hashes, counts)
    assert (got == expected).all()
    assert (stored.view(">u8") == expected[present]).all()
    assert (threaded_simhash == whole_simhash).all()


def test_extra_embed_fields_are_ignored() -> None:
    embed = {"type": "X", "url": "https://x.com/a/status/42", "provider": "x", "thumbnail": None}
    frame = posts({"content": LONG}).with_columns(embeds=pl.lit([embed]))
    plain = posts(
        {"content": LONG, "embeds": [{"type": "X", "url": embed["url"], "video_id": None}]}
    )
    assert signatures(frame).row(0) == signatures(plain).row(0)


def test_shingle_hash_is_the_documented_formula() -> None:
    words_in_post = ["사과", "banana", "포도", "딸기", "수박", "참외"]
    sets = hashed_sets(posts({"content": " ".join(words_in_post).upper()}))
    multipliers = [fmix64(((k + 1 + 2**32) * GOLDEN) & MASK) | 1 for k in range(5)]
    expected = []
    for start in (0, 1):
        window = words_in_post[start : start + 5]
        total = sum(documented_hash(w) * m for w, m in zip(window, multipliers, strict=True))
        expected.append(fmix64(total & MASK))
    assert [int(v) for v in sets.text] == expected
