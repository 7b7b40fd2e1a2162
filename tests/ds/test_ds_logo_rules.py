"""Logo rules without services: conversion, manifest decisions on a local bucket, the company
updates and the crawler command."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dag.ds_bucket import DirStore
from dag.ds_crawler import crawler_command
from dag.ds_logos import FILES_SCHEMA, UPLOADS_SCHEMA, build_manifest, company_updates
from dag.ds_sample import logo_png
from dag.ds_webp import to_webp

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_palette_logo_goes_lossless_and_keeps_transparency() -> None:
    image = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (10, 10, 60, 60))
    out = io.BytesIO()
    image.save(out, "PNG")
    result = to_webp(out.getvalue())
    assert result.error is None and result.lossless
    decoded = Image.open(io.BytesIO(result.webp or b"")).convert("RGBA")
    assert decoded.getpixel((0, 0))[3] == 0 and decoded.getpixel((20, 20)) == (200, 30, 30, 255)


def test_not_a_png_is_an_error_not_an_image() -> None:
    assert to_webp(b"GIF89a....").error is not None
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, "JPEG")
    assert "not a PNG" in (to_webp(jpeg.getvalue()).error or "")


def test_manifest_on_a_local_bucket(tmp_path: Path) -> None:
    store = DirStore(tmp_path / "src", "src")
    for cid in ("1", "2"):
        store.put(f"clogo-{cid}.png", logo_png(cid), "image/png")
    store.put("readme.txt", b"x", "text/plain")
    listing = store.listing().filter(pl.col("key").str.starts_with("clogo-"))
    first, stats = build_manifest(store, listing, pl.DataFrame(schema=FILES_SCHEMA),
                                  pl.Series(["1"]), tmp_path / "stage", NOW, workers=1)
    assert dict(zip(first["key"], first["status"], strict=True)) == {
        "clogo-1.png": "converted", "clogo-2.png": "unknown_company"}
    assert stats.downloaded == 1
    again, stats = build_manifest(store, listing, first, pl.Series(["1"]), tmp_path / "stage",
                                  NOW, workers=1)
    assert again["status"].to_list() == ["unchanged", "unknown_company"]
    assert stats.downloaded == 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.booleans()), unique_by=lambda t: t[0]))
def test_company_updates_are_the_changed_rows_only(logos: list[tuple[str, bool]]) -> None:
    uploads = pl.DataFrame(
        [{"key": f"clogo-{c}.png", "company_id": c, "webp_key": f"clogo-{c}.webp",
          "png_sha256": "0" * 64, "png_bytes": 1, "webp_bytes": 1,
          "uploaded_at": NOW} for c, _ in logos],
        schema=UPLOADS_SCHEMA,
    )
    all_rows = company_updates(uploads, pl.DataFrame(schema={"id": pl.String,
                               "thumbnail": pl.String, "png_sha256": pl.String}),
                               "https://cdn/x/", "id", "thumbnail")
    assert all_rows["thumbnail"].to_list() == [f"https://cdn/x/clogo-{c}.png"
                                              for c in sorted(c for c, _ in logos)]
    stored = all_rows.filter(pl.col("id").is_in([c for c, same in logos if same]))
    changed = company_updates(uploads, stored, "https://cdn/x", "id", "thumbnail")
    assert sorted(changed["id"]) == sorted(c for c, same in logos if not same)


def test_docker_crawler_gets_credentials_by_name_only(tmp_path: Path) -> None:
    env = {"DS_CRAWLER_DOCKER_IMAGE": "ds-naver-crawler:dev", "R2_SECRET_ACCESS_KEY": "s3cr3t"}
    command = crawler_command("ds", tmp_path / "ids", env)
    assert command[:3] == ["docker", "run", "--rm"] and command[-1] == "ds-naver-crawler:dev"
    assert "R2_SECRET_ACCESS_KEY" in command and "s3cr3t" not in " ".join(command)
    assert crawler_command("ds", tmp_path / "ids", {"DS_CRAWLER_COMMAND": "npx tsx a.ts"}) == [
        "npx", "tsx", "a.ts"]
