"""IS post signatures: SimHash64 and MinHash-128 of a post's text, gallery and embeds.

The near-duplicate fingerprints of the replaced system's `post_signatures` (spec 1.4), which the
story clustering compares (spec 1.6: Jaccard = share of equal MinHash slots, SimHash 16-bit
chunks and 32 bands x 4 rows of MinHash for candidates). Everything is computed for a whole
batch of posts at once: Polars for the text rules, numpy for the hashing, compiled per-post
loops for the sketches (`dag.is_signature_kernels`, numba, in threads); no Python loop over
posts, shingles or slots.

Rules (as the original):
- tokens: title + " " + content, URLs removed, runs of Hangul / a-z / 0-9 of length >= 2,
  lower-cased (`tokens`). Runs are matched case-insensitively and then lower-cased, which is
  the same as lower-casing the text first for every character except U+0130 and U+212A
  (the only upper-case letters whose lower case is ASCII). "Hangul" is every Hangul block
  (syllables, jamo, compatibility jamo such as ㅋㅋ). No Unicode normalisation (the original did
  none; crawled HTML text is composed Hangul).
- shingles: windows of 5 consecutive tokens; a post with fewer than 5 tokens uses its tokens.
- gallery items: `host/last-path-segment` of each image URL (host lower-cased, without port,
  user or query); embed items: `yt:<video id>` (YouTube), `x:<status id>` (X/Twitter: the
  crawler's id, else the `/status/N` number of the URL), `em:<host>` for any other embed.
- no tokens = no signature: the SimHash and all three MinHashes are null, so an empty post
  never matches anything (the original gave such posts Jaccard 1, bug 1.11.6). The gallery /
  embed MinHash is also null when the post has no image / embed.

Bounded work: only the first MAX_TEXT_CHARS characters of title + content are read and the
first MAX_TOKENS tokens used (`tokens_truncated` says when either cap cut something), so a 5 MB
body costs no more than a long article and its signature stays 3 KB.

Hashing (signatures are persisted and compared across runs, so every hash is fixed here,
independent of Polars' or any library's version; Polars' `hash()` is not used):
- a token, gallery or embed item is hashed by a multilinear hash of its UTF-8 bytes
  (sum of (byte + 1) * M[position] mod 2^64, M[i] = fmix64((i + 1) * 0x9E3779B97F4A7C15) | 1),
  xor-ed with length * 0x9E3779B97F4A7C15 and finalised with MurmurHash3's fmix64;
- a 5-token shingle's hash is fmix64(sum of token_hash[k] * S[k] mod 2^64), k = 0..4,
  S[k] = fmix64((k + 1 + 2^32) * 0x9E3779B97F4A7C15) | 1 (a function of the shingle string,
  since tokens never contain a space); a post with fewer than 5 tokens uses the token hashes;
- SimHash64: bit j is 1 when more than half of the post's shingles (each occurrence votes)
  have bit j set; stored as 16 lower-case hex digits of the unsigned value;
- MinHash-128: one-permutation MinHash with optimal densification (Shrivastava, "Optimal
  Densification for Fast and Accurate Minwise Hashing", ICML 2017). The top 7 bits of an item's
  hash pick one of 128 slots, the low 57 bits are its value, each slot keeps the smallest value;
  an empty slot takes the value of the first filled slot in its own fixed order of the other
  127 slots (slot i orders slot j by fmix64(128 i + j + 2^40)). Two sets' slots are equal with
  probability equal to their Jaccard similarity, as with 128 independent permutations, but each
  item is hashed once instead of 128 times. Stored as 128 unsigned 64-bit big-endian slots
  (1024 bytes). For sets of a few items (a gallery of 2-3 images) two items share a slot with
  probability ~ n^2 / 256, and the estimate is then coarser than with 128 permutations.

Public pieces: `hashed_sets` (the hashed sets of a batch), `simhash64` and `minhash128` (the
sketches of flat hashes grouped by post), `signature_frame` (the output frame of hashed sets),
`signatures` (all of it from the posts), `jaccard` and
`simhash_distance` (comparing stored signatures).
These values differ from the original's BLAKE2b-per-seed values (which cost 128 BLAKE2b calls per
shingle); signatures from the two engines must not be compared with each other.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

NUM_SLOTS = 128
SIGNATURE_BYTES = NUM_SLOTS * 8
SHINGLE_TOKENS = 5
MAX_TEXT_CHARS = 200_000  # characters of title + " " + content read for tokens
MAX_TOKENS = 20_000  # tokens used for shingles; also bounds the SimHash vote counters (< 2^16)

SIGNATURE_SCHEMA = pl.Schema(
    {
        "post_id": pl.String(),
        "text_simhash64": pl.String(),
        "text_minhash128": pl.Binary(),
        "gallery_minhash128": pl.Binary(),
        "embed_minhash128": pl.Binary(),
        "token_count": pl.Int32(),
        "tokens_truncated": pl.Boolean(),
        "image_count": pl.Int32(),
        "embed_count": pl.Int32(),
    }
)
EMBED_FIELDS = ("type", "url", "video_id")

_HANGUL = r"\x{1100}-\x{11FF}\x{3130}-\x{318F}\x{A960}-\x{A97F}\x{AC00}-\x{D7FF}"
TOKEN_PATTERN = rf"[0-9A-Za-z{_HANGUL}]{{2,}}"
URL_PATTERN = r"(?i)(?:https?|ftp)://\S+|www\.\S+"
_SCHEME_AND_HOST = r"^(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//"
_HOST = _SCHEME_AND_HOST + r"(?:[^@/?#]*@)?([^/?#:]+)"
_YOUTUBE_HOST = r"(?:^|\.)(?:youtube\.com|youtube-nocookie\.com|youtu\.be)$"
_X_HOST = r"(?:^|\.)(?:x\.com|twitter\.com)$"
_YOUTUBE_ID = r"(?:[?&]v=|youtu\.be/|/embed/|/shorts/|/live/|/v/)([A-Za-z0-9_\-]{6,})"
_X_STATUS = r"/status(?:es)?/(\d+)"

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_FMIX_1 = 0xFF51AFD7ED558CCD
_FMIX_2 = 0xC4CEB9FE1A85EC53


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection that spreads every input bit)."""
    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(_FMIX_1)
    h ^= h >> np.uint64(33)
    h *= np.uint64(_FMIX_2)
    h ^= h >> np.uint64(33)
    return h


def _constants(count: int, salt: int) -> np.ndarray:
    """`count` fixed odd 64-bit multipliers (array arithmetic wraps mod 2^64 silently)."""
    index = np.arange(1, count + 1, dtype=np.uint64) + np.uint64(salt)
    return _fmix64(index * np.uint64(_GOLDEN)) | np.uint64(1)


_SHINGLE_MULTIPLIERS = _constants(SHINGLE_TOKENS, salt=1 << 32)


def _probe_order() -> tuple[np.ndarray, np.ndarray]:
    """Each slot's fixed pseudo-random order of the other 127 slots (where an empty slot looks
    for a value), as (ORDER[slot, t] = t-th slot to try, RANK[slot, other] = its position)."""
    slot = np.arange(NUM_SLOTS, dtype=np.uint64)
    keys = _fmix64(slot[:, None] * np.uint64(NUM_SLOTS) + slot[None, :] + np.uint64(1 << 40))
    diagonal = np.arange(NUM_SLOTS)
    keys[diagonal, diagonal] = np.uint64(_MASK64)  # a slot never borrows from itself
    order = np.argsort(keys, axis=1, kind="stable")
    rank = np.argsort(order, axis=1, kind="stable")
    return order[:, : NUM_SLOTS - 1], rank


_ORDER, _RANK = _probe_order()


def _rank_by_source() -> np.ndarray:
    """[source, slot] = the position of `source` in `slot`'s probe order, -1 for the slot itself
    (a filled slot keeps its own value); int16, so the table stays in the CPU's caches."""
    table = _RANK.T.astype(np.int16)
    table[np.arange(NUM_SLOTS), np.arange(NUM_SLOTS)] = -1
    return np.ascontiguousarray(table)


_KERNEL_ORDER = _ORDER.astype(np.int16)  # 32 KiB: stays in the CPU's caches
_KERNEL_RANK = _rank_by_source()
_THREADS = max(1, min(len(os.sched_getaffinity(0)), 8))  # the kernel's threads per batch
_CHUNK_ROWS = 2_048  # rows per thread at least (fewer rows: one thread, no pool)


# --- rules as expressions ----------------------------------------------------------------------
def _raw_tokens(text: pl.Expr, *, sliced: bool = True) -> pl.Expr:
    """Token runs (original case) of the capped text, NUL bytes and URLs removed (`sliced`
    False: the caller knows no text is over the cap)."""
    text = text.fill_null("")
    if sliced:
        text = text.str.slice(0, MAX_TEXT_CHARS)
    return (
        text.str.replace_all("\x00", "", literal=True)
        .str.replace_all(URL_PATTERN, " ")
        .str.extract_all(TOKEN_PATTERN)
    )


def tokens(text: pl.Expr) -> pl.Expr:
    """The signature tokens of a text (List(String)): URLs removed, Hangul/a-z/0-9 runs of
    length >= 2, lower-cased; at most MAX_TOKENS from the first MAX_TEXT_CHARS characters."""
    return _raw_tokens(text).list.head(MAX_TOKENS).list.eval(pl.element().str.to_lowercase())


def _host(url: pl.Expr) -> pl.Expr:
    return url.str.extract(_HOST, 1).str.to_lowercase()


def gallery_item(url: pl.Expr) -> pl.Expr:
    """`host/last-path-segment` of an image URL (null for a null or blank URL)."""
    path = url.str.replace(_SCHEME_AND_HOST + r"[^/?#]*", "").str.replace(r"[?#].*$", "")
    last = path.str.extract(r"([^/]*)$", 1)
    item = pl.concat_str([_host(url).fill_null(""), pl.lit("/"), last.fill_null("")])
    return pl.when(url.str.strip_chars().str.len_bytes() > 0).then(item)


def embed_item(embed: pl.Expr) -> pl.Expr:
    """`yt:<id>`, `x:<status id>` or `em:<host>` of an embed struct {type, url, video_id}."""
    kind = embed.struct.field("type").str.to_lowercase().fill_null("")
    url = embed.struct.field("url").fill_null("")
    given_id = embed.struct.field("video_id").str.strip_chars()
    given_id = pl.when(given_id.str.len_bytes() > 0).then(given_id)
    host = _host(url)
    youtube = (kind == "youtube") | host.str.contains(_YOUTUBE_HOST).fill_null(False)
    x_post = kind.is_in(["x", "twitter"]) | host.str.contains(_X_HOST).fill_null(False)
    youtube_id = pl.coalesce(given_id, url.str.extract(_YOUTUBE_ID, 1))
    status_id = pl.coalesce(given_id, url.str.extract(_X_STATUS, 1))
    return (
        pl.when(youtube & youtube_id.is_not_null())
        .then(pl.lit("yt:") + youtube_id)
        .when(x_post & status_id.is_not_null())
        .then(pl.lit("x:") + status_id)
        .when(host.str.len_bytes() > 0)
        .then(pl.lit("em:") + host)
    )


# --- public API ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class HashedSets:
    """The hashed sets a batch of posts is signed from: per post (in input order) the 64-bit
    hashes of its text shingles, gallery items and embed items, flat and grouped by post, with
    the number of each per post. `signatures` = these + `simhash64` + `minhash128`."""

    post_id: pl.Series
    token_count: np.ndarray  # tokens used per post (<= MAX_TOKENS)
    tokens_truncated: np.ndarray  # a cap cut the post's text or tokens
    text: np.ndarray  # shingle hashes (uint64), one per shingle occurrence
    text_counts: np.ndarray  # shingles per post (0 = no tokens)
    gallery: np.ndarray  # gallery item hashes
    gallery_counts: np.ndarray
    image_count: np.ndarray  # non-null image URLs per post
    embed: np.ndarray  # embed item hashes
    embed_counts: np.ndarray
    embed_count: np.ndarray  # non-null embeds per post


def hashed_sets(posts: pl.DataFrame, *, source: str = "posts") -> HashedSets:
    """Tokens, shingles, gallery and embed items of each post, hashed (see the module doc).

    `posts`: post_id String, title String, content String, image_urls List(String), embeds
    List(Struct{type, url, video_id}); nulls allowed anywhere but in post_id (missing embed
    fields are read as null). `source` (the crawl file) is named in errors."""
    frame = _validated(posts, source)
    text = pl.concat_str(
        [pl.col("title").fill_null(""), pl.col("content").fill_null("")], separator=" "
    )
    prepared = frame.select(text=text)
    # Only a text longer than the cap in bytes can be longer in characters: slice just then.
    long_bytes = prepared.select(pl.col("text").str.len_bytes() > MAX_TEXT_CHARS).to_series()
    cut = np.zeros(frame.height, dtype=bool)
    if long_bytes.any():
        chars = prepared.select(pl.col("text").str.len_chars()).to_series().to_numpy()
        cut = chars > MAX_TEXT_CHARS
    raw = prepared.select(_raw_tokens(pl.col("text"), sliced=bool(cut.any()))).to_series()
    found = raw.list.len().fill_null(0).to_numpy().astype(np.int64)
    if frame.height and found.max() > MAX_TOKENS:
        raw = raw.list.head(MAX_TOKENS)
    token_counts = np.minimum(found, MAX_TOKENS)
    flat = raw.explode(empty_as_null=False, keep_nulls=False)
    _check_length(flat.len(), int(token_counts.sum()), "tokens", source)
    shingles, shingle_counts = _shingles(_token_hashes(flat), token_counts)
    gallery, gallery_counts, image_count = _items(
        frame, "image_urls", gallery_item(pl.col("item")), source
    )
    embed, embed_counts, embed_count = _items(frame, "embeds", embed_item(pl.col("item")), source)
    return HashedSets(
        post_id=frame["post_id"],
        token_count=token_counts,
        tokens_truncated=cut | (found > MAX_TOKENS),
        text=shingles,
        text_counts=shingle_counts,
        gallery=gallery,
        gallery_counts=gallery_counts,
        image_count=image_count,
        embed=embed,
        embed_counts=embed_counts,
        embed_count=embed_count,
    )


def signatures(posts: pl.DataFrame, *, source: str = "posts") -> pl.DataFrame:
    """SimHash64 and the text, gallery and embed MinHash-128 of each post (SIGNATURE_SCHEMA, one
    row per input row, in input order); input as for `hashed_sets`."""
    return signature_frame(hashed_sets(posts, source=source))


def signature_frame(sets: HashedSets) -> pl.DataFrame:
    """The signatures (SIGNATURE_SCHEMA) of a batch's hashed sets: SimHash64, the three
    MinHash-128 and the counts, one row per post."""
    # No tokens = no signature at all; no images / embeds = no gallery / embed MinHash.
    has_text = sets.text_counts > 0
    text_rows = np.flatnonzero(has_text)
    simhash = np.empty(len(text_rows), dtype=np.uint64)
    text = np.empty((len(text_rows), NUM_SLOTS), dtype=np.uint64)
    _sketch(sets.text, sets.text_counts, text_rows, minhash=text, simhash=simhash, big_endian=True)
    return pl.DataFrame(
        {
            "post_id": sets.post_id,
            "text_simhash64": _binary(simhash.astype(">u8"), has_text).bin.encode("hex"),
            "text_minhash128": _binary(text, has_text),
            "gallery_minhash128": _minhash_column(
                sets.gallery, sets.gallery_counts, has_text & (sets.gallery_counts > 0)
            ),
            "embed_minhash128": _minhash_column(
                sets.embed, sets.embed_counts, has_text & (sets.embed_counts > 0)
            ),
            "token_count": pl.Series(sets.token_count, dtype=pl.Int32),
            "tokens_truncated": pl.Series(sets.tokens_truncated, dtype=pl.Boolean),
            "image_count": pl.Series(sets.image_count, dtype=pl.Int32),
            "embed_count": pl.Series(sets.embed_count, dtype=pl.Int32),
        },
        schema=SIGNATURE_SCHEMA,
    )


def jaccard(a: bytes | None, b: bytes | None) -> float:
    """Estimated Jaccard similarity of two MinHash-128 signatures: the share of equal slots.
    A missing signature (no tokens, images or embeds) matches nothing: 0.0."""
    if a is None or b is None:
        return 0.0
    for name, value in (("a", a), ("b", b)):
        if len(value) != SIGNATURE_BYTES:
            raise ValueError(
                f"jaccard: signature {name} has {len(value)} bytes, expected {SIGNATURE_BYTES}"
            )
    left = np.frombuffer(a, dtype=">u8")
    right = np.frombuffer(b, dtype=">u8")
    return float(np.count_nonzero(left == right)) / NUM_SLOTS


def simhash_distance(a: str | None, b: str | None) -> int | None:
    """Hamming distance of two SimHash64 hex strings (None when either is missing)."""
    if a is None or b is None:
        return None
    values = []
    for name, value in (("a", a), ("b", b)):
        if len(value) != 16 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError(f"simhash_distance: {name}={value!r} is not 16 lower-case hex digits")
        values.append(int(value, 16))
    return (values[0] ^ values[1]).bit_count()


# --- input checks -------------------------------------------------------------------------------
def _validated(posts: pl.DataFrame, source: str) -> pl.DataFrame:
    """The input with its columns in the expected types (a clear error otherwise)."""
    expected = ("post_id", "title", "content", "image_urls", "embeds")
    missing = [name for name in expected if name not in posts.columns]
    if missing:
        raise ValueError(
            f"{source}: post signatures need columns {missing} (the input has {posts.columns})"
        )
    embed = pl.Struct({name: pl.String for name in EMBED_FIELDS})
    embeds = posts.schema["embeds"]
    if isinstance(embeds, pl.List) and isinstance(embeds.inner, pl.Struct):
        present = {field.name for field in embeds.inner.fields}
        if present != set(EMBED_FIELDS):
            # The crawler's embeds carry more fields (provider, thumbnail, ..): only these are
            # read; one it omits (no video_id) is read as null.
            fields = [
                pl.element().struct.field(name)
                if name in present
                else pl.lit(None, pl.String).alias(name)
                for name in EMBED_FIELDS
            ]
            posts = posts.with_columns(pl.col("embeds").list.eval(pl.struct(fields)))
    targets: dict[str, pl.DataType] = {
        "post_id": pl.String(),
        "title": pl.String(),
        "content": pl.String(),
        "image_urls": pl.List(pl.String),
        "embeds": pl.List(embed),
    }
    for name, target in targets.items():
        dtype = posts.schema[name]
        if dtype != target and not _castable(dtype, target):
            raise ValueError(f"{source}: column {name} is {dtype}, expected {target}")
    frame = posts.select(
        [pl.col(name).cast(target, strict=True) for name, target in targets.items()]
    )
    missing_id = frame["post_id"].is_null()
    if missing_id.any():
        row = int(missing_id.arg_max() or 0)
        title = frame["title"][row]
        raise ValueError(f"{source}: post at row {row} (title {title!r}) has no post_id")
    repeated = frame.group_by("post_id", maintain_order=True).len().filter(pl.col("len") > 1)
    if repeated.height:
        first = repeated.row(0)
        raise ValueError(
            f"{source}: post {first[0]!r} appears {first[1]} times "
            f"({repeated.height} repeated post ids); signatures need one row per post"
        )
    return frame


def _castable(dtype: PolarsDataType, target: PolarsDataType) -> bool:
    """All-null columns (Null, List(Null)) and String-compatible structs can be cast."""
    if dtype == pl.Null:
        return True
    if isinstance(dtype, pl.List) and isinstance(target, pl.List):
        return _castable(dtype.inner, target.inner) or dtype.inner == target.inner
    if isinstance(dtype, pl.Struct) and isinstance(target, pl.Struct):
        return all(field.dtype in (pl.String, pl.Null) for field in dtype.fields)
    return False


def _check_length(actual: int, expected: int, what: str, source: str) -> None:
    if actual != expected:
        raise RuntimeError(
            f"{source}: {actual} {what} after flattening, expected {expected} (a Polars list "
            f"explode changed behaviour?)"
        )


# --- hashing ------------------------------------------------------------------------------------
def _hash_strings(strings: pl.Series) -> np.ndarray:
    """Stable 64-bit hash of each (non-null) string's UTF-8 bytes, vectorised over the batch."""
    array = strings.cast(pl.String).to_arrow()
    if array.type != pa.large_string():
        array = array.cast(pa.large_string())
    count = len(array)
    if count == 0:
        return np.zeros(0, dtype=np.uint64)
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64, count=count + 1, offset=array.offset * 8)
    lengths = np.diff(offsets)
    starts = offsets[:-1] - offsets[0]
    total = int(offsets[-1] - offsets[0])
    sums = np.zeros(count, dtype=np.uint64)
    if total:
        data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        position = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
        multipliers = _constants(int(lengths.max()), salt=0)
        products = (data.astype(np.uint64) + np.uint64(1)) * multipliers[position]
        filled = lengths > 0
        sums[filled] = np.add.reduceat(products, starts[filled])
    return _fmix64(sums ^ (lengths.astype(np.uint64) * np.uint64(_GOLDEN)))


def _token_hashes(flat: pl.Series) -> np.ndarray:
    """Hash of each lower-cased token; each distinct token is lower-cased and hashed once."""
    if flat.len() == 0:
        return np.zeros(0, dtype=np.uint64)
    # A private category mapping gives every distinct token a code in one pass (no join back).
    # The mapping lives only while a column uses it: keep `coded` until the strings are read.
    categories = pl.Categories.random()
    coded = flat.cast(pl.Categorical(categories))
    distinct = categories.to_series().str.to_lowercase()
    codes = coded.to_physical().to_numpy()
    if len(distinct) <= int(codes.max()):
        raise RuntimeError(f"token categories: {len(distinct)} strings for code {codes.max()}")
    return _hash_strings(distinct)[codes]


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _shingles(token_hashes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hash of each 5-token window per row (a row with fewer tokens: its token hashes), in row
    order, and the number of shingles per row."""
    k = SHINGLE_TOKENS
    total = len(token_hashes)
    long = counts >= k
    shingle_counts = np.where(long, counts - (k - 1), counts)
    if total < k:
        return token_hashes.copy(), shingle_counts
    windows = np.empty(total, dtype=np.uint64)  # windows[i]: the window starting at token i
    windows[: total - k + 1] = token_hashes[: total - k + 1] * _SHINGLE_MULTIPLIERS[0]
    for j in range(1, k):
        windows[: total - k + 1] += token_hashes[j : total - k + 1 + j] * _SHINGLE_MULTIPLIERS[j]
    windows[: total - k + 1] = _fmix64(windows[: total - k + 1])
    ends = _offsets(counts)[1:]
    # A long row's last k-1 tokens start no window (theirs would run into the next row).
    keep = np.ones(total, dtype=bool)
    keep[(ends[long][:, None] - np.arange(1, k)[None, :]).ravel()] = False
    if not long.all():  # short rows keep their tokens as shingles
        short_token = np.repeat(~long, counts)
        windows = np.where(short_token, token_hashes, windows)
    return windows[keep], shingle_counts


def simhash64(hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """SimHash64 per row (uint64) of flat `hashes` grouped by row (`counts` per row): bit j is 1
    when more than half of the row's hashes have bit j set (0 for an empty row)."""
    simhash = np.empty(len(counts), dtype=np.uint64)
    _sketch(hashes, counts, np.arange(len(counts)), simhash=simhash)
    return simhash


def minhash128(hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """MinHash-128 per row, a (rows, 128) uint64 matrix, of flat `hashes` grouped by row
    (`counts` per row): one-permutation MinHash, optimally densified (module doc). The slots of
    an empty row are all 2^64 - 1."""
    minhash = np.empty((len(counts), NUM_SLOTS), dtype=np.uint64)
    _sketch(hashes, counts, np.arange(len(counts)), minhash=minhash)
    return minhash


def _sketch(
    hashes: np.ndarray,
    counts: np.ndarray,
    rows: np.ndarray,
    *,
    minhash: np.ndarray | None = None,
    simhash: np.ndarray | None = None,
    big_endian: bool = False,
) -> None:
    """The MinHash-128 and/or SimHash64 of the rows `rows` (indices into `counts`), written to
    minhash[i] / simhash[i] for the i-th of them (`big_endian`: minhash slots as stored), by
    the compiled kernel, in slices of at least _CHUNK_ROWS rows run on up to _THREADS threads."""
    from dag.is_signature_kernels import sketch_rows  # numba: imported when posts are signed

    offsets = _offsets(counts)
    # The kernel reads without bounds checks: the counts must cover the hashes exactly.
    if (len(counts) and counts.min() < 0) or offsets[-1] != len(hashes):
        raise ValueError(f"{len(hashes)} hashes for counts summing to {offsets[-1]}")
    rows = rows.astype(np.int64, copy=False)
    flat = np.ascontiguousarray(hashes, dtype=np.uint64)
    no_minhash = np.empty((0, NUM_SLOTS), dtype=np.uint64)
    no_simhash = np.empty(0, dtype=np.uint64)

    def run(first: int, last: int) -> None:
        sketch_rows(
            flat,
            offsets,
            rows[first:last],
            _KERNEL_ORDER,
            _KERNEL_RANK,
            no_minhash if minhash is None else minhash[first:last],
            no_simhash if simhash is None else simhash[first:last],
            big_endian,
        )

    pieces = max(1, min(_THREADS, len(rows) // _CHUNK_ROWS))
    bounds = np.linspace(0, len(rows), pieces + 1).astype(np.int64).tolist()
    if pieces == 1:
        run(0, len(rows))
        return
    with ThreadPoolExecutor(pieces, thread_name_prefix="is-signatures") as pool:
        for done in [pool.submit(run, a, b) for a, b in itertools.pairwise(bounds)]:
            done.result()  # compute only (no I/O, no lock): re-raises a kernel's error


def _items(
    frame: pl.DataFrame, column: str, item: pl.Expr, source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hashes of a list column's items per row (rows in order), items per row, entries per row."""
    rows = frame.height
    entries = frame[column].list.drop_nulls().list.len().fill_null(0).to_numpy()
    exploded = (
        frame.select(row=pl.int_range(pl.len(), dtype=pl.Int64), item=pl.col(column))
        .explode("item", empty_as_null=False, keep_nulls=False)
        .select("row", value=item)
        .drop_nulls("value")
    )
    row = exploded["row"].to_numpy()
    counts = np.bincount(row, minlength=rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    _check_length(int(counts.sum()), exploded.height, column, source)
    return _hash_strings(exploded["value"]), counts, entries.astype(np.int64)


# --- output columns -----------------------------------------------------------------------------
def _minhash_column(hashes: np.ndarray, counts: np.ndarray, valid: np.ndarray) -> pl.Series:
    """The MinHash-128 of the `valid` rows as 1024 big-endian bytes, null elsewhere."""
    rows = np.flatnonzero(valid)
    minhash = np.empty((len(rows), NUM_SLOTS), dtype=np.uint64)
    _sketch(hashes, counts, rows, minhash=minhash, big_endian=True)
    return _binary(minhash, valid)


def _binary(values: np.ndarray, valid: np.ndarray) -> pl.Series:
    """A Binary column: row i = the bytes of the next row of `values` where `valid`, else null
    (built from Arrow buffers, no per-row Python)."""
    rows = len(valid)
    width = values.itemsize * (values.size // max(len(values), 1))
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(valid.astype(np.int64) * width, out=offsets[1:])
    validity = np.packbits(valid, bitorder="little")
    array = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(),
        rows,
        [pa.py_buffer(validity), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(values))],
        null_count=int(rows - np.count_nonzero(valid)),
    )
    return pl.Series(array)
