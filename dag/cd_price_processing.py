"""CD silver: daily OHLCV per security (`cd_digest_price`), holidays as empty partitions."""

import time
from typing import Any

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.cd import CdDigestPrice
from dag.cd_common import PARTITION_BY, digest_daily_series, run_partitions
from dag.common import CD_TAGS, elapsed, tags
from dag.partitions import daily_exchange_category_partition
from dag_io import lake

PRICE_VALUES = ("open", "high", "low", "close", "volume", "transaction", "rate")


def digest_prices(
    context: dg.AssetExecutionContext, cd_prices: pl.LazyFrame, cd_security: pl.LazyFrame
) -> tuple[pl.LazyFrame, dict[str, Any]]:
    """Bronze prices of the run's partitions -> silver rows and cleaning statistics."""
    return digest_daily_series(
        "cd_digest_price",
        cd_prices,
        PRICE_VALUES,
        run_partitions(context),
        cd_security,
        CdDigestPrice,
        partial_zero_fails=True,
    )


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "pandera"},
    tags=tags("silver", CD_TAGS),
    metadata={
        **lake(partition_by=PARTITION_BY),
        "dagster/column_schema": column_schema(CdDigestPrice),
    },
)
def cd_digest_price(
    context: dg.AssetExecutionContext, cd_prices: pl.LazyFrame, cd_security: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Daily OHLCV per security (date, exchange, ticker, security_id, values, year, month);
    a holiday is an empty partition, some zero rows on a trading day fail naming the tickers."""
    started = time.perf_counter()
    digest, metadata = digest_prices(context, cd_prices, cd_security)
    metadata["execution_time_sec"] = elapsed(started)
    return dg.Output(digest, metadata=metadata)


cd_digest_price_contract = contract_check(cd_digest_price, CdDigestPrice)
