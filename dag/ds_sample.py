"""Sample mode of the logo crawler: a stand-in for `ds-naver-crawler` writing realistic logos.

For each company id given, one `clogo-<id>.png` is uploaded to the source bucket (the crawler's
own R2_* variables, `dag.ds_bucket.crawler_store`): sizes 64-1024 px, palette and true-colour
images, with and without transparency, drawn deterministically from the seed. Two deliberate
faults, as the live crawler produces them: the last company's file is a truncated PNG (does not
decode) and one extra logo belongs to a company id that does not exist (`UNKNOWN_COMPANY_ID`).

`python -m dag.ds_sample --ids-file F [--seed N]` is the embedded default of `DS_CRAWLER_COMMAND`;
under Dagster Pipes it reports every uploaded key (a log line each and the materialization's
`uploaded` list), which `ds_logo_crawler` turns into its table.
"""

from __future__ import annotations

import argparse
import io
import logging
import random
from collections.abc import Sequence
from pathlib import Path

from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes
from PIL import Image, ImageDraw

from dag.ds_bucket import Store, crawler_store

UNKNOWN_COMPANY_ID = "ffffffff-ffff-4fff-bfff-ffffffffffff"
SIZES = (64, 96, 128, 200, 256, 400, 512, 768, 1024)
logger = logging.getLogger("dag.ds_sample")


def logo_png(company_id: str, seed: int = 0) -> bytes:
    """A deterministic logo for `company_id`: shapes and a band on a plain or clear background."""
    rng = random.Random(f"{seed}:{company_id}")
    size = rng.choice(SIZES)
    transparent = rng.random() < 0.5
    colours = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(rng.randint(2, 5))]
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0) if transparent else (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    for colour in colours:
        x0, y0 = rng.randrange(size // 2), rng.randrange(size // 2)
        x1, y1 = x0 + rng.randint(size // 8, size // 2), y0 + rng.randint(size // 8, size // 2)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=(*colour, 255))
    if rng.random() < 0.5:  # a gradient band: many colours, so not every logo is a palette
        for x in range(size):
            draw.line((x, size * 3 // 4, x, size - 1), fill=(x * 255 // size, 90, 160, 255))
    if rng.random() < 0.4:
        quantized = image.quantize(colors=rng.choice((4, 16, 64)))  # a palette ("P") PNG
        out = io.BytesIO()
        quantized.save(out, "PNG", transparency=0 if transparent else None)
        return out.getvalue()
    out = io.BytesIO()
    (image if transparent else image.convert("RGB")).save(out, "PNG")
    return out.getvalue()


def sample_logos(company_ids: Sequence[str], seed: int = 0) -> dict[str, bytes]:
    """Object key -> PNG bytes: one logo per company id (the last one truncated) plus one logo
    of an unknown company."""
    logos = {f"clogo-{cid}.png": logo_png(cid, seed) for cid in company_ids}
    if company_ids:
        corrupt = f"clogo-{company_ids[-1]}.png"
        logos[corrupt] = logos[corrupt][: len(logos[corrupt]) // 3]
    logos[f"clogo-{UNKNOWN_COMPANY_ID}.png"] = logo_png(UNKNOWN_COMPANY_ID, seed)
    return logos


def upload_sample(
    store: Store, company_ids: Sequence[str], seed: int = 0, log: logging.Logger = logger
) -> list[str]:
    """Upload the sample logos to `store`; the keys, in order."""
    keys = []
    for key, png in sample_logos(company_ids, seed).items():
        store.put(key, png, "image/png")
        log.info(f"uploaded {key} ({len(png)} bytes)")
        keys.append(key)
    return keys


def main(argv: Sequence[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m dag.ds_sample", description=__doc__)
    parser.add_argument("--ids-file", type=Path, required=True, help="one company id a line")
    parser.add_argument("--seed", type=int, default=0, help="another seed changes every logo")
    args = parser.parse_args(argv)
    ids = [line.strip() for line in args.ids_file.read_text().splitlines() if line.strip()]
    if not PipesEnvVarParamsLoader().is_dagster_pipes_process():
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        return upload_sample(crawler_store(), ids, args.seed)
    with open_dagster_pipes() as pipes:
        keys = upload_sample(crawler_store(), ids, args.seed, log=pipes.log)
        pipes.report_asset_materialization(metadata={"uploaded": keys, "count": len(keys)})
    return keys


if __name__ == "__main__":
    main()
