"""DS logos: the asset factory both groups use, and the DS instance (`company.thumbnail`).

`logo_assets(LogoGroup(...))` builds, for one prefix, the chain of ORIGINAL_IS_SS_DS.md section 3
with its bugs (3.5) fixed:

| asset | tier | what |
| --- | --- | --- |
| `<p>_logo_crawler` | bronze | the crawler through Dagster Pipes (`dag.ds_crawler`) |
| `<p>_logo_sources` | bronze | listing of the source bucket's `clogo-<id>.png` objects |
| `<p>_logo_files` | silver | the manifest (`dag.ds_logos.build_manifest`), keyed by object key |
| `<p>_logo_webp` | silver | PNG + WebP uploaded to the target bucket, keyed by object key |
| updates (`ds_company_thumbnails`) | gold | changed company rows, upserted into PostgreSQL |
| `<p>_bucket_cleanup` | bronze | deletes objects only with a confirmation naming bucket + prefix |

All of them are in group DS (the image pipeline; the CD variant is tagged `product: cd`), so no
group-wide job picks up the clean-up: it is in no job, schedule or sensor. Company ids are checked
against the project's PostgreSQL `company` table (DS: `id`; CD: `company_id`); the updates go to a
table of their own (`company_thumbnail` / `company_logo`), because the loaders replace whole rows
of a table with the frame's columns and `company` is not this pipeline's to rewrite.
"""


import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.ds import (
    DsBucketCleanup,
    DsCompanyThumbnails,
    DsLogoCrawler,
    DsLogoFiles,
    DsLogoSources,
    DsLogoWebp,
)
from dag.common import elapsed, logos_pool, tags
from dag.ds_bucket import LogoBuckets
from dag.ds_crawler import cleanup_asset, crawler_asset, known_companies
from dag.ds_logos import (
    FILES_SCHEMA,
    UPLOADS_SCHEMA,
    build_manifest,
    company_updates,
    logo_sources,
    pending_uploads,
    upload_logos,
)
from dag.resources import data_dir
from dag.serving import Serving, load_serving, read_back
from dag_io import LoadError, lake

LAKE = "delta_io_manager"


@dataclass(frozen=True)
class LogoGroup:
    """One group's logo pipeline: names, columns and contracts."""

    prefix: str
    company_column: str
    url_column: str
    serving_table: str
    updates_name: str
    contracts: dict[str, type[pa.DataFrameModel]]

    @property
    def buckets_key(self) -> str:
        return f"{self.prefix}_logo_buckets"

    @property
    def postgres_key(self) -> str:
        return f"{self.prefix}_postgres"

    def tags(self, tier: Any, **extra: str) -> dict[str, str]:
        return tags(tier, {"domain": "logos", "source": "r2", "product": self.prefix}, **extra)

    def stage(self) -> Path:
        """Local folder of converted logos awaiting upload (content-addressed by SHA-256)."""
        return data_dir() / "images" / self.prefix / "staged"


def _stored(context: dg.AssetExecutionContext, schema: pl.Schema) -> pl.DataFrame:
    """The table this asset wrote last (empty before its first write)."""
    lake_io = getattr(context.resources, LAKE)
    asset = context.assets_def
    try:
        return lake_io.read(asset.key, None, asset.metadata_by_key[asset.key]).collect()
    except FileNotFoundError:
        return pl.DataFrame(schema=schema)


def _keyed(model: type[pa.DataFrameModel]) -> dict[str, Any]:
    return {**lake(write_mode="merge", merge_keys=["key"]), "dagster/column_schema":
            column_schema(model)}


def logo_assets(g: LogoGroup) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """The assets and contract checks of one group's logo pipeline (see the module docstring)."""
    p, c = g.prefix, g.contracts
    crawler = crawler_asset(p, c["crawler"], g.tags("bronze"), g.buckets_key, g.postgres_key,
                            g.company_column)

    def sources(context: dg.AssetExecutionContext) -> dg.Output[pl.LazyFrame]:
        buckets: LogoBuckets = getattr(context.resources, g.buckets_key)
        listing = logo_sources(buckets.source().listing("clogo-"))
        return dg.Output(listing.lazy(), metadata={
            "bucket": buckets.source_bucket, "dagster/row_count": listing.height,
            "bytes": int(listing["size"].sum())})

    sources.__name__ = f"{p}_logo_sources"
    sources.__doc__ = f"Logos (`clogo-<company id>.png`) in the {p.upper()} source bucket."
    sources_asset = dg.asset(
        pool=logos_pool(p),
        name=sources.__name__, group_name="DS", kinds={"polars", "deltalake", "s3"},
        tags=g.tags("bronze"), io_manager_key=LAKE, deps=[crawler],
        metadata={**lake(), "dagster/column_schema": column_schema(c["sources"])},
        required_resource_keys={g.buckets_key},
    )(sources)

    def files(context: dg.AssetExecutionContext, listing: pl.LazyFrame) -> dg.Output[Any]:
        started = time.perf_counter()
        buckets: LogoBuckets = getattr(context.resources, g.buckets_key)
        listed = listing.collect()
        companies = known_companies(context, g.postgres_key, g.company_column)
        manifest, stats = build_manifest(
            buckets.source(), listed, _stored(context, FILES_SCHEMA), companies, g.stage(),
            datetime.now(UTC))
        unknown = manifest.filter(pl.col("status") == "unknown_company")["company_id"]
        return dg.Output(manifest.lazy(), metadata={
            **vars(stats), "unknown_company_ids": dg.MetadataValue.json(unknown.to_list()),
            "dagster/row_count": manifest.height, "execution_time_sec": elapsed(started)})

    files.__name__ = f"{p}_logo_files"
    files.__doc__ = (f"The {p.upper()} logo manifest: company id, PNG checksum, WebP key, sizes "
                     "and status (converted, unchanged, invalid_image, unknown_company).")
    files_asset = dg.asset(
        pool=logos_pool(p),
        name=files.__name__, group_name="DS", kinds={"polars", "deltalake", "s3"},
        tags=g.tags("silver"), io_manager_key=LAKE, metadata=_keyed(c["files"]),
        ins={"listing": dg.AssetIn(sources_asset.key)},
        required_resource_keys={g.buckets_key, g.postgres_key, LAKE},
    )(files)

    def webp(context: dg.AssetExecutionContext, manifest: pl.LazyFrame) -> Iterator[dg.Output]:
        started = time.perf_counter()
        buckets: LogoBuckets = getattr(context.resources, g.buckets_key)
        target = buckets.target()
        held = set(target.listing("clogo-")["key"].to_list())
        uploads = _stored(context, UPLOADS_SCHEMA).filter(
            pl.col("key").is_in(list(held)) & pl.col("webp_key").is_in(list(held)))
        pending = pending_uploads(manifest.collect(), uploads)
        done, failed = upload_logos(pending, buckets.source(), target, g.stage(),
                                    datetime.now(UTC))
        # Written before a failure is raised: the table holds exactly what was uploaded.
        yield dg.Output(done.lazy(), metadata={
            "uploaded": done.height, "pending": pending.height,
            "uploaded_bytes": int(done["png_bytes"].sum()) + int(done["webp_bytes"].sum()),
            "failed": failed[0] if failed else None, "target_bucket": buckets.target_bucket,
            "execution_time_sec": elapsed(started)})
        if failed:
            raise dg.Failure(
                f"{p}_logo_webp: uploading {failed[0]} to bucket {buckets.target_bucket} "
                f"failed: {failed[1]}; {done.height} of {pending.height} logo(s) were uploaded "
                "(recorded), the rest are pending for the next run")

    webp.__name__ = f"{p}_logo_webp"
    webp.__doc__ = (f"{p.upper()} logos published to the target bucket: the PNG and its WebP "
                    "(quality 80, lossless when smaller), by checksum; invalid images never.")
    webp_asset = dg.asset(
        pool=logos_pool(p),
        name=webp.__name__, group_name="DS", kinds={"polars", "deltalake", "s3"},
        tags=g.tags("silver"), io_manager_key=LAKE, metadata=_keyed(c["webp"]),
        ins={"manifest": dg.AssetIn(files_asset.key)},
        required_resource_keys={g.buckets_key, LAKE},
    )(webp)

    spec = Serving(
        name=g.updates_name, group="DS", table=g.serving_table, target="postgres",
        resource_key=g.postgres_key, contract=c["updates"], mode="upsert",
        description=f"`{g.serving_table}`: company.{g.url_column} of each published logo.",
        tags=g.tags("gold"),
    )

    def updates(
        context: dg.AssetExecutionContext, published: pl.LazyFrame, manifest: pl.LazyFrame
    ) -> dg.MaterializeResult:
        buckets: LogoBuckets = getattr(context.resources, g.buckets_key)
        postgres = getattr(context.resources, g.postgres_key)
        try:
            current = postgres.read(g.serving_table)
        except LoadError:  # first load: the table does not exist yet
            current = pl.DataFrame(schema=polars_schema(c["updates"]))
        changed = company_updates(published.collect(), current, buckets.public_url,
                                  g.company_column, g.url_column)
        logos = manifest.collect()
        unknown = logos.filter(pl.col("status") == "unknown_company")
        result = load_serving(context, spec, changed.lazy())
        return dg.MaterializeResult(metadata={
            **(result.metadata or {}), "changed_companies": changed.height,
            "unknown_company_ids": dg.MetadataValue.json(unknown["company_id"].to_list()),
            "invalid_images": dg.MetadataValue.json(
                logos.filter(pl.col("status") == "invalid_image")["key"].to_list())})

    updates.__name__ = g.updates_name
    updates.__doc__ = spec.description
    updates_asset = dg.asset(
        name=g.updates_name, group_name="DS", pool=logos_pool(p), kinds={"polars", "postgres"},
        tags={**g.tags("gold"), "target": "postgres"}, description=spec.description,
        metadata={"target_table": g.serving_table,
                  "dagster/column_schema": column_schema(c["updates"])},
        ins={"published": dg.AssetIn(webp_asset.key), "manifest": dg.AssetIn(files_asset.key)},
        required_resource_keys={g.buckets_key, g.postgres_key},
    )(updates)
    cleanup = cleanup_asset(p, c["cleanup"], g.tags("bronze"), g.buckets_key)
    return [
        crawler,
        contract_check(crawler, c["crawler"], read=_from_metadata("uploaded", c["crawler"])),
        sources_asset, contract_check(sources_asset, c["sources"]),
        files_asset, contract_check(files_asset, c["files"]),
        webp_asset, contract_check(webp_asset, c["webp"]),
        updates_asset,
        contract_check(updates_asset, c["updates"], read=lambda ctx: read_back(ctx, spec),
                       required_resource_keys={g.postgres_key}),
        cleanup,
        contract_check(cleanup, c["cleanup"], read=_from_metadata("deleted", c["cleanup"])),
    ]


def _from_metadata(name: str, model: type[pa.DataFrameModel]) -> Any:
    """A check's read of an asset whose rows are a JSON list in its latest materialization
    (a list of keys, or of row objects)."""

    def read(context: dg.AssetCheckExecutionContext) -> pl.DataFrame:
        key = context.check_specs[0].asset_key
        event = context.instance.get_latest_materialization_event(key)
        done = event.asset_materialization if event else None
        entry = done.metadata.get(name) if done else None
        rows: list[Any] = list(entry.value) if entry is not None else []  # type: ignore[arg-type]
        rows = [{"key": row} if isinstance(row, str) else row for row in rows]
        return pl.DataFrame(rows, schema=polars_schema(model))

    return read

DS = LogoGroup(
    prefix="ds", company_column="id", url_column="thumbnail", serving_table="company_thumbnail",
    updates_name="ds_company_thumbnails",
    contracts={"crawler": DsLogoCrawler, "sources": DsLogoSources, "files": DsLogoFiles,
               "webp": DsLogoWebp, "updates": DsCompanyThumbnails, "cleanup": DsBucketCleanup},
)
(
    ds_logo_crawler, ds_logo_crawler_contract, ds_logo_sources, ds_logo_sources_contract,
    ds_logo_files, ds_logo_files_contract, ds_logo_webp, ds_logo_webp_contract,
    ds_company_thumbnails, ds_company_thumbnails_contract, ds_bucket_cleanup,
    ds_bucket_cleanup_contract,
) = logo_assets(DS)
