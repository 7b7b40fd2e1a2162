"""IS story-clustering rules (spec 1.6): candidates, confirmation, components, stable ids, merges.

Pure functions over Polars frames and numpy arrays; the assets in `dag.is_clusters` feed them the
lake tables. Everything is computed for the whole 72-hour window at once:

- candidates (`candidate_pairs`): posts sharing one of the four 16-bit chunks of their text
  SimHash64, or one of 32 LSH bands (4 slots each) of their text MinHash-128. Band keys are
  hashed in blocks of rows; each band and chunk column is sorted once and every run of equal
  keys expanded into its pairs with numpy (`_shared`), so no Python loop touches a post or a
  bucket. Buckets are never capped. A post without tokens has no signature and is never a
  candidate (the replaced engine gave empty posts Jaccard 1, bug 1.11.6).
- prefilter (`_may_match`): random pairs sharing a 16-bit chunk grow as n^2 / 2^15 and are
  dropped by an exact bound (32-byte fingerprints of the slots' low bits) before any Jaccard.
- Jaccard (`Signatures.similarities`): the share of equal MinHash slots, on the slot words of
  the pairs' rows read from the Arrow buffers, compared in bounded blocks (same value as
  `dag.is_signatures.jaccard`).
- confirmation (`confirm`): first match wins: text >= 0.75; gallery >= 0.80 and text >= 0.55;
  embed >= 0.85 and (text >= 0.50 or gallery >= 0.60).
- components (`components`): union-find over the confirmed pair arrays (hooking to the smaller
  root and pointer jumping, vectorised with numpy); components of size >= 2 are clusters.
- stable ids (`assign_ids`): a component keeps the id of the stored cluster most of its members
  belonged to (ties: the older cluster, then the smaller id); one stored id goes to one
  component only (the one holding most of its members); the others get a new id derived from
  their smallest post id and the run time (deterministic, never an id in use).
- merges (`merge_pairs`, `merge_survivors`): clusters updated within 14 days whose
  representatives share an LSH band merge when >= 3 of the top-8 members of one have a best
  match >= 0.80 in the other, or the mean of the top-3 best matches is >= 0.80. Merges are
  grouped transitively (union-find) and each group keeps its oldest cluster (then the larger,
  then the smaller id): a cluster is merged away at most once and never touched afterwards
  (the replaced engine could touch a cluster it had already deleted, bug 1.11.7).
"""

from __future__ import annotations

import datetime as dt
import uuid
from functools import cached_property

import numpy as np
import polars as pl
import pyarrow as pa

from dag.is_signatures import NUM_SLOTS, SIGNATURE_BYTES

BANDS = 32
ROWS_PER_BAND = 4
SIMHASH_CHUNKS = 4
MIN_TEXT_SLOTS = 64  # 0.50 x 128: the lowest text Jaccard any rule that needs text accepts
TEXT_MATCH = 0.75
GALLERY_MATCH, GALLERY_TEXT = 0.80, 0.55
EMBED_MATCH, EMBED_TEXT, EMBED_GALLERY = 0.85, 0.50, 0.60
MERGE_TOP_MEMBERS = 8
MERGE_MATCH = 0.80
MERGE_MIN_MATCHES = 3
MERGE_TOP_MEAN = 3
MATCH_TYPES = ("text", "both", "embed")
ID_NAMESPACE = uuid.UUID("7d1f3a52-9a43-4c1e-8f35-2f4b8d0c1a16")

_PAIR_BLOCK = 8_192  # pairs compared per block: 2 x 8k x 128 x 8 bytes = 16 MiB at most
_ROW_BLOCK = 4_096  # rows hashed per block: temporaries of a few MiB
_PREFILTER_BLOCK = 65_536  # pairs prefiltered per block: 512 KiB per temporary
_MIX = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93],
    dtype=np.uint64,
)
SIGNATURE_COLUMNS = ("text_simhash64", "text_minhash128", "gallery_minhash128", "embed_minhash128")
FINGERPRINT_WORDS = 4  # 128 slots x 2 bits
_EVEN_BITS = np.uint64(0x5555555555555555)
_LOW = np.uint64(0xFFFFFFFF)


def _validity(column: pl.Series, *, source: str) -> np.ndarray:
    """The rows holding a MinHash-128 signature; a signature of another size is an error."""
    sizes = column.cast(pl.Binary).bin.size()
    bad = (sizes != SIGNATURE_BYTES).fill_null(False)
    if bad.any():
        row = int(bad.arg_true()[0])
        raise ValueError(
            f"{source}: column {column.name} row {row} has {sizes[row]} bytes, "
            f"expected {SIGNATURE_BYTES} (128 big-endian u64 slots)"
        )
    return sizes.is_not_null().to_numpy()


def _signed_words(signed: pl.Series) -> np.ndarray:
    """(rows, 128) uint64 view of the slot bytes of a Binary column of signatures only (no null,
    each of SIGNATURE_BYTES): a view of the Arrow buffer, no numpy copy or byte swap. The slots
    are read in the machine's byte order (byte-swapped on little-endian machines): equality, all
    that Jaccard and band keys need, is the same."""
    if signed.len() == 0:
        return np.zeros((0, NUM_SLOTS), dtype=np.uint64)
    array = signed.cast(pl.Binary).rechunk().to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_large_binary(array.type):
        array = array.cast(pa.large_binary())
    buffers = array.buffers()
    start = int(np.frombuffer(buffers[1], dtype=np.int64, count=1, offset=array.offset * 8)[0])
    # Every row has SIGNATURE_BYTES, so the slots are one run from the first offset.
    words = np.frombuffer(buffers[2], dtype=np.uint64, count=len(array) * NUM_SLOTS, offset=start)
    return words.reshape(len(array), NUM_SLOTS)


def _slot_words(column: pl.Series, *, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(signed rows, 128) uint64 slot words of a MinHash-128 Binary column (`_signed_words`) and
    the rows' validity. Only the signed rows are read: a null row may still hold bytes in the
    Arrow buffer (a masked value), which would shift every later row."""
    valid = _validity(column, source=source)
    return _signed_words(column.filter(pl.Series(valid))), valid


def minhash_matrix(
    column: pl.Series, *, source: str = "signatures"
) -> tuple[np.ndarray, np.ndarray]:
    """The (rows, 128) uint64 slot matrix of a MinHash-128 Binary column (zeros where null) and
    the rows' validity, read from the Arrow buffers (no per-row Python)."""
    words, valid = _slot_words(column, source=source)
    matrix = np.zeros((len(valid), NUM_SLOTS), dtype=np.uint64)
    matrix[valid] = words.view(">u8").astype(np.uint64)
    return matrix, valid


def band_keys(words: np.ndarray) -> np.ndarray:
    """(rows, 32) LSH bucket keys of rows of text slot words: each band's 4 slots mixed into one
    64-bit key (a sum of products with odd constants, modulo 2^64). Each band is bucketed on its
    own, so keys of different bands are never compared; distinct bands of one band number share
    a key with probability 2^-64 (the Jaccard confirms every candidate anyway)."""
    return words.reshape(len(words), BANDS, ROWS_PER_BAND) @ _MIX  # wraps modulo 2^64


def fingerprints(words: np.ndarray) -> np.ndarray:
    """(rows, 4) uint64: the low 2 bits of each of the 128 text slots, packed (32 bytes). Equal
    slots have equal low bits, so the equal 2-bit groups of two rows bound their equal slots
    from above."""
    # Byte 7 of a big-endian slot is its lowest; four slots' 2 bits make one byte.
    low = words.view(np.uint8).reshape(len(words), NUM_SLOTS // 4, 4, 8)[:, :, :, 7] & np.uint8(3)
    packed = low[:, :, 0] | (low[:, :, 1] << 2) | (low[:, :, 2] << 4) | (low[:, :, 3] << 6)
    return np.ascontiguousarray(packed).view(np.uint64)


def simhash_chunks(simhash: pl.Series) -> np.ndarray:
    """(rows, 4) 16-bit chunks of SimHash64 hex strings (4 hex digits each)."""
    return (
        pl.DataFrame({"h": simhash})
        .select(
            pl.col("h").str.slice(4 * k, 4).str.to_integer(base=16).cast(pl.UInt16).alias(str(k))
            for k in range(SIMHASH_CHUNKS)
        )
        .to_numpy()
        .astype(np.uint16)
    )


def _shared(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (first < second) of positions of `values` (uint64) holding the same value, each
    pair once.

    One sort of the values with the position in their low bits (a plain sort of uint64, much
    cheaper than an argsort) puts equal values in runs; only entries in runs of two or more are
    expanded, each paired with the later entries of its run (repeat / arange: work in the size
    of the output, no per-bucket loop). Values equal but for the bits the position replaced
    share a run too: the pairs are checked on the full values, so the result is exact."""
    size = len(values)
    none = np.zeros(0, dtype=np.intp)
    if size < 2:
        return none, none
    bits = np.uint64(int(size - 1).bit_length())
    low = (np.uint64(1) << bits) - np.uint64(1)
    ordered = np.sort((values & ~low) | np.arange(size, dtype=np.uint64))
    top = ordered >> bits
    same = top[1:] == top[:-1]
    if not same.any():
        return none, none
    in_run = np.zeros(size, dtype=bool)
    in_run[1:] = same
    in_run[:-1] |= same
    entries = ordered[in_run]
    top = entries >> bits
    count = len(entries)
    starts = np.flatnonzero(np.concatenate(([True], top[1:] != top[:-1])))
    lengths = np.diff(np.append(starts, count))
    later = np.repeat(starts + lengths, lengths) - np.arange(count) - 1
    first = np.repeat(np.arange(count), later)
    second = first + (np.arange(len(first)) - np.repeat(np.cumsum(later) - later - 1, later))
    # A run is sorted by position (the low bits), so first < second.
    position = (entries & low).astype(np.intp)
    first, second = position[first], position[second]
    if not (values & low).any():  # no bits were replaced: runs hold equal values only
        return first, second
    exact = values[first] == values[second]
    return first[exact], second[exact]


def _candidate_codes(
    sigs: Signatures, rows: np.ndarray, *, simhash_too: bool, prefilter: bool
) -> np.ndarray:
    """Candidate pairs of `rows` (valid rows of `sigs`, ascending) as sorted distinct codes
    (i << 32 | j, i < j positions in `rows`): a shared LSH band of the text MinHash, or
    (`simhash_too`) a shared 16-bit SimHash chunk. `prefilter`: only pairs `_may_match` keeps.

    Band keys and fingerprints are computed in blocks of rows and each band is bucketed on its
    own, so the work is linear in the rows (up to the sort's log) and no temporary grows with
    the window; the chunk pairs, which grow quadratically, cost a few integer operations each
    before the prefilter drops them."""
    keys = np.empty((BANDS, len(rows)), dtype=np.uint64)
    prints = np.empty((FINGERPRINT_WORDS, len(rows)), dtype=np.uint64)
    for start in range(0, len(rows), _ROW_BLOCK):
        stop = min(start + _ROW_BLOCK, len(rows))
        block = sigs.text_slots(rows[start:stop])
        keys[:, start:stop] = band_keys(block).T
        if prefilter:
            prints[:, start:stop] = fingerprints(block).T
    columns = list(keys)
    if simhash_too:
        # Each 16-bit chunk in the top bits: `_shared` keeps them whole.
        chunks = simhash_chunks(sigs.simhash.gather(rows)).astype(np.uint64) << np.uint64(48)
        columns += list(chunks.T)
    media = sigs.gallery_valid[rows] & sigs.embed_valid[rows]
    codes = [np.zeros(0, dtype=np.uint64)]
    for column in columns:  # 32 bands and 4 chunks, not posts
        first, second = _shared(np.ascontiguousarray(column))
        if prefilter:  # per column: the quadratic chunk pairs are never gathered in one array
            keep = _may_match(prints, media, first, second)
            first, second = first[keep], second[keep]
        codes.append((first.astype(np.uint64) << np.uint64(32)) | second.astype(np.uint64))
    return np.unique(np.concatenate(codes))


def candidate_pairs(
    sigs: Signatures, rows: np.ndarray, *, simhash_too: bool = True
) -> pl.DataFrame:
    """Distinct candidate pairs (left < right, row numbers of `sigs`, sorted) among `rows` (valid
    rows, ascending): a shared LSH band of the text MinHash, or (`simhash_too`) a shared 16-bit
    SimHash chunk."""
    codes = _candidate_codes(sigs, rows, simhash_too=simhash_too, prefilter=False)
    return pl.DataFrame(
        {
            "left": pl.Series(rows[(codes >> np.uint64(32)).astype(np.int64)], dtype=pl.UInt32),
            "right": pl.Series(rows[(codes & _LOW).astype(np.int64)], dtype=pl.UInt32),
        }
    )


def _equal_share(words: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The share of equal slots of rows `a` and `b` of `words` (0.0 where a position is -1),
    gathered in blocks, so memory stays bounded for any number of pairs."""
    out = np.zeros(len(a), dtype=np.float64)
    both = np.flatnonzero((a >= 0) & (b >= 0))
    for start in range(0, len(both), _PAIR_BLOCK):
        pick = both[start : start + _PAIR_BLOCK]
        equal = np.count_nonzero(words[a[pick]] == words[b[pick]], axis=1)
        out[pick] = equal / NUM_SLOTS
    return out


def confirm(tj: pl.Expr, gj: pl.Expr, ej: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(match_type, similarity) of a pair by the first rule that holds (null / 0.0: no match)."""
    text = tj >= TEXT_MATCH
    both = (gj >= GALLERY_MATCH) & (tj >= GALLERY_TEXT)
    embed = (ej >= EMBED_MATCH) & ((tj >= EMBED_TEXT) | (gj >= EMBED_GALLERY))
    mean = (tj + gj) / 2
    kind = (
        pl.when(text)
        .then(pl.lit("text"))
        .when(both)
        .then(pl.lit("both"))
        .when(embed)
        .then(pl.lit("embed"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    similarity = (
        pl.when(text)
        .then(tj)
        .when(both)
        .then(mean)
        .when(embed)
        .then(pl.max_horizontal(ej, mean))
        .otherwise(0.0)
    )
    return kind, similarity


class Signatures:
    """A batch of posts' signatures (row i = `post_ids[i]`): the columns and their validity. Slots
    are read from the Arrow buffers as uint64 words (`_signed_words`) a block of rows at a time
    (the band keys) or for the rows of the pairs compared (the Jaccards), so no matrix the size
    of the window is built. `text`, `gallery` and `embed` are the full slot matrices (zeros
    where null), built on first use."""

    def __init__(self, frame: pl.DataFrame, *, source: str = "signatures") -> None:
        missing = [c for c in ("post_id", *SIGNATURE_COLUMNS) if c not in frame.columns]
        if missing:
            raise ValueError(f"{source}: clustering needs columns {missing}")
        self.source = source
        self.post_ids = frame.get_column("post_id")
        self.simhash = frame.get_column("text_simhash64")
        self.columns = {name: frame.get_column(name) for name in SIGNATURE_COLUMNS[1:]}
        text_valid = _validity(self.columns["text_minhash128"], source=source)
        self.gallery_valid = _validity(self.columns["gallery_minhash128"], source=source)
        self.embed_valid = _validity(self.columns["embed_minhash128"], source=source)
        # No tokens = no signature: such a post is never a candidate nor a match.
        self.valid = text_valid & self.simhash.is_not_null().to_numpy()

    def __len__(self) -> int:
        return len(self.post_ids)

    @cached_property
    def text(self) -> np.ndarray:
        return minhash_matrix(self.columns["text_minhash128"], source=self.source)[0]

    @cached_property
    def gallery(self) -> np.ndarray:
        return minhash_matrix(self.columns["gallery_minhash128"], source=self.source)[0]

    @cached_property
    def embed(self) -> np.ndarray:
        return minhash_matrix(self.columns["embed_minhash128"], source=self.source)[0]

    def text_slots(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), 128) text slot words (`_signed_words`) of `rows` (signed rows)."""
        return _signed_words(self.columns["text_minhash128"].gather(rows))

    def _jaccard(
        self, name: str, valid: np.ndarray, left: np.ndarray, right: np.ndarray
    ) -> np.ndarray:
        """Jaccard of a MinHash column for the pairs (0 where a side is not `valid`): only the
        rows of these pairs are read."""
        both = valid[left] & valid[right]
        rows = np.unique(np.concatenate([left[both], right[both]]))
        words = _signed_words(self.columns[name].gather(rows))
        a = np.where(both, np.searchsorted(rows, left), -1)
        b = np.where(both, np.searchsorted(rows, right), -1)
        return _equal_share(words, a, b)

    def similarities(self, left: np.ndarray, right: np.ndarray) -> pl.DataFrame:
        """tj, gj, ej of each row pair."""
        left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
        return pl.DataFrame(
            {
                "tj": self._jaccard("text_minhash128", self.valid, left, right),
                "gj": self._jaccard(
                    "gallery_minhash128", self.gallery_valid & self.valid, left, right
                ),
                "ej": self._jaccard("embed_minhash128", self.embed_valid & self.valid, left, right),
            }
        )

    def matches(self, left: np.ndarray, right: np.ndarray) -> pl.DataFrame:
        """left, right, match_type, similarity of each pair (null type: not a match)."""
        kind, similarity = confirm(pl.col("tj"), pl.col("gj"), pl.col("ej"))
        return (
            self.similarities(left, right)
            .with_columns(
                left=pl.Series(left, dtype=pl.UInt32), right=pl.Series(right, dtype=pl.UInt32)
            )
            .select("left", "right", match_type=kind, similarity=similarity)
        )


def _may_match(
    prints: np.ndarray, media: np.ndarray, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """False only for pairs no rule can confirm: text Jaccard surely < 0.50 (fewer than
    MIN_TEXT_SLOTS equal 2-bit groups in the `fingerprints` (4 words, rows), which bound the
    equal slots from above) and not both with a gallery and an embed (`media`: the one rule
    that needs no text). Random pairs sharing a SimHash chunk, most of the candidates of a large
    window, stop here (a random pair has 32 equal groups of 128 on average)."""
    keep = np.empty(len(first), dtype=bool)
    for start in range(0, len(first), _PREFILTER_BLOCK):
        a, b = first[start : start + _PREFILTER_BLOCK], second[start : start + _PREFILTER_BLOCK]
        differ = np.zeros(len(a), dtype=np.uint8)
        for word in prints:  # 4 words of 32 slots: 1-D gathers, in place
            bits = word[a]
            bits ^= word[b]
            bits |= bits >> np.uint64(1)
            bits &= _EVEN_BITS  # one bit per 2-bit group, set when the group differs
            differ += np.bitwise_count(bits)
        keep[start : start + len(a)] = (differ <= NUM_SLOTS - MIN_TEXT_SLOTS) | (
            media[a] & media[b]
        )
    return keep


def confirmed_pairs(sigs: Signatures) -> pl.DataFrame:
    """The confirmed near-duplicate pairs (left, right, match_type, similarity) of a batch."""
    rows = np.flatnonzero(sigs.valid)
    codes = _candidate_codes(sigs, rows, simhash_too=True, prefilter=True)
    left = rows[(codes >> np.uint64(32)).astype(np.int64)]
    right = rows[(codes & _LOW).astype(np.int64)]
    return sigs.matches(left, right).filter(pl.col("match_type").is_not_null())


def components(size: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label of each of `size` nodes (the smallest node of its component),
    from the edge arrays: union-find with every edge hooked to the smaller root at once and
    pointer jumping (path halving until flat), vectorised."""
    labels = np.arange(size, dtype=np.int64)
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    while len(left):
        a, b = labels[left], labels[right]
        pending = a != b
        if not pending.any():
            break
        a, b = a[pending], b[pending]
        low = np.minimum(a, b)
        np.minimum.at(labels, np.maximum(a, b), low)
        while True:  # pointer jumping: each pass at least halves every path
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        left, right = left[pending], right[pending]
    return labels


def clusters_of(sigs: Signatures) -> pl.DataFrame:
    """Components of size >= 2 of the confirmed pairs: post_id, component (its smallest row)."""
    pairs = confirmed_pairs(sigs)
    labels = components(len(sigs), pairs["left"].to_numpy(), pairs["right"].to_numpy())
    frame = pl.DataFrame({"post_id": sigs.post_ids, "component": labels})
    return frame.filter(pl.len().over("component") >= 2)


# --- representatives and similarities -----------------------------------------------------------
def representatives(members: pl.DataFrame, scores: pl.DataFrame, group: str) -> pl.DataFrame:
    """group, representative_post_id: per group of `members` (post_id, `group`) the member with
    the highest recent hot score, then (no recent growth) the most likes + 3 comments, then the
    smallest post id. `scores`: post_id, hot_score, engagement."""
    return (
        members.join(scores, on="post_id", how="left")
        .with_columns(pl.col("hot_score", "engagement").fill_null(0))
        .sort(group, "hot_score", "engagement", "post_id", descending=[False, True, True, False])
        .group_by(group, maintain_order=True)
        .agg(representative_post_id=pl.col("post_id").first())
    )


def member_similarity(
    members: pl.DataFrame, reps: pl.DataFrame, sigs: Signatures, group: str
) -> pl.DataFrame:
    """`members` with is_representative, and the (representative, member) pair's similarity and
    match_type (1.0 / null for the representative itself, 0.0 / null when the pair is no
    match: the member belongs through other members)."""
    index = pl.DataFrame({"post_id": sigs.post_ids, "row": np.arange(len(sigs), dtype=np.int64)})
    paired = (
        members.join(reps, on=group)
        .join(index, on="post_id")
        .join(
            index.rename({"post_id": "representative_post_id", "row": "rep_row"}),
            on="representative_post_id",
        )
    )
    matched = sigs.matches(paired["rep_row"].to_numpy(), paired["row"].to_numpy())
    is_rep = pl.col("post_id") == pl.col("representative_post_id")
    return (
        paired.with_columns(matched.select("match_type", "similarity"))
        .with_columns(
            is_representative=is_rep,
            similarity=pl.when(is_rep).then(1.0).otherwise("similarity"),
            match_type=pl.when(is_rep).then(None).otherwise("match_type"),
        )
        .drop("row", "rep_row", "representative_post_id")
    )


# --- stable ids ---------------------------------------------------------------------------------
def new_cluster_ids(first_post_ids: pl.Series, at: dt.datetime) -> pl.Series:
    """New clusters' ids: uuid5 of each one's smallest post id and the run time (deterministic
    for the run, never an id in use: every stored id came from an earlier run time). One uuid
    per new cluster of the run (a few), not per post."""
    stamp = at.isoformat()
    return pl.Series(
        "cluster_id",
        [str(uuid.uuid5(ID_NAMESPACE, f"{post}|{stamp}")) for post in first_post_ids],
        dtype=pl.String,
    )


def assign_ids(
    found: pl.DataFrame, previous: pl.DataFrame, clusters: pl.DataFrame, at: dt.datetime
) -> pl.DataFrame:
    """component -> cluster_id, created_at. `found`: post_id, component; `previous`: post_id,
    cluster_id (stored memberships); `clusters`: cluster_id, created_at (stored clusters).

    Each component claims the stored clusters of its members, ranked by members shared (then
    the older cluster, then the smaller id). Rounds resolve conflicts: every unclaimed cluster
    goes to the component holding most of its members (then the smallest component), which
    then stops claiming. A component left without a stored cluster gets a new id."""
    claims = (
        found.join(previous, on="post_id")
        .group_by("component", "cluster_id")
        .agg(shared=pl.len())
        .join(clusters, on="cluster_id", how="left")
    )
    taken: list[pl.DataFrame] = []
    while claims.height:
        best_of_component = claims.sort(
            "component",
            "shared",
            "created_at",
            "cluster_id",
            descending=[False, True, False, False],
            nulls_last=True,
        ).unique("component", keep="first", maintain_order=True)
        winners = best_of_component.sort(
            "cluster_id", "shared", "component", descending=[False, True, False]
        ).unique("cluster_id", keep="first", maintain_order=True)
        taken.append(winners.select("component", "cluster_id", "created_at"))
        claims = claims.join(winners.select("component"), on="component", how="anti").join(
            winners.select("cluster_id"), on="cluster_id", how="anti"
        )
    kept = (
        pl.concat(taken)
        if taken
        else pl.DataFrame(
            schema={
                "component": pl.Int64,
                "cluster_id": pl.String,
                "created_at": pl.Datetime("us", "UTC"),
            }
        )
    )
    fresh = (
        found.join(kept.select("component"), on="component", how="anti")
        .group_by("component")
        .agg(first=pl.col("post_id").min())
        .sort("component")
    )
    fresh = fresh.select(
        "component",
        cluster_id=new_cluster_ids(fresh["first"], at),
        created_at=pl.lit(at, dtype=pl.Datetime("us", "UTC")),
    )
    return pl.concat(
        [
            kept.with_columns(
                pl.col("created_at").fill_null(pl.lit(at, dtype=kept["created_at"].dtype))
            ),
            fresh.cast(kept.schema),
        ]
    )


# --- merges -------------------------------------------------------------------------------------
def best_matches(pairs: pl.DataFrame) -> pl.Expr:
    """Merge match of two members from their tj, gj, ej: the best of text, the gallery/text mean
    (both non-zero) and the embed (when text >= 0.5 or gallery >= 0.6)."""
    tj, gj, ej = pl.col("tj"), pl.col("gj"), pl.col("ej")
    return pl.max_horizontal(
        tj,
        pl.when((gj > 0) & (tj > 0)).then((gj + tj) / 2).otherwise(0.0),
        pl.when((tj >= EMBED_TEXT) | (gj >= EMBED_GALLERY)).then(ej).otherwise(0.0),
    )


def merge_pairs(
    active: pl.DataFrame, members: pl.DataFrame, sigs: Signatures, scores: pl.DataFrame
) -> pl.DataFrame:
    """Pairs of clusters (a, b) to merge. `active`: cluster_id, representative_post_id of the
    clusters updated within 14 days; `members`: cluster_id, post_id; `scores`: post_id,
    engagement. Candidates share an LSH band of their representatives' text MinHash."""
    empty = pl.DataFrame(schema={"a": pl.String, "b": pl.String})
    index = pl.DataFrame({"post_id": sigs.post_ids, "row": np.arange(len(sigs), dtype=np.int64)})
    reps = active.join(index, left_on="representative_post_id", right_on="post_id")
    if reps.height < 2:
        return empty
    rep_rows = reps["row"].to_numpy()
    rep_valid = np.zeros(len(sigs), dtype=bool)
    rep_valid[rep_rows] = sigs.valid[rep_rows]
    candidates = candidate_pairs(sigs, np.flatnonzero(rep_valid), simhash_too=False)
    by_row = reps.select("row", "cluster_id")
    pairs = (
        candidates.with_columns(pl.col("left", "right").cast(pl.Int64))
        .join(by_row.rename({"row": "left", "cluster_id": "a"}), on="left")
        .join(by_row.rename({"row": "right", "cluster_id": "b"}), on="right")
        .filter(pl.col("a") != pl.col("b"))
        .select("a", "b")
        .unique()
    )
    if pairs.height == 0:
        return empty
    top = (
        members.join(scores, on="post_id", how="left")
        .with_columns(pl.col("engagement").fill_null(0))
        .join(index, on="post_id")
        .sort("cluster_id", "engagement", "post_id", descending=[False, True, False])
        .group_by("cluster_id", maintain_order=True)
        .head(MERGE_TOP_MEMBERS)
        .select("cluster_id", "post_id", "row")
    )
    both_ways = pl.concat([pairs, pairs.select(a="b", b="a")]).unique()
    cross = both_ways.join(
        top.rename({"cluster_id": "a", "post_id": "a_post", "row": "a_row"}), on="a"
    ).join(top.rename({"cluster_id": "b", "post_id": "b_post", "row": "b_row"}), on="b")
    sims = sigs.similarities(cross["a_row"].to_numpy(), cross["b_row"].to_numpy())
    best = (
        cross.with_columns(sims)
        .with_columns(match=best_matches(sims))
        .group_by("a", "b", "a_post")
        .agg(best=pl.col("match").max())
        .group_by("a", "b")
        .agg(
            strong=(pl.col("best") >= MERGE_MATCH).sum(),
            top_mean=pl.col("best").sort(descending=True).head(MERGE_TOP_MEAN).mean(),
        )
    )
    merged = best.filter(
        (pl.col("strong") >= MERGE_MIN_MATCHES) | (pl.col("top_mean") >= MERGE_MATCH)
    )
    return (
        merged.select(a=pl.min_horizontal("a", "b"), b=pl.max_horizontal("a", "b"))
        .unique()
        .sort("a", "b")
    )


def merge_survivors(clusters: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """cluster_id -> survivor for every cluster in a merge (the survivor maps to itself).
    `clusters`: cluster_id, created_at, size. Pairs are grouped transitively; each group keeps
    its oldest cluster, then the larger, then the smaller id. Every other cluster of the group
    is merged away exactly once, into the survivor."""
    ids = pl.concat([pairs["a"], pairs["b"]]).unique().sort()
    if ids.len() == 0:
        return pl.DataFrame(schema={"cluster_id": pl.String, "survivor": pl.String})
    index = pl.DataFrame({"cluster_id": ids, "node": np.arange(ids.len(), dtype=np.int64)})
    edges = pairs.join(index.rename({"cluster_id": "a", "node": "x"}), on="a").join(
        index.rename({"cluster_id": "b", "node": "y"}), on="b"
    )
    labels = components(ids.len(), edges["x"].to_numpy(), edges["y"].to_numpy())
    grouped = index.with_columns(group=pl.Series(labels)).join(
        clusters, on="cluster_id", how="left"
    )
    survivor = (
        grouped.sort(
            "group",
            "created_at",
            "size",
            "cluster_id",
            descending=[False, False, True, False],
            nulls_last=True,
        )
        .group_by("group", maintain_order=True)
        .agg(survivor=pl.col("cluster_id").first())
    )
    return grouped.join(survivor, on="group").select("cluster_id", "survivor").sort("cluster_id")


# --- trends and rotation ------------------------------------------------------------------------
ROTATION_LABEL = "1w"
ROTATION_LOOKBACK = dt.timedelta(minutes=10080)
ROTATION_TOP = 20
ROTATION_AGE_HOURS = 48.0
HIT_GAP = dt.timedelta(minutes=20)
HITS_TO_SUPPRESS = 3
SUPPRESS_FOR = dt.timedelta(hours=24)
UTC_US = pl.Datetime("us", "UTC")


def cluster_hot_scores(post_trends: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """cluster_id, hot_score, rank of one window: the sum of the members' hot scores in the
    window (`post_trends`: post_id, hot_score), rank 1 = hottest (ties: smaller id first).
    Clusters without a member in the window have no row."""
    return (
        members.join(post_trends.select("post_id", "hot_score"), on="post_id")
        .group_by("cluster_id")
        .agg(pl.col("hot_score").sum().cast(pl.Int64))
        .sort("hot_score", "cluster_id", descending=[True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int32))
    )


def rotation_scores(latest: pl.DataFrame, newest: pl.DataFrame, end: dt.datetime) -> pl.DataFrame:
    """cluster_id, score: percentile p = (n - first index of its hot score in descending order)
    / n times exp(-age_hours / 48), age from the cluster's newest member post to `end`.
    `latest`: cluster_id, hot_score (each cluster's latest trend row of the week); `newest`:
    cluster_id, newest_post_at."""
    n = latest.height
    first_index = pl.col("hot_score").rank("min", descending=True) - 1
    age_hours = (
        ((pl.lit(end, dtype=UTC_US) - pl.col("newest_post_at")).dt.total_microseconds() / 3.6e9)
        .clip(lower_bound=0.0)
        .fill_null(0.0)
    )
    return latest.join(newest, on="cluster_id", how="left").select(
        "cluster_id",
        score=((n - first_index) / n) * (-age_hours / ROTATION_AGE_HOURS).exp(),
    )


def rotate(scores: pl.DataFrame, state: pl.DataFrame, end: dt.datetime) -> pl.DataFrame:
    """The rotation state after showing the window ending at `end`.

    `scores`: cluster_id, score of this window; `state`: the stored rotation rows (cluster_id,
    consecutive_hits, last_shown_at, suppressed_until, ...). The top 20 scores of clusters not
    suppressed at `end` are shown (rank 1..20). A shown cluster's hits restart at 1 when it was
    last shown more than 20 minutes before, else grow by one; the third hit in a row suppresses
    it for 24 hours (hits back to 0). Every other row keeps its state with no rank: ranks are
    only on the current window's rows. All times are UTC."""
    at = pl.lit(end, dtype=UTC_US)
    before = state.select(
        "cluster_id", "consecutive_hits", "last_shown_at", "suppressed_until", "last_score"
    )
    merged = before.join(scores, on="cluster_id", how="full", coalesce=True)
    suppressed = pl.col("suppressed_until").is_not_null() & (pl.col("suppressed_until") > at)
    eligible = pl.col("score").is_not_null() & ~suppressed
    ranked = merged.with_columns(
        rank=pl.when(eligible)
        .then(
            pl.struct(neg=-pl.col("score"), id=pl.col("cluster_id")).rank("ordinal").over(eligible)
        )
        .otherwise(None)
        .cast(pl.Int32)
    ).with_columns(rank=pl.when(pl.col("rank") <= ROTATION_TOP).then("rank").otherwise(None))
    shown = pl.col("rank").is_not_null()
    recent = pl.col("last_shown_at").is_not_null() & (
        at - pl.col("last_shown_at") <= pl.lit(HIT_GAP)
    )
    hits = pl.when(recent).then(pl.col("consecutive_hits").fill_null(0) + 1).otherwise(1)
    return (
        ranked.with_columns(hits=hits)
        .with_columns(
            consecutive_hits=pl.when(~shown)
            .then(pl.col("consecutive_hits").fill_null(0))
            .when(pl.col("hits") >= HITS_TO_SUPPRESS)
            .then(0)
            .otherwise("hits")
            .cast(pl.Int32),
            suppressed_until=pl.when(shown & (pl.col("hits") >= HITS_TO_SUPPRESS))
            .then(at + pl.lit(SUPPRESS_FOR))
            .otherwise("suppressed_until"),
            last_shown_at=pl.when(shown).then(at).otherwise("last_shown_at"),
            last_score=pl.coalesce("score", "last_score"),
        )
        .select(
            "cluster_id",
            window_label=pl.lit(ROTATION_LABEL),
            consecutive_hits="consecutive_hits",
            last_shown_at=pl.col("last_shown_at").cast(UTC_US),
            suppressed_until=pl.col("suppressed_until").cast(UTC_US),
            last_score=pl.col("last_score").cast(pl.Float64),
            rank="rank",
            window_end=at,
        )
        .sort("cluster_id")
    )
