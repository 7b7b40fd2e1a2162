"""CD gold metrics: latest figures per security, company market-cap ranking, per-metric ranks.

Unpartitioned gold tables computed from every partition of the silver series (the IO manager
reads all of them); each run of the daily job recomputes them, so they always reflect the latest
market-cap date in the lake. The rules are the pure functions of `dag.cd_metrics_rules`.
"""

import time

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.cd import CdCompanyMetrics, CdSecurityMetrics, CdSecurityRanks
from dag.cd_metrics_rules import company_metrics, latest_security_metrics, security_ranks
from dag.common import CD_GOLD_POOL, CD_TAGS, elapsed, tags

GOLD_TAGS = tags("gold", CD_TAGS)


def _seconds(started: float) -> float:
    return elapsed(started)


def _latest_date(frame: pl.DataFrame, column: str) -> str:
    value = frame.get_column(column).max() if frame.height else None
    return str(value) if value is not None else ""


@dg.asset(
    pool=CD_GOLD_POOL,
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=GOLD_TAGS,
    metadata={"dagster/column_schema": column_schema(CdSecurityMetrics)},
)
def cd_security_metrics(
    context: dg.AssetExecutionContext,
    cd_security: pl.LazyFrame,
    cd_digest_price: pl.LazyFrame,
    cd_digest_marketcaps: pl.LazyFrame,
    cd_digest_bppedds: pl.LazyFrame,
) -> dg.Output[pl.LazyFrame]:
    """Per listed security: newest close, market cap with shares, six ratios, each dated."""
    started = time.perf_counter()
    metrics = latest_security_metrics(
        cd_security, cd_digest_price, cd_digest_marketcaps, cd_digest_bppedds
    ).collect()
    return dg.Output(
        metrics.lazy(),
        metadata={
            "execution_time_sec": elapsed(started),
            "active_securities": metrics.height,
            "without_price": metrics.get_column("price").null_count(),
            "without_fundamentals": metrics.get_column("bps").null_count(),
            "latest_price_date": _latest_date(metrics, "price_date"),
            "total_market_cap": int(metrics.get_column("market_cap").sum() or 0),
        },
    )


@dg.asset(
    pool=CD_GOLD_POOL,
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=GOLD_TAGS,
    metadata={"dagster/column_schema": column_schema(CdCompanyMetrics)},
)
def cd_company_metrics(
    context: dg.AssetExecutionContext,
    cd_security: pl.LazyFrame,
    cd_company: pl.LazyFrame,
    cd_digest_marketcaps: pl.LazyFrame,
) -> dg.Output[pl.LazyFrame]:
    """Listed companies by market cap (active securities only), with rank and prior rank."""
    started = time.perf_counter()
    metrics = company_metrics(cd_security, cd_company, cd_digest_marketcaps).collect()
    moved = metrics.filter(pl.col("rank") != pl.col("prior_rank"))  # null prior: not counted
    top = metrics.head(1).to_dicts()
    return dg.Output(
        metrics.lazy(),
        metadata={
            "execution_time_sec": elapsed(started),
            "listed_companies": metrics.height,
            "market_cap_date": _latest_date(metrics, "market_cap_date"),
            "largest_company": top[0]["company_name"] if top else "",
            "rank_changes": moved.height,
            "new_in_ranking": metrics.get_column("prior_rank").null_count(),
        },
    )


@dg.asset(
    pool=CD_GOLD_POOL,
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=GOLD_TAGS,
    metadata={"dagster/column_schema": column_schema(CdSecurityRanks)},
)
def cd_security_ranks(
    context: dg.AssetExecutionContext,
    cd_digest_marketcaps: pl.LazyFrame,
    cd_digest_bppedds: pl.LazyFrame,
) -> dg.Output[pl.LazyFrame]:
    """Rank of every security per metric at the latest market-cap date, with prior rank."""
    started = time.perf_counter()
    ranks = security_ranks(cd_digest_marketcaps, cd_digest_bppedds).collect()
    per_metric = ranks.group_by("metric_type").len().sort("metric_type")
    return dg.Output(
        ranks.lazy(),
        metadata={
            "execution_time_sec": elapsed(started),
            "rank_date": _latest_date(ranks, "rank_date"),
            "ranked_per_metric": dg.MetadataValue.json(
                dict(zip(per_metric["metric_type"], per_metric["len"], strict=True))
            ),
            "without_prior_rank": ranks.get_column("prior_rank").null_count(),
        },
    )


cd_security_metrics_contract = contract_check(cd_security_metrics, CdSecurityMetrics)
cd_company_metrics_contract = contract_check(cd_company_metrics, CdCompanyMetrics)
cd_security_ranks_contract = contract_check(cd_security_ranks, CdSecurityRanks)
