"""DS contracts: company logos through the S3-compatible buckets (the CD variant subclasses them
in `contracts.cd`).

Bronze: the crawler run's uploads and the source bucket's listing; silver: the manifest of every
logo (checksums, status) and the objects published to the target bucket; gold: the company
thumbnails loaded into PostgreSQL. The clean-up asset records what it deleted.
"""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

UTC = Annotated[pl.Datetime, "us", "UTC"]
LOGO_KEY = r"^clogo-[A-Za-z0-9_-]+\.png$"
WEBP_KEY = r"^clogo-[A-Za-z0-9_-]+\.webp$"
SHA256 = r"^[0-9a-f]{64}$"
STATUSES = ("converted", "unchanged", "invalid_image", "unknown_company")


class DsLogoCrawler(pa.DataFrameModel):
    """One logo a crawler run reported uploading to the source bucket (its Pipes messages)."""

    key: pl.String = pa.Field(unique=True, str_matches=LOGO_KEY, description="object key")

    class Config:
        strict = True


class DsLogoSources(pa.DataFrameModel):
    """One `clogo-<id>.png` object of the source bucket, as listed."""

    key: pl.String = pa.Field(unique=True, str_matches=LOGO_KEY, description="object key")
    size: pl.Int64 = pa.Field(ge=0, description="bytes")
    etag: pl.String = pa.Field(str_length={"min_value": 1}, description="ETag (no quotes)")
    last_modified: UTC = pa.Field(description="last modified (UTC)")

    class Config:
        strict = True


class DsLogoFiles(pa.DataFrameModel):
    """The manifest: one row per logo in the source bucket and what the last run made of it."""

    key: pl.String = pa.Field(unique=True, str_matches=LOGO_KEY, description="PNG object key")
    company_id: pl.String = pa.Field(description="company id parsed from the key")
    etag: pl.String = pa.Field(description="source ETag the row was computed from")
    png_bytes: pl.Int64 = pa.Field(ge=0, description="PNG size")
    png_sha256: pl.String = pa.Field(
        nullable=True, str_matches=SHA256, description="PNG checksum (null: not downloaded)"
    )
    webp_key: pl.String = pa.Field(nullable=True, str_matches=WEBP_KEY, description="WebP key")
    webp_bytes: pl.Int64 = pa.Field(nullable=True, gt=0, description="WebP size")
    width: pl.Int32 = pa.Field(nullable=True, gt=0, description="pixels")
    height: pl.Int32 = pa.Field(nullable=True, gt=0, description="pixels")
    lossless: pl.Boolean = pa.Field(nullable=True, description="WebP encoded lossless")
    status: pl.String = pa.Field(isin=list(STATUSES), description="what the last run did")
    error: pl.String = pa.Field(nullable=True, description="why an image is invalid")
    last_modified: UTC = pa.Field(description="source object's last modified")
    changed_at: UTC = pa.Field(nullable=True, description="when its content last changed")
    checked_at: UTC = pa.Field(description="when a run last listed it")

    class Config:
        strict = True
        unique = ("key",)


class DsLogoWebp(pa.DataFrameModel):
    """One logo published to the target bucket: its PNG and WebP as uploaded."""

    key: pl.String = pa.Field(unique=True, str_matches=LOGO_KEY, description="PNG object key")
    company_id: pl.String = pa.Field(description="company id")
    webp_key: pl.String = pa.Field(str_matches=WEBP_KEY, description="WebP object key")
    png_sha256: pl.String = pa.Field(str_matches=SHA256, description="checksum uploaded")
    png_bytes: pl.Int64 = pa.Field(gt=0, description="PNG size")
    webp_bytes: pl.Int64 = pa.Field(gt=0, description="WebP size")
    uploaded_at: UTC = pa.Field(description="when both objects were uploaded")

    class Config:
        strict = True
        unique = ("key",)


class DsCompanyThumbnails(pa.DataFrameModel):
    """Serving `company_thumbnail` (DS PostgreSQL): `company.thumbnail` of each published logo,
    `<DS_PUBLIC_URL>/clogo-<id>.png`, keyed by the company's `id`."""

    id: pl.String = pa.Field(unique=True, description="company.id")
    thumbnail: pl.String = pa.Field(
        str_matches=r"^\S+\.png$", description="public URL of the PNG"
    )
    webp_url: pl.String = pa.Field(
        str_matches=r"^\S+\.webp$", description="public URL of the WebP"
    )
    png_sha256: pl.String = pa.Field(str_matches=SHA256, description="checksum published")
    updated_at: UTC = pa.Field(description="when it was published")

    class Config:
        strict = True
        unique = ("id",)


class DsBucketCleanup(pa.DataFrameModel):
    """One object a confirmed clean-up deleted."""

    bucket: pl.String = pa.Field(description="bucket")
    key: pl.String = pa.Field(description="object key")
    size: pl.Int64 = pa.Field(ge=0, description="bytes")

    class Config:
        strict = True
        unique = ("bucket", "key")
