"""NPS analysis tables (gold, lake): monthly statistics per industry and per region, and
per-company growth.

Monthly statistics come from the month's digest (monthly partitions, independent units); company
growth comes from the company facts of every month (unpartitioned: it needs the previous month
and year, whichever order months were processed in). `dag.nps_serving_loads` loads them into
PostgreSQL.
"""

import datetime as dt
import time
from typing import cast

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.nps import NpsCompanyGrowth, NpsIndustryMonthlyStats, NpsRegionMonthlyStats
from dag.common import NPS_GOLD_POOL, NPS_TAGS, elapsed, tags
from dag.partitions import nps_monthly_partition
from dag_io import lake

TAGS = tags("gold", NPS_TAGS)
UNKNOWN = "unknown"


# --- analysis rules (pure, tested on literal frames) ------------------------------------------
def _monthly_measures() -> list[pl.Expr]:
    status = pl.col("join_status").cast(pl.String)
    wage_weight = pl.when(pl.col("avg_monthly_wage").is_not_null()).then(pl.col("subscriber_count"))
    return [
        (status == "1").sum().cast(pl.Int64).alias("workplaces"),
        (status == "2").sum().cast(pl.Int64).alias("withdrawn_workplaces"),
        pl.col("subscriber_count").sum().cast(pl.Int64).alias("subscribers"),
        pl.col("monthly_notice_amount").sum().cast(pl.Int64),
        (
            (pl.col("avg_monthly_wage") * pl.col("subscriber_count")).sum()
            / pl.when(wage_weight.sum() > 0).then(wage_weight.sum())
        )
        .round(0)
        .alias("avg_monthly_wage"),
        pl.col("new_subscribers").sum().cast(pl.Int64),
        pl.col("lost_subscribers").sum().cast(pl.Int64),
    ]


def _net_change(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(net_change=pl.col("new_subscribers") - pl.col("lost_subscribers"))


def industry_monthly_stats(digest: pl.LazyFrame) -> pl.LazyFrame:
    """Per (month, industry): workplaces, subscribers, subscriber-weighted wage, joins, leaves."""
    return (
        digest.with_columns(industry_code=pl.col("industry_code").fill_null(UNKNOWN))
        .group_by("ym", "industry_code")
        .agg(
            pl.col("industry_name").drop_nulls().mode().sort().first().alias("industry_name"),
            *_monthly_measures(),
        )
        .pipe(_net_change)
        .sort("ym", "industry_code")
    )


def region_monthly_stats(digest: pl.LazyFrame) -> pl.LazyFrame:
    """Per (month, 시도, 시군구): workplaces, subscribers, weighted wage, joins, leaves."""
    return (
        digest.with_columns(
            addr_sido_code=pl.col("addr_sido_code").fill_null(UNKNOWN),
            addr_sigungu_code=pl.col("addr_sigungu_code").fill_null(UNKNOWN),
        )
        .group_by("ym", "addr_sido_code", "addr_sigungu_code")
        .agg(_monthly_measures())
        .pipe(_net_change)
        .sort("ym", "addr_sido_code", "addr_sigungu_code")
    )


def _pct(change: pl.Expr, base: pl.Expr) -> pl.Expr:
    return pl.when(base > 0).then((change / base * 100).round(2))


def company_growth(facts: pl.LazyFrame) -> pl.LazyFrame:
    """Per (company, month): subscribers against a month and a year earlier (null if absent).

    Joins on the calendar month, not on the previous row, so a gap month is a missing base.
    """
    base = facts.select("company_id", "ym", "subscriber_count")
    previous = base.select(
        "company_id",
        pl.col("ym").dt.offset_by("1mo"),
        pl.col("subscriber_count").alias("prev_month_subscribers"),
    )
    year_ago = base.select(
        "company_id",
        pl.col("ym").dt.offset_by("1y"),
        pl.col("subscriber_count").alias("prev_year_subscribers"),
    )
    mom = pl.col("subscriber_count") - pl.col("prev_month_subscribers")
    yoy = pl.col("subscriber_count") - pl.col("prev_year_subscribers")
    return (
        base.join(previous, on=["company_id", "ym"], how="left")
        .join(year_ago, on=["company_id", "ym"], how="left")
        .with_columns(mom_change=mom, yoy_change=yoy)
        .with_columns(
            mom_growth_pct=_pct(pl.col("mom_change"), pl.col("prev_month_subscribers")),
            yoy_growth_pct=_pct(pl.col("yoy_change"), pl.col("prev_year_subscribers")),
        )
        .select(
            "company_id",
            "ym",
            "subscriber_count",
            "prev_month_subscribers",
            "mom_change",
            "mom_growth_pct",
            "prev_year_subscribers",
            "yoy_change",
            "yoy_growth_pct",
        )
        .sort("ym", "company_id")
    )


# --- analysis assets (lake) -------------------------------------------------------------------
def _stats_metadata(frame: pl.DataFrame, started: float) -> dict[str, int | float]:
    return {
        "groups": frame.height,
        "workplaces": int(frame["workplaces"].sum()),
        "subscribers": int(frame["subscribers"].sum()),
        "net_change": int(frame["net_change"].sum()),
        "execution_time_sec": elapsed(started),
    }


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={
        **lake(partition_by="ym"),
        "dagster/column_schema": column_schema(NpsIndustryMonthlyStats),
    },
)
def nps_industry_monthly_stats(
    context: dg.AssetExecutionContext, nps_his_digest: pl.LazyFrame
) -> dg.Output[pl.DataFrame]:
    """Monthly statistics per industry: workplaces, subscribers, average wage, joins and leaves."""
    started = time.perf_counter()
    stats = industry_monthly_stats(nps_his_digest).collect()
    return dg.Output(stats, metadata=_stats_metadata(stats, started))


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={
        **lake(partition_by="ym"),
        "dagster/column_schema": column_schema(NpsRegionMonthlyStats),
    },
)
def nps_region_monthly_stats(
    context: dg.AssetExecutionContext, nps_his_digest: pl.LazyFrame
) -> dg.Output[pl.DataFrame]:
    """Monthly statistics per 시군구 region: workplaces, subscribers, wage, joins and leaves."""
    started = time.perf_counter()
    stats = region_monthly_stats(nps_his_digest).collect()
    return dg.Output(stats, metadata=_stats_metadata(stats, started))


@dg.asset(
    pool=NPS_GOLD_POOL,
    group_name="NPS",
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={"dagster/column_schema": column_schema(NpsCompanyGrowth)},
)
def nps_company_growth(nps_fact_pension_monthly: pl.LazyFrame) -> dg.Output[pl.DataFrame]:
    """Per company and month: subscriber growth month over month and year over year."""
    started = time.perf_counter()
    growth = company_growth(nps_fact_pension_monthly).collect()
    latest = growth.filter(pl.col("ym") == pl.col("ym").max())
    return dg.Output(
        growth,
        metadata={
            "rows": growth.height,
            "latest_month": (
                cast(dt.date, latest["ym"].max()).isoformat() if latest.height else None
            ),
            "latest_growing": latest.filter(pl.col("mom_change") > 0).height,
            "latest_shrinking": latest.filter(pl.col("mom_change") < 0).height,
            "execution_time_sec": elapsed(started),
        },
    )


nps_industry_monthly_stats_contract = contract_check(
    nps_industry_monthly_stats, NpsIndustryMonthlyStats
)
nps_region_monthly_stats_contract = contract_check(nps_region_monthly_stats, NpsRegionMonthlyStats)
nps_company_growth_contract = contract_check(nps_company_growth, NpsCompanyGrowth)


