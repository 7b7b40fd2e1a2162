"""IS post signatures (SimHash64 + three MinHash-128 per post): ours against rensa and
datasketch doing the MinHash part on the same hashed shingles, and the replaced engine's
BLAKE2b-per-seed way from the posts.

The cases and what each includes are described in `benchkit/is_signatures.py`. Outside the
timing, each case's output is checked: one sketch per post, and the replaced engine (run on
fewer posts, gated per post) tokenises to the same shingle and gallery counts as ours, so all
cases sign the same sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from benchkit import is_signatures as cases
from benchkit.data import cached_parquet
from benchkit.gates import PeerUnavailable
from benchkit.modes import Sizes

PEER_ERRORS = (PeerUnavailable,)  # any other peer error fails the gate (benchkit.gates)
PEERS = {"rensa": cases.rensa_sketches, "datasketch": cases.datasketch_sketches}


@pytest.fixture(scope="module")
def sig_sizes(sizes: Sizes) -> cases.SigSizes:
    return cases.SIZES[sizes.mode]


@pytest.fixture(scope="module")
def posts(bench_data: Path, sig_sizes: cases.SigSizes) -> pl.DataFrame:
    path = cached_parquet(
        bench_data, f"is_posts_{sig_sizes.posts}", lambda: cases.posts_frame(sig_sizes.posts)
    )
    return pl.read_parquet(path)


@pytest.fixture(scope="module")
def hashed(posts: pl.DataFrame) -> Any:
    """The posts' hashed sets, which the sketch cases start from (computed outside timing)."""
    return cases.floor(posts)


def test_signatures_ours(
    benchmark: Any, record: Any, posts: pl.DataFrame, sig_sizes: cases.SigSizes
) -> None:
    benchmark.group = "is signatures"
    out = benchmark.pedantic(cases.ours, args=(posts,), rounds=sig_sizes.rounds, warmup_rounds=1)
    record.timing("is.signatures.ours", benchmark, rows=posts.height)
    assert out.height == posts.height
    assert out["text_minhash128"].null_count() == 0  # every synthetic post has tokens
    no_images = int((posts["image_urls"].list.len() == 0).sum())
    assert out["gallery_minhash128"].null_count() == no_images


def test_signatures_floor(
    benchmark: Any, record: Any, posts: pl.DataFrame, sig_sizes: cases.SigSizes
) -> None:
    benchmark.group = "is signatures"
    sets = benchmark.pedantic(cases.floor, args=(posts,), rounds=sig_sizes.rounds, warmup_rounds=1)
    record.timing("is.signatures.floor", benchmark, rows=posts.height)
    assert len(sets.text_counts) == posts.height
    assert int(sets.text_counts.sum()) == len(sets.text)


def test_signatures_ours_sketch(
    benchmark: Any, record: Any, hashed: Any, sig_sizes: cases.SigSizes
) -> None:
    benchmark.group = "is signatures"
    out = benchmark.pedantic(
        cases.ours_sketch, args=(hashed,), rounds=sig_sizes.rounds, warmup_rounds=1
    )
    rows = len(hashed.text_counts)
    record.timing("is.signatures.ours_sketch", benchmark, rows=rows)
    assert out.height == rows
    assert out["text_minhash128"].null_count() == 0
    assert out["embed_minhash128"].null_count() == int((hashed.embed_counts == 0).sum())


@pytest.mark.parametrize("who", list(PEERS))
def test_signatures_peer(
    who: str,
    benchmark: Any,
    record: Any,
    posts: pl.DataFrame,
    hashed: Any,
    sig_sizes: cases.SigSizes,
) -> None:
    case = f"is.signatures.{who}"
    frame = posts.head(sig_sizes.datasketch_posts) if who == "datasketch" else posts
    sets = cases.floor(frame) if who == "datasketch" else hashed  # as ours_sketch's, untimed
    run = PEERS[who]
    try:
        run(cases.floor(frame.head(10)))
    except PEER_ERRORS as error:
        record.skip(case, f"{who} failed: {type(error).__name__}: {error}")
        pytest.skip(f"{case}: {error}")
    benchmark.group = "is signatures"
    rounds = sig_sizes.rounds if who == "rensa" else sig_sizes.slow_rounds
    sketches = benchmark.pedantic(run, args=(sets,), rounds=rounds, warmup_rounds=1)
    record.timing(case, benchmark, rows=frame.height)
    assert len(sketches) == 3
    for sketch in sketches:
        assert (sketch.len() if who == "rensa" else len(sketch)) == frame.height


def test_signatures_original(
    benchmark: Any, record: Any, posts: pl.DataFrame, sig_sizes: cases.SigSizes
) -> None:
    frame = posts.head(sig_sizes.original_posts)
    benchmark.group = "is signatures"
    out = benchmark.pedantic(
        cases.original, args=(frame,), rounds=sig_sizes.slow_rounds, warmup_rounds=0
    )
    record.timing("is.signatures.original", benchmark, rows=frame.height, note="BLAKE2b per seed")
    sets = cases.floor(frame)
    # The same rules: Python's regex tokenises to the same shingles and gallery items as ours.
    assert [row["shingles"] for row in out] == sets.text_counts.tolist()
    assert [row["gallery_items"] for row in out] == sets.gallery_counts.tolist()
    assert all(len(row["text"]) == 1024 for row in out)
    assert np.array([row["simhash"] is not None for row in out]).all()
