"""The logo pipeline's functions, shared by DS (`company.thumbnail`) and CD (`company.logo`).

From the source bucket's listing to the company updates, as plain functions of frames and
stores (the assets in `dag.ds_logo_assets` wire them; `dag.cd_logo_assets` is the CD variant):

1. `logo_sources`: the `clogo-<company id>.png` objects of a listing;
2. `build_manifest`: per logo, compare the listing's ETag with the stored manifest and download
   only what changed; a changed ETag with the same SHA-256 stays `unchanged`; a company id with no
   company is `unknown_company` (never downloaded, never guessed, re-checked every run); the
   rest is converted to WebP in parallel (`invalid_image` with the decoder's error when it does
   not decode) and staged locally by checksum for the upload;
3. `pending_uploads` / `upload_logos`: what the target bucket does not hold yet (by checksum),
   uploaded PNG then WebP; the first failed upload stops the batch and is returned;
4. `company_updates`: the company rows whose published logo changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from contracts import polars_schema
from contracts.ds import DsLogoFiles, DsLogoWebp
from dag.ds_bucket import Store
from dag.ds_webp import convert_all, to_webp

KEY_PATTERN = r"^clogo-([A-Za-z0-9_-]+)\.png$"
FILES_SCHEMA = polars_schema(DsLogoFiles)
UPLOADS_SCHEMA = polars_schema(DsLogoWebp)
DONE = ("converted", "unchanged")  # a logo whose WebP exists (in the stage or the target)
UPLOAD_ERRORS = (BotoCoreError, ClientError, OSError)


def logo_sources(listing: pl.DataFrame) -> pl.DataFrame:
    """The logos of a bucket listing (other objects are ignored), sorted by key."""
    return listing.filter(pl.col("key").str.contains(KEY_PATTERN)).sort("key")


def webp_key(key: pl.Expr) -> pl.Expr:
    return key.str.replace(r"\.png$", ".webp")


def staged(stage: Path, sha256: str, suffix: str) -> Path:
    return stage / f"{sha256}.{suffix}"


@dataclass(frozen=True)
class ManifestStats:
    downloaded: int
    downloaded_bytes: int
    converted: int
    unchanged: int
    invalid_image: int
    unknown_company: int


def build_manifest(
    store: Store,
    sources: pl.DataFrame,
    stored: pl.DataFrame,
    companies: pl.Series,
    stage: Path,
    now: datetime,
    workers: int | None = None,
) -> tuple[pl.DataFrame, ManifestStats]:
    """The manifest rows of every listed logo (see the module docstring), and what it took."""
    rows = sources.with_columns(
        company_id=pl.col("key").str.extract(KEY_PATTERN, 1), checked_at=pl.lit(now)
    ).join(
        stored.select("key", old_etag="etag", old_status="status", old_sha="png_sha256"),
        on="key",
        how="left",
    )
    known = pl.col("company_id").is_in(companies.cast(pl.String).implode())
    same = (pl.col("etag") == pl.col("old_etag")).fill_null(False) & (
        pl.col("old_status") != "unknown_company"
    ).fill_null(False)
    kept = rows.filter(same).select("key", "etag", "checked_at").join(
        stored.drop("etag", "checked_at"), on="key"
    ).with_columns(
        status=pl.when(pl.col("status").is_in(DONE)).then(pl.lit("unchanged"))
        .otherwise("status")
    )
    unknown = rows.filter(~same & ~known).select(
        "key", "company_id", "etag", "last_modified", "checked_at",
        png_bytes="size", status=pl.lit("unknown_company"),
    )
    fetch = rows.filter(~same & known)
    pngs = [store.get(key) for key in fetch["key"]]
    shas = [hashlib.sha256(png).hexdigest() for png in pngs]
    same_bytes = [
        sha == old and status in DONE
        for sha, old, status in zip(shas, fetch["old_sha"], fetch["old_status"], strict=True)
    ]
    todo = [i for i, same_sha in enumerate(same_bytes) if not same_sha]
    results = convert_all([pngs[i] for i in todo], workers)
    stage.mkdir(parents=True, exist_ok=True)
    converted: list[dict[str, object]] = [{} for _ in pngs]
    for i, result in zip(todo, results, strict=True):
        converted[i] = {
            "webp_bytes": len(result.webp) if result.webp else None,
            "width": result.width,
            "height": result.height,
            "lossless": result.lossless if result.webp else None,
            "error": result.error,
        }
        if result.webp is not None:
            staged(stage, shas[i], "png").write_bytes(pngs[i])
            staged(stage, shas[i], "webp").write_bytes(result.webp)
    new = fetch.select("key", "company_id", "etag", "last_modified", "checked_at").with_columns(
        png_bytes=pl.Series([len(p) for p in pngs], dtype=pl.Int64),
        png_sha256=pl.Series(shas, dtype=pl.String),
        webp_bytes=pl.Series([c.get("webp_bytes") for c in converted], dtype=pl.Int64),
        width=pl.Series([c.get("width") for c in converted], dtype=pl.Int32),
        height=pl.Series([c.get("height") for c in converted], dtype=pl.Int32),
        lossless=pl.Series([c.get("lossless") for c in converted], dtype=pl.Boolean),
        error=pl.Series([c.get("error") for c in converted], dtype=pl.String),
        same_bytes=pl.Series(same_bytes, dtype=pl.Boolean),
    )
    # Same bytes under a new ETag: the stored conversion still holds, only the ETag moves.
    moved = new.filter("same_bytes").select("key", "etag", "checked_at").join(
        stored.drop("etag", "checked_at"), on="key"
    ).with_columns(status=pl.lit("unchanged"))
    fresh = new.filter(~pl.col("same_bytes")).with_columns(
        status=pl.when(pl.col("error").is_null()).then(pl.lit("converted"))
        .otherwise(pl.lit("invalid_image")),
        changed_at=pl.lit(now),
        webp_key=pl.when(pl.col("error").is_null()).then(webp_key(pl.col("key"))),
    )
    manifest = pl.concat(
        [frame.select(pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                      for c, t in FILES_SCHEMA.items())
         for frame in (kept, moved, unknown, fresh)]
    ).sort("key")
    stats = ManifestStats(
        downloaded=len(pngs),
        downloaded_bytes=sum(len(p) for p in pngs),
        converted=int((manifest["status"] == "converted").sum()),
        unchanged=int((manifest["status"] == "unchanged").sum()),
        invalid_image=int((manifest["status"] == "invalid_image").sum()),
        unknown_company=int((manifest["status"] == "unknown_company").sum()),
    )
    return manifest, stats


def pending_uploads(files: pl.DataFrame, uploads: pl.DataFrame) -> pl.DataFrame:
    """Converted logos whose checksum the target bucket does not hold yet."""
    return files.filter(
        pl.col("status").is_in(DONE) & pl.col("webp_key").is_not_null()
    ).join(uploads.select("key", "png_sha256"), on=["key", "png_sha256"], how="anti").sort("key")


def _staged_pair(source: Store, stage: Path, key: str, sha: str) -> tuple[bytes, bytes]:
    """The PNG and WebP of a checksum: staged by `build_manifest`, else converted again from
    the source (another machine ran the manifest); a source that changed since is an error."""
    png_path, webp_path = staged(stage, sha, "png"), staged(stage, sha, "webp")
    if png_path.is_file() and webp_path.is_file():
        return png_path.read_bytes(), webp_path.read_bytes()
    png = source.get(key)
    if hashlib.sha256(png).hexdigest() != sha:
        raise ValueError(f"{key}: the source object changed since the manifest; rerun it")
    result = to_webp(png)
    if result.webp is None:
        raise ValueError(f"{key}: {result.error}")
    return png, result.webp


def upload_logos(
    pending: pl.DataFrame, source: Store, target: Store, stage: Path, now: datetime
) -> tuple[pl.DataFrame, tuple[str, str] | None]:
    """Upload the PNG and WebP of every pending logo, in key order; stop at the first failure.
    Returns the rows uploaded (UPLOADS_SCHEMA) and the failed (key, error), if any."""
    rows: list[dict[str, object]] = []
    for row in pending.iter_rows(named=True):
        try:
            png, webp = _staged_pair(source, stage, row["key"], row["png_sha256"])
            target.put(row["key"], png, "image/png")
            target.put(row["webp_key"], webp, "image/webp")
        except UPLOAD_ERRORS as error:
            return pl.DataFrame(rows, schema=UPLOADS_SCHEMA), (row["key"], str(error))
        rows.append({
            "key": row["key"], "company_id": row["company_id"], "webp_key": row["webp_key"],
            "png_sha256": row["png_sha256"], "png_bytes": len(png), "webp_bytes": len(webp),
            "uploaded_at": now,
        })
    return pl.DataFrame(rows, schema=UPLOADS_SCHEMA), None


def company_updates(
    uploads: pl.DataFrame,
    current: pl.DataFrame,
    public_url: str,
    id_column: str,
    url_column: str,
) -> pl.DataFrame:
    """Company rows (id, public PNG URL, WebP URL, checksum, time) of the uploaded logos that
    differ from `current` (the serving table's rows) in their checksum or URL."""
    base = public_url.rstrip("/")
    rows = uploads.select(
        pl.col("company_id").alias(id_column),
        pl.concat_str(pl.lit(f"{base}/"), "key").alias(url_column),
        pl.concat_str(pl.lit(f"{base}/"), "webp_key").alias("webp_url"),
        "png_sha256",
        updated_at="uploaded_at",
    )
    compare = [id_column, url_column, "png_sha256"]
    return rows.join(current.select(compare), on=compare, how="anti").sort(id_column)
