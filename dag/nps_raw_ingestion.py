"""NPS bronze tier: the monthly workplace file (국민연금 가입 사업장 내역) exactly as delivered.

`nps_his_download` fetches each month of the run from the `nps_source` resource, keeps a raw
snapshot of the delivered bytes under DAG_DATA_DIR/raw/nps/, and stores every line as strings
under the canonical English column names with lineage (file, sha256, line, header variant, bytes
replaced in decoding). File-integrity rules are asset checks on it: size, header, 22 columns and a
row count plausible against the previous month.
"""

import os
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from contracts import audit_resource_keys, column_schema, conclude, contract_check
from contracts.nps import HEADER_VARIANTS, NpsHisDownload
from dag.common import NPS_TAGS, elapsed, tags
from dag.nps_csv import CANONICAL_COLUMNS, LINEAGE_COLUMNS, NpsCsvError, file_month, parse_bytes
from dag.nps_source import NpsSource, NpsSourceError, RawFile
from dag.partitions import nps_monthly_partition
from dag.spill import SPILL_HOOKS, Spill
from dag_io import lake

# Integrity thresholds. A real month is ~110 MB; the sample's default 2,000 rows are ~400 KB.
# NPS_MIN_FILE_BYTES lowers the floor for tiny test samples (documented in .env.example).
MIN_FILE_BYTES = 100 * 1024


class NpsDownloadConfig(dg.Config):
    """Run config of `nps_his_download`: how much a month may shrink before it is refused."""

    max_drop_share: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="refuse a month with this share fewer rows or file bytes than the month "
        "before (the completeness check)",
    )
    accept_row_drop: bool = Field(
        default=False, description="accept a larger drop in this run (needs a reason)"
    )
    reason: str = Field(default="", description="why the drop is genuine (kept in metadata)")

    def policy(self) -> dict[str, Any]:
        return {
            "max_drop_share": self.max_drop_share,
            "accept_row_drop": self.accept_row_drop,
            "reason": self.reason,
        }


class NpsIngestionError(RuntimeError):
    """A month could not be ingested; the message names asset, partition, file and cause."""


def month_of(partition_key: str) -> date:
    """Partition key (YYYY-MM-DD, first of month) as a date."""
    return datetime.strptime(partition_key, "%Y-%m-%d").date().replace(day=1)


def raw_snapshot_dir() -> Path:
    """Where raw snapshots go: DAG_DATA_DIR/raw/nps (./data/raw/nps by default)."""
    return Path(os.environ.get("DAG_DATA_DIR", "data")).resolve() / "raw" / "nps"


def save_snapshot(raw: RawFile, month: date, sha256: str) -> Path:
    """Write the delivered bytes atomically to raw/nps/ym=YYYY-MM/<sha12>_<file name>."""
    folder = raw_snapshot_dir() / f"ym={month:%Y-%m}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sha256[:12]}_{Path(raw.name).name}"
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.write_bytes(raw.content)
    os.replace(partial, target)
    return target


def _ingest_month(nps_source: NpsSource, key: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """One month of the run: fetched, parsed, checked to hold that month, snapshotted; its rows
    (with `ym`) and its `per_month` metadata entry."""
    month = month_of(key)
    try:
        raw = nps_source.fetch_month(month)
        parsed = parse_bytes(raw.content, raw.name)
        file_month(parsed.frame, raw.name, expected=month)  # every row carries `month`
    except (NpsSourceError, NpsCsvError) as error:
        raise NpsIngestionError(f"nps_his_download partition {key}: {error}") from error
    snapshot = save_snapshot(raw, month, parsed.sha256)
    info = {
        "file": raw.name,
        "origin": raw.origin,
        "raw_snapshot_path": str(snapshot),
        "sha256": parsed.sha256,
        "file_bytes": parsed.file_bytes,
        "encoding": parsed.encoding,
        "compression": parsed.compression,
        "delivered_bytes": parsed.delivered_bytes,
        "header_variant": parsed.header_variant,
        "rows_read": parsed.rows,
        "bytes_replaced": parsed.bytes_replaced,
    }
    return parsed.frame.with_columns(ym=pl.lit(month, pl.Date)), info


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "csv"},
    tags=tags("bronze", NPS_TAGS),
    metadata={**lake(partition_by="ym"), "dagster/column_schema": column_schema(NpsHisDownload)},
    hooks=SPILL_HOOKS,
)
def nps_his_download(
    context: dg.AssetExecutionContext, nps_source: NpsSource, config: NpsDownloadConfig
) -> dg.Output[dict[str, pl.LazyFrame]]:
    """The month's enrolled-workplace file as delivered: one row per data line, all values as
    strings under canonical names, with lineage columns; `ym` is the data month (자료생성년월)."""
    if config.accept_row_drop and not config.reason.strip():
        raise NpsIngestionError(
            "nps_his_download: config accept_row_drop=true needs a reason (recorded in metadata)"
        )
    started = time.perf_counter()
    keys = list(context.partition_keys)
    per_month: dict[str, dict[str, Any]] = {}
    if len(keys) == 1:  # one month: no spill, the frame is handed over as it is
        frame, per_month[keys[0][:7]] = _ingest_month(nps_source, keys[0])
        rows, output = frame.height, {keys[0]: frame.lazy()}
    else:  # a range: one month in memory at a time, spilled, then streamed by the IO manager
        rows = 0
        with Spill(context) as spill:
            for key in keys:
                frame, per_month[key[:7]] = _ingest_month(nps_source, key)
                spill.write(frame, key)
                rows += frame.height
                del frame  # before the next month is parsed: never two months at once
            output = spill.frames()
    months = list(per_month.values())
    metadata: dict[str, Any] = {
        "source": f"nps_source mode={nps_source.mode}",
        "source_origin": months[0]["origin"] if len(months) == 1 else "see per_month",
        "raw_snapshot_path": dg.MetadataValue.path(months[0]["raw_snapshot_path"])
        if len(months) == 1
        else str(raw_snapshot_dir()),
        "rows_read": rows,
        "header_variant": ", ".join(sorted({m["header_variant"] for m in months})),
        "bytes_replaced": sum(m["bytes_replaced"] for m in months),
        "file_bytes": sum(m["file_bytes"] for m in months),
        "rows_by_month": dg.MetadataValue.json({k: v["rows_read"] for k, v in per_month.items()}),
        "per_month": dg.MetadataValue.json(per_month),
        "completeness_policy": dg.MetadataValue.json(config.policy()),
        "execution_time_sec": elapsed(started),
    }
    return dg.Output(output, metadata=metadata)


# A range is validated month by month (the key holds `ym`): memory stays one month's.
nps_his_download_contract = contract_check(nps_his_download, NpsHisDownload, per_partition=True)


# --- file-integrity checks ---------------------------------------------------------------------
# Every check here is blocking with ERROR severity (except growth, a warning): a failure refuses
# the run's months (`contracts.conclude`), so the previous delivery stays the one everything reads.
BRONZE = nps_his_download  # the check functions' own parameter shadows the asset's name
AUDIT_KEYS = audit_resource_keys(BRONZE)


def _files(persisted: pl.LazyFrame) -> pl.DataFrame:
    """One row per (month, delivered file) of the persisted partitions, with its row count."""
    return (
        persisted.group_by("ym", "source_file", "source_sha256")
        .agg(
            pl.col("source_bytes").first(),
            pl.col("header_variant").unique().alias("header_variants"),
            pl.len().alias("rows"),
        )
        .sort("ym")
        .collect()
    )


def _min_file_bytes() -> int:
    return int(os.environ.get("NPS_MIN_FILE_BYTES", MIN_FILE_BYTES))


@dg.asset_check(  # type: ignore[arg-type]  # also takes None: contracts.conclude
    asset=nps_his_download,
    description="Each delivered monthly file is at least 100 KiB (NPS_MIN_FILE_BYTES overrides).",
    blocking=True,
    partitions_def=nps_monthly_partition,
    required_resource_keys=AUDIT_KEYS,
)
def nps_his_download_file_size(
    context: dg.AssetCheckExecutionContext, nps_his_download: pl.LazyFrame
) -> dg.AssetCheckResult | None:
    files = _files(nps_his_download)
    floor = _min_file_bytes()
    small = files.filter(pl.col("source_bytes") < floor)
    result = dg.AssetCheckResult(
        passed=small.height == 0 and files.height > 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "min_file_bytes": floor,
            "file_bytes": dg.MetadataValue.json(
                {f"{r['ym']:%Y-%m}": r["source_bytes"] for r in files.to_dicts()}
            ),
            "files_too_small": dg.MetadataValue.json(small["source_file"].to_list()),
        },
        description=f"files below {floor} bytes: {small['source_file'].to_list()}",
    )
    return conclude(context, BRONZE, result, "nps_his_download_file_size")


@dg.asset_check(  # type: ignore[arg-type]  # also takes None: contracts.conclude
    asset=nps_his_download,
    description="The header was recognised as one of the known variants and all 22 canonical "
    "columns (plus lineage) are present.",
    blocking=True,
    partitions_def=nps_monthly_partition,
    required_resource_keys=AUDIT_KEYS,
)
def nps_his_download_header(
    context: dg.AssetCheckExecutionContext, nps_his_download: pl.LazyFrame
) -> dg.AssetCheckResult | None:
    columns = list(nps_his_download.collect_schema().names())
    missing = [c for c in (*CANONICAL_COLUMNS, *LINEAGE_COLUMNS) if c not in columns]
    data_columns = [c for c in columns if c not in (*LINEAGE_COLUMNS, "ym")]
    variants = nps_his_download.select(pl.col("header_variant").unique()).collect()
    unknown = [v for v in variants["header_variant"].to_list() if v not in HEADER_VARIANTS]
    result = dg.AssetCheckResult(
        passed=not missing and not unknown and len(data_columns) == len(CANONICAL_COLUMNS),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "data_columns": len(data_columns),
            "expected_columns": len(CANONICAL_COLUMNS),
            "missing_columns": dg.MetadataValue.json(missing),
            "header_variants": dg.MetadataValue.json(sorted(variants["header_variant"])),
            "unknown_variants": dg.MetadataValue.json(unknown),
        },
        description=f"missing columns {missing}, unknown header variants {unknown}",
    )
    return conclude(context, BRONZE, result, "nps_his_download_header")


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def _accepted_months(context: dg.AssetCheckExecutionContext, months: list[date]) -> pl.DataFrame:
    """Rows and file bytes of the accepted (lake) data of `months` that exist in the lake."""
    (key,) = AUDIT_KEYS
    lake = getattr(context.resources, key)
    found = []
    for month in months:
        try:
            frame = lake.read(
                nps_his_download.key,
                nps_monthly_partition,
                nps_his_download.metadata_by_key[nps_his_download.key],
                [month.isoformat()],
            )
        except FileNotFoundError:  # no accepted delivery of that month: nothing to compare
            continue
        found.append(frame.select(pl.lit(month).alias("ym"), *_COUNTS).collect())
    return pl.concat(found) if found else pl.DataFrame(schema=_COUNTS_SCHEMA)


_COUNTS = (pl.len().cast(pl.Int64).alias("rows"), pl.col("source_bytes").max().alias("bytes"))
_COUNTS_SCHEMA = {"ym": pl.Date, "rows": pl.Int64, "bytes": pl.Int64}


def _run_id(context: dg.AssetCheckExecutionContext) -> str | None:
    """The check's run, None when the check function is invoked directly (no run)."""
    try:
        return context.run.run_id
    except dg.DagsterError:  # DagsterInvalidPropertyError: not exported by dagster 1.13
        return None


def _this_runs_policy(context: dg.AssetCheckExecutionContext) -> dict[str, Any]:
    """The completeness policy `nps_his_download` recorded in this run (its config)."""
    keys = list(context.partition_keys)
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=nps_his_download.key, asset_partitions=keys[-1:]),
        limit=1,
    ).records
    if records and records[0].run_id == _run_id(context):
        materialization = records[0].asset_materialization
        value = materialization.metadata.get("completeness_policy") if materialization else None
        if value is not None:
            return dict(value.value)
    return NpsDownloadConfig().policy()


@dg.asset_check(  # type: ignore[arg-type]  # also takes None: contracts.conclude
    asset=nps_his_download,
    description="No data is lost between deliveries: a month whose row count or file size drops "
    "more than max_drop_share (default 5%) below the previous accepted month is refused, unless "
    "the run accepts the drop with a reason (nps_his_download config accept_row_drop). A month "
    "more than twice the previous one warns.",
    blocking=True,
    partitions_def=nps_monthly_partition,
    required_resource_keys=AUDIT_KEYS,
)
def nps_his_download_completeness(
    context: dg.AssetCheckExecutionContext, nps_his_download: pl.LazyFrame
) -> dg.AssetCheckResult | None:
    policy = _this_runs_policy(context)
    share = float(policy["max_drop_share"])
    delivered = (
        _files(nps_his_download)
        .group_by("ym")
        .agg(
            pl.col("rows").sum().cast(pl.Int64),
            pl.col("source_bytes").sum().alias("bytes"),
            pl.col("source_file").unique().sort().str.join(", ").alias("files"),
        )
        .sort("ym")
    )
    months = delivered.get_column("ym").to_list()
    wanted = [previous_month(m) for m in months if previous_month(m) not in months]
    known = pl.concat(
        [delivered.drop("files"), _accepted_months(context, wanted)], how="vertical_relaxed"
    )
    compared = delivered.with_columns(
        pl.col("ym").dt.offset_by("-1mo").alias("previous_ym")
    ).join(
        known.rename({"ym": "previous_ym", "rows": "previous_rows", "bytes": "previous_bytes"}),
        on="previous_ym",
        how="left",
    )
    compared = compared.with_columns(
        (1 - pl.col("rows") / pl.col("previous_rows")).alias("row_drop"),
        (1 - pl.col("bytes") / pl.col("previous_bytes")).alias("byte_drop"),
    ).with_columns(
        ((pl.col("row_drop") > share) | (pl.col("byte_drop") > share)).fill_null(False)
        .alias("drop"),
        (pl.col("rows") > 2 * pl.col("previous_rows")).fill_null(False).alias("growth"),
    )
    comparisons = {
        f"{r['ym']:%Y-%m}": {
            "rows": r["rows"],
            "previous_rows": r["previous_rows"],
            "bytes": r["bytes"],
            "previous_bytes": r["previous_bytes"],
            "row_drop": None if r["row_drop"] is None else round(r["row_drop"], 4),
            "byte_drop": None if r["byte_drop"] is None else round(r["byte_drop"], 4),
        }
        for r in compared.iter_rows(named=True)
    }
    drops = compared.filter("drop")
    lost = [
        f"{r['ym']:%Y-%m} ({r['files']}): {r['rows']} rows / {r['bytes']} bytes against "
        f"{r['previous_rows']} rows / {r['previous_bytes']} bytes in {r['previous_ym']:%Y-%m}"
        for r in drops.iter_rows(named=True)
    ]
    accepted = bool(policy["accept_row_drop"])
    metadata: dict[str, Any] = {
        "max_drop_share": share,
        "comparisons": dg.MetadataValue.json(comparisons),
        "months_with_drop": dg.MetadataValue.json([m.split(":")[0] for m in lost]),
        "months_more_than_doubled": dg.MetadataValue.json(
            [f"{m:%Y-%m}" for m in compared.filter("growth").get_column("ym")]
        ),
    }
    if lost and accepted:
        metadata["accepted_drop_reason"] = policy["reason"]
    blocked = bool(lost) and not accepted
    result = dg.AssetCheckResult(
        passed=not blocked and compared.filter("growth").height == 0,
        severity=dg.AssetCheckSeverity.ERROR if blocked else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=(
            f"more than {share:.0%} fewer rows or bytes than the previous month, refused: "
            + "; ".join(lost)
            + " (a genuine drop is accepted with nps_his_download config accept_row_drop: true "
            "and a reason)"
        )
        if blocked
        else None,
    )
    return conclude(context, BRONZE, result, "nps_his_download_completeness")
