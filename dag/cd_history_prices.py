"""CD history: month-end daily OHLCV per security, one monthly partition per month (20 years)."""

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.cd import CdHistoricalPrices, CdPrices
from dag.cd_history_common import HISTORY_BACKFILL, HISTORY_TAGS, month_end_series
from dag.cd_price_processing import PRICE_VALUES
from dag.cd_raw_ingestion import PRICE_COLUMNS
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
        "dagster/column_schema": column_schema(CdHistoricalPrices),
    },
    hooks=SPILL_HOOKS,
)
def cd_historical_prices(
    context: dg.AssetExecutionContext, krx_source: KrxSource
) -> dg.Output[dict[str, pl.LazyFrame]]:
    """OHLCV of each month's last trading day per exchange, digested like cd_digest_price."""
    by_month, metadata = month_end_series(
        "cd_historical_prices",
        krx_source,
        context,
        lambda s, p: s.ohlcv(p.date, p.exchange),
        PRICE_COLUMNS,
        polars_schema(CdPrices),
        PRICE_VALUES,
        list(polars_schema(CdHistoricalPrices)),
        partial_zero_fails=True,
    )
    return dg.Output(by_month, metadata=metadata)


# A range is validated month by month: history_month is the month of `date`, a key column.
cd_historical_prices_contract = contract_check(
    cd_historical_prices, CdHistoricalPrices, per_partition=True, partition_from="date"
)
