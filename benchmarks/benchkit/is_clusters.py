"""IS story clustering: a synthetic 72-hour window of signed posts and two ways of clustering it.

Input: `signatures_frame(rows)`, rows as `is_post_signatures` holds them (SimHash64 hex, text /
gallery / embed MinHash-128 as 1024 big-endian bytes), drawn directly (signing is benchmarked
elsewhere): independent random sketches, of which 5% are near-duplicates of an earlier post
(about 8% of the text slots redrawn, 3 SimHash bits flipped, same gallery / embed), 40% with a
gallery, 10% with an embed, 2% without tokens (no signature).

Cases, each from the frame to the clusters (post id -> component), the same candidates and the
same confirmation rules:
- `ours`: `dag.is_cluster_rules.clusters_of(Signatures(frame))`: band and chunk keys exploded
  and self-joined in Polars, Jaccard on numpy matrices, vectorised union-find.
- `datasketch`: `datasketch.MinHashLSH(num_perm=128, params=(32, 4))` over `LeanMinHash`es of
  the same slots (insert all, query each), a dict of SimHash 16-bit chunks, the confirmation
  rules per pair with `LeanMinHash.jaccard`, union-find in Python: how the clustering is written
  with the usual library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from benchkit.gates import peer_call

SLOTS = 128


@dataclass(frozen=True)
class ClusterSizes:
    """Posts of the main case and of the three scaling cases (n, 2n, 4n) per mode."""

    posts: int
    scale: tuple[int, int, int]
    rounds: int
    peer_rounds: int


SIZES = {
    "quick": ClusterSizes(posts=20_000, scale=(5_000, 10_000, 20_000), rounds=3, peer_rounds=1),
    "full": ClusterSizes(
        posts=100_000, scale=(25_000, 50_000, 100_000), rounds=3, peer_rounds=1
    ),
}


def _binary(matrix: np.ndarray, valid: np.ndarray) -> pl.Series:
    """Rows of `matrix` as 1024 big-endian bytes where `valid`, null elsewhere."""
    rows = len(matrix)
    data = np.ascontiguousarray(matrix.astype(">u8"))
    array = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(SLOTS * 8),
        rows,
        [pa.py_buffer(np.packbits(valid, bitorder="little")), pa.py_buffer(data)],
        null_count=int(rows - valid.sum()),
    )
    return pl.Series(array).cast(pl.Binary)


def signatures_frame(rows: int, seed: int = 16) -> pl.DataFrame:
    """`rows` signed posts of a 72-hour window, 5% near-duplicates (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    limit = np.uint64(1 << 57)  # slot values are 57-bit (dag.is_signatures)

    def sketches() -> np.ndarray:
        return rng.integers(0, limit, (rows, SLOTS), dtype=np.uint64)

    text, gallery, embed = sketches(), sketches(), sketches()
    simhash = rng.integers(0, np.iinfo(np.uint64).max, rows, dtype=np.uint64, endpoint=True)
    has_gallery = rng.random(rows) < 0.4
    has_embed = rng.random(rows) < 0.1
    dup = np.flatnonzero(rng.random(rows) < 0.05)
    dup = dup[dup > 0]
    source = (rng.random(len(dup)) * dup).astype(np.int64)  # an earlier post
    redraw = rng.random((len(dup), SLOTS)) < 0.08
    text[dup] = np.where(redraw, rng.integers(0, limit, redraw.shape, dtype=np.uint64),
                         text[source])
    gallery[dup], embed[dup] = gallery[source], embed[source]
    has_gallery[dup], has_embed[dup] = has_gallery[source], has_embed[source]
    flips = rng.integers(0, 64, (len(dup), 3)).astype(np.uint64)
    bits = (np.uint64(1) << flips).sum(axis=1, dtype=np.uint64)
    simhash[dup] = simhash[source] ^ bits
    tokens = rng.random(rows) >= 0.02
    return pl.DataFrame(
        {
            "post_id": [f"p{i:07d}" for i in range(rows)],
            "text_simhash64": pl.Series([f"{v:016x}" for v in simhash.tolist()], dtype=pl.String),
            "text_minhash128": _binary(text, tokens),
            "gallery_minhash128": _binary(gallery, tokens & has_gallery),
            "embed_minhash128": _binary(embed, tokens & has_embed),
        }
    ).with_columns(
        text_simhash64=pl.when(pl.Series(tokens)).then("text_simhash64").otherwise(None)
    )


def ours(frame: pl.DataFrame) -> pl.DataFrame:
    from dag.is_cluster_rules import Signatures, clusters_of

    return clusters_of(Signatures(frame))


def components_of(result: pl.DataFrame) -> set[frozenset[str]]:
    """The clusters of a result (post_id, component) as sets of post ids."""
    grouped = result.group_by("component").agg("post_id")["post_id"].to_list()
    return {frozenset(g) for g in grouped}


def datasketch_clusters(frame: pl.DataFrame) -> set[frozenset[str]]:
    return peer_call("datasketch", _datasketch, frame)


def _datasketch(frame: pl.DataFrame) -> set[frozenset[str]]:
    from datasketch import LeanMinHash, MinHashLSH

    from dag.is_cluster_rules import Signatures

    sigs = Signatures(frame)  # the same byte parsing as ours (numpy, not the measured part)
    ids = sigs.post_ids.to_list()
    rows = np.flatnonzero(sigs.valid).tolist()

    def lean(matrix: np.ndarray, row: int) -> Any:
        return LeanMinHash(seed=1, hashvalues=matrix[row], scheme="affine64")

    text = {row: lean(sigs.text, row) for row in rows}
    gallery = {row: lean(sigs.gallery, row) for row in rows if sigs.gallery_valid[row]}
    embed = {row: lean(sigs.embed, row) for row in rows if sigs.embed_valid[row]}
    lsh = MinHashLSH(num_perm=SLOTS, params=(32, 4))
    with lsh.insertion_session() as session:
        for row in rows:
            session.insert(row, text[row], check_duplication=False)
    pairs: set[tuple[int, int]] = set()
    for row in rows:
        for other in lsh.query(text[row]):
            if other != row:
                pairs.add((min(row, other), max(row, other)))
    chunks: dict[tuple[int, str], list[int]] = {}
    simhash = sigs.simhash.to_list()
    for row in rows:
        for k in range(4):
            chunks.setdefault((k, simhash[row][4 * k : 4 * k + 4]), []).append(row)
    for bucket in chunks.values():
        for i, a in enumerate(bucket):
            for b in bucket[i + 1 :]:
                pairs.add((min(a, b), max(a, b)))
    parent = list(range(len(ids)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        tj = text[a].jaccard(text[b])
        gj = gallery[a].jaccard(gallery[b]) if a in gallery and b in gallery else 0.0
        ej = embed[a].jaccard(embed[b]) if a in embed and b in embed else 0.0
        if (
            tj >= 0.75
            or (gj >= 0.80 and tj >= 0.55)
            or (ej >= 0.85 and (tj >= 0.50 or gj >= 0.60))
        ):
            parent[find(a)] = find(b)
    groups: dict[int, set[str]] = {}
    for row in rows:
        groups.setdefault(find(row), set()).add(ids[row])
    return {frozenset(g) for g in groups.values() if len(g) >= 2}
