"""Story clustering on hand-made near-duplicates: text, gallery and embed matches, posts without
tokens, stable ids across runs, merges of clusters and clusters merged away."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import polars_schema, validate_frame
from contracts.is_ import IsClusterPosts, IsClusters
from dag.is_cluster_rules import (
    BANDS,
    SIMHASH_CHUNKS,
    Signatures,
    assign_ids,
    candidate_pairs,
    components,
    confirmed_pairs,
    merge_survivors,
    minhash_matrix,
)
from dag.is_clusters import cluster_members, cluster_rows
from dag.is_signatures import NUM_SLOTS, SIGNATURE_BYTES, jaccard, signatures

UTC = dt.UTC
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EMBED = pl.Struct({"type": pl.String, "url": pl.String, "video_id": pl.String})


def text(seed: int, words: int = 80) -> str:
    """A text of distinct-looking Hangul+digit words (deterministic per seed)."""
    rng = random.Random(seed)
    return " ".join(f"말{rng.randrange(10**7)}" for _ in range(words))


def edited(base: str, changes: int, salt: int = 0) -> str:
    """`base` with `changes` words replaced, spread evenly (each kills 5 shingles)."""
    words = base.split()
    step = len(words) // (changes + 1)
    for i in range(1, changes + 1):
        words[i * step] = f"바뀜{salt}x{i}"
    return " ".join(words)


def post(
    post_id: str,
    content: str,
    *,
    title: str = "",
    images: list[str] | None = None,
    embeds: list[dict[str, str | None]] | None = None,
    at: dt.datetime = T0,
    likes: int = 0,
    comments: int = 0,
) -> dict[str, object]:
    return {
        "post_id": post_id,
        "title": title,
        "content": content,
        "image_urls": images or [],
        "embeds": embeds or [],
        "timestamp": at,
        "like_count": likes,
        "comment_count": comments,
    }


def frames(rows: list[dict[str, object]]) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(is_post_signatures rows, is_posts rows) of the hand-made posts."""
    data = pl.DataFrame(
        rows,
        schema={
            "post_id": pl.String,
            "title": pl.String,
            "content": pl.String,
            "image_urls": pl.List(pl.String),
            "embeds": pl.List(EMBED),
            "timestamp": pl.Datetime("us", "UTC"),
            "like_count": pl.Int64,
            "comment_count": pl.Int64,
        },
    )
    sigs = signatures(data.select("post_id", "title", "content", "image_urls", "embeds"))
    posts = data.select(
        id="post_id",
        title="title",
        timestamp="timestamp",
        created_at="timestamp",
        is_deleted=pl.lit(False),
        like_count="like_count",
        comment_count="comment_count",
    )
    return sigs.lazy(), posts.lazy()


def trends(rows: list[tuple[str, dt.datetime, int]] | None = None) -> pl.LazyFrame:
    """is_post_trends rows (post_id, window_end, hot_score)."""
    return pl.DataFrame(
        rows or [],
        schema={
            "post_id": pl.String,
            "window_end": pl.Datetime("us", "UTC"),
            "hot_score": pl.Int64,
        },
        orient="row",
    ).lazy()


EMPTY = pl.DataFrame(schema=polars_schema(IsClusterPosts))
YT = "https://youtu.be/abcdefgh"


def run(
    rows: list[dict[str, object]],
    previous: pl.DataFrame = EMPTY,
    now: dt.datetime = T0,
    hot: list[tuple[str, dt.datetime, int]] | None = None,
) -> pl.DataFrame:
    sigs, posts = frames(rows)
    out, _ = cluster_members(sigs, posts, trends(hot), previous, now)
    assert validate_frame(out, IsClusterPosts)[0]
    return out


def groups(out: pl.DataFrame) -> set[frozenset[str]]:
    return {frozenset(g) for g in out.group_by("cluster_id").agg("post_id")["post_id"].to_list()}


def test_text_gallery_and_embed_near_duplicates_cluster_by_their_rule() -> None:
    a, g, v = text(1), text(2), text(3)
    images = ["https://img.site.kr/2026/p1.jpg", "https://img.site.kr/2026/p2.jpg"]
    moved = ["https://img.site.kr/2027/p1.jpg?w=300", "https://img.site.kr/x/p2.jpg"]
    out = run(
        [
            post("t1", a),
            post("t2", edited(a, 1)),  # one word changed: text
            post("g1", g, images=images),
            post("g2", edited(g, 3), images=moved),  # same gallery
            post("v1", v, embeds=[{"type": "youtube", "url": YT, "video_id": "abcdefgh"}]),
            post(
                "v2",
                edited(v, 3, 9),
                embeds=[
                    {
                        "type": "youtube",
                        "url": "https://www.youtube.com/watch?v=abcdefgh",
                        "video_id": None,
                    }
                ],
            ),
            post("x", text(4)),  # unrelated
        ]
    )
    assert groups(out) == {
        frozenset({"t1", "t2"}),
        frozenset({"g1", "g2"}),
        frozenset({"v1", "v2"}),
    }
    matched = dict(out.filter(~pl.col("is_representative")).select("post_id", "match_type").rows())
    assert {
        matched.get("t2") or matched.get("t1"),
        matched.get("g2") or matched.get("g1"),
        matched.get("v2") or matched.get("v1"),
    } == {"text", "both", "embed"}


def test_edited_text_without_shared_media_does_not_match() -> None:
    a = text(1)
    assert run([post("a", a), post("b", edited(a, 3))]).height == 0  # text ~0.67 < 0.75


def test_posts_without_tokens_never_match() -> None:
    images = ["https://img.site.kr/p1.jpg"]
    out = run(
        [
            post("e1", "", images=images),
            post("e2", "!!", images=images),
            post("e3", "ㅋ"),
            post("e4", ""),
        ]
    )
    assert out.height == 0
    sigs, _ = frames([post("e1", ""), post("e2", "")])
    signed = Signatures(sigs.collect())
    assert not signed.valid.any()
    assert signed.similarities(np.array([0]), np.array([1]))["tj"].item() == 0.0


def test_representative_is_the_hottest_then_the_most_engaged() -> None:
    a = text(1)
    rows = [post("a", a, likes=1), post("b", edited(a, 1), likes=50), post("c", edited(a, 1, 2))]
    out = run(rows)
    assert out.filter("is_representative")["post_id"].to_list() == ["b"]  # no hot score: likes
    out = run(rows, hot=[("c", T0 - dt.timedelta(minutes=10), 40)])
    assert out.filter("is_representative")["post_id"].to_list() == ["c"]
    assert run(rows, hot=[("c", T0 - dt.timedelta(hours=4), 40)]).filter("is_representative")[
        "post_id"
    ].to_list() == ["b"]  # hot score older than 3 hours


def test_cluster_ids_stay_stable_while_any_member_stays() -> None:
    a = text(1)
    first = run([post("a", a), post("b", edited(a, 1))])
    (cid,) = first["cluster_id"].unique().to_list()
    later = T0 + dt.timedelta(minutes=30)
    second = run(
        [post("a", a), post("b", edited(a, 1)), post("c", edited(a, 1, 3))],
        previous=first,
        now=later,
    )
    assert second["cluster_id"].unique().to_list() == [cid]
    assert second.height == 3
    assert second["cluster_created_at"].unique().to_list() == [T0]
    # "a" is deleted from the window's posts: b and c keep the cluster and its id.
    third = run(
        [post("b", edited(a, 1)), post("c", edited(a, 1, 3))],
        previous=second,
        now=later + dt.timedelta(minutes=30),
    )
    assert third["cluster_id"].unique().to_list() == [cid]
    assert set(third["post_id"]) == {"b", "c"}


def test_members_outside_the_window_keep_their_cluster_and_new_copies_merge_into_it() -> None:
    a = text(1)
    first = run([post("a", a), post("b", edited(a, 1))])
    (old,) = first["cluster_id"].unique().to_list()
    days = T0 + dt.timedelta(days=4)  # a and b are out of the 72-hour window now
    rows = [
        post("a", a),
        post("b", edited(a, 1)),
        post("c", edited(a, 1, 7), at=days),
        post("d", edited(a, 1, 8), at=days),
    ]
    second = run(rows, previous=first, now=days)
    assert groups(second) == {frozenset("abcd")}
    assert second["cluster_id"].unique().to_list() == [old]  # the older cluster survives
    assert second["cluster_created_at"].unique().to_list() == [T0]
    # The next run sees one cluster only: the merged-away one is never touched again.
    third = run(rows, previous=second, now=days + dt.timedelta(minutes=30))
    assert third["cluster_id"].unique().to_list() == [old]
    clusters = cluster_rows(third.lazy(), frames(rows)[1]).collect()
    assert clusters.select("id", "size").rows() == [(old, 4)]
    assert validate_frame(clusters, IsClusters)[0]


def test_clusters_not_updated_for_14_days_do_not_merge() -> None:
    a = text(1)
    first = run([post("a", a), post("b", edited(a, 1))])
    later = T0 + dt.timedelta(days=15)
    rows = [
        post("a", a),
        post("b", edited(a, 1)),
        post("c", edited(a, 1, 7), at=later),
        post("d", edited(a, 1, 8), at=later),
    ]
    second = run(rows, previous=first, now=later)
    assert groups(second) == {frozenset("ab"), frozenset("cd")}


def test_a_merge_chain_merges_each_cluster_away_once_into_the_oldest() -> None:
    clusters = pl.DataFrame(
        {
            "cluster_id": ["A", "B", "C", "D"],
            "created_at": [T0 + dt.timedelta(hours=h) for h in (2, 1, 3, 0)],
            "size": [2, 2, 5, 2],
        }
    )
    pairs = pl.DataFrame({"a": ["A", "B"], "b": ["B", "C"]})
    survivors = merge_survivors(clusters, pairs)
    assert survivors.rows() == [("A", "B"), ("B", "B"), ("C", "B")]  # D untouched


def test_a_split_cluster_keeps_its_id_in_one_component_only() -> None:
    found = pl.DataFrame({"post_id": list("abcde"), "component": [0, 0, 2, 2, 2]})
    previous = pl.DataFrame({"post_id": list("abcd"), "cluster_id": ["X"] * 4})
    stored = pl.DataFrame(
        {"cluster_id": ["X"], "created_at": [T0]},
        schema_overrides={"created_at": pl.Datetime("us", "UTC")},
    )
    ids = assign_ids(found, previous, stored, T0 + dt.timedelta(hours=1)).sort("component")
    assert ids["cluster_id"].to_list()[0] == "X"  # a tie: the smaller component keeps it
    assert ids["cluster_id"].to_list()[1] != "X"
    assert ids["cluster_id"].n_unique() == 2


def test_bad_signature_bytes_name_the_column_and_row() -> None:
    column = pl.Series("text_minhash128", [b"\x00" * 1024, b"\x00" * 10], dtype=pl.Binary)
    with pytest.raises(ValueError, match="text_minhash128 row 1 has 10 bytes"):
        minhash_matrix(column, source="is_post_signatures")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), max_size=60))
def test_components_match_a_plain_union_find(edges: list[tuple[int, int]]) -> None:
    left = np.array([e[0] for e in edges], dtype=np.int64)
    right = np.array([e[1] for e in edges], dtype=np.int64)
    labels = components(30, left, right)
    parent = list(range(30))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for x, y in edges:
        parent[find(x)] = find(y)
    for x in range(30):
        for y in range(30):
            assert (labels[x] == labels[y]) == (find(x) == find(y))
    assert all(labels[x] == min(y for y in range(30) if find(y) == find(x)) for x in range(30))


def test_slot_jaccard_equals_the_signature_jaccard() -> None:
    sigs, _ = frames([post("a", text(1)), post("b", edited(text(1), 2))])
    frame = sigs.collect()
    signed = Signatures(frame)
    tj = signed.similarities(np.array([0]), np.array([1]))["tj"].item()
    assert tj == jaccard(frame["text_minhash128"][0], frame["text_minhash128"][1])


def _binary_column(name: str, slots: np.ndarray, valid: np.ndarray) -> pl.Series:
    """A MinHash-128 column as 1024 big-endian bytes per row whose null rows still hold bytes in
    the Arrow buffer (masked values, as a FixedSizeBinary cast or a `when/then` may leave)."""
    data = pa.py_buffer(np.ascontiguousarray(slots.astype(">u8")).tobytes())
    offsets = pa.py_buffer(np.arange(len(slots) + 1, dtype=np.int64) * SIGNATURE_BYTES)
    validity = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    array = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(slots), [validity, offsets, data], null_count=int((~valid).sum())
    )
    return pl.Series(name, array)


def _near_duplicates(rng: np.random.Generator, rows: int) -> list[np.ndarray]:
    """Text, gallery and embed (rows, 128) slots: each row new, or a copy of an earlier row with
    0-80 slots of each redrawn (Jaccards on both sides of every threshold, shared and unshared
    bands)."""
    slots = [rng.integers(0, 1 << 57, (rows, NUM_SLOTS), dtype=np.uint64) for _ in range(3)]
    for row in range(1, rows):
        if rng.random() < 0.7:
            source = rng.integers(0, row)
            for column in slots:
                kept = rng.permutation(NUM_SLOTS)[rng.integers(0, 81) :]
                column[row, kept] = column[source, kept]
    return slots


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**32 - 1))
def test_candidates_and_confirmed_pairs_match_a_brute_force_reference(rows: int, seed: int) -> None:
    """Every pair sharing a band's 4 slots or a SimHash 16-bit chunk is a candidate (buckets are
    never capped), the prefilter drops no pair a rule confirms, and the Jaccards are those of
    the stored bytes, also when null rows hold bytes."""
    rng = np.random.default_rng(seed)
    text_slots, gallery, embed = _near_duplicates(rng, rows)
    text_ok = rng.random(rows) >= 0.1
    gallery_ok = text_ok & (rng.random(rows) < 0.6)
    embed_ok = text_ok & (rng.random(rows) < 0.5)
    # Chunks from a few values, so random chunk buckets fill; one signed text without SimHash.
    chunk = [f"{v:04x}" for v in rng.integers(0, 3, (rows, SIMHASH_CHUNKS)).ravel()]
    simhash = ["".join(chunk[4 * r : 4 * r + 4]) if text_ok[r] else None for r in range(rows)]
    simhash[rows - 1] = None
    frame = pl.DataFrame(
        [
            pl.Series("post_id", [f"p{r:03d}" for r in range(rows)]),
            pl.Series("text_simhash64", simhash, dtype=pl.String),
            _binary_column("text_minhash128", text_slots, text_ok),
            _binary_column("gallery_minhash128", gallery, gallery_ok),
            _binary_column("embed_minhash128", embed, embed_ok),
        ]
    )
    signed = Signatures(frame)
    valid = text_ok & np.array([h is not None for h in simhash])
    assert (signed.valid == valid).all()

    def share(slots: np.ndarray, ok: np.ndarray, a: int, b: int) -> float:
        return float((slots[a] == slots[b]).sum() / NUM_SLOTS) if ok[a] and ok[b] else 0.0

    candidates, confirmed = set(), {}
    for a in range(rows):
        for b in range(a + 1, rows):
            if not (valid[a] and valid[b]):
                continue
            bands = text_slots[[a, b]].reshape(2, BANDS, -1)
            if not (
                (bands[0] == bands[1]).all(axis=1).any()
                or any(simhash[a][k : k + 4] == simhash[b][k : k + 4] for k in range(0, 16, 4))
            ):
                continue
            candidates.add((a, b))
            tj, gj = share(text_slots, valid, a, b), share(gallery, gallery_ok, a, b)
            ej = share(embed, embed_ok, a, b)
            if tj >= 0.75:
                confirmed[(a, b)] = ("text", tj)
            elif gj >= 0.80 and tj >= 0.55:
                confirmed[(a, b)] = ("both", (gj + tj) / 2)
            elif ej >= 0.85 and (tj >= 0.50 or gj >= 0.60):
                confirmed[(a, b)] = ("embed", max(ej, (tj + gj) / 2))
    found = candidate_pairs(signed, np.flatnonzero(signed.valid))
    assert set(found.select("left", "right").iter_rows()) == candidates
    assert found.equals(found.sort("left", "right"))
    pairs = confirmed_pairs(signed)
    assert {(a, b): (kind, pytest.approx(s)) for a, b, kind, s in pairs.iter_rows()} == confirmed
