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

from contracts import column_schema, contract_check
from contracts.nps import HEADER_VARIANTS, NpsHisDownload
from dag.nps_csv import CANONICAL_COLUMNS, LINEAGE_COLUMNS, NpsCsvError, file_month, parse_bytes
from dag.nps_source import NpsSource, NpsSourceError, RawFile
from dag.partitions import nps_monthly_partition

# Integrity thresholds. A real month is ~110 MB; the sample's default 2,000 rows are ~400 KB.
# NPS_MIN_FILE_BYTES lowers the floor for tiny test samples (documented in .env.example).
MIN_FILE_BYTES = 100 * 1024
ROW_RATIO_RANGE = (0.5, 2.0)  # rows this month / rows previous month


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


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "csv"},
    tags={"data_tier": "bronze", "domain": "pension", "source": "national_pension"},
    metadata={"partition_by": "ym", "dagster/column_schema": column_schema(NpsHisDownload)},
)
def nps_his_download(
    context: dg.AssetExecutionContext, nps_source: NpsSource
) -> dg.Output[pl.LazyFrame]:
    """The month's enrolled-workplace file as delivered: one row per data line, all values as
    strings under canonical names, with lineage columns; `ym` is the data month (자료생성년월)."""
    started = time.perf_counter()
    frames: list[pl.DataFrame] = []
    per_month: dict[str, dict[str, Any]] = {}
    for key in context.partition_keys:
        month = month_of(key)
        try:
            raw = nps_source.fetch_month(month)
            parsed = parse_bytes(raw.content, raw.name)
            delivered = file_month(parsed.frame, raw.name)
        except (NpsSourceError, NpsCsvError) as error:
            raise NpsIngestionError(f"nps_his_download partition {key}: {error}") from error
        if delivered != month:
            raise NpsIngestionError(
                f"nps_his_download partition {key}: file {raw.name} ({raw.origin}) holds "
                f"자료생성년월 {delivered:%Y-%m}, not {month:%Y-%m}"
            )
        snapshot = save_snapshot(raw, month, parsed.sha256)
        frames.append(parsed.frame.with_columns(ym=pl.lit(month, pl.Date)))
        per_month[f"{month:%Y-%m}"] = {
            "file": raw.name,
            "origin": raw.origin,
            "raw_snapshot_path": str(snapshot),
            "sha256": parsed.sha256,
            "file_bytes": parsed.file_bytes,
            "encoding": parsed.encoding,
            "header_variant": parsed.header_variant,
            "rows_read": parsed.rows,
            "bytes_replaced": parsed.bytes_replaced,
        }
    frame = pl.concat(frames, how="vertical")
    months = list(per_month.values())
    metadata: dict[str, Any] = {
        "source": f"nps_source mode={nps_source.mode}",
        "source_origin": months[0]["origin"] if len(months) == 1 else "see per_month",
        "raw_snapshot_path": dg.MetadataValue.path(months[0]["raw_snapshot_path"])
        if len(months) == 1
        else str(raw_snapshot_dir()),
        "rows_read": frame.height,
        "header_variant": ", ".join(sorted({m["header_variant"] for m in months})),
        "bytes_replaced": sum(m["bytes_replaced"] for m in months),
        "file_bytes": sum(m["file_bytes"] for m in months),
        "rows_by_month": dg.MetadataValue.json({k: v["rows_read"] for k, v in per_month.items()}),
        "per_month": dg.MetadataValue.json(per_month),
        "execution_time_sec": round(time.perf_counter() - started, 3),
    }
    return dg.Output(frame.lazy(), metadata=metadata)


nps_his_download_contract = contract_check(nps_his_download, NpsHisDownload)


# --- file-integrity checks ---------------------------------------------------------------------
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


@dg.asset_check(
    asset=nps_his_download,
    description="Each delivered monthly file is at least 100 KiB (NPS_MIN_FILE_BYTES overrides).",
    blocking=True,
    partitions_def=nps_monthly_partition,
)
def nps_his_download_file_size(
    context: dg.AssetCheckExecutionContext, nps_his_download: pl.LazyFrame
) -> dg.AssetCheckResult:
    files = _files(nps_his_download)
    floor = _min_file_bytes()
    small = files.filter(pl.col("source_bytes") < floor)
    return dg.AssetCheckResult(
        passed=small.height == 0 and files.height > 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "min_file_bytes": floor,
            "file_bytes": dg.MetadataValue.json(
                {f"{r['ym']:%Y-%m}": r["source_bytes"] for r in files.to_dicts()}
            ),
            "files_too_small": dg.MetadataValue.json(small["source_file"].to_list()),
        },
    )


@dg.asset_check(
    asset=nps_his_download,
    description="The header was recognised as one of the known variants and all 22 canonical "
    "columns (plus lineage) are present.",
    blocking=True,
    partitions_def=nps_monthly_partition,
)
def nps_his_download_header(
    context: dg.AssetCheckExecutionContext, nps_his_download: pl.LazyFrame
) -> dg.AssetCheckResult:
    columns = list(nps_his_download.collect_schema().names())
    missing = [c for c in (*CANONICAL_COLUMNS, *LINEAGE_COLUMNS) if c not in columns]
    data_columns = [c for c in columns if c not in (*LINEAGE_COLUMNS, "ym")]
    variants = nps_his_download.select(pl.col("header_variant").unique()).collect()
    unknown = [v for v in variants["header_variant"].to_list() if v not in HEADER_VARIANTS]
    return dg.AssetCheckResult(
        passed=not missing and not unknown and len(data_columns) == len(CANONICAL_COLUMNS),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "data_columns": len(data_columns),
            "expected_columns": len(CANONICAL_COLUMNS),
            "missing_columns": dg.MetadataValue.json(missing),
            "header_variants": dg.MetadataValue.json(sorted(variants["header_variant"])),
            "unknown_variants": dg.MetadataValue.json(unknown),
        },
    )


def _previous_rows(context: dg.AssetCheckExecutionContext, month: date) -> int | None:
    """Rows of the month before `month` from its latest nps_his_download materialization."""
    previous = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=nps_his_download.key, asset_partitions=[previous.isoformat()]
        ),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    value = records[0].asset_materialization.metadata.get("rows_by_month")
    rows = (value.value if value is not None else {}).get(f"{previous:%Y-%m}")
    return int(rows) if rows is not None else None


@dg.asset_check(
    asset=nps_his_download,
    description="Each month's row count is within 0.5x-2x of the previous month's (warns).",
    blocking=False,
    partitions_def=nps_monthly_partition,
)
def nps_his_download_row_count(
    context: dg.AssetCheckExecutionContext, nps_his_download: pl.LazyFrame
) -> dg.AssetCheckResult:
    files = _files(nps_his_download)
    rows = {r["ym"]: int(r["rows"]) for r in files.to_dicts()}
    low, high = ROW_RATIO_RANGE
    comparisons: dict[str, dict[str, Any]] = {}
    for month, count in sorted(rows.items()):
        previous = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
        before = rows.get(previous, _previous_rows(context, month))
        ratio = None if not before else round(count / before, 4)
        comparisons[f"{month:%Y-%m}"] = {"rows": count, "previous_rows": before, "ratio": ratio}
    implausible = [
        m
        for m, c in comparisons.items()
        if c["ratio"] is not None and not low <= c["ratio"] <= high
    ]
    return dg.AssetCheckResult(
        passed=not implausible,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "ratio_range": f"{low}-{high}",
            "comparisons": dg.MetadataValue.json(comparisons),
            "implausible_months": dg.MetadataValue.json(implausible),
        },
    )
