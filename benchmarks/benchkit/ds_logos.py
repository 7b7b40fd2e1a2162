"""DS logo conversion: the same PNGs to WebP (quality 80) four ways.

Input: `logos(n)`, the sample crawler's logos (`dag.ds_sample.logo_png`: 64-1024 px, palettes,
transparency, gradients) for n company ids. Cases, each converting every PNG once:
- `ours`: `dag.ds_webp.convert_all(pngs)`: Pillow in a process pool, one worker per core (2).
- `one_core`: the same function with `workers=1` (in process): the baseline of the 1.7x gate.
- `pyvips`: libvips (pyvips + pyvips-binary) `webpsave_buffer(Q=80)` per PNG, libvips' own
  threads; the same lossless-if-smaller rule is NOT applied (one encode per image, favouring it).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchkit.gates import peer_call
from dag.ds_sample import logo_png
from dag.ds_webp import convert_all


@dataclass(frozen=True)
class LogoSizes:
    logos: int
    rounds: int


SIZES = {"quick": LogoSizes(logos=400, rounds=3), "full": LogoSizes(logos=2_000, rounds=3)}


def logos(n: int) -> list[bytes]:
    return [logo_png(str(100_000 + i), seed=1) for i in range(n)]


def ours(pngs: list[bytes]) -> int:
    return sum(1 for r in convert_all(pngs, workers=2) if r.webp)


def one_core(pngs: list[bytes]) -> int:
    return sum(1 for r in convert_all(pngs, workers=1) if r.webp)


def _pyvips(pngs: list[bytes]) -> int:
    import pyvips

    pyvips.cache_set_max(0)
    return sum(
        1 for png in pngs
        if pyvips.Image.new_from_buffer(png, "", access="sequential").webpsave_buffer(Q=80)
    )


def pyvips_webp(pngs: list[bytes]) -> int:
    return peer_call("pyvips", _pyvips, pngs)
