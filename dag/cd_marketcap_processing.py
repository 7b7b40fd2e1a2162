"""CD silver: daily market cap and listed shares per security (`cd_digest_marketcaps`)."""

import time

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.cd import CdDigestMarketcaps
from dag.cd_common import PARTITION_BY, digest_daily_series, run_partitions
from dag.common import CD_TAGS, elapsed, tags
from dag.partitions import daily_exchange_category_partition
from dag_io import lake

MARKETCAP_VALUES = ("close", "market_cap", "volume", "transaction")


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "pandera"},
    tags=tags("silver", CD_TAGS),
    metadata={
        **lake(partition_by=PARTITION_BY),
        "dagster/column_schema": column_schema(CdDigestMarketcaps),
    },
)
def cd_digest_marketcaps(
    context: dg.AssetExecutionContext, cd_marketcaps: pl.LazyFrame, cd_security: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Daily market cap, volume, value traded and shares per security; a holiday is an empty
    partition, some zero rows (close, market cap, volume, value all 0) on a trading day fail."""
    started = time.perf_counter()
    digest, metadata = digest_daily_series(
        "cd_digest_marketcaps",
        cd_marketcaps,
        MARKETCAP_VALUES,
        run_partitions(context),
        cd_security,
        CdDigestMarketcaps,
        partial_zero_fails=True,
    )
    metadata["execution_time_sec"] = elapsed(started)
    return dg.Output(digest, metadata=metadata)


cd_digest_marketcaps_contract = contract_check(cd_digest_marketcaps, CdDigestMarketcaps)
