"""CD silver: daily market cap and listed shares per security (`cd_digest_marketcaps`)."""

import time

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.cd import CdDigestMarketcaps
from dag.cd_common import (
    CD_TAGS_SOURCE,
    PARTITION_BY,
    add_year_month,
    digest_zero_rows,
    join_security,
    pad_ticker,
    run_partitions,
)
from dag.partitions import daily_exchange_category_partition

MARKETCAP_VALUES = ("close", "market_cap", "volume", "transaction")


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "pandera"},
    tags={"data_tier": "silver", "domain": "stock", "source": CD_TAGS_SOURCE},
    metadata={
        "partition_by": PARTITION_BY,
        "dagster/column_schema": column_schema(CdDigestMarketcaps),
    },
)
def cd_digest_marketcaps(
    context: dg.AssetExecutionContext, cd_marketcaps: pl.LazyFrame, cd_security: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Daily market cap, volume, value traded and shares per security; a holiday is an empty
    partition, some zero rows (close, market cap, volume, value all 0) on a trading day fail."""
    started = time.perf_counter()
    series = cd_marketcaps.with_columns(ticker=pad_ticker(pl.col("ticker")))
    kept, stats = digest_zero_rows(
        "cd_digest_marketcaps",
        series,
        MARKETCAP_VALUES,
        run_partitions(context),
        partial_zero_fails=True,
    )
    digest = add_year_month(join_security("cd_digest_marketcaps", kept, cd_security))
    metadata = stats.metadata()
    metadata["execution_time_sec"] = round(time.perf_counter() - started, 3)
    return dg.Output(
        digest.select(CdDigestMarketcaps.to_schema().columns.keys()), metadata=metadata
    )


cd_digest_marketcaps_contract = contract_check(cd_digest_marketcaps, CdDigestMarketcaps)
