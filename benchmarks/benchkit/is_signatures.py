"""IS post signatures: the synthetic posts and the four ways of signing them.

Input: `posts_frame(rows)`, community posts as `dag.is_signatures.signatures` reads them:
Korean-like and latin words (a Zipf-distributed vocabulary of 75,000 words, 100-200 tokens a
post plus a title), URLs in some bodies, 0-5 images from a shared pool, 0-2 embeds (YouTube in
its three URL forms, X statuses, other iframes) and 10% near-duplicates (an earlier post with
three words changed and the same images).

Cases (the shingle rules are the project's, so every case signs the same sets; checked by the
bench module):
- `ours`: `signatures(posts)`, from the posts frame: tokens, shingles, stable hashing, then
  SimHash64 + text, gallery and embed MinHash-128 and the output frame (1024-byte big-endian
  slots, nulls for posts without tokens / images / embeds).
- `floor`: `hashed_sets(posts)`, the tokenising and stable hashing (no SimHash, no MinHash):
  what `ours` costs when the sketching costs nothing.
- `ours_sketch`: `signature_frame(sets)`, the part of `ours` after the floor, from the hashed
  sets: SimHash64, the three MinHash-128 (compiled per-post loops in threads) and the output
  frame. The peers below start from the same hashed sets (computed outside their timing):
- `rensa`: rensa's R-MinHash of the three sets through its fastest batch API for full-set
  MinHash, `RMinHash.digest_matrix_from_flat_token_hashes` (one flat buffer of pre-hashed
  tokens + row offsets, Rust, Rayon threads). No SimHash, no output frame (its digest matrix
  stays in Rust). Rensa's "rho" API samples token positions, a different sketch: not used.
- `datasketch`: one datasketch `MinHash(num_perm=128)` per post and set, filled with
  `update_batch` (through `MinHash.bulk`, which shares the permutations), given the same 64-bit
  shingle hashes with an identity `hashfunc` and `scheme="affine64"`: faster than its default
  SHA-1 over the shingle strings. No SimHash.
- `original`: the replaced engine's way, in Python, from the posts: tokens by `re`, shingle
  strings, one BLAKE2b-64 of `"seed|x"` per shingle and seed (SimHash seed 0, MinHash seeds
  0-127) for text, gallery and embeds; run on fewer posts (time per post is constant).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import polars as pl

from benchkit.gates import peer_call

EMBED = pl.Struct({"type": pl.String, "url": pl.String, "video_id": pl.String})
NUM_PERM = 128


@dataclass(frozen=True)
class SigSizes:
    """Posts per case in one benchmark mode (the slow peers run on fewer; gates are per post)."""

    posts: int
    datasketch_posts: int
    original_posts: int
    rounds: int
    slow_rounds: int


SIZES = {
    "quick": SigSizes(
        posts=20_000, datasketch_posts=3_000, original_posts=150, rounds=5, slow_rounds=3
    ),
    "full": SigSizes(
        posts=100_000, datasketch_posts=20_000, original_posts=1_000, rounds=5, slow_rounds=3
    ),
}


# --- input --------------------------------------------------------------------------------------
def _vocabulary(rng: np.random.Generator) -> np.ndarray:
    korean, latin = 60_000, 15_000
    syllables = rng.integers(0xAC00, 0xD7A4, (korean, 4))
    lengths = rng.integers(1, 5, korean)
    words = ["".join(map(chr, syllables[i, : lengths[i]])) for i in range(korean)]
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    chars = rng.integers(0, len(letters), (latin, 9))
    latin_lengths = rng.integers(2, 10, latin)
    words += ["".join(letters[chars[i, : latin_lengths[i]]]) for i in range(latin)]
    words += [str(i) for i in range(1_000)] + ["ㅋㅋㅋ", "ㅎㅎ", "ㅠㅠ"]
    return rng.permutation(np.array(words, dtype=object))


def _texts(rng: np.random.Generator, vocab: np.ndarray, lengths: np.ndarray) -> pl.Series:
    ranks = np.minimum(rng.zipf(1.2, int(lengths.sum())) - 1, len(vocab) - 1)
    words = pl.Series(vocab[ranks].astype(str))
    row = np.repeat(np.arange(len(lengths)), lengths)
    return (
        pl.DataFrame({"row": row, "word": words})
        .group_by("row", maintain_order=True)
        .agg(pl.col("word").str.join(" "))
        .get_column("word")
    )


def posts_frame(rows: int, seed: int = 15) -> pl.DataFrame:
    """`rows` synthetic community posts (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    content = _texts(rng, vocab, rng.integers(100, 200, rows))
    title = _texts(rng, vocab, rng.integers(3, 12, rows))
    with_url = rng.random(rows) < 0.2
    url = pl.Series(rng.integers(0, 10**6, rows)).cast(pl.String)
    link = " 출처 https://news.example.co.kr/article/" + pl.lit(url) + "?ref=1"
    content = pl.select(
        pl.when(pl.lit(with_url)).then(pl.lit(content) + link).otherwise(pl.lit(content))
    ).to_series()
    pool = [
        f"https://img{i % 7}.cdn{i % 3}.co.kr/data/2024/{i % 365}/photo_{i}.jpg?w={i % 5 * 100}"
        for i in range(20_000)
    ]
    image_counts = rng.integers(0, 6, rows)
    picks = np.minimum(rng.zipf(1.3, int(image_counts.sum())) - 1, len(pool) - 1)
    offsets = np.concatenate([[0], np.cumsum(image_counts)])
    images = [[pool[j] for j in picks[offsets[i] : offsets[i + 1]]] for i in range(rows)]
    embeds = [_embeds(rng, int(n)) for n in rng.integers(0, 3, rows)]
    frame = pl.DataFrame(
        {
            "post_id": [f"p{i:07d}" for i in range(rows)],
            "title": title,
            "content": content,
            "image_urls": images,
            "embeds": embeds,
        },
        schema={
            "post_id": pl.String,
            "title": pl.String,
            "content": pl.String,
            "image_urls": pl.List(pl.String),
            "embeds": pl.List(EMBED),
        },
    )
    return _near_duplicates(frame, rng)


def _embeds(rng: np.random.Generator, count: int) -> list[dict[str, str | None]]:
    out: list[dict[str, str | None]] = []
    for _ in range(count):
        kind = int(rng.integers(0, 5))
        vid = "".join(rng.choice(list("abcdefghijkABCDEFGHIJK0123456789_-"), 11))
        status = str(int(rng.integers(10**17, 10**18)))
        if kind == 0:
            out.append(
                {
                    "type": "youtube",
                    "url": f"https://www.youtube.com/watch?v={vid}",
                    "video_id": vid,
                }
            )
        elif kind == 1:
            out.append({"type": "youtube", "url": f"https://youtu.be/{vid}", "video_id": None})
        elif kind == 2:
            out.append(
                {
                    "type": "iframe",
                    "url": f"https://www.youtube.com/embed/{vid}?rel=0",
                    "video_id": None,
                }
            )
        elif kind == 3:
            out.append(
                {"type": "X", "url": f"https://x.com/user{kind}/status/{status}", "video_id": None}
            )
        else:
            out.append(
                {
                    "type": "iframe",
                    "url": f"https://player.site{vid[0]}.com/v/{status}",
                    "video_id": None,
                }
            )
    return out


def _near_duplicates(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Every tenth post repeats an earlier one with three words changed (same images)."""
    rows = frame.height
    copies = np.arange(9, rows, 10)
    if not len(copies):
        return frame
    sources = (rng.random(len(copies)) * copies).astype(np.int64)
    changed = (
        frame[sources]
        .select(
            "title",
            "image_urls",
            "embeds",
            content=pl.col("content")
            .str.replace(r"\S+", "바뀐단어", n=1)
            .str.replace(r" \S+ ", " 다른단어 ", n=1)
            .str.replace(r"\S+$", "끝말잇기"),
        )
        .with_columns(post_id=frame["post_id"][copies])
        .select(frame.columns)
    )
    keep = np.ones(rows, dtype=bool)
    keep[copies] = False
    order = np.concatenate([np.flatnonzero(keep), copies])
    return pl.concat([frame.filter(pl.Series(keep)), changed])[np.argsort(order)]


# --- cases --------------------------------------------------------------------------------------
def ours(posts: pl.DataFrame) -> pl.DataFrame:
    from dag.is_signatures import signatures

    return signatures(posts, source="bench")


def floor(posts: pl.DataFrame) -> Any:
    from dag.is_signatures import hashed_sets

    return hashed_sets(posts, source="bench")


def _sets(sets: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (sets.text, sets.text_counts),
        (sets.gallery, sets.gallery_counts),
        (sets.embed, sets.embed_counts),
    ]


def ours_sketch(sets: Any) -> pl.DataFrame:
    from dag.is_signatures import signature_frame

    return signature_frame(sets)


def rensa_sketches(sets: Any) -> list[Any]:
    """The three sets' R-MinHash digest matrices (one row per post)."""

    def sketch() -> list[Any]:
        from rensa import RMinHash

        out = []
        for hashes, counts in _sets(sets):
            offsets = np.zeros(len(counts) + 1, dtype=np.uint64)
            np.cumsum(counts, out=offsets[1:])
            out.append(RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, NUM_PERM, 42))
        return out

    return peer_call("rensa", sketch)


def _identity(value: Any) -> Any:
    return value


def datasketch_sketches(sets: Any) -> list[list[Any]]:
    """The three sets' datasketch MinHash objects (one per post)."""

    def sketch() -> list[list[Any]]:
        from datasketch import MinHash

        out = []
        for hashes, counts in _sets(sets):
            per_post = np.split(hashes, np.cumsum(counts)[:-1])
            out.append(
                MinHash.bulk(per_post, num_perm=NUM_PERM, hashfunc=_identity, scheme="affine64")
            )
        return out

    return peer_call("datasketch", sketch)


# --- the replaced engine, in Python --------------------------------------------------------------
_HANGUL = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff"
_TOKEN = re.compile(f"[0-9a-z{_HANGUL}]{{2,}}")
_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+", re.IGNORECASE)
_STATUS = re.compile(r"/status(?:es)?/(\d+)")
_MAX64 = (1 << 64) - 1


def _h(seed: int, item: str) -> int:
    digest = hashlib.blake2b(f"{seed}|{item}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _simhash(shingles: list[str]) -> int:
    votes = [0] * 64
    for shingle in shingles:
        value = _h(0, shingle)
        for bit in range(64):
            votes[bit] += 1 if value >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if votes[bit] > 0)


def _minhash(items: set[str]) -> bytes:
    slots = [min((_h(seed, x) for x in items), default=_MAX64) for seed in range(NUM_PERM)]
    return b"".join(slot.to_bytes(8, "big") for slot in slots)


def _gallery_item(url: str) -> str:
    parts = urlparse(url)
    return f"{(parts.hostname or '')}/{parts.path.rsplit('/', 1)[-1]}"


def _embed_item(embed: dict[str, Any]) -> str | None:
    kind = (embed.get("type") or "").lower()
    url = embed.get("url") or ""
    host = (urlparse(url).hostname or "").lower()
    given = embed.get("video_id")
    if kind == "youtube" or host.endswith(("youtube.com", "youtu.be")):
        query = parse_qs(urlparse(url).query).get("v", [None])[0]
        tail = urlparse(url).path.rstrip("/").rsplit("/", 1)[-1] or None
        video = given or query or tail
        if video:
            return f"yt:{video}"
    if kind in ("x", "twitter") or host.endswith(("x.com", "twitter.com")):
        match = _STATUS.search(url)
        status = given or (match.group(1) if match else None)
        if status:
            return f"x:{status}"
    return f"em:{host}" if host else None


def original_post(post: dict[str, Any]) -> dict[str, Any]:
    """One post signed the way the replaced engine did (BLAKE2b per seed, in Python)."""
    text = f"{post['title'] or ''} {post['content'] or ''}".lower()
    tokens = _TOKEN.findall(_URL.sub(" ", text.replace("\x00", "")))
    shingles = (
        [" ".join(tokens[i : i + 5]) for i in range(len(tokens) - 4)]
        if len(tokens) >= 5
        else tokens
    )
    gallery_items = [_gallery_item(u) for u in post["image_urls"] or [] if u]
    gallery = set(gallery_items)
    embeds = {item for e in post["embeds"] or [] if (item := _embed_item(e))}
    return {
        "shingles": len(shingles),
        "gallery_items": len(gallery_items),
        "simhash": f"{_simhash(shingles):016x}" if shingles else None,
        "text": _minhash(set(shingles)) if shingles else None,
        "gallery": _minhash(gallery) if shingles and gallery else None,
        "embed": _minhash(embeds) if shingles and embeds else None,
    }


def original(posts: pl.DataFrame) -> list[dict[str, Any]]:
    return [original_post(post) for post in posts.iter_rows(named=True)]
