"""CD silver: daily fundamentals per security (`cd_digest_bppedds`); KONEX has none."""

import time

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.cd import CdDigestBppedds
from dag.cd_common import PARTITION_BY, digest_daily_series, run_partitions
from dag.common import CD_TAGS, elapsed, tags
from dag.partitions import daily_exchange_category_partition
from dag_io import lake

# PER is ignored: a loss maker shows PER 0 but still has book value.
BPPEDD_VALUES = ("bps", "pbr", "eps", "div", "dps")


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "pandera"},
    tags=tags("silver", CD_TAGS),
    metadata={
        **lake(partition_by=PARTITION_BY),
        "dagster/column_schema": column_schema(CdDigestBppedds),
    },
)
def cd_digest_bppedds(
    context: dg.AssetExecutionContext, cd_bppedds: pl.LazyFrame, cd_security: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Daily BPS, PER, PBR, EPS, DIV, DPS per security; rows whose bps, pbr, eps, div and dps
    are all 0 are dropped (counted); KONEX partitions are empty (KRX publishes none)."""
    started = time.perf_counter()
    partitions = run_partitions(context)
    konex_rows = cd_bppedds.filter(pl.col("exchange") == "KONEX").select(pl.len()).collect().item()
    digest, metadata = digest_daily_series(
        "cd_digest_bppedds",
        cd_bppedds.filter(pl.col("exchange") != "KONEX"),
        BPPEDD_VALUES,
        [p for p in partitions if p.exchange != "KONEX"],
        cd_security,
        CdDigestBppedds,
        partial_zero_fails=False,
    )
    konex = [p.key for p in partitions if p.exchange == "KONEX"]
    metadata["konex_partitions"] = dg.MetadataValue.json(konex)
    metadata["konex_rows_dropped"] = int(konex_rows)
    metadata["execution_time_sec"] = elapsed(started)
    return dg.Output(digest, metadata=metadata)


cd_digest_bppedds_contract = contract_check(cd_digest_bppedds, CdDigestBppedds)
