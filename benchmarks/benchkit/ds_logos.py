"""DS logo conversion: the same PNGs to the same WebP three ways.

Input: `logos(n)`, the sample crawler's logos (`dag.ds_sample.logo_png`: 64-1024 px, palettes,
transparency, gradients; 82% have <= 256 colours) for n company ids. Every case applies the
production rule to every PNG: decode (PNG only), 8-bit RGB or RGBA, WebP quality 80 at libwebp
method/effort 4, and for <= 256 colours also lossless (effort 100) keeping the smaller. The
outputs are byte-identical across cases (`same_output`, checked outside the timing).
- `ours`: `dag.ds_webp.convert_all(pngs, workers=2)`: Pillow, a process pool of 2.
- `one_core`: the same function with `workers=1` (in process): the baseline of the 1.7x gate.
- `pyvips`: libvips 8.18 (`pyvips` + `pyvips-binary` wheels) in 2 threads (pyvips releases the
  GIL, so threads are its best parallel form: no process start, no pickling); decode, both
  encodes in libvips (`keep="none"`: no EXIF block, else its files are 10% larger); the colour
  count, which libvips lacks, by Pillow's `getcolors` on the decoded pixels (zero-copy, ~3% of
  the work).
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from dataclasses import dataclass
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from PIL import Image

from benchkit.gates import peer_call
from dag.ds_sample import logo_png
from dag.ds_webp import LOSSLESS_MAX_COLORS, METHOD, QUALITY, convert_all

WORKERS = 2


@dataclass(frozen=True)
class LogoSizes:
    logos: int
    rounds: int


SIZES = {"quick": LogoSizes(logos=400, rounds=3), "full": LogoSizes(logos=2_000, rounds=3)}


def logos(n: int) -> list[bytes]:
    return [logo_png(str(100_000 + i), seed=1) for i in range(n)]


def ours(pngs: list[bytes]) -> list[bytes | None]:
    return [r.webp for r in convert_all(pngs, workers=WORKERS)]


def one_core(pngs: list[bytes]) -> list[bytes | None]:
    return [r.webp for r in convert_all(pngs, workers=1)]


def _vips_webp(png: bytes) -> bytes | None:
    import pyvips

    try:
        image = pyvips.Image.new_from_buffer(png, "", access="sequential", fail_on="error")
        if image.get("vips-loader") != "pngload_buffer":
            return None
        if image.interpretation != "srgb" or image.format != "uchar":
            image = image.colourspace("srgb").cast("uchar")
        image = image.copy_memory()  # decoded once, both encodes read it
    except pyvips.Error:
        return None
    webp: bytes = image.webpsave_buffer(Q=QUALITY, effort=METHOD, keep="none")
    mode = "RGBA" if image.bands == 4 else "RGB"
    pixels = Image.frombuffer(mode, (image.width, image.height), image.write_to_memory(),
                              "raw", mode, 0, 1)
    if pixels.getcolors(LOSSLESS_MAX_COLORS) is not None:
        exact: bytes = image.webpsave_buffer(lossless=True, Q=100, effort=METHOD, keep="none")
        if len(exact) < len(webp):
            webp = exact
    return webp


def _pyvips(pngs: list[bytes]) -> list[bytes | None]:
    import pyvips

    pyvips.cache_set_max(0)  # each PNG is decoded once; a cache would only replay rounds
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(_vips_webp, pngs))


def pyvips_webp(pngs: list[bytes]) -> list[bytes | None]:
    return peer_call("pyvips", _pyvips, pngs)


def same_output(who: Any, pngs: list[bytes]) -> bool:
    """Whether case `who` gives the same WebP bytes as ours for these PNGs."""
    return bool(who(pngs) == one_core(pngs))


def _forkserver_children_cpu() -> float:
    """CPU seconds of the exited children of this process's forkserver (`ours`' pool workers:
    the forkserver reaps each before the pool's shutdown returns), from /proc.
    `_forkserver_pid` is private: the standard library offers no public accessor."""
    pid = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    if pid is None:
        raise RuntimeError("no forkserver: call `ours` once before measuring its CPU")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime + cstime


def cpu_seconds(who: str) -> float:
    """A CPU clock of case `who`: this process (all its threads: pyvips' too), plus for `ours`
    the pool workers'. Differences of it are load-independent, unlike wall-clock time."""
    spent = time.process_time()
    return spent + _forkserver_children_cpu() if who == "ours" else spent
