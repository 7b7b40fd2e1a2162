"""Month-end history: the daily source and digest functions on each month's last trading day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl

from contracts.cd import (
    CdCompanyMetrics,
    CdHistoricalPrices,
    CdSearchNames,
    CdSecurityMetrics,
    CdSecurityRanks,
)
from contracts.testing import assert_column_schema_matches
from dag import (
    cd_display_processing,
    cd_history_bppedds,
    cd_history_marketcaps,
    cd_history_prices,
    cd_metrics_processing,
    cd_price_processing,
    cd_raw_ingestion,
    cd_security_processing,
)
from dag.cd_source import KrxSource
from dag_io import DeltaIOManager, ParquetIOManager

HISTORY = [
    *dg.load_assets_from_modules([cd_history_prices, cd_history_marketcaps, cd_history_bppedds]),
    *dg.load_asset_checks_from_modules(
        [cd_history_prices, cd_history_marketcaps, cd_history_bppedds]
    ),
]


def read_history(lake: Path, asset: str) -> pl.DataFrame:
    """The month-end history as written: one hive directory per month under the Parquet lake."""
    files = sorted((lake / "parquet" / asset).glob("history_month=*/*.parquet"))
    assert files, f"no Parquet partitions written for {asset}"
    return pl.read_parquet(files, hive_partitioning=True)


def test_month_end_history_equals_the_daily_digest_of_that_day(data_dir: Path) -> None:
    lake = data_dir / "lake"
    delta = DeltaIOManager(root_uri=str(lake))
    resources = {
        "io_manager": delta, "delta_io_manager": delta,
        "parquet_io_manager": ParquetIOManager(root_uri=str(lake / "parquet")),
        "krx_source": KrxSource(sample_scale=0.01),
    }  # fmt: skip
    history = dg.materialize(
        HISTORY,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": "2024-01-01",
            "dagster/asset_partition_range_end": "2024-03-01",
        },
    )
    assert history.success
    assert all(e.passed for e in history.get_asset_check_evaluations())
    prices = read_history(lake, "cd_historical_prices")
    month_ends = prices.select("history_month", "date").unique().sort("date")
    assert month_ends.rows() == [
        (dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
        (dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        (dt.date(2024, 3, 1), dt.date(2024, 3, 29)),  # 30, 31 March 2024: a weekend
    ]
    bppedds = read_history(lake, "cd_historical_bppedds")
    assert "KONEX" not in set(bppedds["exchange"]) and bppedds.height > 0

    # The daily pipeline for 2024-01-31 gives the same rows (same source, same digest).
    daily = [cd_raw_ingestion.cd_prices, cd_raw_ingestion.cd_stockcode,
             cd_security_processing.cd_security, cd_price_processing.cd_digest_price]  # fmt: skip
    run = dg.materialize(
        daily,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": "2024-01-31|KOSPI",
            "dagster/asset_partition_range_end": "2024-01-31|KONEX",
        },
    )
    assert run.success
    digest = pl.read_delta(str(lake / "cd_digest_price")).sort("exchange", "ticker")
    january = (
        prices.filter(pl.col("history_month") == dt.date(2024, 1, 1))
        .drop("history_month")
        .sort("exchange", "ticker")
    )
    assert january.equals(digest.select(january.columns))


def test_gold_assets_declare_their_contract_column_schema() -> None:
    for asset, model in (
        (cd_metrics_processing.cd_security_metrics, CdSecurityMetrics),
        (cd_metrics_processing.cd_company_metrics, CdCompanyMetrics),
        (cd_metrics_processing.cd_security_ranks, CdSecurityRanks),
        (cd_display_processing.cd_search_names, CdSearchNames),
        (cd_history_prices.cd_historical_prices, CdHistoricalPrices),
    ):
        assert_column_schema_matches(asset, model)
