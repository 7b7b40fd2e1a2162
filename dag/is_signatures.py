"""IS post signatures: SimHash64 and MinHash-128 of a post's text, gallery and embeds.

The near-duplicate fingerprints of the replaced system's `post_signatures` (spec 1.4), which the
story clustering compares (spec 1.6: Jaccard = share of equal MinHash slots, SimHash 16-bit
chunks and 32 bands x 4 rows of MinHash for candidates). Everything is computed for a whole
batch of posts at once: Polars for the text rules, numpy for the hashing, no Python loop over
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
sketches of flat hashes grouped by post), `signatures` (all of it as one frame), `jaccard` and
`simhash_distance` (comparing stored signatures).
These values differ from the original's BLAKE2b-per-seed values (which cost 128 BLAKE2b calls per
shingle); signatures from the two engines must not be compared with each other.
"""

from __future__ import annotations

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
_BIN_BITS = 7  # 2^7 = NUM_SLOTS
_VALUE_MASK = np.uint64((1 << (64 - _BIN_BITS)) - 1)
_EMPTY = np.uint64(_MASK64)  # a slot no item reached (values are < 2^57)


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
    keys[np.arange(NUM_SLOTS), np.arange(NUM_SLOTS)] = _EMPTY  # a slot never borrows from itself
    order = np.argsort(keys, axis=1, kind="stable")
    rank = np.argsort(order, axis=1, kind="stable")
    return order[:, : NUM_SLOTS - 1], rank


_ORDER, _RANK = _probe_order()
# [step, slot]: the step-th slot `slot` probes, as an offset from `slot` (flat index arithmetic)
_PROBE_SHIFT = np.ascontiguousarray(_ORDER.T - np.arange(NUM_SLOTS)).astype(np.int32)
# Rows with at most this many items / filled slots are densified by rank keys (cheaper than
# probing); a power of two, as the keys hold the item's index in their low bits.
_SPARSE = 16


def _source_keys() -> np.ndarray:
    """KEYS[j, source, slot] = 16 * (rank of `source` in `slot`'s probe order) + j, and
    16 * -1 + j for source == slot: the least key over a row's filled sources (the j-th filled
    slot of the row being `source`) names, in its low 4 bits, the j that slot keeps (itself
    when filled, else its first filled slot in probe order)."""
    rank = _RANK.T.astype(np.int16)  # [source, slot]
    rank[np.arange(NUM_SLOTS), np.arange(NUM_SLOTS)] = -1
    return rank[None, :, :] * np.int16(_SPARSE) + np.arange(_SPARSE, dtype=np.int16)[:, None, None]


_SOURCE_KEYS = _source_keys()
_BLOCK_ROWS = 4_096


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
    sets = hashed_sets(posts, source=source)
    # No tokens = no signature at all; no images / embeds = no gallery / embed MinHash.
    has_text = sets.text_counts > 0
    simhash = simhash64(sets.text, sets.text_counts)[has_text]
    return pl.DataFrame(
        {
            "post_id": sets.post_id,
            "text_simhash64": _binary(simhash.astype(">u8"), has_text).bin.encode("hex"),
            "text_minhash128": _minhash_column(sets.text, sets.text_counts, has_text),
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


def _group_starts(offsets: np.ndarray, sizes: np.ndarray, group: int) -> np.ndarray:
    """reduceat start indices of consecutive groups of `group` elements within each row."""
    groups = -(-sizes // group)
    group_offsets = _offsets(groups)
    row = np.repeat(np.arange(len(sizes)), groups)
    within = np.arange(int(group_offsets[-1]), dtype=np.int64) - group_offsets[:-1][row]
    return offsets[:-1][row] + within * group


# SimHash vote counting by lane widening: (shift, mask, elements per group so no lane overflows).
_LANE_STAGES = (
    (1, 0x5555555555555555, 3),  # 2-bit lanes, each counts <= 3 shingles
    (2, 0x3333333333333333, 5),  # 4-bit lanes, <= 15
    (4, 0x0F0F0F0F0F0F0F0F, 17),  # 8-bit lanes, <= 255
    (8, 0x00FF00FF00FF00FF, 0),  # 16-bit lanes, the whole row (<= MAX_TOKENS < 2^16)
)


def simhash64(hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """SimHash64 per row (uint64) of flat `hashes` grouped by row (`counts` per row): bit j is 1
    when more than half of the row's hashes have bit j set (0 for an empty row).

    Counts the 64 bit votes of all rows at once without unpacking bits: the hashes are split
    into lanes that each hold one bit (2-bit lanes for bits 0, 2, .. and 1, 3, ..), summed over
    groups small enough that no lane overflows, then split into wider lanes and summed again, up
    to 16-bit lanes summed over the whole row. Rows go in blocks of _BLOCK_ROWS, so the lane
    arrays of a block stay in the CPU caches between the passes."""
    if len(counts) <= _BLOCK_ROWS:
        return _simhash_block(hashes, counts)
    offsets = _offsets(counts)
    result = np.empty(len(counts), dtype=np.uint64)
    for start in range(0, len(counts), _BLOCK_ROWS):
        end = min(start + _BLOCK_ROWS, len(counts))
        block = hashes[offsets[start] : offsets[end]]
        result[start:end] = _simhash_block(block, counts[start:end])
    return result


def _simhash_block(hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    rows = len(counts)
    result = np.zeros(rows, dtype=np.uint64)
    nonempty = counts > 0
    if not nonempty.any():
        return result
    sizes = counts[nonempty]
    arrays = [hashes]
    bits = [np.arange(64)]  # bits[i][lane] = hash bit counted by that lane of arrays[i]
    for shift, mask, group in _LANE_STAGES:
        offsets = _offsets(sizes)
        starts = offsets[:-1] if group == 0 else _group_starts(offsets, sizes, group)
        next_arrays, next_bits = [], []
        for values, lane_bits in zip(arrays, bits, strict=True):
            for half in (0, 1):
                lanes = (values >> np.uint64(shift * half)) & np.uint64(mask)
                next_arrays.append(np.add.reduceat(lanes, starts))
                next_bits.append(lane_bits[half::2])
        arrays, bits = next_arrays, next_bits
        sizes = np.ones_like(sizes) if group == 0 else -(-sizes // group)
    votes = np.zeros((len(arrays[0]), 64), dtype=np.int64)
    for values, lane_bits in zip(arrays, bits, strict=True):
        for lane, bit in enumerate(lane_bits):
            votes[:, bit] = (values >> np.uint64(16 * lane)) & np.uint64(0xFFFF)
    majority = 2 * votes > counts[nonempty][:, None]
    packed = np.packbits(majority, axis=1, bitorder="little")
    result[nonempty] = packed.view("<u8").ravel()
    return result


def minhash128(hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """MinHash-128 per row, a (rows, 128) uint64 matrix, of flat `hashes` grouped by row
    (`counts` per row): one-permutation MinHash, optimally densified (module doc). The slots of
    an empty row are all 2^64 - 1."""
    out = np.full((len(counts), NUM_SLOTS), _EMPTY, dtype=np.uint64)
    present = counts > 0
    out[present] = _sketch(hashes, counts[present])
    return out


def _sketch(hashes: np.ndarray, counts: np.ndarray, dtype: str = "=u8") -> np.ndarray:
    """`minhash128` of rows that all have items, in blocks of _BLOCK_ROWS rows (the slot
    matrices of a block stay in the CPU caches; one matrix of 100,000 rows is 100 MB), as
    `dtype` (">u8": the stored big-endian bytes, swapped while a block is in cache)."""
    if len(counts) <= _BLOCK_ROWS:
        return _sketch_block(hashes, counts).astype(dtype, copy=False)
    offsets = _offsets(counts)
    out = np.empty((len(counts), NUM_SLOTS), dtype=dtype)
    for start in range(0, len(counts), _BLOCK_ROWS):
        end = min(start + _BLOCK_ROWS, len(counts))
        out[start:end] = _sketch_block(hashes[offsets[start] : offsets[end]], counts[start:end])
    return out


def _sketch_block(hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    if len(counts) and counts.max() <= _SPARSE:
        return _sketch_few(hashes, counts)
    rows = len(counts)
    slots = np.full(rows * NUM_SLOTS, _EMPTY, dtype=np.uint64)
    if rows:
        # Slot index = row * 128 + the hash's top 7 bits; the value is its low 57 bits.
        key = np.repeat(np.arange(rows, dtype=np.int64) << _BIN_BITS, counts)
        key |= (hashes >> np.uint64(64 - _BIN_BITS)).view(np.int64)
        _scatter_min(slots, key, hashes & _VALUE_MASK)
    return _densified(slots.reshape(rows, NUM_SLOTS))


def _sketch_few(hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`_sketch_block` of rows of at most _SPARSE items (galleries, embeds), straight from the
    items, without a slot matrix: per slot, the least key (_SOURCE_KEYS) over the row's items
    picks the item it keeps or borrows. The items of a row are ordered by value first, so of
    two items in one slot the lesser (lower j, lower key) wins, as the slot minimum would."""
    rows = len(counts)
    out = np.empty((rows, NUM_SLOTS), dtype=np.uint64)
    row = np.repeat(np.arange(rows, dtype=np.int64), counts)
    value = hashes & _VALUE_MASK
    order = np.lexsort((value, row))
    slot = (hashes >> np.uint64(64 - _BIN_BITS)).astype(np.intp)[order]
    value = value[order]
    starts = _offsets(counts)[:-1]
    for size in np.unique(counts).tolist():
        chosen = np.flatnonzero(counts == size)
        if size == 0:
            out[chosen] = _EMPTY
            continue
        at = starts[chosen][:, None] + np.arange(size)  # (rows, size) item positions
        sources = slot[at]
        least = _SOURCE_KEYS[0][sources[:, 0]]  # (rows, 128)
        for j in range(1, size):
            np.minimum(least, _SOURCE_KEYS[j][sources[:, j]], out=least)
        out[chosen] = np.take_along_axis(value[at], least & np.int16(_SPARSE - 1), axis=1)
    return out


def _scatter_min(slots: np.ndarray, key: np.ndarray, value: np.ndarray) -> None:
    """slots[k] = min(slots[k], values at k) for every key k (`np.minimum.at`, 4-5x faster).

    A plain fancy assignment keeps one (unspecified) value per repeated key; the values smaller
    than what their slot got are assigned again, until none is: each round the slot only goes
    down, and it ends at the least value whatever order the repeats were written in. A slot
    holds few items (~1 per slot for a 128-shingle post), so two or three rounds do."""
    slots[key] = value
    while True:
        lost = np.flatnonzero(value < slots[key])
        if not len(lost):
            return
        key, value = key[lost], value[lost]
        slots[key] = value


def _densified(slots: np.ndarray) -> np.ndarray:
    """Every empty slot of a row takes the value of the first filled slot in its own probe
    order (optimal densification: both sets of a pair probe the same order, so a borrowed slot
    matches exactly when the first slot filled in either set holds the same minimum)."""
    filled = slots != _EMPTY
    per_row = np.count_nonzero(filled, axis=1)
    dense = slots.copy()
    flat, out = slots.ravel(), dense.ravel()
    # Many filled slots: walk the probe orders one step at a time (a few steps on average).
    pending = np.flatnonzero(~filled & ((per_row > _SPARSE) & (per_row < NUM_SLOTS))[:, None])
    pending = pending.astype(np.int32 if flat.size < 2**31 else np.int64)  # half the traffic
    for step in range(NUM_SLOTS - 1):
        if not len(pending):
            break
        borrowed = flat[pending + _PROBE_SHIFT[step][pending & (NUM_SLOTS - 1)]]
        out[pending] = borrowed  # an empty borrowed value leaves the slot empty
        pending = pending[borrowed == _EMPTY]
    # Few filled slots (small galleries, short posts): per slot, the least key over the row's
    # filled sources (_SOURCE_KEYS) picks the value it keeps or borrows.
    single = np.flatnonzero(per_row == 1)
    if len(single):
        dense[single] = slots[single].min(axis=1)[:, None]  # every slot takes the one value
    for count in range(2, _SPARSE + 1):
        chosen = np.flatnonzero(per_row == count)
        if not len(chosen):
            continue
        sources = np.nonzero(filled[chosen])[1].reshape(len(chosen), count)
        least = _SOURCE_KEYS[0][sources[:, 0]]  # (rows, 128)
        for j in range(1, count):
            np.minimum(least, _SOURCE_KEYS[j][sources[:, j]], out=least)
        values = slots[chosen[:, None], sources]  # (rows, count)
        dense[chosen] = np.take_along_axis(values, least & np.int16(_SPARSE - 1), axis=1)
    return dense


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
    if (counts[~valid] > 0).any():  # drop the items of rows that get no signature
        hashes = hashes[np.repeat(valid, counts)]
    return _binary(_sketch(hashes, counts[valid], ">u8"), valid)


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
