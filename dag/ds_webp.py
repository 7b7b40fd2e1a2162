"""DS logo conversion: one PNG's bytes to WebP, and a batch of them in parallel.

WebP at quality 80; an image of at most 256 colours (palettes, flat logos) is also encoded
lossless and the smaller of the two is kept. A file that does not decode as a PNG is never
converted: its error is returned (and recorded as `invalid_image` by the manifest).

Parallel encode: Pillow holds the GIL for most of a decode + encode (measured in
docs/benchmarks.md), so batches go to a process pool (one worker per core). The pool's workers are
started by a forkserver: a plain fork of a Dagster step would copy its Polars and gRPC threads.
"""

from __future__ import annotations

import concurrent.futures
import io
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

QUALITY = 80
LOSSLESS_MAX_COLORS = 256
MIN_PARALLEL_BATCH = 64
"""Fewer images than this are converted in this process (a pool costs more than it saves)."""
Image.MAX_IMAGE_PIXELS = 64_000_000  # a logo never has more; a bigger "logo" is refused


@dataclass(frozen=True)
class Converted:
    """The WebP of one PNG, or why there is none."""

    webp: bytes | None
    width: int | None
    height: int | None
    lossless: bool
    error: str | None


def _encode(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "WEBP", **options)
    return out.getvalue()


def to_webp(png: bytes) -> Converted:
    """`png` as WebP (quality 80, lossless when that is smaller for <= 256 colours)."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.format != "PNG":
                raise ValueError(f"not a PNG (format {image.format})")
            image.load()
            transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            rgb = image.convert("RGBA" if transparent else "RGB")
        # A crafted or truncated file can raise any of these from the decoder.
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return Converted(None, None, None, False, f"{type(error).__name__}: {error}")
    webp = _encode(rgb, quality=QUALITY, method=4)
    lossless = False
    if rgb.getcolors(LOSSLESS_MAX_COLORS) is not None:  # None: more colours than that
        exact = _encode(rgb, lossless=True, quality=100, method=4)
        if len(exact) < len(webp):
            webp, lossless = exact, True
    return Converted(webp, rgb.width, rgb.height, lossless, None)


def default_workers() -> int:
    """One worker per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


def convert_all(pngs: Sequence[bytes], workers: int | None = None) -> list[Converted]:
    """`to_webp` of every PNG, in order; across `workers` processes (default: one per core)."""
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(pngs) < MIN_PARALLEL_BATCH:
        return [to_webp(png) for png in pngs]
    chunk = max(1, len(pngs) // (workers * 8))  # small chunks: logo sizes vary 64-1024 px
    context = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(to_webp, pngs, chunksize=chunk))
