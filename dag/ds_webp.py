"""DS logo conversion: one PNG's bytes to WebP, and a batch of them in parallel.

WebP at quality 80 (libwebp method 4, its default); an image of at most 256 colours (palettes,
flat logos) is also encoded lossless and the smaller of the two is kept. A file that does not
decode as a PNG is never converted: its error is returned (recorded as `invalid_image`).

Library: Pillow. pyvips (libvips 8.18, `pyvips-binary` wheels) produces byte-identical WebP
for the same pixels (with `keep="none"`) but its bundled libwebp encodes ~25% slower per image
here; it releases the GIL, Pillow does not, yet Pillow in processes still converts faster than
pyvips in threads (figures and commands in docs/benchmarks.md, "DS logos").

Parallel encode: Pillow holds the GIL for the whole WebP encode (2 threads gain nothing), so
batches go to a process pool, one worker per core. Workers come from a forkserver (a plain fork
of a Dagster step would copy its Polars and gRPC threads) that has this module preloaded: a
worker importing it itself pays the `dag` package's Dagster import (~0.8 s CPU), per worker and
per batch, which cost a fifth of a 400-logo batch on 2 cores.
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
METHOD = 4  # libwebp's default speed/size trade-off (0 fastest .. 6 smallest)
LOSSLESS_MAX_COLORS = 256
MIN_PARALLEL_BATCH = 64
"""Fewer images than this are converted in this process: ~1.3 s of work, against a pool start of
~0.2 s warm and ~1 s for the process's first (the forkserver imports this module)."""
MAX_CHUNK = 4
"""Logos per task at most: ~0.1 s of work, so when other load stalls one worker the other is
left waiting on at most that much at the end of a batch (IPC per task is ~0.1 ms)."""
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
    webp = _encode(rgb, quality=QUALITY, method=METHOD)
    lossless = False
    if rgb.getcolors(LOSSLESS_MAX_COLORS) is not None:  # None: more colours than that
        # For lossless WebP `quality` is the compression effort: 100 costs ~10% more time than
        # 75 on the sample logos for ~0.2% smaller files; kept (the lossy encode dominates).
        exact = _encode(rgb, lossless=True, quality=100, method=METHOD)
        if len(exact) < len(webp):
            webp, lossless = exact, True
    return Converted(webp, rgb.width, rgb.height, lossless, None)


def default_workers() -> int:
    """One worker per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


def _pool_context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    # Takes effect when this process's forkserver starts (the first pool); later calls are
    # no-ops. "__main__" is the default preload, kept.
    context.set_forkserver_preload(["__main__", __name__])
    return context


def convert_all(pngs: Sequence[bytes], workers: int | None = None) -> list[Converted]:
    """`to_webp` of every PNG, in order; across `workers` processes (default: one per core)."""
    workers = min(default_workers() if workers is None else workers, len(pngs))
    if workers <= 1 or len(pngs) < MIN_PARALLEL_BATCH:
        return [to_webp(png) for png in pngs]
    chunk = max(1, min(MAX_CHUNK, len(pngs) // (workers * 8)))
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=_pool_context()) as pool:
        return list(pool.map(to_webp, pngs, chunksize=chunk))
