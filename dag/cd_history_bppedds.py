"""CD history: month-end fundamentals per security (KOSPI, KOSDAQ), one partition per month."""

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.cd import CdBppedds, CdHistoricalBppedds
from dag.cd_bppedd_processing import BPPEDD_VALUES
from dag.cd_history_common import HISTORY_BACKFILL, HISTORY_TAGS, month_end_series
from dag.cd_raw_ingestion import BPPEDD_COLUMNS
from dag.cd_source import KrxSource
from dag.partitions import cd_monthly_history_partition
from dag.spill import SPILL_HOOKS
from dag_io import lake


@dg.asset(
    group_name="CD",
    partitions_def=cd_monthly_history_partition,
    backfill_policy=HISTORY_BACKFILL,
    io_manager_key="parquet_io_manager",  # archival month-end history: plain hive Parquet
    kinds={"polars", "parquet"},
    tags=HISTORY_TAGS,
    metadata={
        **lake(partition_by="history_month"),
        "dagster/column_schema": column_schema(CdHistoricalBppedds),
    },
    hooks=SPILL_HOOKS,
)
def cd_historical_bppedds(
    context: dg.AssetExecutionContext, krx_source: KrxSource
) -> dg.Output[dict[str, pl.LazyFrame]]:
    """Fundamentals of each month's last trading day, digested like cd_digest_bppedds (rows
    with bps, pbr, eps, div, dps all 0 dropped); KONEX publishes none and is not asked."""
    by_month, metadata = month_end_series(
        "cd_historical_bppedds",
        krx_source,
        context,
        lambda s, p: s.fundamentals(p.date, p.exchange),
        BPPEDD_COLUMNS,
        polars_schema(CdBppedds),
        BPPEDD_VALUES,
        list(polars_schema(CdHistoricalBppedds)),
        partial_zero_fails=False,
        exchanges=("KOSPI", "KOSDAQ"),
    )
    return dg.Output(by_month, metadata=metadata)


# A range is validated month by month: history_month is the month of `date`, a key column.
cd_historical_bppedds_contract = contract_check(
    cd_historical_bppedds, CdHistoricalBppedds, per_partition=True, partition_from="date"
)
